"""Blob encryption and data-key wrapping: what goes in comes back, byte for byte, to
whoever holds the right key and version id, and a blob that was tampered with, cut,
reordered or moved to another version never yields a single unauthenticated byte.

Most tests use 64-byte segments so that every boundary is a few bytes away; the format
does not depend on the segment size. A decryptor written from
docs/encryption-format.md alone (``independent_decrypt``) checks that the document is
enough to read a blob.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.keyring import FileKeyring
from files.crypto import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    BlobDecryptor,
    BlobEncryptor,
    BlobIntegrityError,
    ciphertext_size,
    decrypt_range,
    decrypt_stream,
    encrypt_stream,
    file_read_at,
    generate_data_key,
    plaintext_size,
    segment_offset,
)
from files.envelope import (
    WRAPPED_KEY_SIZE,
    UnknownKeyEncryptionKeyError,
    WrappedKey,
    WrappedKeyIntegrityError,
    rewrap_data_key,
    unwrap_data_key,
    wrap_data_key,
)

SEGMENT = 64
SEALED = SEGMENT + TAG_SIZE
VERSION_ID = b"file-version:7d3c0c52-3b4e-4c1e-9f5a-2b8e6d1a0f42"
OTHER_VERSION_ID = b"file-version:0b9d2f7e-6a41-4f3c-8e27-5c1d9a3b7e60"
VECTORS_DIR = Path(__file__).resolve().parent / "vectors" / "encryption"
VECTOR_FILES = sorted(VECTORS_DIR.glob("blob-*.json"))


# --- Helpers -------------------------------------------------------------------------


def encrypt(
    data_key: bytes, plaintext: bytes, segment_size: int = SEGMENT, version: bytes = VERSION_ID
) -> bytes:
    return b"".join(encrypt_stream(data_key, version, [plaintext], segment_size))


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[offset : offset + size] for offset in range(0, len(data), size)]


@dataclass
class CountingReader:
    """``read_at`` over a blob in memory that remembers every read, like ranged GETs."""

    blob: bytes
    reads: list[tuple[int, int]] = field(default_factory=list)

    def __call__(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return self.blob[offset : offset + length]

    def segments_read(self) -> list[int]:
        return [(offset - HEADER_SIZE) // SEALED for offset, _ in self.reads[1:]]


@dataclass
class Outcome:
    """What a reader got out of a blob before it stopped: bytes, then maybe an error."""

    plaintext: bytes
    error: BlobIntegrityError | None


def drain(chunks: Callable[[], Iterable[bytes]]) -> Outcome:
    received = bytearray()
    try:
        for chunk in chunks():
            received += chunk
    except BlobIntegrityError as error:
        return Outcome(bytes(received), error)
    return Outcome(bytes(received), None)


def read_with_random_access(data_key: bytes, blob: bytes, version: bytes) -> Outcome:
    return drain(
        lambda: BlobDecryptor(data_key, version, CountingReader(blob), len(blob)).decrypt_all()
    )


def read_as_stream(data_key: bytes, blob: bytes, version: bytes) -> Outcome:
    """Small uneven chunks: every segment goes through the decryptor's buffer."""
    return drain(lambda: decrypt_stream(data_key, version, chunked(blob, 37)))


def read_as_one_chunk(data_key: bytes, blob: bytes, version: bytes) -> Outcome:
    """One big chunk: segments are opened straight from the caller's bytes."""
    return drain(lambda: decrypt_stream(data_key, version, [blob]))


READERS = [
    pytest.param(read_with_random_access, id="random-access"),
    pytest.param(read_as_stream, id="stream"),
    pytest.param(read_as_one_chunk, id="one-chunk"),
]


