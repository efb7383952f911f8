"""Archive inspection on its own (files/archives.py): what ClamAV cannot be trusted with."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest

from files.archives import ArchiveLimits, ArchiveReport, archive_inspect, archive_kind

LIMITS = ArchiveLimits(
    max_entries=50,
    max_unpacked_bytes=64 * 2**20,
    max_ratio=100,
    max_depth=3,
    nested_max_bytes=4 * 2**20,
)


def zip_of(entries: dict[str, bytes], *, force_zip64: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name, content in entries.items():
            with archive.open(name, mode="w", force_zip64=force_zip64) as entry:
                entry.write(content)
    return buffer.getvalue()


def zip_bomb(unpacked_mib: int) -> bytes:
    """Highly compressible zeros: a few hundred KiB that unpack to ``unpacked_mib``."""
    buffer = io.BytesIO()
    zeros = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("scan.dcm", mode="w", force_zip64=False) as entry,
    ):
        for _ in range(unpacked_mib):
            entry.write(zeros)
    return buffer.getvalue()


def nested_zip(depth: int, content: bytes = b"compte rendu") -> bytes:
    data = zip_of({"report.txt": content})
    for level in range(depth - 1):
        data = zip_of({f"level-{level}.zip": data})
    return data


def inspect(data: bytes, limits: ArchiveLimits = LIMITS) -> ArchiveReport:
    kind = archive_kind(data[:16])
    assert kind, "not recognised as an archive"
    return archive_inspect(io.BytesIO(data), kind=kind, size=len(data), limits=limits)


def test_an_ordinary_zip_of_reports_is_fully_inspected() -> None:
    report = inspect(zip_of({"a.txt": b"lettre " * 1000, "imaging/b.dcm": bytes(range(256)) * 40}))
    assert report.inspectable, report.problem
    assert report.entries == 2
    assert report.unpacked_bytes == 7000 + 10240


def test_a_zip64_entry_cannot_be_inspected_even_when_small() -> None:
    """ClamAV misses EICAR inside ZIP64 entries (Cisco-Talos/clamav#1527)."""
    report = inspect(zip_of({"small.txt": b"hello"}, force_zip64=True))
    assert report.problem == "zip64"


def test_a_zip_bomb_is_stopped_at_the_ratio_limit() -> None:
    data = zip_bomb(200)
    assert len(data) < 1 << 20
    report = inspect(data)
    assert report.problem == "ratio"
    # It stopped early: it did not unpack the 200 MiB.
    assert report.unpacked_bytes < 200 * 2**20


def test_a_large_archive_beyond_the_unpacked_limit_is_too_big() -> None:
    limits = ArchiveLimits(
        max_entries=50,
        max_unpacked_bytes=2 * 2**20,
        max_ratio=10**9,
        max_depth=3,
        nested_max_bytes=2**20,
    )
    assert inspect(zip_bomb(5), limits).problem == "too_big"


def test_nesting_is_inspected_up_to_the_limit_and_refused_beyond() -> None:
    assert inspect(nested_zip(3)).inspectable
    deep = inspect(nested_zip(4))
    assert deep.problem == "nested_too_deep"


def test_an_encrypted_entry_cannot_be_inspected() -> None:
    # zipfile cannot encrypt: set the "encrypted" flag bit in both headers instead.
    data = bytearray(zip_of({"secret.txt": b"neither we nor ClamAV could read this"}))
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    assert inspect(bytes(data)).problem == "encrypted"


def test_too_many_entries_are_refused() -> None:
    entries = {f"f{index}.txt": b"x" for index in range(LIMITS.max_entries + 1)}
    assert inspect(zip_of(entries)).problem == "too_many_entries"


def test_a_damaged_zip_is_not_inspectable() -> None:
    data = bytearray(zip_of({"a.txt": b"lettre " * 1000}))
    data[40:80] = b"\xff" * 40  # inside the compressed data
    assert inspect(bytes(data)).problem == "unreadable"


def test_a_gzip_bomb_is_stopped_and_an_ordinary_gzip_passes() -> None:
    assert inspect(gzip.compress(b"lettre de liaison " * 5000)).inspectable
    bomb = gzip.compress(b"\0" * (50 * 2**20), compresslevel=9)
    assert inspect(bomb).problem == "ratio"


@pytest.mark.parametrize(
    ("head", "kind"),
    [(b"PK\x03\x04rest", "zip"), (b"\x1f\x8b\x08", "gzip"), (b"%PDF-1.7", "")],
)
def test_archives_are_recognised_by_content_not_name(head: bytes, kind: str) -> None:
    assert archive_kind(head) == kind
