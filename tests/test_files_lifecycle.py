"""A file's life: versions, renames and moves, copies, the trash, purges (crypto-shredding),
retention, quotas, key rotation and re-encryption."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from core.keyring import FileKeyring
from files import lifecycle, services
from files.errors import FileRuleError, NameClashError
from files.models import File, FileVersion, Folder, ScanStatus, Space
from tests.files_helpers import (
    Backend,
    body_of,
    content_of,
    root_of,
    upload_through_view,
    version_store,
)
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

CaptureCallbacks = Callable[..., Any]


def download(client: Client, file: File) -> bytes:
    response = client.get(f"/files/{file.pk}/download/")
    assert response.status_code == 200, response
    return body_of(response)


# --- Versions ------------------------------------------------------------------------------


def test_uploading_the_same_name_adds_a_version(owner: User, folder_backend: Backend) -> None:
    client = client_signed_in(owner)
    root = root_of(owner)
    for seed in ("one", "two", "three"):
        assert (
            upload_through_view(client, root, "Bilan.pdf", content_of(100, seed=seed)).status_code
            == 302
        )
    file = File.objects.get()
    assert [v.number for v in file.versions.all()] == [3, 2, 1]
    assert file.current_version == file.versions.get(number=3)
    page = client.get(f"/files/{file.pk}/").content.decode()
    assert page.count('data-version="') == 3
    uploads = AuditEvent.objects.filter(action=Action.FILES_FILE_UPLOAD)
    assert [event.details["new_file"] for event in uploads] == [True, False, False]


def test_new_versions_wait_for_the_scanner(owner: User, folder_backend: Backend) -> None:
    client = client_signed_in(owner)
    upload_through_view(client, root_of(owner), "new.pdf", b"%PDF-1.4")
    file = File.objects.get()
    version = file.current_version
    assert version is not None
    assert version.scan_status == ScanStatus.PENDING

    pending = client.get(f"/files/{file.pk}/download/")
    assert pending.status_code == 409
    assert "virus scanner" in pending.content.decode()
    services.version_mark_scanned(version=version, status=ScanStatus.QUARANTINED)
    quarantined = client.get(f"/files/{file.pk}/download/")
    assert quarantined.status_code == 409
    assert "quarantined" in quarantined.content.decode()
    reasons = AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD, outcome="denied")
    assert [event.details["reason"] for event in reasons] == ["pending", "quarantined"]
    services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
    assert download(client, file) == b"%PDF-1.4"


def test_restoring_an_old_version_adds_a_version_sharing_its_content(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    first = version_store(actor=owner, folder=root, name="plan.txt", content=b"first draft")
    version_store(actor=owner, folder=root, name="plan.txt", content=b"second draft")
    client = client_signed_in(owner)

    response = client.post(f"/files/{first.file_id}/versions/{first.pk}/restore/")

    assert response.status_code == 302
    file = File.objects.get()
    restored = file.current_version
    assert restored is not None
    assert (restored.number, restored.sha256, restored.source_version_id) == (
        3,
        first.sha256,
        first.pk,
    )
    # No re-encryption: the restored version reads the first one's blob, under its key.
    assert (restored.content_holder_id, restored.blob_key, restored.wrapped_data_key) == (
        first.pk,
        "",
        None,
    )
    assert restored.scan_status == ScanStatus.AVAILABLE  # same plaintext, same verdict
    assert download(client, file) == b"first draft"
    assert file.versions.count() == 3
    assert AuditEvent.objects.get(action=Action.FILES_VERSION_RESTORE).details["source_number"] == 1


# --- Rename, move, copy --------------------------------------------------------------------


def test_rename_and_move_keep_names_unique_per_folder(owner: User, folder_backend: Backend) -> None:
    root = root_of(owner)
    archive = services.folder_create(actor=owner, parent=root, name="Archive")
    letter = version_store(actor=owner, folder=root, name="letter.pdf", content=b"a").file
    version_store(actor=owner, folder=archive, name="LETTER.PDF", content=b"b")
    client = client_signed_in(owner)

    clash = client.post(f"/files/{letter.pk}/move/", {"move-destination": archive.pk})
    assert clash.status_code == 409
    assert "already in this folder" in clash.content.decode()
    bad = client.post(f"/files/{letter.pk}/rename/", {"rename-name": "../evil.pdf"})
    assert bad.status_code == 400
    assert (
        client.post(f"/files/{letter.pk}/rename/", {"rename-name": "letter (old).pdf"}).status_code
        == 302
    )
    assert (
        client.post(f"/files/{letter.pk}/move/", {"move-destination": archive.pk}).status_code
        == 302
    )
    letter.refresh_from_db()
    assert (letter.name, letter.folder_id) == ("letter (old).pdf", archive.pk)
    assert (
        AuditEvent.objects.filter(
            action__in=[Action.FILES_FILE_RENAME, Action.FILES_FILE_MOVE]
        ).count()
        == 2
    )


def test_a_folder_cannot_move_into_itself(owner: User, folder_backend: Backend) -> None:
    root = root_of(owner)
    outer = services.folder_create(actor=owner, parent=root, name="Outer")
    inner = services.folder_create(actor=owner, parent=outer, name="Inner")
    with pytest.raises(FileRuleError, match="into itself"):
        services.folder_move(actor=owner, folder=outer, destination=inner)
    with pytest.raises(FileRuleError):
        services.folder_rename(actor=owner, folder=root, name="Top")


def test_a_folder_moves_to_a_team_space_with_everything_in_it(
    owner: User, teammate: User, team: Team, folder_backend: Backend
) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Protocoles")
    sub = services.folder_create(actor=owner, parent=folder, name="2026")
    version_store(actor=owner, folder=sub, name="protocole.pdf", content=b"p")
    team_root = services.space_root(services.space_team_get_or_create(team=team))

    services.folder_move(actor=owner, folder=folder, destination=team_root)

    moved = File.objects.get(name="protocole.pdf")
    assert moved.space_id == team_root.space_id
    assert Folder.objects.get(pk=sub.pk).space_id == team_root.space_id
    assert client_signed_in(teammate).get(f"/files/{moved.pk}/download/").status_code == 200


def test_what_was_trashed_in_a_folder_stays_in_its_owners_trash_when_the_folder_moves_to_a_team(
    owner: User, teammate: User, team: Team, folder_backend: Backend
) -> None:
    """Alice put a scan of the wrong patient in “Protocoles”, deleted it and an old
    draft folder, then moved “Protocoles” into her team's space. Before, the deleted
    items went along into the team's trash: Tom saw their names there and could
    restore and read the scan Alice had deleted. They stay in Alice's trash."""
    protocols = services.folder_create(actor=owner, parent=root_of(owner), name="Protocoles")
    wrong = version_store(actor=owner, folder=protocols, name="wrong-patient.pdf", content=b"w")
    drafts = services.folder_create(actor=owner, parent=protocols, name="Drafts")
    draft = version_store(actor=owner, folder=drafts, name="draft.pdf", content=b"d")
    services.file_delete(actor=owner, file=wrong.file)
    services.folder_delete(actor=owner, folder=drafts)
    team_root = services.space_root(services.space_team_get_or_create(team=team))

    services.folder_move(actor=owner, folder=protocols, destination=team_root)

    tom = client_signed_in(teammate)
    team_trash = tom.get(f"/files/spaces/{team_root.space_id}/trash/").content.decode()
    assert "wrong-patient.pdf" not in team_trash
    assert "Drafts" not in team_trash
    assert tom.post(f"/files/{wrong.file_id}/restore/").status_code == 404
    assert tom.post(f"/files/folders/{drafts.pk}/restore/").status_code == 404
    alice = client_signed_in(owner)
    own_trash = alice.get(f"/files/spaces/{root_of(owner).space_id}/trash/").content.decode()
    assert "wrong-patient.pdf" in own_trash
    assert "Drafts" in own_trash
    services.file_restore(actor=owner, file=File.objects.get(pk=wrong.file_id))
    services.folder_restore(actor=owner, folder=Folder.objects.get(pk=drafts.pk))
    assert File.objects.get(pk=wrong.file_id).folder_id == root_of(owner).pk
    assert File.objects.get(pk=draft.file_id).space_id == root_of(owner).space_id


