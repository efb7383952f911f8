"""A large file over real HTTP, through gunicorn (the production WSGI server).

A gunicorn process serving the test settings and the test database receives a 2 GiB
(+7 bytes, so the last segment is partial) multipart upload generated on the fly
(mostly zeros, with a marker every 16 MiB: "sparse"), and sends it back; both
directions are hashed while they stream, so the test holds no copy either. The
gunicorn worker's peak memory (VmHWM) stays flat, and a damaged blob cuts the real
connection short after the last authenticated byte.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import socket
import string
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import keys, services
from files.crypto import segment_offset
from files.models import File, FileVersion, ScanStatus
from tests.conftest import missing_service
from tests.files_helpers import Backend, root_of
from tests.helpers import client_signed_in, process_stop

ROOT = Path(__file__).resolve().parent.parent

SIZE = 2 * 1024**3 + 7
BLOCK = 1024 * 1024
MARKER = b"SPARSE-MARKER-c41d:patient=Dupont;"
BOUNDARY = "----securedrive-large-upload-boundary"


def sparse_blocks() -> Iterator[bytes]:
    """SIZE bytes: zeros, with a marker at the start of every 16th MiB."""
    zeros = bytes(BLOCK)
    marked = MARKER + zeros[len(MARKER) :]
    for index in range(SIZE // BLOCK):
        yield marked if index % 16 == 0 else zeros
    yield bytes(SIZE % BLOCK)


def csrf_pair() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


class LiveBrowser:
    """A signed-in browser speaking raw HTTP to the server."""

    def __init__(self, port: int, user: User) -> None:
        self.host, self.port = "127.0.0.1", port
        session = client_signed_in(user).cookies[settings.SESSION_COOKIE_NAME].value
        self.csrf = csrf_pair()
        self.cookie = (
            f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={self.csrf}"
        )

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def upload(
        self, folder_id: int, name: str, blocks: Iterator[bytes], size: int
    ) -> tuple[int, str]:
        head = (
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{self.csrf}\r\n'
            f"--{BOUNDARY}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        digest = hashlib.sha256()

        def body() -> Iterator[bytes]:
            yield head
            for block in blocks:
                digest.update(block)
                yield block
            yield tail

        connection = self.connection()
        connection.request(
            "POST",
            f"/files/folders/{folder_id}/upload/",
            body=body(),
            headers={
                "Cookie": self.cookie,
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(len(head) + size + len(tail)),
            },
        )
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, digest.hexdigest()

    def download(self, path: str) -> tuple[Any, int, str, Exception | None]:
        """(response, bytes received, their SHA-256, the error that cut it short)."""
        connection = self.connection()
        connection.request("GET", path, headers={"Cookie": self.cookie})
        response = connection.getresponse()
        digest, received, error = hashlib.sha256(), 0, None
        while chunk := response.read(BLOCK):
            digest.update(chunk)
            received += len(chunk)
        expected = int(response.headers.get("Content-Length", received))
        if received < expected:  # read(amt) returns b"" when the server hangs up early
            error = http.client.IncompleteRead(b"", expected - received)
        connection.close()
        return response, received, digest.hexdigest(), error


@dataclass
class Gunicorn:
    port: int
    master: subprocess.Popen[bytes]
    storage: Backend

    def worker_peak_rss_mib(self) -> float:
        """VmHWM of the one worker: its peak resident memory since it started."""
        children = Path(f"/proc/{self.master.pid}/task/{self.master.pid}/children")
        worker = children.read_text().split()[0]
        for line in Path(f"/proc/{worker}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def gunicorn(django_db_setup: None, django_db_blocker: Any) -> Iterator[Gunicorn]:
    """gunicorn (gthread, the production config) on the test database and data folder."""
    with django_db_blocker.unblock():
        database = connection.settings_dict
        if connection.vendor != "postgresql":
            missing_service("gunicorn shares the test database only on PostgreSQL")
        url = (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}"
        )
        # Made once here, not raced for by two processes. Inside the unblocked database:
        # making a keyring first checks that no stored key needs a lost one, and this
        # worker's data folder has none yet when no earlier test of its made one.
        keys.keyring()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SECUREDRIVE_DATA_DIR": str(settings.DATA_DIR),
        "SECUREDRIVE_TEST_DATABASE_URL": url,
        "SECUREDRIVE_KEYRING_FILE": str(settings.KEYRING_FILE),
        "SECUREDRIVE_WEB_WORKERS": "1",
    }
    log = (Path(str(settings.DATA_DIR)) / "gunicorn-test.log").open("wb")
    master = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            str(ROOT / "securedrive" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "securedrive.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        # Django's start-up took 16 s of wall clock (1.8 s of CPU) on a shared 2-core
        # machine: a deadline for that, not a pause.
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if master.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("gunicorn did not start") from None
                time.sleep(0.1)
        root = Path(str(settings.DATA_DIR)) / "storage"
        yield Gunicorn(port, master, Backend("filesystem", root=root))
    finally:
        try:
            process_stop(master)
        finally:
            log.close()


@pytest.fixture
def default_storage_dir() -> None:
    """These tests use the settings' own storage folder, shared with gunicorn."""
    assert settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage")


