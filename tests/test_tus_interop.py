"""tus over real HTTP: tuspy (a real tus client) against two gunicorn servers sharing the
database and storage, an interrupted upload resumed on the other server, and a web
worker killed with SIGKILL in the middle of a PATCH."""

from __future__ import annotations

import http.client
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from tusclient import client as tus_client

from accounts import tokens
from accounts.models import User
from files import keys
from files.models import File, UploadSession
from tests.conftest import missing_service
from tests.files_helpers import content_of, root_of
from tests.helpers import process_stop
from tests.test_files_large import ROOT, free_port
from tests.test_tus import stored_plaintext

CHUNK = 1024 * 1024


class Server:
    def __init__(self, port: int, master: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.master = master

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/uploads/"

    def worker_pid(self) -> int:
        children = Path(f"/proc/{self.master.pid}/task/{self.master.pid}/children")
        deadline = time.monotonic() + 60  # a deadline for a loaded machine, not a pause
        while time.monotonic() < deadline:
            found = children.read_text().split()
            if found:
                return int(found[0])
            time.sleep(0.05)
        raise AssertionError("no gunicorn worker")


def _start(env: dict[str, str], log: Any) -> Server:
    port = free_port()
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
    # Django's start-up took 16 s of wall clock (1.8 s of CPU) on a shared 2-core machine.
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return Server(port, master)
        except OSError:
            if master.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("gunicorn did not start") from None
            time.sleep(0.1)


@pytest.fixture(scope="module")
def servers(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[Server, Server]]:
    """Two gunicorn servers (different ports, one worker each) on the test database and
    the settings' storage folder: two replicas behind a load balancer."""
    with django_db_blocker.unblock():
        database = connection.settings_dict
        if connection.vendor != "postgresql":
            missing_service("gunicorn shares the test database only on PostgreSQL")
        url = (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}"
        )
        # Made once here, not raced for by the two servers. Inside the unblocked
        # database: making a keyring first checks that no stored key needs a lost one,
        # and this worker's data folder has none yet when no earlier test of its made one.
        keys.keyring()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SECUREDRIVE_DATA_DIR": str(settings.DATA_DIR),
        "SECUREDRIVE_TEST_DATABASE_URL": url,
        "SECUREDRIVE_KEYRING_FILE": str(settings.KEYRING_FILE),
        "SECUREDRIVE_WEB_WORKERS": "1",
    }
    log = (Path(str(settings.DATA_DIR)) / "gunicorn-tus.log").open("wb")
    started: list[Server] = []
    try:
        started.append(_start(env, log))
        started.append(_start(env, log))
        yield started[0], started[1]
    finally:
        try:
            for server in started:
                server.master.terminate()
            for server in started:
                process_stop(server.master)
        finally:
            log.close()


def bearer(user: User) -> dict[str, str]:
    _token, plaintext = tokens.token_create(
        actor=user, name="PACS export", scopes=["write"], expires_in_days=30
    )
    return {"Authorization": f"Bearer {plaintext}"}


