"""Segments sealed and written by a helper thread while the request thread receives the
next ones (the upload side of ``files/ahead.py``, issue #18).

A tus PATCH is, per segment, receiving it (``recv_into``), sealing it (AES-GCM) and
writing it (``pwrite``, then the writeback started early). Receiving and writing run
in the kernel without the GIL, so on a machine with a second core the segment being
sealed and written overlaps the one arriving. In the request thread alone a PATCH goes
at one core's speed for all three (bench/upload.py, bench/README.md).

The request thread receives into ``buffer()``, then ``hand()``s it over with the
segment's index; the helper seals and writes it and gives the buffer back. Memory stays
bounded: ``depth`` buffers handed over, one being received. ``finish()`` waits until
every handed segment is written and raises, in the request thread, what the helper met
(a disk error): nothing may be committed before it returns. ``close()`` stops the helper
and waits for it, so the caller may close or abort the writer right after; it is safe
to call in any state, and twice. After an error the helper writes nothing more.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

DEPTH = 2
"""Segments handed over and not yet written (2 MiB at the default segment size)."""
MIN_SEGMENTS = 3
"""Shorter bodies stay in the request thread: a thread's start and the hand-overs would
cost more than the little overlap they allow."""

Work = Callable[[int, memoryview, bool], None]
"""``work(index, plaintext, last)``: seal segment ``index`` and write it."""


class InThread:
    """The same interface, all in the request thread, one buffer."""

    def __init__(self, work: Work, *, size: int) -> None:
        self._work = work
        self._buffer = bytearray(size)

    def buffer(self) -> bytearray:
        return self._buffer

    def hand(self, index: int, filled: int, *, last: bool) -> None:
        self._work(index, memoryview(self._buffer)[:filled], last)

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


class Behind:
    """``work`` done by a helper thread on the buffers the request thread hands over."""

    def __init__(self, work: Work, *, size: int, depth: int = DEPTH) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._work = work
        self._free: deque[bytearray] = deque(bytearray(size) for _ in range(depth + 1))
        self._free_count = threading.Semaphore(depth + 1)
        self._handed: deque[tuple[int, bytearray, int, bool] | None] = deque()
        self._handed_count = threading.Semaphore(0)
        self._error: BaseException | None = None
        self._current = self._take()
        self._helper: threading.Thread | None = threading.Thread(
            target=self._run, name="upload-behind", daemon=True
        )
        self._helper.start()

    def buffer(self) -> bytearray:
        return self._current

    def hand(self, index: int, filled: int, *, last: bool) -> None:
        self._raise_failure()
        if self._helper is None:
            raise RuntimeError("the helper was stopped")
        self._handed.append((index, self._current, filled, last))
        self._handed_count.release()
        self._current = self._take()
        self._raise_failure()

    def finish(self) -> None:
        self.close()
        self._raise_failure()

    def close(self) -> None:
        helper, self._helper = self._helper, None
        if helper is None:
            return
        self._handed.append(None)
        self._handed_count.release()
        helper.join()

    def _take(self) -> bytearray:
        self._free_count.acquire()
        return self._free.popleft()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            self._handed_count.acquire()
            item = self._handed.popleft()
            if item is None:
                return
            index, buffer, filled, last = item
            if self._error is None:
                try:
                    self._work(index, memoryview(buffer)[:filled], last)
                except BaseException as error:  # raised in the request thread
                    self._error = error
            self._free.append(buffer)
            self._free_count.release()


def sealer_for(work: Work, *, size: int, segments: int) -> InThread | Behind:
    """A helper thread for a body of ``segments`` segments when it is long enough."""
    return Behind(work, size=size) if segments >= MIN_SEGMENTS else InThread(work, size=size)