def independent_decrypt(blob: bytes, data_key: bytes, associated_data: bytes) -> bytes:
    """A decryptor written from docs/encryption-format.md alone, with bare primitives."""
    header, body = blob[:50], blob[50:]
    if len(header) != 50 or header[:6] != b"SDBLOB" or header[6] != 1:
        raise ValueError("not an SDBLOB version 1 blob")
    segment_size = int.from_bytes(header[7:11], "big")
    salt, nonce_prefix = header[11:43], header[43:50]
    info = b"securedrive blob v1" + associated_data
    blob_key = HKDF(algorithm=SHA256(), length=32, salt=salt, info=info).derive(data_key)
    aead = AESGCM(blob_key)
    sealed_size = segment_size + 16
    count = max(1, -(-len(body) // sealed_size))
    last_length = len(body) - (count - 1) * sealed_size
    if last_length < (16 if count == 1 else 17):
        raise ValueError("impossible blob length")
    plaintext = bytearray()
    for index in range(count):
        sealed = body[index * sealed_size : (index + 1) * sealed_size]
        flag = b"\x01" if index == count - 1 else b"\x00"
        nonce = nonce_prefix + index.to_bytes(4, "big") + flag
        plaintext += aead.decrypt(nonce, sealed, header)
    return bytes(plaintext)


def pseudo_random_bytes(size: int, seed: int = 0) -> bytes:
    """Reproducible, incompressible test content (SHAKE-256 of the seed)."""
    return hashlib.shake_256(seed.to_bytes(8, "big")).digest(size)


@pytest.fixture
def data_key() -> bytes:
    return generate_data_key()


@pytest.fixture
def plaintext_200() -> bytes:
    """Three full 64-byte segments and an 8-byte last one."""
    return pseudo_random_bytes(200, seed=200)


# --- Round trips ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT, 3 * SEGMENT + 8]
)
def test_what_goes_in_comes_back_byte_for_byte_at_every_segment_boundary(
    data_key: bytes, size: int
) -> None:
    plaintext = pseudo_random_bytes(size, seed=size)
    blob = encrypt(data_key, plaintext)

    assert len(blob) == ciphertext_size(size, SEGMENT)
    assert plaintext_size(len(blob), SEGMENT) == size
    decryptor = BlobDecryptor(data_key, VERSION_ID, CountingReader(blob), len(blob))
    assert decryptor.plaintext_size == size
    assert b"".join(decryptor.decrypt_all()) == plaintext
    assert b"".join(decrypt_stream(data_key, VERSION_ID, [blob])) == plaintext
    assert b"".join(decrypt_stream(data_key, VERSION_ID, chunked(blob, 1))) == plaintext
    assert independent_decrypt(blob, data_key, VERSION_ID) == plaintext


def test_an_empty_file_still_has_one_authenticated_segment(data_key: bytes) -> None:
    blob = encrypt(data_key, b"")
    assert len(blob) == HEADER_SIZE + TAG_SIZE
    # Cutting the lone tag off must not turn into "a valid empty file".
    assert read_with_random_access(data_key, blob[:HEADER_SIZE], VERSION_ID).error is not None
    assert read_as_stream(data_key, blob[:HEADER_SIZE], VERSION_ID).error is not None


def test_a_file_of_exactly_one_segment_has_no_trailing_empty_segment(data_key: bytes) -> None:
    blob = encrypt(data_key, bytes(SEGMENT))
    assert len(blob) == HEADER_SIZE + SEGMENT + TAG_SIZE


def test_a_large_random_file_round_trips_with_the_default_segment_size(data_key: bytes) -> None:
    plaintext = pseudo_random_bytes(3 * DEFAULT_SEGMENT_SIZE + 12_345, seed=42)
    # Uneven chunks, as an upload arrives: some smaller, some larger than a segment.
    sizes = [1, 1000, DEFAULT_SEGMENT_SIZE - 1, 2 * DEFAULT_SEGMENT_SIZE + 7, 65_536]
    chunks: list[bytes] = []
    offset = 0
    while offset < len(plaintext):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(plaintext[offset : offset + size])
        offset += size

    blob = b"".join(encrypt_stream(data_key, VERSION_ID, chunks))

    assert len(blob) == ciphertext_size(len(plaintext), DEFAULT_SEGMENT_SIZE)
    assert b"".join(decrypt_stream(data_key, VERSION_ID, chunked(blob, 100_000))) == plaintext
    reader = CountingReader(blob)
    assert b"".join(BlobDecryptor(data_key, VERSION_ID, reader, len(blob)).decrypt_all()) == (
        plaintext
    )


def test_how_plaintext_is_chunked_does_not_change_the_blob(data_key: bytes) -> None:
    plaintext = pseudo_random_bytes(5 * SEGMENT + 3, seed=7)
    blobs = set()
    for chunk_size in (1, 3, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT, len(plaintext)):
        encryptor = BlobEncryptor(
            data_key, VERSION_ID, SEGMENT, _salt=bytes(32), _nonce_prefix=bytes(7)
        )
        parts = [encryptor.header()]
        for chunk in [b"", *chunked(plaintext, chunk_size), b""]:
            parts.extend(encryptor.update(chunk))
        parts.append(encryptor.finalize())
        blobs.add(b"".join(parts))
    assert len(blobs) == 1


def test_the_same_file_encrypted_twice_gives_unrelated_blobs(data_key: bytes) -> None:
    plaintext = b"Patient: Jane Doe, echocardiogram 2026-11-23" * 4
    first, second = encrypt(data_key, plaintext), encrypt(data_key, plaintext)
    assert first[11:50] != second[11:50]  # fresh salt and nonce prefix
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]
    assert plaintext not in first


