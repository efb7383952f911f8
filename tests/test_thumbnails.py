"""Thumbnails: after the virus scan clears a photo or a PDF, the folder list shows a
small picture of it, stored encrypted under its own key and destroyed with the version
(files/thumbnails.py, docs/previews.md).

Fixtures are imported by name from tests.files_helpers; pytest injects them.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.urls import reverse
from PIL import Image

from accounts.models import Team, User
from files import lifecycle, services
from files.models import FileVersion, ScanStatus, VersionThumbnail
from files.thumbnails import THUMBNAIL_EDGE, version_thumbnail_make
from tests.files_helpers import Backend, body_of, root_of, version_store
from tests.helpers import client_signed_in, threads_join
from tests.media_samples import MP4_CLIP, jpeg_bytes, pdf_bytes, png_bytes
from tests.test_scanning import upload

pytestmark = [pytest.mark.django_db]

MARKER = "PATIENT-MARKER-7f3c9a Dupont Heloise"


def team_version(owner: User, team: Team, name: str, content: bytes) -> FileVersion:
    folder = services.space_root(services.space_team_get_or_create(team=team))
    version = version_store(actor=owner, folder=folder, name=name, content=content)
    version_thumbnail_make(version_id=version.pk)
    return version


def test_a_clean_photo_and_pdf_get_thumbnails_from_the_scan_pipeline(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    capture = django_capture_on_commit_callbacks
    photo = upload(client, root_of(owner), "Plaie J3.jpg", jpeg_bytes(1200, 900), capture)
    report = upload(client, root_of(owner), "Compte rendu.pdf", pdf_bytes(MARKER), capture)
    video = upload(client, root_of(owner), "Écho.mp4", MP4_CLIP.read_bytes(), capture)
    assert photo.scan_status == report.scan_status == ScanStatus.AVAILABLE

    for version in (photo, report):
        thumbnail = VersionThumbnail.objects.get(version=version)
        assert max(thumbnail.width, thumbnail.height) == THUMBNAIL_EDGE
        response = client.get(reverse("files:thumbnail", args=[version.file_id]))
        assert response.status_code == 200
        assert response["X-Content-Type-Options"] == "nosniff"
        with Image.open(io.BytesIO(response.content)) as shown:
            assert shown.size == (thumbnail.width, thumbnail.height)
    assert not VersionThumbnail.objects.filter(version=video).exists()  # no ffmpeg: none

    listing = client.get(reverse("files:folder", args=[root_of(owner).pk]))
    page = listing.content.decode()
    assert f'src="/files/{photo.file_id}/thumbnail/" alt="" loading="lazy"' in page
    assert f'src="/files/{video.file_id}/thumbnail/"' not in page
    grid = client.get(reverse("files:folder", args=[root_of(owner).pk]), {"view": "grid"})
    assert b'id="folder-grid"' in grid.content
    assert f'/files/{report.file_id}/thumbnail/" alt="" loading="lazy"'.encode() in grid.content


def test_a_quarantined_or_pending_version_gets_no_thumbnail(
    owner: User, folder_backend: Backend
) -> None:
    pending = version_store(
        actor=owner, folder=root_of(owner), name="attente.jpg", content=jpeg_bytes(), clean=False
    )
    assert version_thumbnail_make(version_id=pending.pk) is False
    assert not VersionThumbnail.objects.exists()


def test_the_grid_says_which_files_cannot_be_downloaded_yet(
    owner: User, folder_backend: Backend
) -> None:
    """A card looks like any other without its status: a file waiting for its scan (or
    quarantined) says so in the grid as in the list, a file available says nothing."""
    folder = root_of(owner)
    version_store(actor=owner, folder=folder, name="attente.jpg", content=jpeg_bytes(), clean=False)
    version_store(actor=owner, folder=folder, name="pret.png", content=png_bytes())
    grid = client_signed_in(owner).get(reverse("files:folder", args=[folder.pk]), {"view": "grid"})
    page = grid.content.decode()
    card_of_waiting = page[page.rindex('<div class="col"', 0, page.index("attente.jpg")) :]
    card_of_waiting = card_of_waiting[: card_of_waiting.index("</a>")]
    card_of_ready = page[page.rindex('<div class="col"', 0, page.index("pret.png")) :]
    card_of_ready = card_of_ready[: card_of_ready.index("</a>")]
    assert "waiting for virus scan" in card_of_waiting
    assert "badge" not in card_of_ready


def test_making_a_thumbnail_twice_stores_one(owner: User, folder_backend: Backend) -> None:
    version = version_store(actor=owner, folder=root_of(owner), name="a.png", content=png_bytes())
    assert version_thumbnail_make(version_id=version.pk) is True
    assert version_thumbnail_make(version_id=version.pk) is False
    assert VersionThumbnail.objects.count() == 1
    assert sum(1 for _ in folder_backend.everything()) == 2


@pytest.mark.parametrize("who", ["outsider", "site_admin", "auditor"])
def test_only_those_who_may_read_the_file_see_its_thumbnail(
    request: pytest.FixtureRequest,
    who: str,
    owner: User,
    teammate: User,
    team: Team,
    folder_backend: Backend,
) -> None:
    version = team_version(owner, team, "Radio.jpg", jpeg_bytes())
    url = reverse("files:thumbnail", args=[version.file_id])
    assert client_signed_in(owner).get(url).status_code == 200
    assert client_signed_in(teammate).get(url).status_code == 200
    assert client_signed_in(request.getfixturevalue(who)).get(url).status_code == 404


def test_thumbnails_and_previews_leave_only_ciphertext_and_no_temporary_file(
    owner: User, backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The grep-for-plaintext storage test (tests/test_files_storage.py), extended to
    thumbnails and renditions: a PDF whose text is a patient's name, a PNG whose
    metadata is, and nothing else anywhere in storage or in the temporary folder."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    marked_png = io.BytesIO()
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", MARKER)
    Image.new("RGB", (500, 400), "white").save(marked_png, format="PNG", pnginfo=info)
    folder = root_of(owner)
    pdf = version_store(actor=owner, folder=folder, name="cr.pdf", content=pdf_bytes(MARKER))
    png = version_store(actor=owner, folder=folder, name="photo.png", content=marked_png.getvalue())
    assert version_thumbnail_make(version_id=pdf.pk)
    assert version_thumbnail_make(version_id=png.pk)
    client = client_signed_in(owner)
    shown = [
        client.get(reverse("files:thumbnail", args=[pdf.file_id])).content,
        client.get(reverse("files:thumbnail", args=[png.file_id])).content,
        client.get(reverse("files:preview_rendition", args=[png.file_id])).content,
        body_of(client.get(reverse("files:preview_stream", args=[pdf.file_id]))),
    ]
    assert MARKER.encode() not in shown[2]  # the rendition drops the metadata

    stored = list(backend.everything())
    assert len(stored) == 4  # two versions, two thumbnails
    for key, data in stored:
        assert data.startswith(b"SDBLOB\x01"), key
        assert MARKER.encode() not in data, key
        assert b"Dupont" not in data, key
        for picture in shown[:3]:
            assert picture[100:164] not in data, key
    assert list(scratch.iterdir()) == []


def test_a_thumbnail_is_shredded_and_deleted_with_its_version(
    owner: User, folder_backend: Backend
) -> None:
    version = version_store(actor=owner, folder=root_of(owner), name="r.pdf", content=pdf_bytes())
    assert version_thumbnail_make(version_id=version.pk)
    thumbnail = VersionThumbnail.objects.get(version=version)
    assert folder_backend.exists(thumbnail.blob_key)

    services.file_delete(actor=owner, file=version.file)
    services.file_purge(actor=owner, file=version.file)
    thumbnail.refresh_from_db()
    assert thumbnail.wrapped_data_key is None  # unreadable at once, backups included
    lifecycle.shredded_blobs_delete()
    assert not folder_backend.exists(thumbnail.blob_key)
    assert not folder_backend.exists(version.blob_key)
    assert not VersionThumbnail.objects.exists()


def test_rotating_the_master_key_rewraps_thumbnail_keys_too(
    owner: User, folder_backend: Backend, private_keyring: Path
) -> None:
    from django.core.management import call_command

    from files.keys import keyring

    version = version_store(actor=owner, folder=root_of(owner), name="p.png", content=png_bytes())
    assert version_thumbnail_make(version_id=version.pk)
    old_kek = VersionThumbnail.objects.get().kek_id
    blob = folder_backend.raw(VersionThumbnail.objects.get().blob_key)

    call_command("rotate_keys", "--new-key", stdout=io.StringIO())

    thumbnail = VersionThumbnail.objects.get()
    assert thumbnail.kek_id == keyring().current_key_id != old_kek
    assert folder_backend.raw(thumbnail.blob_key) == blob  # the blob is not touched
    response = client_signed_in(owner).get(reverse("files:thumbnail", args=[version.file_id]))
    assert response.status_code == 200


def test_a_copy_gets_its_own_thumbnail_drawn_from_the_shared_content(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    photo = version_store(
        actor=owner, folder=root_of(owner), name="Plaie J5.jpg", content=jpeg_bytes(1200, 900)
    )
    assert version_thumbnail_make(version_id=photo.pk)
    destination = services.folder_create(actor=owner, parent=root_of(owner), name="Dossier")

    with django_capture_on_commit_callbacks(execute=True):
        copy = services.file_copy(actor=owner, file=photo.file, destination=destination)

    copied = FileVersion.objects.get(file=copy)
    assert copied.content_holder_id == photo.pk  # no byte re-encrypted...
    thumbnail = VersionThumbnail.objects.get(version=copied)  # ...but a thumbnail of its own
    assert thumbnail.blob_key != VersionThumbnail.objects.get(version=photo).blob_key
    response = client_signed_in(owner).get(reverse("files:thumbnail", args=[copy.pk]))
    assert response.status_code == 200
    with Image.open(io.BytesIO(response.content)) as shown:
        assert max(shown.size) == THUMBNAIL_EDGE


def test_a_copy_made_before_its_source_was_drawn_still_gets_a_thumbnail(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    # The worker has not drawn the photo's thumbnail yet (busy scanning a study) when
    # the nurse files a copy of it: the copy must not stay without one for ever.
    photo = version_store(
        actor=owner, folder=root_of(owner), name="Plaie J6.jpg", content=jpeg_bytes(1200, 900)
    )
    destination = services.folder_create(actor=owner, parent=root_of(owner), name="Dossier")
    with django_capture_on_commit_callbacks(execute=True):
        copy = services.file_copy(actor=owner, file=photo.file, destination=destination)
    copied = FileVersion.objects.get(file=copy)
    assert VersionThumbnail.objects.filter(version=copied).exists()
    response = client_signed_in(owner).get(reverse("files:thumbnail", args=[copy.pk]))
    assert response.status_code == 200


def test_a_copy_shredded_before_the_worker_draws_it_gets_no_thumbnail_and_leaves_no_blob(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    photo = version_store(
        actor=owner, folder=root_of(owner), name="Plaie J7.jpg", content=jpeg_bytes(1200, 900)
    )
    assert version_thumbnail_make(version_id=photo.pk)
    destination = services.folder_create(actor=owner, parent=root_of(owner), name="Dossier")
    copy = services.file_copy(actor=owner, file=photo.file, destination=destination)
    copied = FileVersion.objects.get(file=copy)
    services.file_delete(actor=owner, file=copy)
    services.file_purge(actor=owner, file=copy)
    # The source is purged too: the copy's task, run late, must neither fail nor store.
    services.file_delete(actor=owner, file=photo.file)
    services.file_purge(actor=owner, file=photo.file)
    stored_before = {key for key, _data in folder_backend.everything()}
    assert version_thumbnail_make(version_id=copied.pk) is False
    assert not VersionThumbnail.objects.filter(version=copied).exists()
    assert {key for key, _data in folder_backend.everything()} == stored_before


def test_a_copy_outlives_its_purged_source_with_its_own_thumbnail(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    photo = version_store(
        actor=owner, folder=root_of(owner), name="Plaie J8.jpg", content=jpeg_bytes(1200, 900)
    )
    assert version_thumbnail_make(version_id=photo.pk)
    source_thumbnail = VersionThumbnail.objects.get(version=photo)
    destination = services.folder_create(actor=owner, parent=root_of(owner), name="Dossier")
    with django_capture_on_commit_callbacks(execute=True):
        copy = services.file_copy(actor=owner, file=photo.file, destination=destination)
    services.file_delete(actor=owner, file=photo.file)
    services.file_purge(actor=owner, file=photo.file)
    lifecycle.shredded_blobs_delete()
    source_thumbnail.refresh_from_db()
    assert source_thumbnail.wrapped_data_key is None  # the source's own: shredded
    response = client_signed_in(owner).get(reverse("files:thumbnail", args=[copy.pk]))
    assert response.status_code == 200  # the copy's own: still there


@pytest.mark.django_db(transaction=True)
def test_a_copy_purged_while_its_thumbnail_is_being_stored_loses_the_thumbnails_key(
    owner: User, folder_backend: Backend
) -> None:
    """The worker stores a copy's thumbnail under a lock on the copy's row (files/
    thumbnails.py ``_store``) while its owner purges the copy: whichever commits first,
    the thumbnail's key must not outlive the copy's shredding."""
    photo = version_store(
        actor=owner, folder=root_of(owner), name="Plaie J9.jpg", content=jpeg_bytes(600, 400)
    )
    destination = services.folder_create(actor=owner, parent=root_of(owner), name="Dossier")
    copy = services.file_copy(actor=owner, file=photo.file, destination=destination)
    copied = FileVersion.objects.get(file=copy)
    VersionThumbnail.objects.filter(version=copied).delete()  # not drawn yet
    services.file_delete(actor=owner, file=copy)
    # The storage refuses to delete the thumbnail's blob for now (an outage): the rows
    # stay for the next clean-up run, and with them whatever key was not destroyed.
    assert folder_backend.root is not None
    (folder_backend.root / f"blobs/race-{copied.pk}" / "busy").mkdir(parents=True)
    stored, commit = threading.Event(), threading.Event()

    def worker_stores() -> None:  # what _store does, held open before its commit
        try:
            with transaction.atomic():
                assert (
                    FileVersion.objects.select_for_update(no_key=True)
                    .filter(pk=copied.pk, shredded_at__isnull=True)
                    .exists()
                )
                VersionThumbnail.objects.create(
                    version=copied, blob_key=f"blobs/race-{copied.pk}", wrapped_data_key=b"k" * 40,
                    kek_id="test", ciphertext_size=1, width=1, height=1,
                )  # fmt: skip
                stored.set()
                assert commit.wait(30)
        finally:
            db_connection.close()

    def owner_purges() -> None:
        try:
            services.file_purge(actor=owner, file=copy)
        finally:
            db_connection.close()

    worker = threading.Thread(target=worker_stores)
    purge = threading.Thread(target=owner_purges)
    try:
        worker.start()
        assert stored.wait(30)
        purge.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not waiting_on_a_lock():
            time.sleep(0.05)  # the purge reaches the worker's lock
    finally:
        commit.set()
        threads_join(worker, purge)
    copied.refresh_from_db()
    assert copied.shredded_at is not None
    assert VersionThumbnail.objects.get(version=copied).wrapped_data_key is None


def waiting_on_a_lock() -> bool:
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = cursor.fetchone()
    return bool(count)


def test_restoring_an_old_photo_without_a_thumbnail_draws_one_for_the_new_version(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    # Version 1 was stored before thumbnails existed (or lost its one to a key that no
    # longer unwraps); version 2 replaced it. Restoring 1 makes a new current version.
    first = version_store(
        actor=owner, folder=root_of(owner), name="Plaie.jpg", content=jpeg_bytes(800, 600)
    )
    second = version_store(
        actor=owner, folder=root_of(owner), name="Plaie.jpg", content=jpeg_bytes(640, 480)
    )
    assert second.file_id == first.file_id
    assert not VersionThumbnail.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        restored = services.version_restore(actor=owner, version=first)
    assert VersionThumbnail.objects.filter(version=restored).exists()
    response = client_signed_in(owner).get(reverse("files:thumbnail", args=[first.file_id]))
    assert response.status_code == 200
