"""Resumable uploads over tus 1.0 (/api/v1/uploads/): a clinician's API client uploads a
study in pieces, every protocol error gets its status, and nothing plaintext is stored."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import base64
import errno
import hashlib
import io
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone

from accounts import tokens
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import tus
from files.crypto import segment_offset
from files.keys import associated_data, data_key_unwrap
from files.models import File, FileVersion, ScanStatus, UploadSession
from files.storage import blob_store
from tests.files_helpers import SEGMENT, Backend, content_of, root_of
from tests.helpers import client_signed_in
from tests.test_crypto import independent_decrypt

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

URL = "/api/v1/uploads/"
TUS = {"Tus-Resumable": "1.0.0"}


def token_client(user: User, *scopes: str) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user, name="Imaging uploader", scopes=scopes or ["write"], expires_in_days=30
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def create(api: Client, length: int, *, folder: int | None = None, name: str = "scan.dcm") -> Any:
    values = {"filename": name}
    if folder is not None:
        values["folder"] = str(folder)
    # Real tus clients send an empty body; the test client would send multipart.
    return api.post(
        URL,
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(**values)},
    )


def location(response: Any) -> str:
    value: str = response["Location"]
    return value.replace("http://testserver", "")


def patch(
    api: Client,
    url: str,
    offset: int,
    data: bytes,
    *,
    checksum: str | None = None,
    content_type: str = tus.OFFSET_CONTENT_TYPE,
) -> Any:
    headers = {**TUS, "Upload-Offset": str(offset)}
    if checksum is not None:
        headers["Upload-Checksum"] = checksum
    return api.generic("PATCH", url, data, content_type=content_type, headers=headers)


def sha256_header(data: bytes) -> str:
    return "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()


def stored_plaintext(version: FileVersion) -> bytes:
    """The version's blob as stored, decrypted by the decryptor written from
    docs/encryption-format.md alone: what an upload stores is the documented format."""
    assert version.wrapped_data_key is not None
    data_key = data_key_unwrap(
        version_id=version.pk, kek_id=version.kek_id, wrapped=bytes(version.wrapped_data_key)
    )
    reader = blob_store().reader(version.blob_key)
    try:
        blob = bytes(reader.read_at(0, version.ciphertext_size + 1))
    finally:
        reader.close()
    assert len(blob) == version.ciphertext_size
    return independent_decrypt(blob, data_key, associated_data(version.pk))


def test_discovery_names_version_extensions_checksums_and_max_size() -> None:
    response = Client().options(URL)
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    }
    assert "sha256" in response["Tus-Checksum-Algorithm"].split(",")
    assert int(response["Tus-Max-Size"]) == 20 * 2**30


def test_owner_uploads_in_pieces_and_gets_a_pending_version_with_no_plaintext_stored(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    api = token_client(owner)
    content = content_of(3 * 1024 * 1024 + 12345, seed="study")
    created = create(api, len(content), folder=root_of(owner).pk)
    assert created.status_code == 201, created.content
    assert created["Tus-Resumable"] == "1.0.0"
    assert "Upload-Expires" in created
    url = location(created)
    assert url.startswith(URL)

    pieces = [content[:1500000], content[1500000:2600000], content[2600000:]]
    offset = 0
    for index, piece in enumerate(pieces):
        head = api.head(url, headers=TUS)
        assert head.status_code == 200
        assert head["Upload-Offset"] == str(offset)
        assert head["Upload-Length"] == str(len(content))
        assert head["Cache-Control"] == "no-store"
        if index < 2:
            # Partial uploads are ciphertext too.
            for _key, stored in backend.everything():
                assert content[:64] not in stored
                assert piece[100:164] not in stored
        with django_capture_on_commit_callbacks(execute=True):
            response = patch(api, url, offset, piece, checksum=sha256_header(piece))
        assert response.status_code == 204, response.content
        offset += len(piece)
        assert response["Upload-Offset"] == str(offset)

    file = File.objects.get(name="scan.dcm")
    version = file.current_version
    assert version is not None
    assert version.scan_status == ScanStatus.PENDING
    assert version.size == len(content)
    assert stored_plaintext(version) == content
    assert version.uploaded_by == owner
    # The chunk objects are gone, only the version's blob remains, all ciphertext.
    keys = [key for key, _stored in backend.everything()]
    assert not [key for key in keys if key.startswith("uploads/")]
    for _key, stored in backend.everything():
        assert content[:64] not in stored
    actions = list(
        AuditEvent.objects.filter(action__startswith="files.upload.").values_list(
            "action", flat=True
        )
    )
    assert actions == [Action.FILES_UPLOAD_START, Action.FILES_UPLOAD_COMPLETE]


def test_creation_with_upload_finishes_a_small_file_in_one_request(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    content = b"referral letter\n" * 100
    response = api.post(
        URL,
        content,
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={
            **TUS,
            "Upload-Length": str(len(content)),
            "Upload-Metadata": metadata(filename="letter.txt"),
        },
    )
    assert response.status_code == 201, response.content
    assert response["Upload-Offset"] == str(len(content))
    version = File.objects.get(name="letter.txt").current_version
    assert version is not None
    assert stored_plaintext(version) == content


def test_protocol_errors_get_their_status_and_lose_nothing(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    content = content_of(5000, seed="errors")
    url = location(create(api, len(content)))
    assert patch(api, url, 0, content[:1000]).status_code == 204

    assert patch(api, url, 0, content[1000:2000]).status_code == 409
    assert (
        patch(api, url, 1000, content[1000:2000], content_type="application/json").status_code
        == 415
    )
    bad = patch(api, url, 1000, content[1000:2000], checksum=sha256_header(b"other"))
    assert bad.status_code == 460
    assert api.head(url, headers=TUS)["Upload-Offset"] == "1000"
    assert patch(api, url, 1000, content[1000:] + b"extra").status_code == 413
    assert api.generic("PATCH", url, b"x", content_type=tus.OFFSET_CONTENT_TYPE).status_code == 412
    assert api.head(URL + "5d2b7a63-1b9d-4a4b-9a43-3c2c1c9b1a11/", headers=TUS).status_code == 404
    assert api.head(URL + "not-a-uuid/", headers=TUS).status_code == 404

    response = patch(api, url, 1000, content[1000:], checksum=sha256_header(content[1000:]))
    assert response.status_code == 204
    version = File.objects.get(name="scan.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content


def test_outsider_cannot_see_or_continue_someone_elses_upload(
    owner: User, outsider: User, folder_backend: Backend
) -> None:
    url = location(create(token_client(owner), 100))
    intruder = token_client(outsider)
    assert intruder.head(url, headers=TUS).status_code == 404
    assert patch(intruder, url, 0, b"x" * 100).status_code == 404
    assert intruder.delete(url, headers=TUS).status_code == 404
    assert create(intruder, 10, folder=root_of(owner).pk).status_code == 404


def test_a_read_only_token_or_no_credentials_cannot_upload(owner: User) -> None:
    assert create(token_client(owner, "read"), 10).status_code == 403
    assert create(Client(), 10).status_code in {401, 403}


def test_quota_and_size_policy_refuse_at_creation_and_are_audited(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    with override_settings(TUS_MAX_SIZE_BYTES=1000):
        assert create(api, 1001).status_code == 413
    with override_settings(FILES_PERSONAL_QUOTA_BYTES=500):
        assert create(api, 501).status_code == 413
    assert create(api, 10, name="bad/name").status_code == 400
    assert UploadSession.objects.count() == 0
    assert AuditEvent.objects.filter(action=Action.FILES_UPLOAD_REJECT).count() == 3


def test_termination_deletes_the_upload_and_its_ciphertext(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    api = token_client(owner)
    url = location(create(api, 5000))
    assert patch(api, url, 0, b"a" * 2000).status_code == 204
    with_chunks = [
        key for key, _stored in folder_backend.everything() if key.startswith("uploads/")
    ]
    assert with_chunks
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(url, headers=TUS).status_code == 204
    assert api.head(url, headers=TUS).status_code == 404
    assert not [key for key, _stored in folder_backend.everything() if key.startswith("uploads/")]


def test_abandoned_upload_expires_with_410_then_beat_deletes_it(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    api = token_client(owner)
    url = location(create(api, 5000))
    assert patch(api, url, 0, b"a" * 2000).status_code == 204
    later = timezone.now() + timedelta(days=2)
    with time_machine.travel(later, tick=False):
        assert api.head(url, headers=TUS).status_code == 410
        assert patch(api, url, 2000, b"a" * 100).status_code == 410
        with django_capture_on_commit_callbacks(execute=True):
            assert tus.uploads_expired_delete() == 1
    assert UploadSession.objects.count() == 0
    assert not [key for key, _stored in folder_backend.everything() if key.startswith("uploads/")]


def test_browser_session_needs_the_csrf_header(owner: User, folder_backend: Backend) -> None:
    browser = client_signed_in(owner)
    browser.handler.enforce_csrf_checks = True
    assert create(browser, 10).status_code == 403
    page = browser.get("/files/", follow=True)
    token = str(page.context["csrf_token"])
    response = browser.post(
        URL,
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename="note.txt"),
            "X-CSRFToken": token,
        },
    )
    assert response.status_code == 201, response.content


def test_staged_ciphertext_is_bound_to_its_upload(owner: User, folder_backend: Backend) -> None:
    api = token_client(owner)
    first = UploadSession.objects.get(pk=location(create(api, 3000)).split("/")[-2])
    second = UploadSession.objects.get(pk=location(create(api, 3000)).split("/")[-2])
    assert patch(api, f"{URL}{first.pk}/", 0, b"a" * 1500).status_code == 204
    assert patch(api, f"{URL}{second.pk}/", 0, b"b" * 1500).status_code == 204
    second.refresh_from_db()
    # Give the first upload the second one's staged segments and carry: its next PATCH
    # must fail authentication, never mix content.
    UploadSession.objects.filter(pk=first.pk).update(
        parts=second.parts, carry=second.carry, blob_header=second.blob_header
    )
    response = patch(api, f"{URL}{first.pk}/", 1500, b"a" * 1500)
    assert response.status_code == 500
    assert not File.objects.exists()
    assert blob_store().exists(second.parts[0]["key"])


def test_an_upload_whose_last_request_died_before_the_version_completes_on_head(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    content = b"x" * 3000
    url = location(create(api, len(content)))
    session = UploadSession.objects.get()
    # What a worker killed between committing the last segment and creating the version
    # leaves behind: every byte committed, no version.
    tus._append(session, len(content), io.BytesIO(content).readinto, None)
    assert not File.objects.exists()

    head = api.head(url, headers=TUS)

    assert head["Upload-Offset"] == str(len(content))
    version = File.objects.get(name="scan.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content


def test_a_gateway_sending_many_files_at_once_is_not_held_back_by_the_api_rate_limit(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PACS gateway sends a study as hundreds of small files, two requests each, from
    many threads with one token (bench/embedded_uploads.py: 1,573 requests in 43-71 s).
    tus requests are exempt from the per-person API rate: each is authenticated with a
    ``write`` token and bounded by the quota reserved at creation. The rest of the API
    stays limited."""
    from accounts.throttling import UserThrottle

    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"user": "2/minute", "anon": "2/minute"})
    api = token_client(owner)

    statuses = [create(api, 4, name=f"slice-{number:03d}.dcm").status_code for number in range(5)]
    others = [api.get("/api/v1/me/").status_code for _ in range(3)]

    assert statuses == [201] * 5
    assert others == [200, 200, 429]