def test_the_encryptor_holds_back_a_full_segment_until_it_knows_it_is_not_the_last(
    data_key: bytes,
) -> None:
    encryptor = BlobEncryptor(data_key, VERSION_ID, SEGMENT)
    assert list(encryptor.update(bytes(SEGMENT))) == []
    assert [len(sealed) for sealed in encryptor.update(b"x")] == [SEALED]
    assert len(encryptor.finalize()) == 1 + TAG_SIZE


def test_an_encryptor_refuses_to_be_misused(data_key: bytes) -> None:
    with pytest.raises(ValueError, match="associated data"):
        BlobEncryptor(data_key, b"")
    with pytest.raises(ValueError, match="32 bytes"):
        BlobEncryptor(data_key[:16], VERSION_ID)
    with pytest.raises(ValueError, match="segment size"):
        BlobEncryptor(data_key, VERSION_ID, segment_size=8)

    abandoned = BlobEncryptor(data_key, VERSION_ID, SEGMENT)
    next(iter(abandoned.update(bytes(3 * SEGMENT))))  # consumer stops half-way
    with pytest.raises(RuntimeError, match="not consumed"):
        abandoned.finalize()

    finished = BlobEncryptor(data_key, VERSION_ID, SEGMENT)
    finished.finalize()
    with pytest.raises(RuntimeError, match="finalized"):
        finished.update(b"late")


def test_size_formulas_agree_with_each_other_for_every_small_size() -> None:
    for size in range(0, 10 * SEGMENT):
        assert plaintext_size(ciphertext_size(size, SEGMENT), SEGMENT) == size


@pytest.mark.parametrize(
    "length",
    [0, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + TAG_SIZE - 1, HEADER_SIZE + SEALED + 16],
)
def test_a_blob_length_no_encryptor_produces_is_rejected(length: int) -> None:
    # Cut inside the header or a tag, or an empty final segment after a full one.
    with pytest.raises(BlobIntegrityError):
        plaintext_size(length, SEGMENT)


# --- Ranged reads --------------------------------------------------------------------


