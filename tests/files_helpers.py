"""Fixtures and helpers for the files tests: people, a team, both storage backends.

The fixtures reach every test module through ``pytest_plugins`` (tests/conftest.py);
test modules import only the helper functions. The storage fixture runs a test on the
folder backend and on S3 (moto's real S3 API server from tests/services.sh); raw
helpers read and rewrite stored blobs the way an attacker with storage access would.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.files.storage import storages
from django.test import Client
from django.test.utils import override_settings

from accounts.models import Team, TeamMembership, TeamRole, User
from files import services
from files.models import File, FileVersion, Folder, ScanStatus
from files.uploads import BlobIngest
from tests.conftest import user_create

# Small segments make every boundary cheap to reach (the format allows 16 B - 16 MiB).
SEGMENT = 64
STATIC = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


# --- Sharing policy ------------------------------------------------------------------------


@pytest.fixture
def transfers_without_code(db: None) -> None:
    """A site whose sharing policy lets senders send transfers without the recipient's
    e-mail code (the default asks for it: docs/sharing-transfers.md, "Recipient
    verification"), for stories about something else: downloads, previews, receipts,
    lineage. The recipient's code itself: tests/test_sharing_transfer_verification.py."""
    from sharing.models import SharingPolicy

    SharingPolicy.objects.update_or_create(
        pk=1, defaults={"transfer_email_verification_required": False}
    )


# --- People ----------------------------------------------------------------------------


@pytest.fixture
def teammate(db: None) -> User:
    return user_create("tom.teammate@hopital.example", full_name="Tom Teammate")


@pytest.fixture
def auditor(db: None) -> User:
    return user_create(
        "audrey.auditor@hopital.example", full_name="Audrey Auditor", is_auditor=True
    )


@pytest.fixture
def team(owner: User, teammate: User) -> Team:
    cardiology = Team.objects.create(name="Cardiologie", slug="cardiologie")
    TeamMembership.objects.create(team=cardiology, user=owner, role=TeamRole.MANAGER)
    TeamMembership.objects.create(team=cardiology, user=teammate)
    return cardiology


# --- Storage ---------------------------------------------------------------------------


class Backend:
    """The storage a test runs on, with raw access to what is stored."""

    def __init__(self, name: str, *, root: Path | None = None, s3: Any = None, bucket: str = ""):
        self.name = name
        self.root = root
        self.s3 = s3
        self.bucket = bucket

    def raw(self, blob_key: str) -> bytes:
        if self.s3 is not None:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=blob_key)["Body"].read())
        assert self.root is not None
        return (self.root / blob_key).read_bytes()

    def replace(self, blob_key: str, data: bytes) -> None:
        if self.s3 is not None:
            self.s3.put_object(Bucket=self.bucket, Key=blob_key, Body=data)
            return
        assert self.root is not None
        (self.root / blob_key).write_bytes(data)

    def exists(self, blob_key: str) -> bool:
        if self.s3 is not None:
            listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=blob_key)
            return int(listed.get("KeyCount", 0)) > 0
        assert self.root is not None
        return (self.root / blob_key).exists()

    def everything(self) -> Iterator[tuple[str, bytes]]:
        """Every stored object, by key: what someone who copied the storage holds."""
        if self.s3 is not None:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
                for entry in page.get("Contents", []):
                    yield entry["Key"], self.raw(entry["Key"])
            return
        assert self.root is not None
        for path in sorted(self.root.rglob("*")):
            if path.is_file():
                yield str(path.relative_to(self.root)), path.read_bytes()


def s3_backend(endpoint: str) -> tuple[dict[str, Any], Backend]:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"files-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=bucket)
    storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "access_key": "test",
            "secret_key": "test",
            "region_name": "us-east-1",
            "file_overwrite": False,
            "default_acl": None,
        },
    }
    return storage, Backend("s3", s3=client, bucket=bucket)


@pytest.fixture(params=["filesystem", "s3"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, service_url: Callable[[str], str]
) -> Iterator[Backend]:
    """Each test using it runs twice: on a private folder and on a fresh S3 bucket."""
    if request.param == "s3":
        storage, chosen = s3_backend(service_url("s3"))
    else:
        root = tmp_path / "storage"
        storage = {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root},
        }
        chosen = Backend("filesystem", root=root)
    with override_settings(STORAGES={"default": storage, "staticfiles": STATIC}):
        assert type(storages["default"]).__name__ in {"FileSystemStorage", "S3Storage"}
        yield chosen


@pytest.fixture
def folder_backend(tmp_path: Path) -> Iterator[Backend]:
    """The folder backend only, for tests about behaviour rather than storage."""
    root = tmp_path / "storage"
    storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": root},
    }
    with override_settings(STORAGES={"default": storage, "staticfiles": STATIC}):
        yield Backend("filesystem", root=root)


@pytest.fixture
def small_segments() -> Iterator[int]:
    with override_settings(FILES_SEGMENT_SIZE=SEGMENT):
        yield SEGMENT


@pytest.fixture
def private_keyring(tmp_path: Path) -> Iterator[Path]:
    """A keyring of the test's own, so rotations do not leak into other tests."""
    path = tmp_path / "secrets" / "keyring.json"
    with override_settings(KEYRING_FILE=path):
        yield path


# --- Content -----------------------------------------------------------------------------


def content_of(size: int, *, seed: str = "") -> bytes:
    """Deterministic, non-repeating bytes (so a swapped segment cannot match by chance)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def root_of(user: User) -> Folder:
    return services.space_root(services.space_personal_get_or_create(user=user))


def version_store(
    *,
    actor: User,
    folder: Folder,
    name: str,
    content: bytes,
    clean: bool = True,
) -> FileVersion:
    """A version stored through the service layer (the views' code path minus HTTP)."""
    ingest = BlobIngest(max_bytes=len(content) + 1)
    for start in range(0, len(content), 1000):
        ingest.write(content[start : start + 1000])
    version = services.file_upload(actor=actor, folder=folder, name=name, sealed=ingest.finish())
    if clean:
        version = services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
    return version


def upload_through_view(client: Client, folder: Folder, name: str, content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        f"/files/folders/{folder.pk}/upload/",
        {"file": SimpleUploadedFile(name, content, content_type="application/octet-stream")},
    )


def latest_version(file_name: str) -> FileVersion:
    file = File.objects.get(name=file_name, deleted_at__isnull=True)
    assert file.current_version is not None
    return file.current_version


def chunks_of(response: Any) -> Iterator[bytes]:
    """The chunks of a streaming response, as the WSGI server would iterate them."""
    return iter(response.streaming_content)


def stream_close(response: Any) -> None:
    """What the server does when the client goes away mid-download: the test client's
    wrapper around the body closes the body, then the response (leaving the test's
    database connection open, as ``response.close()`` alone would not). Left to the
    garbage collector, this runs in a later test (tests/conftest.py)."""
    response._iterator.close()


def body_of(response: Any) -> bytes:
    """The body of a (streaming) response; raises what its iterator raises."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def blob_files_open(*keys: str) -> list[str]:
    """Which of the blobs ``keys`` (folder store) this process holds open now."""
    held: list[str] = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the listing's own descriptor, gone already
        held.extend(key for key in keys if target.endswith(key))
    return held