def test_a_copy_shares_the_original_content(owner: User, backend: Backend) -> None:
    root = root_of(owner)
    source = version_store(actor=owner, folder=root, name="scan.dcm", content=content_of(300)).file
    client = client_signed_in(owner)

    response = client.post(f"/files/{source.pk}/copy/", {"copy-destination": root.pk})

    assert response.status_code == 302
    copy = File.objects.exclude(pk=source.pk).get()
    assert copy.name == "scan (2).dcm"
    original, duplicate = source.current_version, copy.current_version
    assert original is not None
    assert duplicate is not None
    assert duplicate.sha256 == original.sha256
    assert duplicate.pk != original.pk
    # No re-encryption (tests/test_files_shared_content.py tells the whole story).
    assert (duplicate.content_holder_id, duplicate.blob_key) == (original.pk, "")
    assert duplicate.wrapped_data_key is None
    assert download(client, copy) == content_of(300)
    assert AuditEvent.objects.get(action=Action.FILES_FILE_COPY).details["source_file"] == source.pk


# --- Trash, restore, purge -----------------------------------------------------------------


def test_deleted_files_wait_in_the_trash_and_come_back(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    file = version_store(actor=owner, folder=root, name="cr.pdf", content=b"cr").file
    client = client_signed_in(owner)

    assert client.post(f"/files/{file.pk}/delete/").status_code == 302
    assert f'data-file="{file.pk}"' not in client.get(f"/files/folders/{root.pk}/").content.decode()
    assert client.get(f"/files/{file.pk}/download/").status_code == 404
    assert "cr.pdf" in client.get(f"/files/spaces/{root.space_id}/trash/").content.decode()

    version_store(actor=owner, folder=root, name="cr.pdf", content=b"newer")  # name reused
    assert client.post(f"/files/{file.pk}/restore/").status_code == 302
    file.refresh_from_db()
    assert (file.deleted_at, file.name) == (None, "cr (2).pdf")
    assert download(client, file) == b"cr"


def test_a_deleted_folder_takes_its_content_and_brings_it_back(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    folder = services.folder_create(actor=owner, parent=root, name="Dossier")
    sub = services.folder_create(actor=owner, parent=folder, name="Imagerie")
    kept = version_store(actor=owner, folder=sub, name="irm.dcm", content=b"irm").file
    earlier = version_store(actor=owner, folder=folder, name="old.pdf", content=b"old").file
    services.file_delete(actor=owner, file=earlier)  # trashed on its own, before
    client = client_signed_in(owner)

    assert client.post(f"/files/folders/{folder.pk}/delete/").status_code == 302
    assert client.get(f"/files/folders/{sub.pk}/").status_code == 404
    assert client.get(f"/files/{kept.pk}/").status_code == 404
    trash = client.get(f"/files/spaces/{root.space_id}/trash/").content.decode()
    assert "Dossier" in trash
    assert "old.pdf" in trash
    assert "irm.dcm" not in trash

    assert client.post(f"/files/folders/{folder.pk}/restore/").status_code == 302
    assert client.get(f"/files/{kept.pk}/download/").status_code == 200
    earlier.refresh_from_db()
    assert earlier.deleted_at is not None  # deleted on its own: still in the trash


def test_purge_destroys_the_key_before_the_blob(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    file = version_store(actor=owner, folder=root_of(owner), name="secret.pdf", content=b"s1").file
    version_store(actor=owner, folder=file.folder, name="secret.pdf", content=b"s2")
    versions = list(FileVersion.objects.filter(file=file))
    services.file_delete(actor=owner, file=file)
    client = client_signed_in(owner)

    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(f"/files/{file.pk}/purge/", CONFIRMED).status_code == 302
        # Committed: the keys are gone while the blobs are still in storage.
        for version in versions:
            version.refresh_from_db()
            assert version.wrapped_data_key is None
            assert version.shredded_at is not None
            assert backend.exists(version.blob_key)
    for callback in callbacks:
        callback()

    assert not any(backend.exists(version.blob_key) for version in versions)
    assert not FileVersion.objects.filter(file_id=file.pk).exists()
    assert not File.objects.filter(pk=file.pk).exists()
    event = AuditEvent.objects.get(action=Action.FILES_FILE_PURGE)
    assert event.details["versions_shredded"] == 2


def test_a_blob_that_cannot_be_deleted_is_retried_and_unreadable_meanwhile(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from files.storage import FolderBlobStore

    file = version_store(actor=owner, folder=root_of(owner), name="x.pdf", content=b"x").file
    version = file.current_version
    assert version is not None
    services.file_delete(actor=owner, file=file)

    def storage_down(self: Any, key: str) -> None:
        raise OSError("storage unavailable")

    with monkeypatch.context() as patched:
        patched.setattr(FolderBlobStore, "delete", storage_down)
        services.file_purge(actor=owner, file=file)
        assert lifecycle.shredded_blobs_delete() == 0
    version.refresh_from_db()
    assert version.wrapped_data_key is None  # the blob alone can never be decrypted again
    assert folder_backend.exists(version.blob_key)

    assert lifecycle.shredded_blobs_delete() == 1
    assert not folder_backend.exists(version.blob_key)
    assert not File.objects.filter(pk=file.pk).exists()


def test_purging_a_folder_shreds_everything_below(owner: User, folder_backend: Backend) -> None:
    root = root_of(owner)
    folder = services.folder_create(actor=owner, parent=root, name="Ancien")
    sub = services.folder_create(actor=owner, parent=folder, name="2019")
    blobs = [
        version_store(actor=owner, folder=where, name=f"{index}.pdf", content=b"o").blob_key
        for index, where in enumerate([folder, sub, sub])
    ]
    services.folder_delete(actor=owner, folder=folder)
    client = client_signed_in(owner)
    assert client.post(f"/files/folders/{folder.pk}/purge/", CONFIRMED).status_code == 302
    lifecycle.shredded_blobs_delete()
    assert not any(folder_backend.exists(key) for key in blobs)
    assert not Folder.objects.filter(pk__in=[folder.pk, sub.pk]).exists()
    assert not File.objects.exists()


def test_only_trashed_things_can_be_purged(owner: User, folder_backend: Backend) -> None:
    file = version_store(actor=owner, folder=root_of(owner), name="live.pdf", content=b"l").file
    assert client_signed_in(owner).post(f"/files/{file.pk}/purge/", CONFIRMED).status_code == 404
    with pytest.raises(FileRuleError):
        services.file_purge(actor=owner, file=file)
    assert FileVersion.objects.get().wrapped_data_key is not None


def test_the_trash_empties_itself_after_the_retention_period(
    owner: User, folder_backend: Backend
) -> None:
    start = timezone.now()
    root = root_of(owner)
    with time_machine.travel(start, tick=False):
        old = version_store(actor=owner, folder=root, name="old.pdf", content=b"o").file
        services.file_delete(actor=owner, file=old)
        folder = services.folder_create(actor=owner, parent=root, name="Old folder")
        version_store(actor=owner, folder=folder, name="inside.pdf", content=b"i")
        services.folder_delete(actor=owner, folder=folder)
    with time_machine.travel(start + dt.timedelta(days=20), tick=False):
        recent = version_store(actor=owner, folder=root, name="recent.pdf", content=b"r").file
        services.file_delete(actor=owner, file=recent)

    with (
        override_settings(FILES_TRASH_RETENTION_DAYS=30),
        time_machine.travel(start + dt.timedelta(days=29), tick=False),
    ):
        assert lifecycle.trash_purge_expired() == 0
    with (
        override_settings(FILES_TRASH_RETENTION_DAYS=30),
        time_machine.travel(start + dt.timedelta(days=31), tick=False),
    ):
        assert lifecycle.trash_purge_expired() == 2
    lifecycle.shredded_blobs_delete()
    assert list(File.objects.values_list("name", flat=True)) == ["recent.pdf"]
    assert not Folder.objects.filter(name="Old folder").exists()


def _folder_trashed_after_its_subfolder(owner: User) -> tuple[Folder, Folder, File]:
    """“Cardio” with “Echo” inside: “Echo” goes to the trash first, “Cardio” a week
    later. Both are then in the trash, each deleted on its own."""
    root = root_of(owner)
    cardio = services.folder_create(actor=owner, parent=root, name="Cardio")
    echo = services.folder_create(actor=owner, parent=cardio, name="Echo")
    inside = version_store(actor=owner, folder=echo, name="echo.dcm", content=b"e").file
    services.folder_delete(actor=owner, folder=echo)
    services.folder_delete(actor=owner, folder=cardio)
    return cardio, echo, inside


def test_the_trash_empties_a_folder_deleted_after_a_folder_inside_it(
    owner: User, folder_backend: Backend
) -> None:
    """Before: purging “Cardio” purged “Echo” below it, then the task came to “Echo”
    in its list, was refused (“only folders in the trash”) and stopped with an error:
    the files in the trash were not purged that run."""
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        cardio, echo, inside = _folder_trashed_after_its_subfolder(owner)
        lone = version_store(actor=owner, folder=root_of(owner), name="lone.pdf", content=b"l")
        services.file_delete(actor=owner, file=lone.file)
    # The task lists the expired folders in no particular order. On a large table
    # PostgreSQL reads them as they lie on disk, the row written last at the end:
    # rewrite “Echo” and forbid index scans, so that “Cardio” comes first as it may in
    # any real trash.
    Folder.objects.filter(pk=echo.pk).update(deleted_at=F("deleted_at"))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
    with (
        override_settings(FILES_TRASH_RETENTION_DAYS=30),
        time_machine.travel(start + dt.timedelta(days=31), tick=False),
    ):
        assert lifecycle.trash_purge_expired() == 2
    assert Folder.objects.filter(pk__in=[cardio.pk, echo.pk], purged_at__isnull=True).count() == 0
    assert not File.objects.filter(pk__in=[inside.pk, lone.file_id], purged_at__isnull=True)


def test_emptying_the_trash_with_a_folder_and_a_folder_inside_it_ticked_deletes_both(
    owner: User,
) -> None:
    """Tick everything in the trash, “Delete permanently”: before, the folder's purge took
    the subfolder with it, the subfolder's own purge was then refused and the whole
    selection rolled back with “Only folders in the trash can be deleted permanently.”"""
    cardio, echo, inside = _folder_trashed_after_its_subfolder(owner)
    client = client_signed_in(owner)
    trash = f"/files/spaces/{cardio.space_id}/trash/"
    listed = client.get(trash).content.decode()
    assert f'name="folder" value="{cardio.pk}"' in listed
    assert f'name="folder" value="{echo.pk}"' in listed
    ticked = {"folder": [str(cardio.pk), str(echo.pk)], "next": trash}
    response = client.post("/files/selection/purge/", {**ticked, **CONFIRMED})
    assert response.status_code == 302
    assert Folder.objects.filter(pk__in=[cardio.pk, echo.pk], purged_at__isnull=True).count() == 0
    assert File.objects.get(pk=inside.pk).purged_at is not None
    purges = AuditEvent.objects.filter(action=Action.FILES_FOLDER_PURGE)
    assert sorted(purges.values_list("target_id", flat=True)) == [str(cardio.pk)]


def test_trashing_a_folder_and_a_file_inside_it_together_trashes_both_and_undo_brings_both_back(
    owner: User, folder_backend: Backend
) -> None:
    """A selection naming a folder and a file inside it (an "Undo" offer, a script):
    before, the folder took the file to the trash and the file's own turn was refused
    (“deleted in the meantime”), rolling back everything."""
    root = root_of(owner)
    cardio = services.folder_create(actor=owner, parent=root, name="Cardio")
    inside = version_store(actor=owner, folder=cardio, name="echo.dcm", content=b"e").file
    client = client_signed_in(owner)
    ticked = {
        "folder": str(cardio.pk),
        "file": str(inside.pk),
        "next": f"/files/folders/{root.pk}/",
    }

    assert client.post("/files/selection/trash/", ticked).status_code == 302

    assert Folder.objects.get(pk=cardio.pk).deleted_at is not None
    assert File.objects.get(pk=inside.pk).trashed_with_id == cardio.pk
    client.post("/files/selection/restore/", {"folder": str(cardio.pk)})
    assert File.objects.get(pk=inside.pk).deleted_at is None


# --- Retention -------------------------------------------------------------------------------


def test_old_versions_are_purged_by_count_and_age(owner: User, folder_backend: Backend) -> None:
    start = timezone.now()
    root = root_of(owner)
    for day in range(5):
        with time_machine.travel(start + dt.timedelta(days=day), tick=False):
            version_store(actor=owner, folder=root, name="note.txt", content=f"v{day}".encode())
    file = File.objects.get()

    with (
        override_settings(FILES_VERSION_KEEP_COUNT=2, FILES_VERSION_KEEP_DAYS=3),
        time_machine.travel(start + dt.timedelta(days=5, hours=-1), tick=False),
    ):
        # v1, v2 are older than 3 days and not among the 2 newest; v3 is younger.
        assert lifecycle.versions_retention_apply() == 2
    lifecycle.shredded_blobs_delete()
    assert sorted(file.versions.values_list("number", flat=True)) == [3, 4, 5]
    events = AuditEvent.objects.filter(action=Action.FILES_VERSION_PURGE)
    assert {event.details["number"] for event in events} == {1, 2}

    Space.objects.filter(pk=file.space_id).update(version_keep_count=1, version_keep_days=0)
    with time_machine.travel(start + dt.timedelta(days=6), tick=False):
        assert lifecycle.versions_retention_apply() == 2
    lifecycle.shredded_blobs_delete()
    assert list(file.versions.values_list("number", flat=True)) == [5]  # current is kept


# --- Quotas ----------------------------------------------------------------------------------


def test_an_upload_over_quota_is_refused_up_front_and_stores_nothing(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    Space.objects.filter(pk=root.space_id).update(quota_bytes=1000)
    client = client_signed_in(owner)

    response = upload_through_view(client, root, "big.bin", content_of(100_000))

    assert response.status_code == 413
    assert "does not fit in the space" in response.content.decode()
    assert not File.objects.exists()
    assert list(folder_backend.everything()) == []


def test_an_upload_that_overflows_while_streaming_is_stopped(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    version_store(actor=owner, folder=root, name="existing.bin", content=content_of(500))
    Space.objects.filter(pk=root.space_id).update(quota_bytes=1000)
    client = client_signed_in(owner)

    # 1,500 bytes: under the up-front allowance for multipart framing, over the room left.
    response = upload_through_view(client, root, "more.bin", content_of(1500))

    assert response.status_code == 413
    assert response["Connection"] == "close"
    assert "500\u00a0bytes left of its quota" in response.content.decode()
    assert File.objects.count() == 1
    assert len(list(folder_backend.everything())) == 1


def test_the_upload_size_limit_is_explained(owner: User, folder_backend: Backend) -> None:
    with override_settings(FILES_UPLOAD_MAX_BYTES=100):
        response = upload_through_view(
            client_signed_in(owner), root_of(owner), "x.bin", content_of(200)
        )
    assert response.status_code == 413, response.content.decode()
    assert "larger than the 100" in response.content.decode()
    assert list(folder_backend.everything()) == []


def test_the_api_refuses_over_quota_with_413(owner: User, folder_backend: Backend) -> None:
    from accounts import tokens

    root = root_of(owner)
    Space.objects.filter(pk=root.space_id).update(quota_bytes=10)
    _token, plaintext = tokens.token_create(
        actor=owner, name="q", scopes=["write"], expires_in_days=1
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    response = api.post(
        f"/api/v1/files/folders/{root.pk}/upload/?name=x.bin",
        content_of(11),
        content_type="application/octet-stream",
    )
    assert response.status_code == 413
    assert "does not fit" in response.json()["detail"]
    assert list(folder_backend.everything()) == []


def test_moving_into_a_full_team_space_is_refused(
    owner: User, team: Team, folder_backend: Backend
) -> None:
    file = version_store(
        actor=owner, folder=root_of(owner), name="big.bin", content=content_of(200)
    ).file
    team_space = services.space_team_get_or_create(team=team)
    Space.objects.filter(pk=team_space.pk).update(quota_bytes=100)
    with pytest.raises(FileRuleError, match="does not fit"):
        services.file_move(actor=owner, file=file, destination=services.space_root(team_space))


def test_a_name_clash_with_a_folder_is_refused_on_upload(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    services.folder_create(actor=owner, parent=root, name="Report")
    response = upload_through_view(client_signed_in(owner), root, "report", b"x")
    assert response.status_code == 409
    assert list(folder_backend.everything()) == []
    with pytest.raises(NameClashError):
        services.folder_create(actor=owner, parent=root, name="REPORT")


# --- Key rotation and re-encryption ------------------------------------------------------------


def stored_versions(owner: User, count: int) -> list[FileVersion]:
    root = root_of(owner)
    return [
        version_store(
            actor=owner, folder=root, name=f"f{index}.bin", content=content_of(100, seed=str(index))
        )
        for index in range(count)
    ]


def run_rotate_keys(*arguments: str) -> str:
    out = io.StringIO()
    call_command("rotate_keys", *arguments, stdout=out)
    return out.getvalue()


def test_rotate_keys_rewraps_every_key_without_touching_blobs(
    owner: User, folder_backend: Backend, private_keyring: Path
) -> None:
    versions = stored_versions(owner, 5)
    old_kek = versions[0].kek_id
    blobs = {version.pk: folder_backend.raw(version.blob_key) for version in versions}

    output = run_rotate_keys("--new-key", "--batch-size", "2")

    new_kek = FileKeyring.load(private_keyring).current_key_id
    assert new_kek != old_kek
    assert "re-wrapped 5/5 (100%)" in output
    for version in FileVersion.objects.all():
        assert version.kek_id == new_kek
        assert folder_backend.raw(version.blob_key) == blobs[version.pk]
    client = client_signed_in(owner)
    assert download(client, versions[3].file) == content_of(100, seed="3")
    assert AuditEvent.objects.filter(action=Action.FILES_KEYS_REWRAP).count() == 3  # 2 + 2 + 1

    again = run_rotate_keys()
    assert "Nothing to do" in again
    assert AuditEvent.objects.filter(action=Action.FILES_KEYS_REWRAP).count() == 3
    phases = AuditEvent.objects.filter(action=Action.FILES_KEYS_ROTATION).values_list(
        "details", flat=True
    )
    assert [phase["phase"] for phase in phases] == ["start", "finish", "start", "finish"]


def test_rotate_keys_resumes_after_an_interruption(
    owner: User,
    folder_backend: Backend,
    private_keyring: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored_versions(owner, 7)
    from files.envelope import rewrap_data_key as real_rewrap

    calls = {"count": 0}

    def crash_after_five(*args: Any, **kwargs: Any) -> Any:
        calls["count"] += 1
        if calls["count"] > 5:
            raise KeyboardInterrupt  # the operator's Ctrl-C, or the process killed
        return real_rewrap(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(lifecycle, "rewrap_data_key", crash_after_five)
        with pytest.raises(KeyboardInterrupt):
            run_rotate_keys("--new-key", "--batch-size", "2")
    current = FileKeyring.load(private_keyring).current_key_id
    # Two batches of two committed; the third batch rolled back as a whole.
    assert FileVersion.objects.filter(kek_id=current).count() == 4

    output = run_rotate_keys("--batch-size", "2")

    assert "re-wrapped 3/3" in output
    assert FileVersion.objects.exclude(kek_id=current).count() == 0
    assert download(client_signed_in(owner), File.objects.get(name="f6.bin")) == content_of(
        100, seed="6"
    )


def test_rotate_keys_flags_a_tampered_wrapped_key_and_carries_on(
    owner: User, folder_backend: Backend, private_keyring: Path
) -> None:
    versions = stored_versions(owner, 3)
    wrapped = bytearray(versions[1].wrapped_data_key or b"")
    wrapped[20] ^= 1
    FileVersion.objects.filter(pk=versions[1].pk).update(wrapped_data_key=bytes(wrapped))

    with pytest.raises(CommandError, match="1 wrapped key"):
        run_rotate_keys("--new-key")

    current = FileKeyring.load(private_keyring).current_key_id
    assert FileVersion.objects.filter(kek_id=current).count() == 2
    assert FileVersion.objects.get(pk=versions[1].pk).integrity_failed


def test_a_version_is_fully_re_encrypted_under_a_new_data_key(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    version = stored_versions(owner, 1)[0]
    old_blob, old_wrapped = version.blob_key, bytes(version.wrapped_data_key or b"")

    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.version_reencrypt(version_id=version.pk) is True

    version.refresh_from_db()
    assert version.blob_key != old_blob
    assert bytes(version.wrapped_data_key or b"") != old_wrapped
    assert not backend.exists(old_blob)
    assert download(client_signed_in(owner), version.file) == content_of(100, seed="0")
    assert AuditEvent.objects.filter(
        action=Action.FILES_VERSION_REENCRYPT, target_id=str(version.pk)
    ).exists()