def test_every_possible_range_gives_the_plaintext_slice_reading_only_its_segments(
    data_key: bytes, plaintext_200: bytes
) -> None:
    blob = encrypt(data_key, plaintext_200)
    for start in range(len(plaintext_200)):
        for end in range(start, len(plaintext_200)):
            reader = CountingReader(blob)
            chunks = list(decrypt_range(data_key, VERSION_ID, reader, len(blob), start, end))
            assert b"".join(chunks) == plaintext_200[start : end + 1], (start, end)
            assert reader.reads[0] == (0, HEADER_SIZE)
            assert reader.segments_read() == list(range(start // SEGMENT, end // SEGMENT + 1))


@pytest.mark.parametrize(
    ("start", "end", "segments"),
    [
        pytest.param(0, 0, [0], id="first-byte"),
        pytest.param(199, 199, [3], id="last-byte"),
        pytest.param(63, 64, [0, 1], id="across-first-boundary"),
        pytest.param(127, 128, [1, 2], id="across-second-boundary"),
        pytest.param(191, 192, [2, 3], id="into-short-last-segment"),
        pytest.param(64, 127, [1], id="exactly-one-segment"),
        pytest.param(10, 150, [0, 1, 2], id="spanning-three"),
        pytest.param(0, 199, [0, 1, 2, 3], id="whole-file"),
        *(pytest.param(i * SEGMENT + 5, i * SEGMENT + 5, [i], id=f"byte-in-{i}") for i in range(4)),
    ],
)
def test_a_range_request_reads_and_decrypts_only_the_segments_it_needs(
    data_key: bytes, plaintext_200: bytes, start: int, end: int, segments: list[int]
) -> None:
    blob = encrypt(data_key, plaintext_200)
    reader = CountingReader(blob)

    chunks = list(decrypt_range(data_key, VERSION_ID, reader, len(blob), start, end))

    assert b"".join(chunks) == plaintext_200[start : end + 1]
    assert len(reader.reads) == 1 + len(segments)  # the header, then one read per segment
    assert reader.segments_read() == segments
    # Contiguous, increasing offsets: one open ranged GET could serve them all.
    offsets = [offset for offset, _ in reader.reads[1:]]
    assert offsets == [segment_offset(index, SEGMENT) for index in segments]


@pytest.mark.parametrize(("start", "end"), [(-1, 3), (5, 4), (0, 200), (200, 200)])
def test_an_unsatisfiable_range_is_refused_before_any_segment_is_read(
    data_key: bytes, plaintext_200: bytes, start: int, end: int
) -> None:
    blob = encrypt(data_key, plaintext_200)
    reader = CountingReader(blob)
    with pytest.raises(ValueError, match="outside a plaintext of 200 bytes"):
        decrypt_range(data_key, VERSION_ID, reader, len(blob), start, end)
    assert reader.reads == [(0, HEADER_SIZE)]


def test_an_empty_file_has_no_satisfiable_range(data_key: bytes) -> None:
    blob = encrypt(data_key, b"")
    with pytest.raises(ValueError, match="outside"):
        decrypt_range(data_key, VERSION_ID, CountingReader(blob), len(blob), 0, 0)


def test_ranges_read_through_a_file_object_with_one_reused_buffer(
    data_key: bytes, plaintext_200: bytes, tmp_path: Path
) -> None:
    # Only ciphertext touches the disk.
    path = tmp_path / "blob"
    path.write_bytes(encrypt(data_key, plaintext_200))
    with path.open("rb") as blob_file:
        read_at = file_read_at(blob_file)
        size = path.stat().st_size
        assert (
            b"".join(decrypt_range(data_key, VERSION_ID, read_at, size, 60, 130))
            == (plaintext_200[60:131])
        )
        decryptor = BlobDecryptor(data_key, VERSION_ID, read_at, size)
        assert b"".join(decryptor.decrypt_all()) == plaintext_200


# --- Tampering -----------------------------------------------------------------------


def assert_stopped_at(outcome: Outcome, plaintext: bytes, segment_index: int | None) -> None:
    """Failed at ``segment_index``, after yielding exactly the segments before it."""
    assert outcome.error is not None, "tampered blob was accepted"
    assert outcome.error.segment_index == segment_index
    authenticated = 0 if segment_index is None else segment_index * SEGMENT
    assert outcome.plaintext == plaintext[:authenticated]


def flip(blob: bytes, position: int) -> bytes:
    return blob[:position] + bytes([blob[position] ^ 0x01]) + blob[position + 1 :]


@pytest.mark.parametrize("read", READERS)
def test_any_flipped_header_byte_yields_nothing(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome]
) -> None:
    blob = encrypt(data_key, plaintext_200)
    for position in range(HEADER_SIZE):
        outcome = read(data_key, flip(blob, position), VERSION_ID)
        assert outcome.error is not None, f"header byte {position} flipped went unnoticed"
        assert outcome.plaintext == b"", f"header byte {position}: plaintext leaked"


def test_a_flipped_header_byte_also_fails_a_range_far_from_the_start(
    data_key: bytes, plaintext_200: bytes
) -> None:
    # The header is every segment's associated data, not only segment 0's.
    blob = encrypt(data_key, plaintext_200)

    def read_range(tampered: bytes) -> Outcome:
        reader = CountingReader(tampered)
        return drain(lambda: decrypt_range(data_key, VERSION_ID, reader, len(blob), 150, 160))

    for position in range(HEADER_SIZE):
        outcome = read_range(flip(blob, position))
        assert outcome.error is not None, f"header byte {position} flipped went unnoticed"
        assert outcome.plaintext == b"", f"header byte {position}: plaintext leaked"
    salt_flipped = read_range(flip(blob, 11)).error
    assert salt_flipped is not None
    assert salt_flipped.segment_index == 2  # the only segment this range needs


@pytest.mark.parametrize("read", READERS)
def test_a_flipped_byte_in_a_middle_segment_stops_before_that_segment(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome]
) -> None:
    blob = encrypt(data_key, plaintext_200)
    tampered = flip(blob, segment_offset(1, SEGMENT) + 10)
    assert_stopped_at(read(data_key, tampered, VERSION_ID), plaintext_200, 1)


