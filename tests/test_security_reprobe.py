"""Issue #12 tried again from outside: variants of the ten fixed defects that their own
tests did not try. Each story is one probe a reviewer would make; where it found a hole,
the product was fixed and the probe stays as its regression test."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from files import tus
from files.models import UploadSession
from sharing.services import file_requests
from tests.conftest import PASSWORD
from tests.files_helpers import Backend, root_of
from tests.helpers import client_signed_in
from tests.test_tus import TUS, location, metadata, token_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

FIVE_THOUSAND_DIGITS = "9" * 5000
# Characters str.isdigit() accepts but int() refuses (superscript two) or reads as a
# number although no HTTP client would send it (Arabic-Indic, fullwidth digits).
NOT_ASCII_DIGITS = ["\u00b2", "\u0663", "\uff15"]


def _short(value: object) -> str:
    return ascii(value)[:24]


# --- No 500 on any header ------------------------------------------------------------------


def _tus_create(client: Client, url: str, **headers: str) -> Any:
    return client.post(
        url,
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={**TUS, "Upload-Metadata": metadata(filename="scan.dcm"), **headers},
    )


def _lab_url(owner: User) -> str:
    _request, token = file_requests.file_request_create(
        actor=owner,
        folder=root_of(owner),
        title="Bilan",
        expires_at=timezone.now() + timedelta(days=3),
    )
    return f"/r/{token}/uploads/"


@pytest.fixture(params=["api", "file request"])
def tus_door(request: pytest.FixtureRequest, owner: User) -> tuple[Client, str]:
    """The two tus endpoints: a clinician's API client, a lab answering a file request."""
    if request.param == "api":
        return token_client(owner), "/api/v1/uploads/"
    return Client(), _lab_url(owner)


@pytest.mark.parametrize(
    "length", [FIVE_THOUSAND_DIGITS, "-1", "1e3", " 10", *NOT_ASCII_DIGITS], ids=_short
)
def test_an_absurd_upload_length_is_a_400_or_413_never_a_500(
    tus_door: tuple[Client, str], folder_backend: Backend, length: str
) -> None:
    client, url = tus_door
    response = _tus_create(client, url, **{"Upload-Length": length})
    assert response.status_code in (400, 413), response.status_code
    assert not UploadSession.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        "filename c2Nhbi5kY20=é",  # Latin-1 byte in the value: not base64 at all
        "filename é",
        "filename",  # a key without a value (tus 1.0 allows it)
        "filename =,=",
        ",,,",
        "filename " + base64.b64encode(b"\xff\xfe").decode(),  # not UTF-8
        "filename " + base64.b64encode(b"scan\x00.dcm").decode(),
        "filename " + base64.b64encode(b"scan\r\nX-Evil: 1.dcm").decode(),
        "filename " + base64.b64encode("scan\u202egpj.exe".encode()).decode(),
    ],
    ids=_short,
)
def test_hostile_upload_metadata_is_a_400_never_a_500(
    tus_door: tuple[Client, str], folder_backend: Backend, header: str
) -> None:
    client, url = tus_door
    response = client.post(
        url,
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={**TUS, "Upload-Length": "10", "Upload-Metadata": header},
    )
    assert response.status_code in (201, 400), response.status_code
    if response.status_code == 201:
        # Only the key without a value is acceptable, and then the name is not a path.
        assert header == "filename"


@pytest.mark.parametrize(
    "offset", [FIVE_THOUSAND_DIGITS, "-0", "+0", *NOT_ASCII_DIGITS], ids=_short
)
def test_an_absurd_upload_offset_is_a_400_or_409_never_a_500(
    tus_door: tuple[Client, str], folder_backend: Backend, offset: str
) -> None:
    client, url = tus_door
    created = _tus_create(client, url, **{"Upload-Length": "10"})
    assert created.status_code == 201
    response = client.generic(
        "PATCH",
        location(created),
        b"0123456789",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={**TUS, "Upload-Offset": offset},
    )
    assert response.status_code in (400, 409), response.status_code
    assert UploadSession.objects.get().offset == 0


