"""The seal-behind hand-over (files/behind.py) used by tus PATCHes.

What a person would notice if it were wrong: an uploaded study whose bytes are out of
order or missing, a disk error that loses bytes already stored or moves the offset over
bytes that were never written, memory that grows with the body, a thread left writing
into a staging file after its request ended.
"""

from __future__ import annotations

import errno
import threading
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from files.behind import Behind, InThread, sealer_for
from files.models import File, UploadSession
from files.storage import _FolderStagingWriter
from tests.files_helpers import Backend, content_of, root_of
from tests.test_tus import create, location, patch, stored_plaintext, token_client


def helpers_alive() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "upload-behind"]


class Recorded:
    """Work that records each segment it is given, by whom, in which buffer."""

    def __init__(self, *, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.segments: list[tuple[int, bytes, bool]] = []
        self.threads: set[str] = set()
        self.buffers: set[int] = set()

    def __call__(self, index: int, plaintext: memoryview, last: bool) -> None:
        self.threads.add(threading.current_thread().name)
        self.buffers.add(id(plaintext.obj))
        if index == self.fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.segments.append((index, bytes(plaintext), last))


def fill(way: InThread | Behind, segments: int, size: int) -> None:
    for index in range(segments):
        buffer = way.buffer()
        buffer[:size] = index.to_bytes(4, "big") * (size // 4)
        way.hand(index, size if index < segments - 1 else size // 2, last=index == segments - 1)


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_every_segment_is_written_once_in_order_off_the_request_thread(depth: int) -> None:
    work = Recorded()
    way = Behind(work, size=64, depth=depth)
    fill(way, 300, 64)
    way.finish()
    assert [index for index, _data, _last in work.segments] == list(range(300))
    assert work.segments[5][1] == (5).to_bytes(4, "big") * 16
    assert work.segments[-1] == (299, (299).to_bytes(4, "big") * 8, True)
    assert work.threads == {"upload-behind"}
    assert len(work.buffers) <= depth + 1  # memory bounded, whatever the body's length
    assert not helpers_alive()


def test_a_disk_error_reaches_the_request_thread_and_nothing_after_it_is_written() -> None:
    work = Recorded(fail_at=7)
    way = Behind(work, size=64)

    def send_the_body() -> None:
        fill(way, 50, 64)
        way.finish()

    with pytest.raises(OSError, match="No space left"):
        send_the_body()
    way.close()
    way.close()  # safe twice
    assert [index for index, _data, _last in work.segments] == list(range(7))
    assert not helpers_alive()


def test_closing_mid_body_stops_the_helper_before_the_writer_is_closed() -> None:
    work = Recorded()
    way = Behind(work, size=64)
    for index in range(10):
        way.buffer()[:64] = bytes(64)
        way.hand(index, 64, last=False)
    way.close()
    assert not helpers_alive()
    with pytest.raises(RuntimeError):
        way.hand(10, 64, last=False)


def test_short_bodies_stay_in_the_request_thread() -> None:
    work = Recorded()
    way = sealer_for(work, size=64, segments=2)
    fill(way, 2, 64)
    way.finish()
    assert work.threads == {threading.current_thread().name}
    long = sealer_for(work, size=64, segments=3)
    long.close()
    assert isinstance(long, Behind)


@pytest.mark.django_db
@pytest.mark.usefixtures("small_segments")
def test_a_disk_error_mid_patch_keeps_the_offset_and_the_bytes_stored_before(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PATCH of many segments whose disk fails part-way: the client is told (5xx), the
    offset stays where the last good PATCH left it, and sending the same PATCH again
    once the disk is back completes a file identical to what was sent."""
    api = token_client(owner)
    content = content_of(900_000, seed="behind")
    url = location(create(api, len(content), folder=root_of(owner).pk))
    assert patch(api, url, 0, content[:300_000]).status_code == 204

    write_at = _FolderStagingWriter.write_at
    calls = {"count": 0}

    def failing_write_at(self: _FolderStagingWriter, offset: int, data: Any) -> None:
        calls["count"] += 1
        if calls["count"] == 40:
            raise OSError(errno.EIO, "Input/output error")
        write_at(self, offset, data)

    monkeypatch.setattr(_FolderStagingWriter, "write_at", failing_write_at)
    failing = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION=api.defaults["HTTP_AUTHORIZATION"]
    )
    response = patch(failing, url, 300_000, content[300_000:])
    assert response.status_code == 500
    assert calls["count"] == 40  # nothing written after the failure
    assert not helpers_alive()
    upload = UploadSession.objects.get()
    assert upload.offset == 300_000

    monkeypatch.setattr(_FolderStagingWriter, "write_at", write_at)
    head = api.head(url, headers={"Tus-Resumable": "1.0.0"})
    assert head["Upload-Offset"] == "300000"
    assert patch(api, url, 300_000, content[300_000:]).status_code == 204
    version = File.objects.get(name="scan.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content