@pytest.mark.parametrize("read", READERS)
@pytest.mark.parametrize("position", [0, 7, 8 + TAG_SIZE - 1], ids=["data", "last-data", "tag"])
def test_a_flipped_byte_in_the_last_segment_stops_before_it(
    data_key: bytes,
    plaintext_200: bytes,
    read: Callable[[bytes, bytes, bytes], Outcome],
    position: int,
) -> None:
    blob = encrypt(data_key, plaintext_200)
    tampered = flip(blob, segment_offset(3, SEGMENT) + position)
    assert_stopped_at(read(data_key, tampered, VERSION_ID), plaintext_200, 3)


@pytest.mark.parametrize("read", READERS)
def test_dropping_the_last_segment_is_detected(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome]
) -> None:
    blob = encrypt(data_key, plaintext_200)
    truncated = blob[: segment_offset(3, SEGMENT)]  # three full segments, none flagged last
    assert_stopped_at(read(data_key, truncated, VERSION_ID), plaintext_200, 2)


@pytest.mark.parametrize("read", READERS)
@pytest.mark.parametrize("cut", [1, TAG_SIZE, SEALED - 1])
def test_a_blob_cut_inside_a_segment_is_detected(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome], cut: int
) -> None:
    blob = encrypt(data_key, plaintext_200)
    truncated = blob[: segment_offset(2, SEGMENT) + cut]
    outcome = read(data_key, truncated, VERSION_ID)
    assert outcome.error is not None
    assert len(outcome.plaintext) <= 2 * SEGMENT  # nothing of the cut segment


def test_a_range_over_a_truncated_blob_fails_when_the_recorded_size_is_used(
    data_key: bytes, plaintext_200: bytes
) -> None:
    blob = encrypt(data_key, plaintext_200)
    recorded_size = len(blob)  # from the database, written at upload
    truncated = CountingReader(blob[: segment_offset(3, SEGMENT)])
    outcome = drain(lambda: decrypt_range(data_key, VERSION_ID, truncated, recorded_size, 190, 199))
    # Segment 2's two bytes of the range were authenticated; nothing of segment 3.
    assert outcome.plaintext == plaintext_200[190:192]
    assert outcome.error is not None
    assert outcome.error.segment_index == 3
    assert "truncated" in str(outcome.error)


@pytest.mark.parametrize("read", READERS)
def test_swapping_two_segments_is_detected(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome]
) -> None:
    blob = encrypt(data_key, plaintext_200)
    first, second = segment_offset(1, SEGMENT), segment_offset(2, SEGMENT)
    swapped = (
        blob[:first] + blob[second : second + SEALED] + blob[first:second] + blob[second + SEALED :]
    )
    assert len(swapped) == len(blob)
    assert_stopped_at(read(data_key, swapped, VERSION_ID), plaintext_200, 1)


