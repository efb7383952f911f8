"""What goes in comes back byte for byte, in whole or in ranges, on both backends, and
storage only ever holds ciphertext.

Everything goes through the real upload view (the encrypting multipart handler) and the
real download view. Segments are 64 bytes here so that every boundary is cheap.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import hashlib
import itertools
import re

import pytest
from django.test import Client

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.crypto import HEADER_SIZE, TAG_SIZE, ciphertext_size
from files.models import File, ScanStatus
from tests.files_helpers import (
    SEGMENT,
    Backend,
    body_of,
    content_of,
    latest_version,
    root_of,
    upload_through_view,
)
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5]


def uploaded_and_scanned(client: Client, owner: User, name: str, content: bytes) -> File:
    response = upload_through_view(client, root_of(owner), name, content)
    assert response.status_code == 302, response.content[:500]
    version = latest_version(name)
    services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
    return version.file


@pytest.mark.parametrize("size", SIZES)
def test_a_file_comes_back_byte_for_byte(owner: User, backend: Backend, size: int) -> None:
    client = client_signed_in(owner)
    content = content_of(size, seed=f"round-trip-{size}")
    file = uploaded_and_scanned(client, owner, f"scan-{size}.bin", content)

    version = file.current_version
    assert version is not None
    assert version.size == size
    assert version.sha256 == hashlib.sha256(content).hexdigest()
    assert version.ciphertext_size == ciphertext_size(size, SEGMENT)
    assert version.segment_size == SEGMENT
    assert len(backend.raw(version.blob_key)) == version.ciphertext_size

    response = client.get(f"/files/{file.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Length"] == str(size)
    assert body_of(response) == content


def test_download_headers_are_safe_and_cacheable_by_no_one(
    owner: User, folder_backend: Backend
) -> None:
    client = client_signed_in(owner)
    file = uploaded_and_scanned(client, owner, "Compte rendu — Mme Héloïse.pdf", b"%PDF-1.7\n")
    version = file.current_version
    assert version is not None

    response = client.get(f"/files/{file.pk}/download/")
    assert response["Content-Type"] == "application/pdf"
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{version.pk.hex}-{version.sha256[:32]}"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Content-Disposition"] == (
        'attachment; filename="Compte rendu  Mme Heloise.pdf"; '
        "filename*=UTF-8''Compte%20rendu%20%E2%80%94%20Mme%20H%C3%A9lo%C3%AFse.pdf"
    )
    inline = client.get(f"/files/{file.pk}/download/?inline=1")
    assert inline["Content-Disposition"].startswith("inline; ")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("page.html", b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("data.xml", b'<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml"/>'),
    ],
)
def test_active_content_is_never_served_as_itself(
    owner: User, folder_backend: Backend, name: str, content: bytes
) -> None:
    client = client_signed_in(owner)
    file = uploaded_and_scanned(client, owner, name, content)
    version = file.current_version
    assert version is not None
    assert version.content_type in {"text/html", "image/svg+xml", "text/xml", "application/xml"}

    for url in (f"/files/{file.pk}/download/", f"/files/{file.pk}/download/?inline=1"):
        response = client.get(url)
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment; ")
        assert body_of(response) == content


def test_ranges_at_every_segment_boundary(owner: User, backend: Backend) -> None:
    client = client_signed_in(owner)
    size = 3 * SEGMENT + 5
    content = content_of(size, seed="ranges")
    file = uploaded_and_scanned(client, owner, "ranges.bin", content)
    url = f"/files/{file.pk}/download/"
    edges = sorted(
        {0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT - 1, 2 * SEGMENT, 3 * SEGMENT}
        | {3 * SEGMENT + 1, size - 2, size - 1}
    )
    for start, end in itertools.combinations_with_replacement(edges, 2):
        response = client.get(url, HTTP_RANGE=f"bytes={start}-{end}")
        assert response.status_code == 206, (start, end)
        assert response["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert response["Content-Length"] == str(end - start + 1)
        assert body_of(response) == content[start : end + 1], (start, end)


@pytest.mark.parametrize(
    ("header", "status", "expected"),
    [
        ("bytes=10-", 206, slice(10, None)),
        ("bytes=-1", 206, slice(-1, None)),
        ("bytes=-70", 206, slice(-70, None)),
        ("bytes=-100000", 206, slice(0, None)),
        ("bytes=100-100000", 206, slice(100, None)),
        ("bytes=0-0,5-9", 200, slice(0, None)),  # several ranges: the whole file
        ("bytes=9-3", 200, slice(0, None)),  # invalid: ignored
        ("items=0-5", 200, slice(0, None)),  # unknown unit: ignored
        ("bytes=abc", 200, slice(0, None)),
    ],
)
def test_range_forms(
    owner: User, folder_backend: Backend, header: str, status: int, expected: slice
) -> None:
    client = client_signed_in(owner)
    content = content_of(3 * SEGMENT + 5, seed="forms")
    file = uploaded_and_scanned(client, owner, "forms.bin", content)
    response = client.get(f"/files/{file.pk}/download/", HTTP_RANGE=header)
    assert response.status_code == status
    assert body_of(response) == content[expected]


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (200, "bytes=200-"),
        (200, "bytes=500-600"),
        (200, "bytes=-0"),
        (0, "bytes=0-0"),
        (0, "bytes=-5"),
    ],
)
def test_unsatisfiable_ranges_get_416(
    owner: User, folder_backend: Backend, size: int, header: str
) -> None:
    client = client_signed_in(owner)
    file = uploaded_and_scanned(client, owner, "short.bin", content_of(size))
    response = client.get(f"/files/{file.pk}/download/", HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"


def test_if_range_resumes_only_the_same_version(owner: User, folder_backend: Backend) -> None:
    client = client_signed_in(owner)
    content = content_of(300, seed="v1")
    file = uploaded_and_scanned(client, owner, "resume.bin", content)
    url = f"/files/{file.pk}/download/"
    etag = client.get(url)["ETag"]

    same = client.get(url, HTTP_RANGE="bytes=100-", HTTP_IF_RANGE=etag)
    assert same.status_code == 206
    assert body_of(same) == content[100:]

    newer = content_of(300, seed="v2")
    uploaded_and_scanned(client, owner, "resume.bin", newer)
    changed = client.get(url, HTTP_RANGE="bytes=100-", HTTP_IF_RANGE=etag)
    assert changed.status_code == 200  # the file changed: whole new content, not a splice
    assert body_of(changed) == newer
    dated = client.get(url, HTTP_RANGE="bytes=100-", HTTP_IF_RANGE="Sat, 01 Jan 2000 00:00:00 GMT")
    assert dated.status_code == 200


def test_head_describes_without_sending_or_auditing(owner: User, folder_backend: Backend) -> None:
    client = client_signed_in(owner)
    file = uploaded_and_scanned(client, owner, "head.bin", content_of(150))
    response = client.head(f"/files/{file.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Length"] == "150"
    assert response.content == b""
    assert not AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD).exists()


def test_every_download_is_audited_with_its_range(owner: User, folder_backend: Backend) -> None:
    client = client_signed_in(owner, user_agent="Firefox/140 (ward 3)")
    file = uploaded_and_scanned(client, owner, "audited.bin", content_of(150))
    body_of(client.get(f"/files/{file.pk}/download/", HTTP_RANGE="bytes=10-19"))
    event = AuditEvent.objects.get(action=Action.FILES_VERSION_DOWNLOAD)
    assert event.outcome == "success"
    assert event.actor_id == str(owner.pk)
    assert event.target_id == str(file.current_version_id)
    assert event.details["range"] == "10-19"
    assert event.details["bytes"] == 10
    assert event.user_agent == "Firefox/140 (ward 3)"


def test_storage_holds_only_ciphertext(owner: User, backend: Backend) -> None:
    client = client_signed_in(owner)
    marker = b"PATIENT-MARKER-7f3c9a Dupont Heloise 1957-03-14 "
    content = marker * 40 + content_of(500) + marker
    name = "Dupont Heloise - compte rendu.txt"
    file = uploaded_and_scanned(client, owner, name, content)
    stored = list(backend.everything())

    assert stored, "something must have been stored"
    for key, data in stored:
        assert marker not in data, key
        assert marker[:16] not in data, key
        assert b"Dupont" not in data, key
        assert "Dupont" not in key, key
        assert "compte" not in key, key
        assert re.fullmatch(r"blobs/[0-9a-f]{2}/[0-9a-f]{32}", key), key
        assert data.startswith(b"SDBLOB\x01")
    version = file.current_version
    assert version is not None
    assert len(stored) == 1
    assert len(stored[0][1]) == HEADER_SIZE + len(content) + TAG_SIZE * -(-len(content) // SEGMENT)
    assert body_of(client.get(f"/files/{file.pk}/download/")) == content


def test_folder_storage_is_private_to_the_service(owner: User, folder_backend: Backend) -> None:
    client = client_signed_in(owner)
    file = uploaded_and_scanned(client, owner, "private.bin", content_of(10))
    version = file.current_version
    assert version is not None
    assert folder_backend.root is not None
    path = folder_backend.root / version.blob_key
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".partial")]
