"""The files REST API (/api/v1/files/): an integrator's story with a token, and the
browser's own session with CSRF."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.test import Client
from drf_spectacular.validation import validate_schema

from accounts import tokens
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import File, FileVersion, ScanStatus
from tests.files_helpers import Backend, body_of, content_of, root_of
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

API = "/api/v1/files"


def token_client(user: User, *scopes: str) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user, name="Lab export", scopes=scopes or ["read", "write"], expires_in_days=30
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def upload(api: Client, folder_id: int, name: str, content: bytes) -> dict[str, Any]:
    response = api.post(
        f"{API}/folders/{folder_id}/upload/?name={name}",
        content,
        content_type="application/octet-stream",
    )
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def scanned(file_id: int) -> None:
    version = File.objects.get(pk=file_id).current_version
    assert version is not None
    services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)


def test_an_integrator_works_with_files_end_to_end(owner: User, backend: Backend) -> None:
    api = token_client(owner)
    spaces = api.get(f"{API}/spaces/").json()
    assert [space["kind"] for space in spaces] == ["personal"]
    root = spaces[0]["root_folder"]

    folder = api.post(
        f"{API}/folders/{root}/folders/", {"name": "Exports"}, content_type="application/json"
    )
    assert folder.status_code == 201
    folder_id = folder.json()["id"]
    content = content_of(3 * 64 + 7, seed="api")
    created = upload(api, folder_id, "résultats%20labo.csv", content)
    file_id = created["id"]
    assert created["name"] == "résultats labo.csv"
    version = created["current_version"]
    assert isinstance(version, dict)
    assert version["sha256"] == hashlib.sha256(content).hexdigest()
    assert version["scan_status"] == "pending"
    assert version["downloadable"] is False

    pending = api.get(f"{API}/{file_id}/content/")
    assert pending.status_code == 409
    assert "virus scanner" in pending.json()["detail"]
    scanned(file_id)
    whole = api.get(f"{API}/{file_id}/content/")
    assert whole.status_code == 200
    assert body_of(whole) == content
    part = api.get(f"{API}/{file_id}/content/", HTTP_RANGE="bytes=60-130")
    assert part.status_code == 206
    assert body_of(part) == content[60:131]

    newer = content_of(50, seed="newer")
    second = api.post(f"{API}/{file_id}/versions/", newer, content_type="application/octet-stream")
    assert second.status_code == 201
    assert second.json()["number"] == 2
    versions = api.get(f"{API}/{file_id}/versions/").json()
    assert [v["number"] for v in versions] == [2, 1]
    first_id = versions[1]["id"]
    old = api.get(f"{API}/{file_id}/versions/{first_id}/content/")
    assert body_of(old) == content
    restored = api.post(f"{API}/{file_id}/versions/{first_id}/restore/")
    assert restored.status_code == 201
    assert restored.json()["number"] == 3

    renamed = api.patch(
        f"{API}/{file_id}/", {"name": "labo.csv", "folder": root}, content_type="application/json"
    )
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["folder"]) == ("labo.csv", root)
    copy = api.post(
        f"{API}/{file_id}/copy/", {"folder": folder_id}, content_type="application/json"
    )
    assert copy.status_code == 201
    assert copy.json()["name"] == "labo.csv"

    assert api.delete(f"{API}/{file_id}/").status_code == 204
    trash = api.get(f"{API}/spaces/{spaces[0]['id']}/trash/").json()
    assert [entry["id"] for entry in trash["files"]] == [file_id]
    assert api.post(f"{API}/{file_id}/restore/").status_code == 200
    assert api.delete(f"{API}/{file_id}/").status_code == 204
    assert api.post(f"{API}/{file_id}/purge/").status_code == 204
    assert api.get(f"{API}/{file_id}/").status_code == 404
    assert not FileVersion.objects.filter(file_id=file_id, shredded_at__isnull=True).exists()
    # The copy shares version 1's content (the restored version 3 did too): that one key
    # lives on for the copy; version 2's is destroyed (tests/test_files_shared_content.py).
    kept = FileVersion.objects.filter(file_id=file_id, wrapped_data_key__isnull=False)
    assert [version.number for version in kept] == [1]

    listing = api.get(f"{API}/folders/{folder_id}/").json()
    assert [entry["name"] for entry in listing["files"]] == ["labo.csv"]
    assert (
        api.patch(
            f"{API}/folders/{folder_id}/", {"name": "Exports 2026"}, content_type="application/json"
        ).status_code
        == 200
    )
    assert api.delete(f"{API}/folders/{folder_id}/").status_code == 204
    assert api.post(f"{API}/folders/{folder_id}/restore/").status_code == 200
    actions = set(
        AuditEvent.objects.filter(action__startswith="files.").values_list("action", flat=True)
    )
    assert {
        Action.FILES_FOLDER_CREATE,
        Action.FILES_FILE_UPLOAD,
        Action.FILES_VERSION_DOWNLOAD,
        Action.FILES_VERSION_RESTORE,
        Action.FILES_FILE_RENAME,
        Action.FILES_FILE_MOVE,
        Action.FILES_FILE_COPY,
        Action.FILES_FILE_DELETE,
        Action.FILES_FILE_RESTORE,
        Action.FILES_FILE_PURGE,
        Action.FILES_FOLDER_RENAME,
        Action.FILES_FOLDER_DELETE,
        Action.FILES_FOLDER_RESTORE,
    } <= actions


@pytest.mark.parametrize(
    ("query", "content_type", "status", "message"),
    [
        ("?name=a.txt", "text/plain", 415, "application/octet-stream"),
        ("", "application/octet-stream", 400, "?name="),
        ("?name=../a.txt", "application/octet-stream", 400, "“/”"),
        ("?name=CON", "application/octet-stream", 400, "reserved by Windows"),
    ],
)
def test_bad_uploads_are_explained_and_store_nothing(
    owner: User, folder_backend: Backend, query: str, content_type: str, status: int, message: str
) -> None:
    api = token_client(owner)
    root = root_of(owner)
    response = api.post(
        f"{API}/folders/{root.pk}/upload/{query}", b"hello", content_type=content_type
    )
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert list(folder_backend.everything()) == []


def test_a_name_clash_is_409(owner: User, folder_backend: Backend) -> None:
    api = token_client(owner)
    root = root_of(owner)
    api.post(
        f"{API}/folders/{root.pk}/folders/", {"name": "Scans"}, content_type="application/json"
    )
    again = api.post(
        f"{API}/folders/{root.pk}/folders/", {"name": "SCANS"}, content_type="application/json"
    )
    assert again.status_code == 409
    assert "already in this folder" in again.json()["detail"]


def test_the_browser_session_uploads_with_its_csrf_token(
    owner: User, folder_backend: Backend
) -> None:
    browser = client_signed_in(owner)
    browser.handler.enforce_csrf_checks = True
    page = browser.get("/files/", follow=True)
    token = str(page.context["csrf_token"])
    root = root_of(owner)
    url = f"{API}/folders/{root.pk}/upload/?name=note.txt"

    refused = browser.post(url, b"note", content_type="application/octet-stream")
    assert refused.status_code == 403
    assert list(folder_backend.everything()) == []

    accepted = browser.post(
        url, b"note", content_type="application/octet-stream", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 201


def test_the_browser_form_upload_checks_csrf_and_keeps_nothing_when_refused(
    owner: User, folder_backend: Backend
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    browser = client_signed_in(owner)
    browser.handler.enforce_csrf_checks = True
    root = root_of(owner)
    response = browser.post(
        f"/files/folders/{root.pk}/upload/", {"file": SimpleUploadedFile("forged.txt", b"forged")}
    )
    assert response.status_code == 403
    assert not File.objects.exists()
    assert list(folder_backend.everything()) == []  # the blob it had encrypted is gone


def test_the_schema_describes_the_files_api() -> None:
    schema = Client().get("/api/v1/schema/?format=json").json()
    validate_schema(schema)  # type: ignore[no-untyped-call]
    assert {
        "/api/v1/files/spaces/",
        "/api/v1/files/folders/{folder_id}/upload/",
        "/api/v1/files/{file_id}/content/",
        "/api/v1/files/{file_id}/versions/{version_id}/content/",
    } <= set(schema["paths"])


def test_a_token_used_beyond_its_scopes_is_refused_and_audited(
    owner: User, backend: Backend
) -> None:
    """The lab's export script has a read-only token: its attempt to upload into Alice's
    space is refused (403) and the refusal is in the log, with the token's name; so is a
    write-only token reading a patient file."""
    root = root_of(owner)
    reader = token_client(owner, "read")
    refused = reader.post(
        f"{API}/folders/{root.pk}/upload/?name=note.txt",
        b"note",
        content_type="application/octet-stream",
    )
    assert refused.status_code == 403
    assert not File.objects.exists()
    [denied] = AuditEvent.objects.filter(action=Action.ACCOUNTS_TOKEN_USE, outcome="denied")
    assert denied.actor_id == str(owner.pk)
    assert denied.details["reason"] == "missing scope"
    assert denied.details["scope"] == "write"
    assert denied.details["api_token_name"] == "Lab export"

    created = upload(client_signed_in(owner), root.pk, "report.pdf", b"%PDF report")
    _token, plaintext = tokens.token_create(
        actor=owner, name="Night upload", scopes=["write"], expires_in_days=30
    )
    writer = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert writer.get(f"{API}/{created['id']}/content/").status_code == 403
    assert AuditEvent.objects.filter(
        action=Action.ACCOUNTS_TOKEN_USE, outcome="denied", details__scope="read"
    ).exists()