@pytest.mark.parametrize("read", READERS)
def test_replaying_a_segment_in_place_of_another_is_detected(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome]
) -> None:
    blob = encrypt(data_key, plaintext_200)
    zero, one = segment_offset(0, SEGMENT), segment_offset(1, SEGMENT)
    replayed = blob[:one] + blob[zero:one] + blob[one + SEALED :]
    assert_stopped_at(read(data_key, replayed, VERSION_ID), plaintext_200, 1)


@pytest.mark.parametrize("read", READERS)
def test_bytes_appended_to_a_blob_are_detected(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome]
) -> None:
    blob = encrypt(data_key, plaintext_200)
    extended = blob + bytes(SEALED)
    # The real last segment is now read as a non-final, full one: it fails.
    assert_stopped_at(read(data_key, extended, VERSION_ID), plaintext_200, 3)


@pytest.mark.parametrize("read", READERS)
def test_a_blob_moved_to_another_version_yields_nothing(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome]
) -> None:
    # An attacker with the database points version B at version A's blob and data key.
    blob = encrypt(data_key, plaintext_200, version=VERSION_ID)
    assert_stopped_at(read(data_key, blob, OTHER_VERSION_ID), plaintext_200, 0)


@pytest.mark.parametrize("read", READERS)
def test_the_wrong_data_key_yields_nothing(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome]
) -> None:
    blob = encrypt(data_key, plaintext_200)
    assert_stopped_at(read(generate_data_key(), blob, VERSION_ID), plaintext_200, 0)


@pytest.mark.parametrize("read", READERS)
def test_a_blob_from_another_file_spliced_in_is_detected(
    data_key: bytes, plaintext_200: bytes, read: Callable[[bytes, bytes, bytes], Outcome]
) -> None:
    # Same key and version id, another encryption: the segments belong to another salt.
    blob, other = encrypt(data_key, plaintext_200), encrypt(data_key, plaintext_200)
    spliced = blob[: segment_offset(2, SEGMENT)] + other[segment_offset(2, SEGMENT) :]
    assert_stopped_at(read(data_key, spliced, VERSION_ID), plaintext_200, 2)


def test_a_forged_header_cannot_make_a_reader_fetch_a_huge_segment(data_key: bytes) -> None:
    blob = bytearray(encrypt(data_key, b"x" * 100))
    blob[7:11] = (2**31).to_bytes(4, "big")  # a 2 GiB segment size
    reader = CountingReader(bytes(blob))
    with pytest.raises(BlobIntegrityError) as raised:
        BlobDecryptor(data_key, VERSION_ID, reader, len(blob))
    assert raised.value.segment_index is None
    assert reader.reads == [(0, HEADER_SIZE)]


def test_something_that_is_not_a_blob_is_rejected_at_the_header(data_key: bytes) -> None:
    not_a_blob = b"%PDF-1.7\n" + bytes(200)
    with pytest.raises(BlobIntegrityError, match="bad magic"):
        BlobDecryptor(data_key, VERSION_ID, CountingReader(not_a_blob), len(not_a_blob))
    with pytest.raises(BlobIntegrityError, match="bad magic"):
        list(decrypt_stream(data_key, VERSION_ID, [not_a_blob]))


# --- Constant memory -----------------------------------------------------------------


def test_encrypting_and_decrypting_256_mib_holds_a_few_segments_of_memory(
    data_key: bytes,
) -> None:
    chunk = os.urandom(1_000_003)  # odd size: the encryptor's buffer is exercised
    total = 256 * 1024 * 1024

    def upload() -> Iterator[bytes]:
        sent = 0
        while sent < total:
            piece = chunk[: total - sent] if total - sent < len(chunk) else chunk
            sent += len(piece)
            yield piece

    expected = hashlib.sha256()
    for piece in upload():
        expected.update(piece)

    tracemalloc.start()
    try:
        sealed_bytes = 0
        for sealed in encrypt_stream(data_key, VERSION_ID, upload()):
            sealed_bytes += len(sealed)
        _, encrypt_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        received = hashlib.sha256()
        blob = encrypt_stream(data_key, VERSION_ID, upload())
        for plaintext in decrypt_stream(data_key, VERSION_ID, blob):
            received.update(plaintext)
        _, pipeline_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert sealed_bytes == ciphertext_size(total, DEFAULT_SEGMENT_SIZE)
    assert received.digest() == expected.digest()
    mib = 1024 * 1024
    # Measured: ~3.4 MiB (plaintext buffer, the sealed segment being made, the previous
    # one still referenced by the consumer's loop) and ~5.4 MiB with decryption chained.
    assert encrypt_peak < 5 * mib, f"encryption held {encrypt_peak / mib:.1f} MiB"
    assert pipeline_peak < 8 * mib, f"encrypt + decrypt held {pipeline_peak / mib:.1f} MiB"


