"""Copies share their original's content (issue #14, ARCHITECTURE invariant 9).

Dr Martin copies a study into another folder and restores an old version of a report.
Neither re-encrypts a byte: the new version names the version holding the blob and its
wrapped key (``content_holder``), and every way in reads through it. The content lives
while any version uses it: purging the copy never touches the original, purging the
original leaves the copy readable, and the key is shredded (then the blob deleted) when
the last one goes. Each story runs on the folder backend and on S3.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from core.keyring import FileKeyring
from files import lifecycle, services
from files.errors import FileRuleError
from files.models import File, FileVersion, Folder
from sharing.services.archives import archive_entries_for_folder, archive_response
from tests.files_helpers import SEGMENT, Backend, body_of, content_of, root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

CaptureCallbacks = Callable[..., Any]
STUDY = content_of(5 * SEGMENT + 7, seed="irm")


def download(client: Client, file: File, **headers: str) -> bytes:
    response = client.get(f"/files/{file.pk}/download/", headers=headers)
    assert response.status_code in (200, 206), response
    return body_of(response)


def blobs_in(backend: Backend) -> set[str]:
    return {key for key, _data in backend.everything()}


def study_and_copy(owner: User) -> tuple[FileVersion, File, Folder]:
    root = root_of(owner)
    original = version_store(actor=owner, folder=root, name="irm.dcm", content=STUDY)
    archive = services.folder_create(actor=owner, parent=root, name="Archive")
    copy = services.file_copy(actor=owner, file=original.file, destination=archive)
    return original, copy, archive


def purge(owner: User, file: File, callbacks: CaptureCallbacks) -> None:
    """Trash and delete for good through the pages, then the blob task, as the worker."""
    client = client_signed_in(owner)
    assert client.post(f"/files/{file.pk}/delete/").status_code == 302
    with callbacks(execute=False):
        assert client.post(f"/files/{file.pk}/purge/", CONFIRMED).status_code == 302
    lifecycle.shredded_blobs_delete()


# --- Copy and restore write nothing -----------------------------------------------------------


def test_a_copy_adds_no_blob_and_downloads_the_same_bytes(owner: User, backend: Backend) -> None:
    root = root_of(owner)
    original = version_store(actor=owner, folder=root, name="irm.dcm", content=STUDY)
    before = blobs_in(backend)
    client = client_signed_in(owner)

    response = client.post(f"/files/{original.file_id}/copy/", {"copy-destination": root.pk})

    assert response.status_code == 302
    assert blobs_in(backend) == before  # not one byte written to storage
    copy = File.objects.exclude(pk=original.file_id).get()
    shared = copy.current_version
    assert shared is not None
    assert (shared.content_holder_id, shared.blob_key, shared.wrapped_data_key) == (
        original.pk,
        "",
        None,
    )
    assert (shared.sha256, shared.size, shared.scan_status) == (
        original.sha256,
        original.size,
        original.scan_status,
    )
    assert download(client, copy) == STUDY
    assert download(client, copy, Range="bytes=100-250") == STUDY[100:251]
    event = AuditEvent.objects.get(action=Action.FILES_FILE_COPY)
    assert event.details["content_holder"] == str(original.pk)


def test_a_copy_of_a_copy_and_a_restore_share_the_first_blob(
    owner: User, folder_backend: Backend
) -> None:
    original, copy, archive = study_and_copy(owner)
    second = services.file_copy(actor=owner, file=copy, destination=archive)
    version_store(actor=owner, folder=second.folder, name=second.name, content=b"edited")
    second.refresh_from_db()
    before = blobs_in(folder_backend)

    old = second.versions.get(number=1)
    restored = services.version_restore(actor=owner, version=old)

    assert blobs_in(folder_backend) == before
    assert FileVersion.objects.get(pk=old.pk).content_holder_id == original.pk
    assert restored.content_holder_id == original.pk  # never a sharer's sharer
    assert download(client_signed_in(owner), second) == STUDY


def test_the_bulk_copy_shares_too(owner: User, folder_backend: Backend) -> None:
    root = root_of(owner)
    original = version_store(actor=owner, folder=root, name="irm.dcm", content=STUDY)
    archive = services.folder_create(actor=owner, parent=root, name="Archive")
    before = blobs_in(folder_backend)

    response = client_signed_in(owner).post(
        reverse("files:selection_copy"),
        {"file": [original.file_id], "destination": str(archive.pk)},
    )

    assert response.status_code in (200, 302)
    copy = File.objects.get(folder=archive)
    assert copy.current_version is not None
    assert copy.current_version.content_holder_id == original.pk
    assert blobs_in(folder_backend) == before


# --- Purges: either side, then both --------------------------------------------------------


def test_purging_the_copy_leaves_the_original_intact(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    original, copy, _archive = study_and_copy(owner)

    purge(owner, copy, django_capture_on_commit_callbacks)

    original.refresh_from_db()
    assert original.wrapped_data_key is not None
    assert backend.exists(original.blob_key)
    assert not FileVersion.objects.filter(file_id=copy.pk).exists()
    assert download(client_signed_in(owner), original.file) == STUDY
    lifecycle.version_verify(original)


def test_purging_the_original_keeps_the_content_for_the_copy(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    original, copy, _archive = study_and_copy(owner)
    client = client_signed_in(owner)

    purge(owner, original.file, django_capture_on_commit_callbacks)

    original.refresh_from_db()
    assert original.shredded_at is not None  # gone from its file: nobody reads it there
    assert original.wrapped_data_key is not None  # the copy still uses the key
    assert backend.exists(original.blob_key)
    assert client.get(f"/files/{original.file_id}/download/").status_code == 404
    assert download(client, copy) == STUDY
    # The copy can still be copied, and the scrub still checks the blob it reads.
    services.file_copy(actor=owner, file=copy, destination=copy.folder)
    assert lifecycle.blobs_scrub().failed == []


@pytest.mark.parametrize("first", ["original", "copy"])
def test_purging_both_shreds_the_key_then_deletes_the_blob(
    owner: User,
    backend: Backend,
    django_capture_on_commit_callbacks: CaptureCallbacks,
    first: str,
) -> None:
    original, copy, _archive = study_and_copy(owner)
    order = [original.file, copy] if first == "original" else [copy, original.file]

    purge(owner, order[0], django_capture_on_commit_callbacks)
    original.refresh_from_db()
    assert original.wrapped_data_key is not None
    purge(owner, File.objects.get(pk=order[1].pk), django_capture_on_commit_callbacks)

    assert not FileVersion.objects.exists()  # the keys went first, then blobs and rows
    assert not File.objects.exists()
    assert not backend.exists(original.blob_key)
    assert blobs_in(backend) == set()


def test_a_copy_is_refused_once_the_content_is_shredded(
    owner: User, folder_backend: Backend
) -> None:
    original, copy, _archive = study_and_copy(owner)
    services.file_delete(actor=owner, file=copy)
    services.file_purge(actor=owner, file=copy)
    services.file_delete(actor=owner, file=original.file)
    services.file_purge(actor=owner, file=File.objects.get(pk=original.file_id))

    with pytest.raises(FileRuleError):
        services.version_share_create(actor=owner, file=copy, source=original)
    assert FileVersion.objects.get(pk=original.pk).wrapped_data_key is None


def test_retention_purges_the_old_version_but_not_what_was_restored_from_it(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    first = version_store(actor=owner, folder=root, name="cr.pdf", content=b"first draft")
    version_store(actor=owner, folder=root, name="cr.pdf", content=b"second draft")
    restored = services.version_restore(actor=owner, version=first)
    space = first.file.space
    space.version_keep_count, space.version_keep_days = 1, 0
    space.save()

    assert lifecycle.versions_retention_apply() == 2  # versions 1 and 2
    lifecycle.shredded_blobs_delete()

    first.refresh_from_db()
    assert (first.shredded_at is not None, first.wrapped_data_key is not None) == (True, True)
    assert folder_backend.exists(first.blob_key)
    assert download(client_signed_in(owner), restored.file) == b"first draft"


# --- Every way in reads the shared content ----------------------------------------------------


def test_key_rotation_rewraps_the_shared_key_once_and_both_still_read(
    owner: User, backend: Backend, private_keyring: Path
) -> None:
    original, copy, _archive = study_and_copy(owner)
    out = io.StringIO()

    call_command("rotate_keys", "--new-key", stdout=out)

    assert "re-wrapped 1/1" in out.getvalue()
    original.refresh_from_db()
    assert original.kek_id == FileKeyring.load(private_keyring).current_key_id
    client = client_signed_in(owner)
    assert download(client, original.file) == STUDY
    assert download(client, copy) == STUDY


def test_re_encrypting_through_a_copy_re_encrypts_the_holder_for_both(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    original, copy, _archive = study_and_copy(owner)
    shared = copy.current_version
    assert shared is not None
    old_blob = original.blob_key

    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.version_reencrypt(version_id=shared.pk) is True

    original.refresh_from_db()
    assert original.blob_key != old_blob
    assert not backend.exists(old_blob)
    client = client_signed_in(owner)
    assert download(client, original.file) == STUDY
    assert download(client, copy) == STUDY


def test_a_tampered_shared_blob_fails_for_every_version_using_it(
    owner: User, folder_backend: Backend
) -> None:
    original, copy, _archive = study_and_copy(owner)
    stored = bytearray(folder_backend.raw(original.blob_key))
    stored[-20] ^= 1
    folder_backend.replace(original.blob_key, bytes(stored))

    report = lifecycle.blobs_scrub()

    assert report.failed == [str(original.pk)]  # one blob, checked once
    assert copy.current_version is not None
    assert FileVersion.objects.get(pk=copy.current_version.pk).integrity_failed
    assert client_signed_in(owner).get(f"/files/{copy.pk}/download/").status_code == 409


def test_previews_and_zip_archives_read_a_copy(owner: User, folder_backend: Backend) -> None:
    root = root_of(owner)
    note = version_store(actor=owner, folder=root, name="note.txt", content=b"Patient stable")
    archive = services.folder_create(actor=owner, parent=root, name="Archive")
    copy = services.file_copy(actor=owner, file=note.file, destination=archive)

    preview = client_signed_in(owner).get(reverse("files:preview", args=[copy.pk]))
    assert preview.status_code == 200
    assert b"Patient stable" in preview.content

    entries, _left_out = archive_entries_for_folder(archive)
    response = archive_response(
        request=client_signed_in(owner).get("/").wsgi_request,
        entries=entries,
        archive_name="Archive",
        on_finished=lambda sent, completed: None,
    )
    zipped = zipfile.ZipFile(io.BytesIO(body_of(response)))
    assert zipped.namelist() == ["Archive/note.txt"]
    assert zipped.read("Archive/note.txt") == b"Patient stable"


# --- Audit -------------------------------------------------------------------------------------


def test_an_access_through_a_copy_names_the_original(owner: User, folder_backend: Backend) -> None:
    original, copy, _archive = study_and_copy(owner)

    download(client_signed_in(owner), copy)

    event = AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD).get()
    assert event.details["file"] == copy.pk
    assert event.details["original"]["file"] == original.file_id
    assert event.details["original"]["version"] == str(original.pk)
    assert event.details["original"]["path"] == "/irm.dcm"


# --- Copies made before: manage.py files_share_copies -----------------------------------------


def old_style_copy(owner: User, original: FileVersion, folder: Folder) -> FileVersion:
    """A copy as file_copy made it before issue #14: a full re-encryption."""
    sealed = services.blob_reencrypt(version=original, max_bytes=original.size + 1)
    file = File.objects.create(
        space_id=folder.space_id, folder=folder, name="copie.dcm", name_key="copie.dcm"
    )
    return FileVersion.objects.create(
        id=sealed.version_id,
        file=file,
        number=1,
        size=sealed.size,
        ciphertext_size=sealed.ciphertext_size,
        sha256=sealed.sha256,
        content_type=sealed.content_type,
        scan_status=original.scan_status,
        blob_key=sealed.blob_key,
        wrapped_data_key=sealed.wrapped_data_key,
        kek_id=sealed.kek_id,
        segment_size=sealed.segment_size,
        source_version=original,
    )