def test_an_upload_in_progress_survives_a_key_rotation_and_the_old_keys_retirement(
    owner: User, backend: Backend, private_keyring: Path, django_capture_on_commit_callbacks: Any
) -> None:
    """The operator rotates the master key while a clinician's study is half uploaded,
    then retires the old key as docs/storage.md says once nothing names it. The upload
    resumes and completes: its data key was re-wrapped with the others."""
    from django.core.management import call_command

    from core.keyring import FileKeyring

    api = token_client(owner)
    content = content_of(2 * 1024 * 1024 + 777, seed="rotation")
    url = location(create(api, len(content), folder=root_of(owner).pk))
    assert patch(api, url, 0, content[:1200000]).status_code == 204
    old = UploadSession.objects.get().kek_id

    out = io.StringIO()
    call_command("rotate_keys", "--new-key", stdout=out)
    assert "No data key or secret names an older key-encryption key" in out.getvalue()
    ring = FileKeyring.load(private_keyring)
    assert ring.current_key_id != old
    assert UploadSession.objects.filter(kek_id=old).count() == 0
    FileKeyring(
        ring.current_key_id, {ring.current_key_id: ring.get(ring.current_key_id).secret}
    ).save(private_keyring)

    with django_capture_on_commit_callbacks(execute=True):
        response = patch(api, url, 1200000, content[1200000:])
    assert response.status_code == 204, response.content
    version = File.objects.get(name="scan.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content


def test_an_upload_into_a_folder_purged_for_good_leaves_no_staged_ciphertext(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    """A clinician's study is half uploaded into "Scans" when the folder is deleted and
    emptied from the trash. Once the purge has removed the folder's rows, the upload's
    staged ciphertext must be gone from storage too, not left behind without a row."""
    from files import services

    scans = services.folder_create(actor=owner, parent=root_of(owner), name="Scans")
    api = token_client(owner)
    content = content_of(2 * 1024 * 1024, seed="purged")
    url = location(create(api, len(content), folder=scans.pk))
    assert patch(api, url, 0, content[:1200000]).status_code == 204
    assert [key for key, _stored in backend.everything() if key.startswith("uploads/")]

    with django_capture_on_commit_callbacks(execute=True):
        services.folder_delete(actor=owner, folder=scans)
    with django_capture_on_commit_callbacks(execute=True):
        services.folder_purge(actor=owner, folder=scans)

    assert not UploadSession.objects.exists()
    assert [key for key, _stored in backend.everything() if key.startswith("uploads/")] == []


@pytest.mark.parametrize("direct", [True, False], ids=["direct-writes", "page-cache"])
def test_a_disk_error_mid_patch_keeps_the_offset_and_the_bytes_stored_before(
    owner: User,
    folder_backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    direct: bool,
) -> None:
    """A PATCH of many segments whose disk fails part-way: the client is told (5xx), the
    offset stays where the last good PATCH left it, nothing is written after the
    failure, and sending the same PATCH again once the disk is back completes a file
    identical to what was sent."""
    settings.STAGING_DIRECT_IO = direct
    api = token_client(owner)
    content = content_of(900_000, seed="disk error")
    url = location(create(api, len(content), folder=root_of(owner).pk))
    assert patch(api, url, 0, content[:300_000]).status_code == 204

    # The disk fails at the write that carries the body's 450,000th byte, part-way
    # through it: one segment's write through the page cache, or a run of whole blocks
    # written directly on the staging writer's own thread (files/direct_writes.py).
    failing_at = segment_offset(450_000 // SEGMENT, SEGMENT)
    pwrite = os.pwrite
    calls = {"failed": 0, "after": 0}

    def failing_pwrite(fd: int, data: Any, offset: int) -> int:
        if "/uploads/" not in os.readlink(f"/proc/self/fd/{fd}"):
            return pwrite(fd, data, offset)
        if calls["failed"]:
            calls["after"] += 1
        elif offset <= failing_at < offset + len(data):
            calls["failed"] += 1
            raise OSError(errno.EIO, "Input/output error")
        return pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", failing_pwrite)
    failing = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION=api.defaults["HTTP_AUTHORIZATION"]
    )
    assert patch(failing, url, 300_000, content[300_000:]).status_code == 500
    assert calls == {"failed": 1, "after": 0}
    assert UploadSession.objects.get().offset == 300_000

    monkeypatch.setattr(os, "pwrite", pwrite)
    assert api.head(url, headers=TUS)["Upload-Offset"] == "300000"
    assert patch(api, url, 300_000, content[300_000:]).status_code == 204
    version = File.objects.get(name="scan.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content
