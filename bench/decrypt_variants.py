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

Printed per way: server CPU seconds per GiB (median, min-max), that cost relative to
``pread`` in the same rounds (median of the per-round ratios), MB/s, the server's
minor page faults per GiB, its peak resident memory. The client is bench/download.py's
(one socket, a reused 1 MiB buffer). Everything stays on 127.0.0.1.

    .venv/bin/python bench/decrypt_variants.py               # 1 GiB, 10 rounds, ~2 min
    .venv/bin/python bench/decrypt_variants.py --mib 256 --rounds 3

A measuring instrument, not product code: the servers trust their arguments. Needs
Linux >= 5.14 for ``MADV_POPULATE_READ`` (an older kernel fails the ``mmap`` ways).
Last line: one JSON object of the figures. Results: bench/README.md, "After, part 4".
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from bench_support import MIB, cpu_seconds, free_port, peak_mib, stop, wait_for_port
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from download import download, floor_blob  # bench/ is no package: found next to this file

from files import crypto
from files.ahead import DEPTH, produced_ahead

MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux 5.14; Python 3.13+
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
WAYS = ["pread", "mmap", "mmap-keep", "decrypt-into", "malloc"]
LABELS = {
    "pread": "pread into a reused buffer, new bytes (product)",
    "mmap": "mmap + MADV_POPULATE_READ, pages behind unmapped",
    "mmap-keep": "mmap + MADV_POPULATE_READ, pages kept (RSS grows)",
    "decrypt-into": "pread, decrypt_into reused buffers, memoryview",
    "malloc": "pread, new bytes, glibc thresholds 32 MiB",
}


# --- Server (one process per way) ---------------------------------------------------------


def _segments(path: Path, key: bytes, way: str) -> tuple[int, Iterator[bytes | memoryview]]:
    """(plaintext size, its segments read and decrypted the given way)."""
    size = path.stat().st_size
    file = path.open("rb", buffering=0)
    read_at = crypto.file_read_at(file)  # the product's read (files/storage.py)
    header = bytes(read_at(0, crypto.HEADER_SIZE))
    segment_size = int.from_bytes(header[7:11], "big")  # after magic (6) and version (1)
    prefix = header[crypto.HEADER_SIZE - crypto.NONCE_PREFIX_SIZE :]
    count = max(1, -(-(size - crypto.HEADER_SIZE) // (segment_size + crypto.TAG_SIZE)))
    plaintext_size = size - crypto.HEADER_SIZE - count * crypto.TAG_SIZE
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
                    respond(connection, blob, key, way)


def respond(connection: socket.socket, blob: Path, key: bytes, way: str) -> None:
    size, segments = _segments(blob, key, way)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
    for segment in produced_ahead(segments):
        connection.sendall(segment)


# --- Driver -------------------------------------------------------------------------------


def minor_faults(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="blob size (MiB)")
    parser.add_argument("--rounds", type=int, default=10, help="downloads per way")
    parser.add_argument("--serve", nargs=4, metavar=("PORT", "BLOB", "KEY_HEX", "WAY"))
    args = parser.parse_args(argv)
    if args.mib < 128 or args.rounds < 1:
        parser.error("need --mib >= 128 (CPU time is counted in 10 ms ticks), --rounds >= 1")
    if args.serve:
        port, blob, key_hex, way = args.serve
        serve(int(port), Path(blob), bytes.fromhex(key_hex), way)
        return 0

    work = Path(tempfile.mkdtemp(prefix="sd-decrypt-variants-"))
    servers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        blob, _data_key, _associated, derived, expected = floor_blob(work, args.mib * MIB)
        ports = {}
        for way in WAYS:
            ports[way] = free_port()
            command = [sys.executable, __file__, "--serve", str(ports[way])]
            servers[way] = subprocess.Popen(
                [*command, str(blob), derived.hex(), way], stderr=(work / "log").open("ab")
            )
            wait_for_port(ports[way], servers[way], way)
        for way in WAYS:  # warm-up, and each way sends the right bytes
            if download(ports[way], "/", digest=True).sha256 != expected:
                raise SystemExit(f"{way}: wrong bytes")
        cost: dict[str, list[float]] = {way: [] for way in WAYS}
        speed: dict[str, list[float]] = {way: [] for way in WAYS}
        faults: dict[str, list[float]] = {way: [] for way in WAYS}
        gib = args.mib / 1024
        for _ in range(args.rounds):
            for way in WAYS:
                pid = servers[way].pid
                cpu, fault = cpu_seconds([pid]), minor_faults(pid)
                run = download(ports[way], "/")
                cost[way].append((cpu_seconds([pid]) - cpu) / gib)
                faults[way].append((minor_faults(pid) - fault) / gib)
                speed[way].append(run.mb_per_s)
        figures = report(cost, speed, faults, {way: peak_mib(servers[way].pid) for way in WAYS})
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
    for way in WAYS:
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