def test_files_share_copies_links_old_copies_after_a_dry_run(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: CaptureCallbacks
) -> None:
    root = root_of(owner)
    original = version_store(actor=owner, folder=root, name="irm.dcm", content=STUDY)
    old = old_style_copy(owner, original, root)
    File.objects.filter(pk=old.file_id).update(current_version=old)
    duplicate = old.blob_key
    out = io.StringIO()

    call_command("files_share_copies", stdout=out)
    assert "Dry run: 1 copies" in out.getvalue()
    assert backend.exists(duplicate)

    with django_capture_on_commit_callbacks(execute=True):
        call_command("files_share_copies", "--apply", stdout=out)

    old.refresh_from_db()
    assert (old.content_holder_id, old.blob_key, old.wrapped_data_key) == (original.pk, "", None)
    assert not backend.exists(duplicate)
    assert download(client_signed_in(owner), old.file) == STUDY
    event = AuditEvent.objects.get(action=Action.FILES_VERSION_CONTENT_LINK)
    assert event.details["content_holder"] == str(original.pk)
    again = io.StringIO()
    call_command("files_share_copies", "--apply", stdout=again)
    assert "Linked 0 of 0" in again.getvalue()


def test_files_share_copies_leaves_a_copy_that_differs_or_a_damaged_source(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    original = version_store(actor=owner, folder=root, name="irm.dcm", content=STUDY)
    old = old_style_copy(owner, original, root)
    stored = bytearray(folder_backend.raw(original.blob_key))
    stored[-20] ^= 1
    folder_backend.replace(original.blob_key, bytes(stored))

    call_command("files_share_copies", "--apply", stdout=io.StringIO())

    old.refresh_from_db()
    assert (old.content_holder_id, old.wrapped_data_key is not None) == (None, True)
    assert folder_backend.exists(old.blob_key)
    assert FileVersion.objects.get(pk=original.pk).integrity_failed
