"""Segments produced by a helper thread while the request thread sends the previous ones.

A download is two kinds of work per segment: reading and decrypting it (``pread``,
AES-GCM), then sending it (``sendall``). Both release the GIL, so on a machine with a
second core they can overlap. Done in the request thread alone, a download runs at one
core's speed for both (bench/download.py: 0.80x nginx sendfile on 2 vCPUs); with the
decryption one segment ahead, 0.9x-1.0x in the same runs (bench/README.md, issue #18).

The hand-over is two semaphores and a deque, not a ``queue.Queue``: no timed waits, no
polling, one wake-up per segment each way. Memory stays bounded: ``depth`` segments
handed over, one being produced, one being sent. The helper touches only what the
``chunks`` iterator touches (the blob reader and the decryptor), never the database.
An exception it meets (an integrity failure) is raised in the request thread, in
order, after the segments before it. Closing the generator (the client went away, or
the stream ended) stops the helper and waits for it, so the caller may close the blob
reader right after.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Generator, Iterator
from typing import TypeVar, cast

DEPTH = 2
"""Segments decrypted ahead of the one being sent (2 MiB at the default segment size)."""
MIN_SEGMENTS = 3
"""Shorter streams stay in the request thread: a thread's start and the hand-overs would
cost more than the little overlap they allow."""

_END = object()
Chunk = TypeVar("Chunk")


def produced_ahead(chunks: Iterator[Chunk], *, depth: int = DEPTH) -> Generator[Chunk, None, None]:
    """``chunks``, in order, each produced by a helper thread up to ``depth`` ahead.

    The helper starts with the first ``next()``: a stream never iterated starts none.
    """
    if depth < 1:
        raise ValueError("depth must be at least 1")
    return _handed_over(chunks, depth)


def segments_ahead(segments: Iterator[bytes], count: int) -> Iterator[bytes]:
    """A stream of ``count`` decrypted segments, produced ahead when it is long enough."""
    return produced_ahead(segments) if count >= MIN_SEGMENTS else segments


def _handed_over(chunks: Iterator[Chunk], depth: int) -> Generator[Chunk, None, None]:
    places = threading.Semaphore(depth)  # free places in the hand-over
    handed_count = threading.Semaphore(0)  # items waiting for the request thread
    handed: deque[object] = deque()
    stopping = threading.Event()

    def hand(item: object) -> None:
        handed.append(item)
        handed_count.release()

    def produce() -> None:
        try:
            for chunk in chunks:
                places.acquire()
                if stopping.is_set():
                    return
                hand(chunk)
            hand(_END)
        except BaseException as error:  # raised in the request thread, in order
            hand(error)

    helper = threading.Thread(target=produce, name="download-ahead", daemon=True)
    helper.start()
    try:
        while True:
            handed_count.acquire()
            item = handed.popleft()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            places.release()
            yield cast(Chunk, item)  # not a marker: one of the chunks
    finally:
        stopping.set()
        places.release()  # wakes the helper if it waits for a place
        helper.join()
