"""Archive inspection: what ClamAV cannot be trusted to see inside a ZIP or gzip.

ClamAV misses EICAR inside ZIP64 entries (Cisco-Talos/clamav#1527) and does not flag
archive bombs (FIELD-NOTES). OWASP ASVS 5.0 V5.2.3 asks the application to enforce its
own limits, so an archive is *inspectable* only if every entry is readable (not
encrypted, not ZIP64, nesting within the limit) and its real unpacked size and ratio
stay within the limits. Anything else is reported as not inspectable: the caller treats
it as "not scanned", never as clean.

Sizes are measured by decompressing (declared sizes are attacker input), in bounded
chunks, stopping at the first limit passed: a bomb costs at most the limit in CPU and
one chunk in memory. Nested archives are inspected in memory up to a cap, never on disk
(no plaintext at rest).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO

from django.conf import settings

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
GZIP_MAGIC = b"\x1f\x8b"
_ZIP64_EXTRA_ID = 0x0001
_ZIP64_LOCATOR = b"PK\x06\x07"
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int
    max_unpacked_bytes: int
    max_ratio: int
    max_depth: int
    nested_max_bytes: int

    @classmethod
    def from_settings(cls) -> ArchiveLimits:
        return cls(
            max_entries=settings.SCAN_ARCHIVE_MAX_ENTRIES,
            max_unpacked_bytes=settings.SCAN_ARCHIVE_MAX_UNPACKED_BYTES,
            max_ratio=settings.SCAN_ARCHIVE_MAX_RATIO,
            max_depth=settings.SCAN_ARCHIVE_MAX_DEPTH,
            nested_max_bytes=settings.SCAN_ARCHIVE_NESTED_MAX_BYTES,
        )


@dataclass
class ArchiveReport:
    """What was found; ``problem`` is empty when the archive was fully inspected."""

    kind: str
    entries: int = 0
    unpacked_bytes: int = 0
    packed_bytes: int = 0
    depth: int = 0
    problem: str = ""

    @property
    def inspectable(self) -> bool:
        return not self.problem

    def as_details(self) -> dict[str, object]:
        return {
            "archive": self.kind,
            "archive_entries": self.entries,
            "archive_unpacked_bytes": self.unpacked_bytes,
            "archive_depth": self.depth,
            "archive_problem": self.problem,
        }


class _Uninspectable(Exception):
    pass


def archive_kind(head: bytes) -> str:
    """ "zip", "gzip" or "" from the first bytes (magic numbers, not names)."""
    if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        return "zip"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return ""


def archive_inspect(
    stream: IO[bytes], *, kind: str, size: int, limits: ArchiveLimits | None = None
) -> ArchiveReport:
    """Inspect an archive read from a seekable ``stream`` of ``size`` bytes."""
    limits = limits or ArchiveLimits.from_settings()
    report = ArchiveReport(kind=kind, packed_bytes=size)
    try:
        if kind == "zip":
            _zip_inspect(stream, report, limits, depth=1)
        elif kind == "gzip":
            _gzip_inspect(stream, report, limits)
        else:
            raise ValueError(f"not an archive kind: {kind!r}")
    except _Uninspectable as problem:
        report.problem = str(problem)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError):
        # A damaged or exotic archive (unsupported compression method…) cannot be
        # inspected: ClamAV may not unpack it either.
        report.problem = "unreadable"
    return report


def _count_unpacked(report: ArchiveReport, limits: ArchiveLimits, amount: int) -> None:
    report.unpacked_bytes += amount
    if report.unpacked_bytes > limits.max_unpacked_bytes:
        raise _Uninspectable("too_big")
    # A small allowance keeps tiny archives of text (naturally ~10x) from tripping it.
    if report.unpacked_bytes > 1 << 20 and report.unpacked_bytes > limits.max_ratio * max(
        report.packed_bytes, 1
    ):
        raise _Uninspectable("ratio")


def _zip_has_zip64_locator(stream: IO[bytes], size: int) -> bool:
    # The ZIP64 end of central directory locator sits just before the end record.
    tail_length = min(size, 65536 + 22 + 20)
    stream.seek(size - tail_length)
    return _ZIP64_LOCATOR in stream.read(tail_length)


def _extra_has_zip64(extra: bytes) -> bool:
    offset = 0
    while offset + 4 <= len(extra):
        header_id, length = struct.unpack_from("<HH", extra, offset)
        if header_id == _ZIP64_EXTRA_ID:
            return True
        offset += 4 + length
    return False


def _local_header_has_zip64(stream: IO[bytes], info: zipfile.ZipInfo) -> bool:
    """ClamAV reads local headers, which may carry ZIP64 fields the central directory
    does not (``force_zip64`` on a small entry)."""
    stream.seek(info.header_offset)
    header = stream.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != ZIP_MAGIC:
        raise zipfile.BadZipFile("bad local header")
    fields = _LOCAL_HEADER.unpack(header)
    compressed, uncompressed = fields[7], fields[8]
    name_length, extra_length = fields[9], fields[10]
    stream.seek(info.header_offset + _LOCAL_HEADER.size + name_length)
    extra = stream.read(extra_length)
    return 0xFFFFFFFF in (compressed, uncompressed) or _extra_has_zip64(extra)


def _zip_inspect(
    stream: IO[bytes], report: ArchiveReport, limits: ArchiveLimits, *, depth: int
) -> None:
    report.depth = max(report.depth, depth)
    if depth > limits.max_depth:
        raise _Uninspectable("nested_too_deep")
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    if _zip_has_zip64_locator(stream, size):
        raise _Uninspectable("zip64")
    stream.seek(0)
    with zipfile.ZipFile(stream) as archive:
        infos = archive.infolist()
        report.entries += len(infos)
        if report.entries > limits.max_entries:
            raise _Uninspectable("too_many_entries")
        for info in infos:
            if info.flag_bits & 0x1:
                raise _Uninspectable("encrypted")
            if _extra_has_zip64(info.extra) or _local_header_has_zip64(stream, info):
                raise _Uninspectable("zip64")
        for info in infos:
            if info.is_dir():
                continue
            _zip_entry_read(archive, info, report, limits, depth=depth)


def _zip_entry_read(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    report: ArchiveReport,
    limits: ArchiveLimits,
    *,
    depth: int,
) -> None:
    nested: bytearray | None = None
    with archive.open(info) as entry:
        first = True
        while True:
            chunk = entry.read(_READ_CHUNK)
            if not chunk:
                break
            _count_unpacked(report, limits, len(chunk))
            if first and archive_kind(chunk) == "zip":
                nested = bytearray()
            first = False
            if nested is not None:
                if len(nested) + len(chunk) > limits.nested_max_bytes:
                    raise _Uninspectable("nested_too_big")
                nested += chunk
    if nested is not None:
        _zip_inspect(io.BytesIO(bytes(nested)), report, limits, depth=depth + 1)


def _gzip_inspect(stream: IO[bytes], report: ArchiveReport, limits: ArchiveLimits) -> None:
    """gzip has one member stream: measure its real size and ratio (ClamAV unpacks it)."""
    stream.seek(0)
    report.depth = 1
    report.entries = 1
    inflater = zlib.decompressobj(wbits=31)
    while True:
        packed = stream.read(_READ_CHUNK)
        if not packed:
            break
        data = inflater.decompress(packed, _READ_CHUNK)
        _count_unpacked(report, limits, len(data))
        while inflater.unconsumed_tail:
            data = inflater.decompress(inflater.unconsumed_tail, _READ_CHUNK)
            _count_unpacked(report, limits, len(data))
        if inflater.eof:
            break
    if not inflater.eof:
        raise EOFError("truncated gzip")
