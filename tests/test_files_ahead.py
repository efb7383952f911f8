"""The decrypt-ahead hand-over (files/ahead.py) used by downloads and ZIP archives.

What a person would notice if it were wrong: bytes out of order or missing in a
download, a download that runs on after the client left (a thread reading the blob
forever), memory that grows with the file, an integrity failure swallowed or raised
before the good bytes that precede it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from files.ahead import produced_ahead


class Counted:
    """A source of numbered chunks that records how far it was read, and by whom."""

    def __init__(self, count: int, *, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.produced = 0
        self.threads: set[str] = set()

    def __iter__(self) -> Iterator[bytes]:
        for index in range(self.count):
            self.threads.add(threading.current_thread().name)
            if index == self.fail_at:
                raise ValueError(f"segment {index} failed its tag")
            self.produced += 1
            yield index.to_bytes(4, "big") * 8


def helpers_alive() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "download-ahead"]


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_every_chunk_arrives_once_in_order(depth: int) -> None:
    source = Counted(200)
    received = list(produced_ahead(iter(source), depth=depth))
    assert received == [index.to_bytes(4, "big") * 8 for index in range(200)]
    assert source.threads == {"download-ahead"}  # made off the request thread
    assert not helpers_alive()


def test_the_helper_stays_at_most_depth_ahead() -> None:
    source = Counted(100)
    stream = produced_ahead(iter(source), depth=2)
    assert next(stream) == (0).to_bytes(4, "big") * 8
    time.sleep(0.2)  # ample time for the helper to run ahead as far as it may
    # One being sent, two handed over, one made and waiting for a place.
    assert source.produced <= 1 + 2 + 1
    stream.close()


def test_an_error_arrives_after_the_good_chunks_before_it() -> None:
    source = Counted(10, fail_at=6)
    stream = produced_ahead(iter(source))
    received: list[bytes] = []

    def consume() -> None:
        for chunk in stream:
            received.append(chunk)

    with pytest.raises(ValueError, match="segment 6 failed its tag"):
        consume()
    assert len(received) == 6
    assert not helpers_alive()


def test_closing_early_stops_the_helper() -> None:
    source = Counted(10_000)
    stream = produced_ahead(iter(source), depth=2)
    for _ in range(3):
        next(stream)
    stream.close()  # what the WSGI server does when the client goes away
    assert not helpers_alive()
    produced = source.produced
    time.sleep(0.1)
    assert source.produced == produced <= 3 + 2 + 1  # nothing read after the close


def test_a_stream_never_started_starts_no_thread() -> None:
    stream = produced_ahead(iter(Counted(5)))
    assert not helpers_alive()
    stream.close()
    assert not helpers_alive()


def test_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        produced_ahead(iter(()), depth=0)
