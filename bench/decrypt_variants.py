"""Ways to read and decrypt a blob for a download, each measured on a bare server (#18).

``bench/download.py`` shows that SecureDrive's download costs what a bare decrypting
server costs (``bench/decrypt_floor.py``). This script asks whether that floor itself
can come down: the same loop (read a sealed 1 MiB segment, AES-256-GCM, ``sendall``,
decrypted ahead by the product's helper thread, ``files/ahead.py``) served in several
ways, each by its own process, with downloads alternating between them in one run:

* ``pread``: the product's way. Each segment is read into one reused buffer (a copy out
  of the page cache) and decrypted into a new ``bytes`` (gunicorn's ``write`` takes
  nothing else).
* ``mmap``: the blob mapped, each segment faulted in with ``MADV_POPULATE_READ`` (an
  error code, not SIGBUS, if the file is shorter than mapped) and decrypted straight
  from the page cache; the pages behind are unmapped (``MADV_DONTNEED``) so that the
  worker's resident memory stays bounded.
* ``mmap, pages kept``: the same without unmapping: what the read copy costs when its
  replacement is not paid for. Resident memory grows with the file (not acceptable in a
  worker: shown only to price the copy).
* ``decrypt_into``: each segment decrypted into one of a few reused buffers and sent as
  a ``memoryview`` (no new 1 MiB object, no zero-fill, no page faults on fresh memory).
* ``malloc thresholds``: the product's way with glibc's ``M_MMAP_THRESHOLD`` and
  ``M_TRIM_THRESHOLD`` raised to 32 MiB, so freed segments are reused, never returned
  to the kernel and faulted in again.
* ``vmsplice``: no copy into the socket. Each segment is decrypted (``decrypt_into``)
  into fresh pages of a private anonymous mapping, 2 MiB-aligned groups of two
  segments, one transparent huge page each (``MADV_HUGEPAGE``), then handed to the
  kernel: ``vmsplice(2)`` into a pipe enlarged to ``/proc/sys/fs/pipe-max-size``, and
  ``splice(2)`` from the pipe into the socket, looping until every byte moved. The
  socket may reference those pages until the client has read them, so a group is
  written again only after both its segments were spliced and it was dropped with
  ``MADV_DONTNEED``: the kernel keeps the old pages alive, the next write faults in a
  fresh zeroed huge page (the price of the rule). Three groups (6 MiB), a semaphore of
  free groups; decrypted ahead by ``files/ahead.py`` like the others. Per segment:
  ``lseek`` + ``read``, ``vmsplice``, ``splice`` (one each with a 1 MiB pipe), and per
  group one huge-page fault and one ``madvise``. No ``SPLICE_F_GIFT``: it only lets a
  later ``SPLICE_F_MOVE`` move the pages into a file, and that flag is a no-op since
  Linux 2.6.21 (``splice(2)``); a socket takes references to the pages either way.
* ``send-only``: no read, no decryption, one ``sendall`` per MiB of the same 1 MiB
  buffer, as many bytes as the blob holds: the send path alone, its copy included.
* ``vmsplice-only``: the same buffer, in a huge page written once, ``vmsplice`` +
  ``splice`` per MiB: the send path without the copy.

Every way's first download (a warm-up) is checked against the SHA-256 of what it must
send (the blob's plaintext, or the repeated buffer for the two send-only ways); a
wrong byte stops the bench. ``--ways pread,vmsplice-reuse`` shows that check at work:
``vmsplice`` without ``MADV_DONTNEED`` rewrites pages the socket still holds, and the
client receives later segments' bytes in place of earlier ones.

Printed per way: server CPU seconds per GiB (median, min-max), that cost relative to
``pread`` in the same rounds (median of the per-round ratios), MB/s, the server's
minor page faults per GiB, its peak resident memory. The client is bench/download.py's
(one socket, a reused 1 MiB buffer). Everything stays on 127.0.0.1.

    .venv/bin/python bench/decrypt_variants.py               # 1 GiB, 10 rounds, ~2 min
    .venv/bin/python bench/decrypt_variants.py --mib 256 --rounds 3
    .venv/bin/python bench/decrypt_variants.py --ways pread,send-only,vmsplice-only

A measuring instrument, not product code: the servers trust their arguments. Needs
Linux >= 5.14 for ``MADV_POPULATE_READ`` (an older kernel fails the ``mmap`` ways).
Last line: one JSON object of the figures. Results: bench/README.md, "After, part 4".
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import hashlib
import json
import mmap
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from bench_support import MIB, cpu_seconds, free_port, peak_mib, stop, wait_for_port
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from download import download, floor_blob  # bench/ is no package: found next to this file

from files import crypto
from files.ahead import DEPTH, produced_ahead

MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux 5.14; Python 3.13+
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
HUGE_PAGE = 2 * MIB  # x86-64's transparent huge page
WAYS = [
    "pread",
    "mmap",
    "mmap-keep",
    "decrypt-into",
    "malloc",
    "vmsplice",
    "send-only",
    "vmsplice-only",
]
LABELS = {
    "pread": "pread into a reused buffer, new bytes (product)",
    "mmap": "mmap + MADV_POPULATE_READ, pages behind unmapped",
    "mmap-keep": "mmap + MADV_POPULATE_READ, pages kept (RSS grows)",
    "decrypt-into": "pread, decrypt_into reused buffers, memoryview",
    "malloc": "pread, new bytes, glibc thresholds 32 MiB",
    "vmsplice": "pread, decrypt_into fresh pages, vmsplice + splice",
    "send-only": "no read, no decryption: sendall of one buffer",
    "vmsplice-only": "no read, no decryption: vmsplice + splice",
    "vmsplice-reuse": "vmsplice, pages rewritten under the socket (wrong)",
}
SPLICING = ("vmsplice", "vmsplice-reuse")  # the decrypting ways that splice
SEND_ONLY = ("send-only", "vmsplice-only")  # the ways that send PATTERN, not the blob
PATTERN = hashlib.shake_256(b"decrypt_variants send-only").digest(MIB)
"""What the send-only ways send, again and again: 1 MiB of incompressible bytes."""


# --- Server (one process per way) ---------------------------------------------------------


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class Splicer:
    """Bytes of this process's memory handed to a socket without a copy: ``vmsplice(2)``
    into a pipe (the pipe's buffers then reference the pages), ``splice(2)`` from the pipe
    into the socket (the socket's buffers take over those references)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)  # ctypes releases the GIL during the call
        self._vmsplice = libc.vmsplice
        self._vmsplice.argtypes = [ctypes.c_int, ctypes.POINTER(_IoVec), ctypes.c_size_t]
        self._vmsplice.argtypes.append(ctypes.c_uint)
        self._vmsplice.restype = ctypes.c_ssize_t
        self.pipe_out, self.pipe_in = os.pipe()
        largest = int(Path("/proc/sys/fs/pipe-max-size").read_text())
        self.capacity = fcntl.fcntl(self.pipe_in, fcntl.F_SETPIPE_SZ, largest)

    def send(self, connection: socket.socket, address: int, length: int) -> None:
        """Send ``length`` bytes at ``address``; the pipe is empty again on return. The
        socket may still reference the pages: the caller must not write them again."""
        vector = _IoVec()
        while length:
            vector.iov_base, vector.iov_len = address, length
            moved = self._vmsplice(self.pipe_in, ctypes.byref(vector), 1, 0)
            if moved < 0:
                error = ctypes.get_errno()
                raise OSError(error, os.strerror(error))
            address, length = address + moved, length - moved
            while moved:
                moved -= os.splice(self.pipe_out, connection.fileno(), moved)


class Regions:
    """Where the splicing ways write what they hand to the kernel: a private anonymous
    mapping of ``groups`` groups, each 2 MiB-aligned and one transparent huge page
    (``MADV_HUGEPAGE``), holding ``HUGE_PAGE // segment_size`` consecutive segments.

    The rule that makes it safe: a group is written again only after every segment in it
    was spliced and the group dropped with ``MADV_DONTNEED``. The socket keeps the old
    pages alive as long as it references them; the next write faults in a fresh zeroed
    huge page. (``MAP_SHARED``, ``mmap``'s default, would give the same pages back.)
    ``free`` counts the groups the producer may write; it blocks while none is."""

    def __init__(self, segment_size: int, groups: int, *, drop: bool = True) -> None:
        self.segment_size, self.groups, self.drop = segment_size, groups, drop
        self.per_group = max(1, HUGE_PAGE // segment_size)
        self.group_size = -(-self.per_group * segment_size // HUGE_PAGE) * HUGE_PAGE
        length = groups * self.group_size
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        self.mapping = mmap.mmap(-1, length + HUGE_PAGE, flags=flags)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.mapping))
        self.start = -self.base % HUGE_PAGE  # the first 2 MiB boundary inside the mapping
        self.address = self.base + self.start
        self.mapping.madvise(mmap.MADV_HUGEPAGE, self.start, length)
        self.view = memoryview(self.mapping)
        self.free = threading.Semaphore(groups)

    def reset(self) -> None:
        """Every group dropped and free (between downloads)."""
        self.mapping.madvise(mmap.MADV_DONTNEED, self.start, self.groups * self.group_size)
        self.free = threading.Semaphore(self.groups)

    def offset(self, index: int) -> int:
        """Offset in ``view`` of the ``index``-th segment of a download."""
        group, place = divmod(index, self.per_group)
        return self.start + (group % self.groups) * self.group_size + place * self.segment_size

    def writable(self, index: int, length: int) -> memoryview:
        """Where the producer writes segment ``index``, once its group is free."""
        if index % self.per_group == 0:
            self.free.acquire()
        start = self.offset(index)
        return self.view[start : start + length]

    def sent(self, index: int) -> None:
        """Segment ``index`` is spliced: after the last of its group, drop and free it."""
        if index % self.per_group == self.per_group - 1:
            group_start = self.offset(index) - index % self.per_group * self.segment_size
            if self.drop:
                self.mapping.madvise(mmap.MADV_DONTNEED, group_start, self.group_size)
            self.free.release()


def _layout(read_at: crypto.ReadAt, size: int) -> tuple[bytes, int, int, int]:
    """A blob's (header, segment size, segment count, plaintext size)."""
    header = bytes(read_at(0, crypto.HEADER_SIZE))
    segment_size = int.from_bytes(header[7:11], "big")  # after magic (6) and version (1)
    count = max(1, -(-(size - crypto.HEADER_SIZE) // (segment_size + crypto.TAG_SIZE)))
    return header, segment_size, count, size - crypto.HEADER_SIZE - count * crypto.TAG_SIZE


def _segments(
    path: Path, key: bytes, way: str, regions: Regions | None
) -> tuple[int, Iterator[bytes | memoryview]]:
    """(plaintext size, its segments read and decrypted the given way)."""
    size = path.stat().st_size
    file = path.open("rb", buffering=0)
    read_at = crypto.file_read_at(file)  # the product's read (files/storage.py)
    header, segment_size, count, plaintext_size = _layout(read_at, size)
    prefix = header[crypto.HEADER_SIZE - crypto.NONCE_PREFIX_SIZE :]
    cipher = AESGCM(key)
    mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if "mmap" in way else None
    pool = [bytearray(segment_size) for _ in range(DEPTH + 2)]  # handed, made, sent

    def sealed_at(offset: int, length: int, behind: int) -> memoryview:
        if mapped is None:
            return memoryview(read_at(offset, length))
        start = offset - offset % mmap.PAGESIZE
        if way == "mmap" and behind < start:
            mapped.madvise(mmap.MADV_DONTNEED, behind, start - behind)
        mapped.madvise(MADV_POPULATE_READ, start, min(size, offset + length) - start)
        with memoryview(mapped) as whole:
            return whole[offset : offset + length]

    def produce() -> Iterator[bytes | memoryview]:
        behind = 0
        try:
            for index in range(count):
                last = index == count - 1
                offset = crypto.segment_offset(index, segment_size)
                length = (size - offset) if last else segment_size + crypto.TAG_SIZE
                with sealed_at(offset, length, behind) as sealed:
                    nonce = prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
                    out: bytes | memoryview
                    if way == "decrypt-into":
                        out = memoryview(pool[index % len(pool)])[: length - crypto.TAG_SIZE]
                        cipher.decrypt_into(nonce, sealed, header, out)
                    elif regions is not None:
                        out = regions.writable(index, length - crypto.TAG_SIZE)
                        cipher.decrypt_into(nonce, sealed, header, out)
                    else:
                        out = cipher.decrypt(nonce, sealed, header)
                behind = offset - offset % mmap.PAGESIZE
                yield out
        finally:
            if mapped is not None:
                mapped.close()
            file.close()

    return plaintext_size, produce()


def serve(port: int, blob: Path, key: bytes, way: str) -> None:
    if way == "malloc":
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 32 * MIB)
        libc.mallopt(M_TRIM_THRESHOLD, 32 * MIB)
    splicer = Splicer() if "splice" in way else None
    regions = None
    if way in SPLICING:  # the segments alive at once: DEPTH handed, one made, one sent
        with blob.open("rb", buffering=0) as file:
            segment_size = _layout(crypto.file_read_at(file), blob.stat().st_size)[1]
        per_group = max(1, HUGE_PAGE // segment_size)
        groups = 1 + -(-(DEPTH + 2) // per_group)
        regions = Regions(segment_size, groups, drop=way == "vmsplice")
    elif way == "vmsplice-only":
        regions = Regions(len(PATTERN), 1)
        regions.writable(0, len(PATTERN))[:] = PATTERN  # never written again
    with socket.create_server(("127.0.0.1", port)) as listener:
        while True:
            connection, _address = listener.accept()
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = connection.recv(8192)
                    if not chunk:
                        break  # a port probe
                    request += chunk
                else:
                    respond(connection, blob, key, way, splicer, regions)


def respond(
    connection: socket.socket,
    blob: Path,
    key: bytes,
    way: str,
    splicer: Splicer | None = None,
    regions: Regions | None = None,
) -> None:
    if way in SEND_ONLY:
        with blob.open("rb", buffering=0) as file:
            size = _layout(crypto.file_read_at(file), blob.stat().st_size)[3]
        connection.sendall(HEAD % size)
        pattern = memoryview(PATTERN)
        for start in range(0, size, len(PATTERN)):
            length = min(len(PATTERN), size - start)
            if splicer is not None and regions is not None:
                splicer.send(connection, regions.address, length)
            else:
                connection.sendall(pattern[:length])
        return
    if regions is not None:
        regions.reset()
    size, segments = _segments(blob, key, way, regions)
    connection.sendall(HEAD % size)
    stream = produced_ahead(segments)
    if splicer is None or regions is None:
        for segment in stream:
            connection.sendall(segment)
        return
    try:
        for index, segment in enumerate(stream):
            splicer.send(connection, regions.base + regions.offset(index), len(segment))
            regions.sent(index)
    finally:
        regions.free.release(regions.groups)  # a helper waiting for a group stops
        stream.close()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"


# --- Driver -------------------------------------------------------------------------------


def repeated_sha256(block: bytes, size: int) -> str:
    """SHA-256 of ``block`` repeated up to ``size`` bytes (what the send-only ways send)."""
    digest = hashlib.sha256()
    for start in range(0, size, len(block)):
        digest.update(block[: size - start])
    return digest.hexdigest()


def minor_faults(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="blob size (MiB)")
    parser.add_argument("--rounds", type=int, default=10, help="downloads per way")
    parser.add_argument(
        "--ways", default=",".join(WAYS), help="comma-separated (pread is always measured)"
    )
    parser.add_argument("--serve", nargs=4, metavar=("PORT", "BLOB", "KEY_HEX", "WAY"))
    args = parser.parse_args(argv)
    if args.mib < 128 or args.rounds < 1:
        parser.error("need --mib >= 128 (CPU time is counted in 10 ms ticks), --rounds >= 1")
    ways = ["pread", *(way for way in args.ways.split(",") if way != "pread")]
    if unknown := set(ways) - set(LABELS):
        parser.error(f"unknown ways: {', '.join(sorted(unknown))}")
    if args.serve:
        port, blob, key_hex, way = args.serve
        serve(int(port), Path(blob), bytes.fromhex(key_hex), way)
        return 0

    work = Path(tempfile.mkdtemp(prefix="sd-decrypt-variants-"))
    servers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        blob, _data_key, _associated, derived, expected = floor_blob(work, args.mib * MIB)
        ports = {}
        for way in ways:
            ports[way] = free_port()
            command = [sys.executable, __file__, "--serve", str(ports[way])]
            servers[way] = subprocess.Popen(
                [*command, str(blob), derived.hex(), way], stderr=(work / "log").open("ab")
            )
            wait_for_port(ports[way], servers[way], way)
        for way in ways:  # warm-up, and each way sends the right bytes
            right = repeated_sha256(PATTERN, args.mib * MIB) if way in SEND_ONLY else expected
            if download(ports[way], "/", digest=True).sha256 != right:
                raise SystemExit(f"{way}: wrong bytes")
        cost: dict[str, list[float]] = {way: [] for way in ways}
        speed: dict[str, list[float]] = {way: [] for way in ways}
        faults: dict[str, list[float]] = {way: [] for way in ways}
        gib = args.mib / 1024
        for _ in range(args.rounds):
            for way in ways:
                pid = servers[way].pid
                cpu, fault = cpu_seconds([pid]), minor_faults(pid)
                run = download(ports[way], "/")
                cost[way].append((cpu_seconds([pid]) - cpu) / gib)
                faults[way].append((minor_faults(pid) - fault) / gib)
                speed[way].append(run.mb_per_s)
        peaks = {way: peak_mib(servers[way].pid) for way in ways}
        figures = report(cost, speed, faults, peaks)
        print(json.dumps({"file_mib": args.mib, "rounds": args.rounds, "ways": figures}))
        return 0
    finally:
        for process in servers.values():
            stop(process)
        for path in sorted(work.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        work.rmdir()


def report(
    cost: dict[str, list[float]],
    speed: dict[str, list[float]],
    faults: dict[str, list[float]],
    peaks: dict[str, float],
) -> dict[str, dict[str, float]]:
    median: Callable[[list[float]], float] = statistics.median
    heading = ("way", "CPU-s/GiB", "vs pread", "MB/s", "faults/GiB", "peak")
    print("{:52} {:>17} {:>9} {:>6} {:>10} {:>8}".format(*heading))
    figures = {}
    for way in cost:
        pairs = zip(cost[way], cost["pread"], strict=True)
        relative = median([mine / base for mine, base in pairs])
        figures[way] = {
            "cpu_s_per_gib": round(median(cost[way]), 3),
            "cpu_s_per_gib_min": round(min(cost[way]), 3),
            "cpu_s_per_gib_max": round(max(cost[way]), 3),
            "cpu_vs_pread": round(relative, 3),
            "mb_per_s": round(median(speed[way])),
            "minor_faults_per_gib": round(median(faults[way])),
            "peak_rss_mib": round(peaks[way], 1),
        }
        spread = f"{min(cost[way]):.2f}-{max(cost[way]):.2f}"
        print(
            f"{LABELS[way]:52} {median(cost[way]):6.3f} ({spread}) {relative:9.2f} "
            f"{median(speed[way]):6.0f} {median(faults[way]):10.0f} {peaks[way]:6.0f} MiB"
        )
    return figures


if __name__ == "__main__":
    sys.exit(main())