# --- Test vectors and the format document --------------------------------------------


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def test_the_committed_test_vectors_are_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(VECTORS_DIR / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(VECTOR_FILES) >= 5


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda path: path.stem)
def test_vectors_decrypt_with_the_module_and_with_a_decryptor_written_from_the_doc(
    path: Path,
) -> None:
    vector = load(path)
    data_key = bytes.fromhex(vector["data_key_hex"])
    associated_data = bytes.fromhex(vector["associated_data_hex"])
    blob = bytes.fromhex(vector["blob_hex"])
    plaintext = bytes.fromhex(vector["plaintext_hex"])
    segment_size = vector["segment_size"]

    assert len(blob) == vector["ciphertext_size"] == ciphertext_size(len(plaintext), segment_size)
    assert b"".join(decrypt_stream(data_key, associated_data, [blob])) == plaintext
    assert independent_decrypt(blob, data_key, associated_data) == plaintext
    with pytest.raises(InvalidTag):
        independent_decrypt(blob, data_key, OTHER_VERSION_ID)

    encryptor = BlobEncryptor(
        data_key,
        associated_data,
        segment_size,
        _salt=bytes.fromhex(vector["salt_hex"]),
        _nonce_prefix=bytes.fromhex(vector["nonce_prefix_hex"]),
    )
    assert encryptor.header().hex() == vector["header_hex"]
    sealed = [*encryptor.update(plaintext), encryptor.finalize()]
    assert [segment["sealed_hex"] for segment in vector["segments"]] == [s.hex() for s in sealed]


def test_the_wrapped_key_vector_unwraps_with_the_module_and_by_the_doc() -> None:
    vector = load(VECTORS_DIR / "wrapped-key.json")
    kek = bytes.fromhex(vector["kek_hex"])
    wrapped = bytes.fromhex(vector["wrapped_hex"])
    associated_data = bytes.fromhex(vector["associated_data_hex"])
    keyring = FileKeyring(vector["kek_id"], {vector["kek_id"]: kek})

    data_key = unwrap_data_key(keyring, WrappedKey(vector["kek_id"], wrapped), associated_data)

    assert data_key.hex() == vector["data_key_hex"]
    # From the doc: version byte, 12-byte nonce, then GCM ciphertext ‖ tag, AAD = version id.
    assert wrapped[0] == 1
    assert AESGCM(kek).decrypt(wrapped[1:13], wrapped[13:], associated_data) == data_key
    with pytest.raises(WrappedKeyIntegrityError):
        unwrap_data_key(
            keyring,
            WrappedKey(vector["kek_id"], wrapped),
            bytes.fromhex(vector["other_associated_data_hex"]),
        )


# --- Data-key wrapping ---------------------------------------------------------------


@pytest.fixture
def keyring() -> FileKeyring:
    return FileKeyring("kek-20261123-aaaaaaaa", {"kek-20261123-aaaaaaaa": os.urandom(32)})


def test_a_data_key_wrapped_for_a_version_unwraps_for_that_version(
    keyring: FileKeyring, data_key: bytes
) -> None:
    wrapped_key = wrap_data_key(keyring, data_key, VERSION_ID)
    assert wrapped_key.kek_id == keyring.current_key_id
    assert len(wrapped_key.wrapped) == WRAPPED_KEY_SIZE == 61
    assert data_key not in wrapped_key.wrapped
    assert unwrap_data_key(keyring, wrapped_key, VERSION_ID) == data_key