@pytest.mark.django_db(transaction=True)
def test_tuspy_upload_interrupted_on_one_server_resumes_on_the_other(
    servers: tuple[Server, Server], owner: User
) -> None:
    first, second = servers
    headers = bearer(owner)
    content = content_of(5 * CHUNK + 777, seed="tuspy")
    metadata = {"filename": "ct-abdomen.dcm", "folder": str(root_of(owner).pk)}

    uploader = tus_client.TusClient(first.url, headers=headers).uploader(
        file_stream=io.BytesIO(content),
        chunk_size=CHUNK,
        metadata=metadata,
        upload_checksum=True,
        retries=0,
    )
    uploader.upload(stop_at=2 * CHUNK)  # the laptop's Wi-Fi drops here
    assert uploader.url is not None
    session = UploadSession.objects.get()
    assert session.offset == 2 * CHUNK

    resumed = tus_client.TusClient(second.url, headers=headers).uploader(
        file_stream=io.BytesIO(content),
        url=uploader.url.replace(str(first.port), str(second.port)),
        chunk_size=CHUNK,
        upload_checksum=True,
    )
    assert resumed.offset == 2 * CHUNK
    resumed.upload()

    version = File.objects.get(name="ct-abdomen.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content


@pytest.mark.django_db(transaction=True)
def test_web_worker_killed_mid_patch_the_client_resumes_from_the_committed_offset(
    servers: tuple[Server, Server], owner: User
) -> None:
    first, second = servers
    headers = bearer(owner)
    content = content_of(6 * CHUNK + 5, seed="killed")
    uploader = tus_client.TusClient(first.url, headers=headers).uploader(
        file_stream=io.BytesIO(content),
        chunk_size=2 * CHUNK,
        metadata={"filename": "irm-genou.dcm"},
        retries=0,
    )
    uploader.upload(stop_at=2 * CHUNK)
    assert uploader.url is not None
    path = uploader.url.split(f":{first.port}", 1)[1]

    # A PATCH of 3 MiB whose sender stalls after 1.5 MiB; the worker is killed then.
    worker = first.worker_pid()
    conn = http.client.HTTPConnection("127.0.0.1", first.port, timeout=30)
    conn.putrequest("PATCH", path)
    for name, value in {
        **headers,
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(2 * CHUNK),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(3 * CHUNK),
    }.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(content[2 * CHUNK : 2 * CHUNK + 3 * CHUNK // 2])
    # Killed once the request has reserved the segments it seals (committed before it
    # reads the body): indices the resumed upload must not seal again under the same
    # header. Waited for, not slept: a loaded server can take seconds to get there.
    committed = 2 * CHUNK // UploadSession.objects.get().segment_size
    deadline = time.monotonic() + 60
    while UploadSession.objects.get().segments_sealed <= committed:
        assert time.monotonic() < deadline, "the PATCH did not reach the server within 60 s"
        time.sleep(0.05)
    os.kill(worker, signal.SIGKILL)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):  # noqa: PT012
        # The rest of the body, then the answer: the connection died with the worker.
        conn.send(content[2 * CHUNK + 3 * CHUNK // 2 : 5 * CHUNK])
        conn.getresponse().read()
    conn.close()

    resumed = tus_client.TusClient(second.url, headers=headers).uploader(
        file_stream=io.BytesIO(content),
        url=f"http://127.0.0.1:{second.port}{path}",
        chunk_size=2 * CHUNK,
    )
    assert resumed.offset == 2 * CHUNK  # the last committed offset
    resumed.upload()

    version = File.objects.get(name="irm-genou.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content
    # The killed request had sealed segments it never committed: the resumed upload
    # re-sealed under a fresh header rather than reuse those nonces.
    assert UploadSession.objects.get().generation == 1


def _patch_bytes(path: str, headers: dict[str, str], offset: int, body: bytes) -> bytes:
    lines = [f"PATCH {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [
        "Tus-Resumable: 1.0.0",
        f"Upload-Offset: {offset}",
        "Content-Type: application/offset+octet-stream",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _responses(sock: socket.socket, count: int) -> list[bytes]:
    received = b""
    while received.count(b"\r\n\r\n") < count:
        data = sock.recv(65536)
        if not data:
            break
        received += data
    return [part for part in received.split(b"\r\n\r\n") if part][:count]


@pytest.mark.django_db(transaction=True)
def test_pipelined_patches_on_one_connection_each_get_their_own_bytes(
    servers: tuple[Server, Server], owner: User
) -> None:
    """The PATCH body is received straight into the segment buffer (files/request_body.py),
    past gunicorn's body reader: bytes that came in the same packet as the headers, a
    tiny PATCH held whole in gunicorn's read-ahead, and a next request pipelined right
    behind a body must each land where they belong, and the connection stay usable."""
    first, _second = servers
    headers = bearer(owner)
    content = content_of(2 * CHUNK + 3000, seed="pipelined")
    uploader = tus_client.TusClient(first.url, headers=headers).uploader(
        file_stream=io.BytesIO(content),
        chunk_size=CHUNK,
        metadata={"filename": "pipeline.dcm"},
        retries=0,
    )
    uploader.upload(stop_at=1)  # creates the upload, sends a first chunk
    assert uploader.url is not None
    path = uploader.url.split(f":{first.port}", 1)[1]
    start = UploadSession.objects.get().offset
    assert 0 < start < CHUNK + 3000
    pieces = [(start, start + 100), (start + 100, 2 * CHUNK + 1000), (2 * CHUNK + 1000, None)]
    wire = b"".join(_patch_bytes(path, headers, start, content[start:end]) for start, end in pieces)

    with socket.create_connection(("127.0.0.1", first.port), timeout=30) as sock:
        sock.sendall(wire)  # three requests back to back, in as few packets as the kernel likes
        answers = _responses(sock, 3)

    assert [answer.split(b"\r\n", 1)[0] for answer in answers] == [b"HTTP/1.1 204 No Content"] * 3
    assert b"Upload-Offset: " + str(len(content)).encode() in answers[2]
    version = File.objects.get(name="pipeline.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content
