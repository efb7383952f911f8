"""An upload's ciphertext written past the page cache (``O_DIRECT``), issue #18.

Written through the page cache, each byte a tus PATCH stores is copied into a cache page,
the page is counted dirty, the kernel writes it back, and it stays cached long after: on
the development VM a 1 GiB buffered write with its fsync cost 0.8 to 2.6 CPU-s, the same
bytes written with ``O_DIRECT`` 0.05 (bench/README.md, "Writes past the page cache").
With ``O_DIRECT`` the disk takes the bytes from our buffer; the fsync before the offset
moves still makes them durable (it flushes the disk's cache and the file's metadata), as
databases that write this way rely on.

``O_DIRECT`` needs the file offset, the length and the buffer's address aligned to the
device's logical block; 4096 covers the devices we know. An upload's sealed segments are
not aligned (1 MiB + 16 bytes each, after a header), but the segments of one PATCH are
contiguous, so an ``AlignedWriter`` gathers them in a page-aligned buffer and writes whole
blocks directly. The block a PATCH starts in begins with bytes an earlier PATCH committed:
they are read back first and written again unchanged. The last, partial block goes
through the page cache, as everything did before.

Where the filesystem refuses ``O_DIRECT`` (tmpfs, some network filesystems: ``EINVAL`` at
open or at the first write), the same bytes go through the page cache instead, for the
rest of the file. ``SECUREDRIVE_STAGING_DIRECT_IO=false`` turns it off.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from django.conf import settings

# Offsets, lengths and the buffer's address are multiples of this.
ALIGN = 4096
# The gathered run: one direct write per this many bytes.
RUN_BUFFER = 4 * 1024 * 1024
# Buffers kept for the next PATCH (each request takes two for its duration): mapping and
# touching 4 MiB of fresh pages for every PATCH costs a thousand page faults.
_POOL_MAX = 4
_buffers_free: list[mmap.mmap] = []
_pool_lock = threading.Lock()


def direct_open(path: Path) -> int | None:
    """A second descriptor on ``path`` that writes past the page cache, or None where
    that is off or the filesystem refuses it."""
    if not settings.STAGING_DIRECT_IO or not hasattr(os, "O_DIRECT"):
        return None
    try:
        return os.open(path, os.O_WRONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.EINVAL:
            return None
        raise


def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        count = os.pwrite(fd, data, offset)
        data, offset = data[count:], offset + count


def _buffer_take() -> mmap.mmap:
    with _pool_lock:
        if _buffers_free:
            return _buffers_free.pop()
    return mmap.mmap(-1, RUN_BUFFER)  # anonymous, so page-aligned


def _buffer_give_back(buffer: mmap.mmap) -> None:
    with _pool_lock:
        if len(_buffers_free) < _POOL_MAX:
            _buffers_free.append(buffer)
            return
    buffer.close()


def _blocks_write(direct_fd: int | None, fd: int, blocks: memoryview, offset: int) -> bool:
    """Whole aligned blocks at ``offset``; True if the filesystem refused the direct write
    (EINVAL, possible even after the open succeeded) and the same bytes went through the
    page cache instead."""
    if direct_fd is not None:
        try:
            pwrite_all(direct_fd, blocks, offset)
            return False
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
    pwrite_all(fd, blocks, offset)
    return direct_fd is not None


class AlignedWriter:
    """Writes at contiguous offsets, gathered into aligned blocks written directly.

    ``fd`` is the file opened through the page cache, for reading and writing;
    ``direct_fd`` the same file opened with ``O_DIRECT``, which this writer closes.

    Two buffers: while the writer's thread writes a full one (``os.pwrite`` releases the GIL,
    and a direct write waits for the disk), the request fills the other, so receiving
    and writing overlap as they did when the kernel wrote dirty pages back behind us. At
    most one write is outstanding; its error (a disk error, a full disk) is raised in the
    request at the next full buffer or at ``flush()``, before anything is committed.
    ``flush()`` writes everything gathered; without it (an aborted request) the gathered
    bytes are dropped, as unwritten bytes of a request that failed."""

    def __init__(self, fd: int, direct_fd: int) -> None:
        self._fd = fd
        self._direct_fd: int | None = direct_fd
        self._buffers: list[mmap.mmap] = [_buffer_take(), _buffer_take()]
        self._views = [memoryview(buffer) for buffer in self._buffers]
        self._view = self._views[0]
        self._pending: Future[bool] | None = None
        # Its one thread, started at the first full buffer, ends with the writer.
        self._writer: ThreadPoolExecutor | None = None
        self._base = -1  # file offset of the current buffer's first byte; -1: nothing gathered
        self._filled = 0

    @property
    def direct(self) -> bool:
        return self._direct_fd is not None

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        if self._base < 0 or offset != self._base + self._filled:
            self.flush()
            self._start(offset)
        view = memoryview(data).cast("B")
        while view:
            count = min(len(view), RUN_BUFFER - self._filled)
            self._view[self._filled : self._filled + count] = view[:count]
            self._filled += count
            view = view[count:]
            if self._filled == RUN_BUFFER:
                self._hand_over()

    def room(self, offset: int, length: int) -> memoryview | None:
        """The ``length`` bytes of buffer where the bytes at ``offset`` go, for the caller
        to fill in place (a segment sealed straight into it: no copy), then ``wrote``.
        None unless ``offset`` continues what was gathered: then ``write_at``."""
        if self._base < 0 or offset != self._base + self._filled or length + ALIGN > RUN_BUFFER:
            return None
        if self._filled + length > RUN_BUFFER:
            self._hand_over()
        return self._view[self._filled : self._filled + length]

    def wrote(self, length: int) -> None:
        self._filled += length

    def _hand_over(self) -> None:
        """The buffer's whole blocks to the writer's thread; the few bytes after them
        (less than a block) start the other buffer, once its own write has ended."""
        whole = self._filled - self._filled % ALIGN
        tail = self._filled - whole
        self._wait()
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="direct-write")
        self._pending = self._writer.submit(
            _blocks_write, self._direct_fd, self._fd, self._view[:whole], self._base
        )
        other = self._views[1] if self._view is self._views[0] else self._views[0]
        other[:tail] = self._view[whole : self._filled]
        self._view, self._base, self._filled = other, self._base + whole, tail

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None and pending.result():
            self._direct_end()

    def _direct_end(self) -> None:
        """Refused by the filesystem: the page cache for the rest of the file."""
        if self._direct_fd is not None:
            os.close(self._direct_fd)
            self._direct_fd = None

    def _start(self, offset: int) -> None:
        base = offset - offset % ALIGN
        head = offset - base
        if head:
            # The start of the block belongs to bytes already stored (an earlier PATCH,
            # committed): read back and written again unchanged. Past the end of the
            # file there is nothing: zeros, what a gap in a file reads as anyway.
            stored = os.pread(self._fd, head, base)
            self._view[: len(stored)] = stored
            self._view[len(stored) : head] = bytes(head - len(stored))
        self._base, self._filled = base, head

    def flush(self) -> None:
        """Whole blocks directly, the partial last block through the page cache; returns
        once everything is written."""
        self._wait()
        if self._base < 0:
            return
        whole = self._filled - self._filled % ALIGN
        if whole and _blocks_write(self._direct_fd, self._fd, self._view[:whole], self._base):
            self._direct_end()
        if self._filled > whole:
            pwrite_all(self._fd, self._view[whole : self._filled], self._base + whole)
        self._base, self._filled = -1, 0

    def close(self) -> None:
        """Drops what is gathered; waits for a write under way (its buffer must not be
        reused before it ends), whose error the request has already failed for."""
        pending, self._pending = self._pending, None
        if pending is not None:
            with contextlib.suppress(OSError):
                pending.result()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        self._direct_end()
        for view in self._views:
            view.release()
        for buffer in self._buffers:
            _buffer_give_back(buffer)
        self._views, self._buffers = [], []