def test_a_wrapped_key_copied_onto_another_version_does_not_unwrap(
    keyring: FileKeyring, data_key: bytes
) -> None:
    wrapped_key = wrap_data_key(keyring, data_key, VERSION_ID)
    with pytest.raises(WrappedKeyIntegrityError, match="another file version"):
        unwrap_data_key(keyring, wrapped_key, OTHER_VERSION_ID)


def test_any_tampered_byte_of_a_wrapped_key_is_detected(
    keyring: FileKeyring, data_key: bytes
) -> None:
    wrapped_key = wrap_data_key(keyring, data_key, VERSION_ID)
    for position in range(WRAPPED_KEY_SIZE):
        tampered = WrappedKey(wrapped_key.kek_id, flip(wrapped_key.wrapped, position))
        with pytest.raises(WrappedKeyIntegrityError):
            unwrap_data_key(keyring, tampered, VERSION_ID)
    for cut in (wrapped_key.wrapped[:-1], wrapped_key.wrapped + b"\x00", b""):
        with pytest.raises(WrappedKeyIntegrityError):
            unwrap_data_key(keyring, WrappedKey(wrapped_key.kek_id, cut), VERSION_ID)


def test_a_key_wrapped_by_a_kek_missing_from_the_keyring_gives_a_clear_error(
    keyring: FileKeyring, data_key: bytes
) -> None:
    wrapped_key = wrap_data_key(keyring, data_key, VERSION_ID)
    elsewhere = WrappedKey("kek-20250101-deadbeef", wrapped_key.wrapped)
    with pytest.raises(UnknownKeyEncryptionKeyError, match="kek-20250101-deadbeef"):
        unwrap_data_key(keyring, elsewhere, VERSION_ID)


def test_a_wrapped_key_under_another_kek_of_the_keyring_does_not_unwrap(
    keyring: FileKeyring, data_key: bytes
) -> None:
    rotated = keyring.with_new_current_key()
    wrapped_key = wrap_data_key(rotated, data_key, VERSION_ID)
    relabelled = WrappedKey(keyring.current_key_id, wrapped_key.wrapped)
    with pytest.raises(WrappedKeyIntegrityError):
        unwrap_data_key(rotated, relabelled, VERSION_ID)


def test_rotation_rewraps_to_the_new_kek_and_old_keks_can_then_be_retired(
    keyring: FileKeyring, data_key: bytes
) -> None:
    old = wrap_data_key(keyring, data_key, VERSION_ID)
    rotated = keyring.with_new_current_key()

    rewrapped = rewrap_data_key(rotated, old, VERSION_ID)

    assert rewrapped.kek_id == rotated.current_key_id != old.kek_id
    assert rewrapped.wrapped != old.wrapped
    assert unwrap_data_key(rotated, rewrapped, VERSION_ID) == data_key
    assert unwrap_data_key(rotated, old, VERSION_ID) == data_key  # old KEK still held
    new_only = FileKeyring(
        rotated.current_key_id, {rotated.current_key_id: rotated.get(rotated.current_key_id).secret}
    )
    assert unwrap_data_key(new_only, rewrapped, VERSION_ID) == data_key
    # Running the rotation again changes nothing: safe to resume or repeat.
    assert rewrap_data_key(rotated, rewrapped, VERSION_ID) is rewrapped


def test_rotation_refuses_a_tampered_wrapped_key(keyring: FileKeyring, data_key: bytes) -> None:
    old = wrap_data_key(keyring, data_key, VERSION_ID)
    tampered = WrappedKey(old.kek_id, flip(old.wrapped, 20))
    with pytest.raises(WrappedKeyIntegrityError):
        rewrap_data_key(keyring.with_new_current_key(), tampered, VERSION_ID)
    with pytest.raises(WrappedKeyIntegrityError):
        rewrap_data_key(keyring, tampered, VERSION_ID)  # even when already current


def test_wrapping_refuses_a_short_key_or_a_missing_version_id(keyring: FileKeyring) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_data_key(keyring, bytes(16), VERSION_ID)
    with pytest.raises(ValueError, match="associated data"):
        wrap_data_key(keyring, generate_data_key(), b"")