@pytest.mark.django_db(transaction=True)
def test_a_multi_gigabyte_file_streams_in_and_out_through_gunicorn(
    gunicorn: Gunicorn, owner: User, default_storage_dir: None
) -> None:
    browser = LiveBrowser(gunicorn.port, owner)

    status, sent_sha256 = browser.upload(root_of(owner).pk, "irm-thorax.dcm", sparse_blocks(), SIZE)

    assert status == 302
    version = FileVersion.objects.get()
    assert (version.size, version.sha256) == (SIZE, sent_sha256)
    after_upload = gunicorn.worker_peak_rss_mib()
    services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)

    response, received, received_sha256, error = browser.download(
        f"/files/{version.file_id}/download/"
    )

    assert (response.status, error) == (200, None)
    assert int(response.headers["Content-Length"]) == received == SIZE
    assert received_sha256 == sent_sha256
    after_download = gunicorn.worker_peak_rss_mib()
    assert after_upload < 150, after_upload
    assert after_download < 150, after_download
    assert File.objects.get().name == "irm-thorax.dcm"
    stored = gunicorn.storage.raw(version.blob_key)  # only now: after the memory check
    assert len(stored) == version.ciphertext_size
    assert MARKER not in stored
    assert MARKER[:12] not in stored


@pytest.mark.django_db(transaction=True)
def test_a_damaged_blob_cuts_the_real_connection_short(
    gunicorn: Gunicorn, owner: User, default_storage_dir: None
) -> None:
    browser = LiveBrowser(gunicorn.port, owner)
    blocks = (bytes(BLOCK) for _ in range(8))
    status, _sha = browser.upload(root_of(owner).pk, "cut.bin", blocks, 8 * BLOCK)
    assert status == 302
    version = FileVersion.objects.get()
    services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
    blob = bytearray(gunicorn.storage.raw(version.blob_key))
    blob[segment_offset(5, version.segment_size) + 10] ^= 1
    gunicorn.storage.replace(version.blob_key, bytes(blob))

    response, received, _sha, error = browser.download(f"/files/{version.file_id}/download/")

    assert response.status == 200
    assert isinstance(error, http.client.IncompleteRead)
    assert received == 5 * version.segment_size  # exactly the authenticated segments
    version.refresh_from_db()
    assert version.integrity_failed


def worker_holds_open(gunicorn: Gunicorn, blob_key: str) -> bool:
    """Whether the gunicorn worker has the blob open (a download still reading it)."""
    children = Path(f"/proc/{gunicorn.master.pid}/task/{gunicorn.master.pid}/children")
    worker = children.read_text().split()[0]
    for fd in os.listdir(f"/proc/{worker}/fd"):
        try:
            if os.readlink(f"/proc/{worker}/fd/{fd}").endswith(blob_key):
                return True
        except OSError:
            continue  # closed meanwhile
    return False


@pytest.mark.django_db(transaction=True)
def test_a_client_that_leaves_mid_download_stops_the_decryption_and_is_audited(
    gunicorn: Gunicorn, owner: User, default_storage_dir: None
) -> None:
    """Decryption runs ahead in a helper thread (files/ahead.py): when the client goes
    away, the real server must stop it and record how much really left, with the
    download not completed. The end event is written only after the helper was joined
    and the blob closed (files/downloads.py), so it appearing at all shows the helper
    stopped; the blob must not be held open either."""
    browser = LiveBrowser(gunicorn.port, owner)
    size = 64 * BLOCK
    status, _sha = browser.upload(
        root_of(owner).pk, "scanner.bin", (bytes(BLOCK) for _ in range(64)), size
    )
    assert status == 302
    version = FileVersion.objects.get()
    services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
    path = f"/files/{version.file_id}/download/"
    response, received, _sha, error = browser.download(path)  # whole, helper included
    assert (response.status, received, error) == (200, size, None)

    with socket.create_connection((browser.host, browser.port)) as cut:
        request = f"GET {path} HTTP/1.1\r\nHost: {browser.host}\r\nCookie: {browser.cookie}\r\n\r\n"
        cut.sendall(request.encode())
        taken = 0
        while taken < 4 * BLOCK:
            taken += len(cut.recv(BLOCK))
        assert worker_holds_open(gunicorn, version.blob_key)  # mid-stream: still reading
        # Leave at once (RST), as a closed laptop lid or a killed browser does.
        cut.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    deadline = time.monotonic() + 30
    ends: list[Any] = []
    while time.monotonic() < deadline and len(ends) < 2:
        ends = list(
            AuditEvent.objects.filter(action=Action.FILES_VERSION_SENT).order_by("sequence")
        )
        time.sleep(0.1)
    assert [event.details["completed"] for event in ends] == [True, False]
    assert taken <= ends[1].details["bytes"] < size
    assert not worker_holds_open(gunicorn, version.blob_key)
