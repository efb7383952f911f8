"""Throughput and memory of the blob format (files/crypto.py) per segment size.

For each segment size (64 KiB, 256 KiB, 1 MiB, 4 MiB) it encrypts ``--mib`` MiB of
generated data fed in 1 MiB chunks (what an upload view reads per call), then decrypts
that blob two ways: ``read_at`` (``BlobDecryptor.decrypt_all``, one read per segment,
as over a file or ranged GETs) and ``decrypt_stream`` (one sequential stream, as over a
single GET). Each figure is the median of ``--repeats`` runs. In the same run it
measures SHA-256 of the same data (hashlib: the stage that bounds uploads, FIELD-NOTES)
and bare AES-256-GCM over 1 MiB buffers, allocating and ``encrypt_into`` a reused
buffer, so ratios can be compared between machines. It also times a 1-byte HTTP Range
read in the middle of the blob (the cost a small range pays for a big segment) and
measures the tracemalloc peak of encrypt → decrypt streamed over 64 MiB.

Ciphertext is held in memory (never written to disk); plaintext is generated.

    .venv/bin/python bench/crypto.py              # ~30 s on 2 vCPUs
    .venv/bin/python bench/crypto.py --mib 128 --repeats 1   # quick look

Prints a table, then as its last line one JSON object of the figures. Exit status 0;
1 if a decryption did not give back the plaintext; 2 on a refused argument.

Result (2026-11-23, the shared 2-vCPU development VM, load average 3-5 from other
work, Python 3.11.7, cryptography 50.0.2 / OpenSSL 4.0.3, defaults), last of four runs::

    segment encrypt dec bytes faults dec file dec stream enc/sha dec/sha range ms peak MiB
    --------------------------------------------------------------------------------------
      64KIB    5034      4001      0     3616       3872    3.33    2.39    0.026     2.25
     256KIB    5340      3543      0     4172       4420    3.53    2.76    0.063     3.00
       1MIB    5244      4582      0     5055       4165    3.47    3.34    0.175     6.00 *
       4MIB    4223      4775      0     3912       3281    2.79    2.59    0.788    21.00

    rates in MiB/s; * = DEFAULT_SEGMENT_SIZE; enc/sha, dec/sha: ratio to SHA-256
    dec bytes: read_at returns new bytes per segment; faults: its page faults per MiB
    dec file: file_read_at (one reused buffer); dec stream: decrypt_stream, 1 MiB chunks
    range ms: a 1-byte Range request (header + one segment read and decrypted)
    peak: tracemalloc of encrypt -> decrypt_stream over 64 MiB

    reference                                   MiB/s  faults/MiB
    SHA-256 (hashlib), 1 MiB chunks              1512           0
    bare AES-256-GCM encrypt, 1 MiB              6623           0
    bare AES-256-GCM encrypt_into, reused        7231           0

    max RSS 2111 MiB (includes the in-memory blob); 16.6 s

Across the four runs (MiB/s, min-max; 64 KiB / 256 KiB / 1 MiB / 4 MiB): encrypt
4437-6073 / 5234-6562 / 4495-5943 / 4223-5550; decrypt through ``file_read_at``
3070-4633 / 4172-4884 / 4902-6175 / 3912-5690 (1 MiB fastest in all four runs);
``decrypt_stream`` 3563-4947 / 3922-5581 / 3969-5148 / 2903-4780; SHA-256 1266-1608;
1-byte range 0.020-0.027 / 0.048-0.068 / 0.175-0.202 / 0.72-1.05 ms. At 1 MiB,
encrypt / SHA-256 = 3.5-4.2 and decrypt / SHA-256 = 3.3-4.2. Peak memory does not
vary: 2.25 / 3 / 6 / 21 MiB.

Heap churn: in earlier runs that measured each size in turn rather than in alternating
rounds, glibc's heap sometimes fell into trimming and regrowing around segment-sized
objects, and every allocation page-faulted (~240 faults per MiB, every page): bare
allocating AES-GCM ran at 1.0-1.6 GiB/s against ~7 for ``encrypt_into``, and decryption
with a ``read_at`` returning fresh ``bytes`` fell to 1.3-1.5 GiB/s at 1 MiB segments
while a reused read buffer kept ~5-6 GiB/s. That is why ``file_read_at`` exists and why
the ``faults/MiB`` column is printed: if it is far from 0, the allocator, not the
cipher, is being measured (glibc's ``MALLOC_TRIM_THRESHOLD_`` /
``MALLOC_MMAP_THRESHOLD_`` on the web and worker processes are the lever).

Reading it: see the comment on ``DEFAULT_SEGMENT_SIZE`` in files/crypto.py and
docs/encryption-format.md ("Segment size").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from files.crypto import (  # noqa: E402
    DEFAULT_SEGMENT_SIZE,
    BlobDecryptor,
    ReadAt,
    decrypt_range,
    decrypt_stream,
    encrypt_stream,
    file_read_at,
    generate_data_key,
)

MIB = 1024 * 1024
SEGMENT_SIZES = (64 * 1024, 256 * 1024, MIB, 4 * MIB)
CHUNK_SIZE = MIB
MEMORY_PASS_MIB = 64
RANGE_READS = 200
ASSOCIATED_DATA = b"bench-file-version-0001"


class BenchError(RuntimeError):
    """The bench could not produce trustworthy figures."""


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mib", type=int, default=512, help="data per measurement (MiB)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    arguments = parser.parse_args(argv)
    if arguments.mib < 8 or arguments.repeats < 1:
        parser.error("--mib must be >= 8 and --repeats >= 1")
    return arguments


def _label(segment_size: int) -> str:
    return f"{segment_size // MIB}mib" if segment_size >= MIB else f"{segment_size // 1024}kib"


def _chunks(source: bytes, total_mib: int) -> Iterator[bytes]:
    """``total_mib`` MiB as 1 MiB chunks, without ever holding more than ``source``."""
    for index in range(total_mib):
        offset = (index * 4099) % (len(source) - CHUNK_SIZE)  # vary the bytes a little
        yield source[offset : offset + CHUNK_SIZE]


@dataclass(frozen=True)
class Rate:
    mib_per_s: float
    page_faults_per_mib: float  # minor faults: fresh pages touched, the cost of heap churn


Run = Callable[[], int]  # one timed pass; returns the bytes it processed


class Rounds:
    """Named measurements, run in alternating rounds so that the machine's changing load
    (the VM is shared) hits every segment size alike; each figure is the median."""

    def __init__(self) -> None:
        self._rates: dict[str, list[float]] = {}
        self._faults: dict[str, list[float]] = {}

    def run(self, name: str, run: Run) -> None:
        faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        started = time.perf_counter()
        processed = run()
        elapsed = time.perf_counter() - started
        faulted = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before
        self._rates.setdefault(name, []).append(processed / MIB / elapsed)
        self._faults.setdefault(name, []).append(faulted * MIB / processed)

    def rate(self, name: str) -> Rate:
        return Rate(statistics.median(self._rates[name]), statistics.median(self._faults[name]))


def _reference_runs(source: bytes, total_mib: int) -> dict[str, Run]:
    """SHA-256 (the upload's costliest stage) and bare AES-256-GCM over 1 MiB buffers,
    allocating ``encrypt`` and ``encrypt_into`` a reused buffer."""
    cipher = AESGCM(generate_data_key())
    output = bytearray(CHUNK_SIZE + 16)

    def sha256() -> int:
        digest = hashlib.sha256()
        for chunk in _chunks(source, total_mib):
            digest.update(chunk)
        return total_mib * MIB

    def aes_allocating() -> int:
        for index, chunk in enumerate(_chunks(source, total_mib)):
            cipher.encrypt(index.to_bytes(12, "big"), chunk, b"")
        return total_mib * MIB

    def aes_reusing() -> int:
        for index, chunk in enumerate(_chunks(source, total_mib)):
            cipher.encrypt_into(index.to_bytes(12, "big"), chunk, b"", output)
        return total_mib * MIB

    return {"sha256": sha256, "aes_allocating": aes_allocating, "aes_reusing": aes_reusing}


class _MemoryFile:
    """A seekable file over the in-memory blob: ``readinto`` copies, like a page-cache read."""

    def __init__(self, blob: memoryview) -> None:
        self._blob = blob
        self._position = 0

    def seek(self, offset: int, whence: int = 0, /) -> int:
        self._position = offset
        return offset

    def readinto(self, buffer: memoryview, /) -> int:
        count = min(len(buffer), len(self._blob) - self._position)
        buffer[:count] = self._blob[self._position : self._position + count]
        self._position += count
        return count


@dataclass
class Subject:
    """One segment size: its blob (in memory) and the passes to time over it."""

    segment_size: int
    runs: dict[str, Run]
    range_1_byte: Callable[[int], None]


def _subject(source: bytes, total_mib: int, segment_size: int) -> Subject:
    """Encrypt once, check that every decryption path gives the plaintext back."""
    data_key = generate_data_key()

    def encrypt() -> int:
        blob = encrypt_stream(data_key, ASSOCIATED_DATA, _chunks(source, total_mib), segment_size)
        for _ in blob:
            pass
        return total_mib * MIB

    blob = bytearray()
    for part in encrypt_stream(data_key, ASSOCIATED_DATA, _chunks(source, total_mib), segment_size):
        blob += part
    view = memoryview(blob)
    expected = hashlib.sha256()
    for chunk in _chunks(source, total_mib):
        expected.update(chunk)

    def bytes_reader(offset: int, length: int) -> bytes:
        return bytes(view[offset : offset + length])  # a fresh object, like os.pread or a GET

    file_reader = file_read_at(_MemoryFile(view))

    def decrypt_all(read_at: ReadAt, check: bool = False) -> int:
        digest = hashlib.sha256() if check else None
        decryptor = BlobDecryptor(data_key, ASSOCIATED_DATA, read_at, len(view))
        for plaintext in decryptor.decrypt_all():
            if digest is not None:
                digest.update(plaintext)
        if digest is not None and digest.digest() != expected.digest():
            raise BenchError(f"decryption gave other bytes ({_label(segment_size)} segments)")
        return decryptor.plaintext_size

    def stream_chunks() -> Iterator[bytes]:
        for offset in range(0, len(view), CHUNK_SIZE):
            yield bytes(view[offset : offset + CHUNK_SIZE])

    def decrypt_sequential(check: bool = False) -> int:
        digest = hashlib.sha256()
        processed = 0
        for plaintext in decrypt_stream(data_key, ASSOCIATED_DATA, stream_chunks()):
            processed += len(plaintext)
            if check:
                digest.update(plaintext)
        if check and digest.digest() != expected.digest():
            raise BenchError(f"decrypt_stream gave other bytes ({_label(segment_size)})")
        return processed

    def range_1_byte(position: int) -> None:
        # Header read + one whole segment read and decrypted, for one byte.
        for _ in decrypt_range(data_key, ASSOCIATED_DATA, file_reader, len(view), *[position] * 2):
            pass

    decrypt_all(bytes_reader, check=True)  # correctness, untimed
    decrypt_all(file_reader, check=True)
    decrypt_sequential(check=True)
    return Subject(
        segment_size,
        {
            "encrypt": encrypt,
            "decrypt_bytes_reader": lambda: decrypt_all(bytes_reader),
            "decrypt_file_reader": lambda: decrypt_all(file_reader),
            "decrypt_stream": decrypt_sequential,
        },
        range_1_byte,
    )


def _range_1_byte_ms(subject: Subject, total_mib: int) -> float:
    middle = total_mib * MIB // 2
    started = time.perf_counter()
    for index in range(RANGE_READS):
        subject.range_1_byte(middle + index)
    return (time.perf_counter() - started) * 1000 / RANGE_READS


@dataclass(frozen=True)
class SegmentSizeFigures:
    encrypt: Rate
    decrypt_bytes_reader: Rate
    decrypt_file_reader: Rate
    decrypt_stream: Rate
    range_1_byte_ms: float
    stream_peak_mib: float


def _streaming_peak_mib(source: bytes, segment_size: int) -> float:
    """tracemalloc peak of encrypt → decrypt chained as streams over 64 MiB (no blob kept).

    ``source`` is allocated before tracing starts, so the peak is what the pipeline
    itself holds: input chunk, plaintext buffer, sealed segment, decrypted segment.
    """
    data_key = generate_data_key()
    tracemalloc.start()
    try:
        blob = encrypt_stream(
            data_key, ASSOCIATED_DATA, _chunks(source, MEMORY_PASS_MIB), segment_size
        )
        for _ in decrypt_stream(data_key, ASSOCIATED_DATA, blob):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / MIB


def _print_table(
    results: dict[int, SegmentSizeFigures],
    sha256: Rate,
    aes_allocating: Rate,
    aes_reusing: Rate,
) -> None:
    header = (
        f"{'segment':>7} {'encrypt':>7} {'dec bytes':>9} {'faults':>6} {'dec file':>8} "
        f"{'dec stream':>10} {'enc/sha':>7} {'dec/sha':>7} {'range ms':>8} {'peak MiB':>8}"
    )
    print(header)
    print("-" * len(header))
    for segment_size, figures in results.items():
        marker = " *" if segment_size == DEFAULT_SEGMENT_SIZE else ""
        print(
            f"{_label(segment_size).replace('ib', 'iB').upper():>7} "
            f"{figures.encrypt.mib_per_s:>7.0f} "
            f"{figures.decrypt_bytes_reader.mib_per_s:>9.0f} "
            f"{figures.decrypt_bytes_reader.page_faults_per_mib:>6.0f} "
            f"{figures.decrypt_file_reader.mib_per_s:>8.0f} "
            f"{figures.decrypt_stream.mib_per_s:>10.0f} "
            f"{figures.encrypt.mib_per_s / sha256.mib_per_s:>7.2f} "
            f"{figures.decrypt_file_reader.mib_per_s / sha256.mib_per_s:>7.2f} "
            f"{figures.range_1_byte_ms:>8.3f} {figures.stream_peak_mib:>8.2f}{marker}"
        )
    print()
    print("rates in MiB/s; * = DEFAULT_SEGMENT_SIZE; enc/sha, dec/sha: ratio to SHA-256")
    print("dec bytes: read_at returns new bytes per segment; faults: its page faults per MiB")
    print("dec file: file_read_at (one reused buffer); dec stream: decrypt_stream, 1 MiB chunks")
    print("range ms: a 1-byte Range request (header + one segment read and decrypted)")
    print(f"peak: tracemalloc of encrypt -> decrypt_stream over {MEMORY_PASS_MIB} MiB")
    print()
    print(f"{'reference':<40}  {'MiB/s':>7}  {'faults/MiB':>10}")
    for name, rate in (
        ("SHA-256 (hashlib), 1 MiB chunks", sha256),
        ("bare AES-256-GCM encrypt, 1 MiB", aes_allocating),
        ("bare AES-256-GCM encrypt_into, reused", aes_reusing),
    ):
        print(f"{name:<40}  {rate.mib_per_s:>7.0f}  {rate.page_faults_per_mib:>10.0f}")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    total_mib, repeats = arguments.mib, arguments.repeats
    source = os.urandom(4 * MIB)
    started = time.perf_counter()

    references = _reference_runs(source, total_mib)
    try:
        subjects = [_subject(source, total_mib, size) for size in SEGMENT_SIZES]
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rounds = Rounds()
    for _ in range(repeats):
        for name, run in references.items():
            rounds.run(name, run)
        for subject in subjects:
            for name, run in subject.runs.items():
                rounds.run(f"{name}_{subject.segment_size}", run)
    results = {}
    for subject in subjects:
        size = subject.segment_size
        results[size] = SegmentSizeFigures(
            encrypt=rounds.rate(f"encrypt_{size}"),
            decrypt_bytes_reader=rounds.rate(f"decrypt_bytes_reader_{size}"),
            decrypt_file_reader=rounds.rate(f"decrypt_file_reader_{size}"),
            decrypt_stream=rounds.rate(f"decrypt_stream_{size}"),
            range_1_byte_ms=_range_1_byte_ms(subject, total_mib),
            stream_peak_mib=_streaming_peak_mib(source, size),
        )
    sha256, aes_allocating, aes_reusing = (rounds.rate(name) for name in references)
    elapsed = time.perf_counter() - started
    max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"crypto: {total_mib} MiB per measurement, median of {repeats}, "
        f"{os.cpu_count()} CPU(s), 1 MiB input chunks"
    )
    print()
    _print_table(results, sha256, aes_allocating, aes_reusing)
    print()
    print(f"max RSS {max_rss_mib:.0f} MiB (includes the in-memory blob); {elapsed:.1f} s")

    summary: dict[str, float | int] = {}
    for segment_size, figures in results.items():
        label = f"{_label(segment_size)}_segments"
        summary.update(
            {
                f"encrypt_mib_per_s_{label}": round(figures.encrypt.mib_per_s),
                f"decrypt_mib_per_s_{label}": round(figures.decrypt_file_reader.mib_per_s),
                f"decrypt_bytes_reader_mib_per_s_{label}": round(
                    figures.decrypt_bytes_reader.mib_per_s
                ),
                f"decrypt_bytes_reader_page_faults_per_mib_{label}": round(
                    figures.decrypt_bytes_reader.page_faults_per_mib
                ),
                f"decrypt_stream_mib_per_s_{label}": round(figures.decrypt_stream.mib_per_s),
                f"encrypt_vs_sha256_ratio_{label}": round(
                    figures.encrypt.mib_per_s / sha256.mib_per_s, 2
                ),
                f"range_1_byte_ms_{label}": round(figures.range_1_byte_ms, 3),
                f"stream_peak_mib_{label}": round(figures.stream_peak_mib, 2),
            }
        )
    default = results[DEFAULT_SEGMENT_SIZE]
    summary.update(
        {
            "sha256_mib_per_s": round(sha256.mib_per_s),
            "aes_gcm_encrypt_mib_per_s": round(aes_allocating.mib_per_s),
            "aes_gcm_encrypt_into_mib_per_s": round(aes_reusing.mib_per_s),
            "encrypt_vs_sha256_ratio": round(default.encrypt.mib_per_s / sha256.mib_per_s, 2),
            "decrypt_vs_sha256_ratio": round(
                default.decrypt_file_reader.mib_per_s / sha256.mib_per_s, 2
            ),
            "default_segment_size_bytes": DEFAULT_SEGMENT_SIZE,
            "data_mib": total_mib,
            "repeats": repeats,
            "max_rss_mib": round(max_rss_mib),
            "cpu_count": os.cpu_count() or 0,
            "elapsed_s": round(elapsed, 1),
        }
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