@pytest.mark.parametrize(
    "checksum", ["sha256 é", "sha256 " + "A" * 5000, "md5 x", "sha256"], ids=_short
)
def test_a_hostile_upload_checksum_is_a_400_never_a_500(
    tus_door: tuple[Client, str], folder_backend: Backend, checksum: str
) -> None:
    client, url = tus_door
    created = _tus_create(client, url, **{"Upload-Length": "10"})
    response = client.generic(
        "PATCH",
        location(created),
        b"0123456789",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={**TUS, "Upload-Offset": "0", "Upload-Checksum": checksum},
    )
    assert response.status_code in (400, 460), response.status_code


@pytest.mark.parametrize(
    "override", ["patch", "GET", "PATCH, DELETE", "", "\x00", "OPTIONS", "é"], ids=_short
)
@pytest.mark.parametrize("resumable", ["1.0.0", "1.0.0, 0.2.2", "", "é"], ids=_short)
def test_odd_method_overrides_and_tus_versions_are_answered_never_a_500(
    tus_door: tuple[Client, str], folder_backend: Backend, override: str, resumable: str
) -> None:
    client, url = tus_door
    created = _tus_create(client, url, **{"Upload-Length": "10"})
    response = client.post(
        location(created),
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={"Tus-Resumable": resumable, "X-HTTP-Method-Override": override},
    )
    assert response.status_code < 500, response.status_code


@pytest.mark.parametrize(
    "content_length", [FIVE_THOUSAND_DIGITS, "-5", "ten", *NOT_ASCII_DIGITS], ids=_short
)
def test_an_absurd_content_length_is_refused_never_a_500_by_every_upload_door(
    owner: User, folder_backend: Backend, content_length: str
) -> None:
    root = root_of(owner)
    api = token_client(owner)
    browser = client_signed_in(owner)
    created = _tus_create(api, "/api/v1/uploads/", **{"Upload-Length": "10"})
    lab_url = _lab_url(owner)
    lab = Client()
    lab_created = _tus_create(lab, lab_url, **{"Upload-Length": "10"})
    answers = {
        "api upload": api.post(
            f"/api/v1/files/folders/{root.pk}/upload/?name=scan.dcm",
            b"0123456789",
            content_type="application/octet-stream",
            CONTENT_LENGTH=content_length,
        ),
        "page upload": browser.post(
            f"/files/folders/{root.pk}/upload/",
            b"",
            content_type="multipart/form-data; boundary=x",
            CONTENT_LENGTH=content_length,
        ),
        "tus patch": api.generic(
            "PATCH",
            location(created),
            b"0123456789",
            content_type=tus.OFFSET_CONTENT_TYPE,
            headers={**TUS, "Upload-Offset": "0"},
            CONTENT_LENGTH=content_length,
        ),
        "file request patch": lab.generic(
            "PATCH",
            location(lab_created),
            b"0123456789",
            content_type=tus.OFFSET_CONTENT_TYPE,
            headers={**TUS, "Upload-Offset": "0"},
            CONTENT_LENGTH=content_length,
        ),
    }
    statuses = {door: response.status_code for door, response in answers.items()}
    assert all(400 <= code < 500 for code in statuses.values()), statuses


def test_a_nul_in_the_user_agent_neither_breaks_sign_in_nor_the_audit_log(owner: User) -> None:
    """PostgreSQL stores no NUL in text: the user agent is kept, with the NUL replaced."""
    browser = Client(HTTP_USER_AGENT="Firefox\x00<script>")
    response = browser.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert response.status_code == 302
    other = Client(HTTP_USER_AGENT="Firefox\x00<script>")
    refused = other.post("/accounts/login/", {"username": owner.email, "password": "wrong"})
    assert refused.status_code == 200
    event = AuditEvent.objects.order_by("-sequence").first()
    assert event is not None
    assert event.user_agent == "Firefox\ufffd<script>"


def test_a_refused_upload_name_with_a_nul_is_audited_not_a_500(
    tus_door: tuple[Client, str], folder_backend: Backend
) -> None:
    client, url = tus_door
    response = client.post(
        url,
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(filename="a\x00.sh")},
    )
    assert response.status_code == 400
    refusal = AuditEvent.objects.filter(outcome="denied").latest("sequence")
    assert "a\ufffd.sh" in str(refusal.details)
