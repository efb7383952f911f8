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

With a ``MemberScanner`` (files/scanning.py), a ZIP is also *scanned member by member*:
each entry's unpacked bytes go to clamd as a stream of their own while they are
measured, so a study ZIP larger than clamd's StreamMaxLength is fully scanned as long
as each member fits, a ZIP64 archive is no longer a blind spot (we unpack it, not
ClamAV), and a threat is reported with the member's path. The bytes of the archive that
belong to no member (anything before the first entry, the central directory) are
scanned too, and a gap between entries (data no entry of the central directory
accounts for) makes the archive not inspectable.

A threat outranks any other problem, wherever it is. A problem of the archive itself
(too big, a bomb's ratio, too many entries, nested too deep, encrypted, hidden data,
unreadable) stops the walk, since nothing after it can be trusted; a member clamd could
not fully scan (one of its limits, an error, too long for one pass) does not: the walk
goes on, so that a threat in a later member is still found and named, and the first
such problem is reported only if no member holds a threat.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from django.conf import settings

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
GZIP_MAGIC = b"\x1f\x8b"
_ZIP64_EXTRA_ID = 0x0001
_ZIP64_LOCATOR = b"PK\x06\x07"
_LOCAL_HEADER = struct.Struct("<4s5H3I2H")
_READ_CHUNK = 1 << 20
_UNBOUNDED = 1 << 62  # a reader's "bytes left" that no archive reaches
_DATA_DESCRIPTOR_SIZES = (0, 12, 16, 20, 24)  # with/without signature, ZIP64 or not
# Pseudo-members for the archive's own bytes, in scan records and messages.
BEFORE_FIRST_ENTRY = "(before the first entry)"
CENTRAL_DIRECTORY = "(central directory)"
LOCAL_HEADERS = "(local headers)"
NO_NAME = "(no name)"  # an entry whose name is empty (or starts with NUL)


class MemberSink(Protocol):
    def feed(self, chunk: bytes) -> None: ...


# (member, problem, detail): problem "" when clean, "infected" (detail: the signature),
# or an uninspectable reason such as "too_big".
MemberVerdict = tuple[str, str, str]


class MemberScanner(Protocol):
    """Scans members as they are unpacked. Verdicts may come later than the member's
    end (clamd scans one member while the next is sent); ``done`` reports the first
    threat known so far, else the first other problem (the walk goes on after one),
    ``finish`` waits for every verdict and reports the same way."""

    def open(self, name: str) -> MemberSink: ...

    def done(self, sink: MemberSink) -> MemberVerdict: ...

    def finish(self) -> MemberVerdict: ...


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
    members_scanned: int = 0
    infected_member: str = ""  # the path (inner/outer.zip/inner) of a member with a threat
    signature: str = ""
    problem_member: str = ""  # the member that made the archive not inspectable
    problem_detail: str = ""  # clamd's words when it could not fully scan that member

    @property
    def inspectable(self) -> bool:
        return not self.problem

    def as_details(self) -> dict[str, object]:
        details: dict[str, object] = {
            "archive": self.kind,
            "archive_entries": self.entries,
            "archive_unpacked_bytes": self.unpacked_bytes,
            "archive_depth": self.depth,
            "archive_problem": self.problem,
        }
        if self.members_scanned:
            details["archive_members_scanned"] = self.members_scanned
        if self.problem_member:
            details["member"] = self.problem_member
        if self.problem_detail:
            details["scanner"] = self.problem_detail
        if self.infected_member:
            details["member"] = self.infected_member
        return details


class _Uninspectable(Exception):
    def __init__(self, problem: str, member: str = "", detail: str = "") -> None:
        super().__init__(problem)
        self.member, self.detail = member, detail


class _Infected(Exception):
    def __init__(self, member: str, signature: str) -> None:
        super().__init__(member)
        self.member, self.signature = member, signature


def archive_kind(head: bytes) -> str:
    """ "zip", "gzip" or "" from the first bytes (magic numbers, not names)."""
    if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        return "zip"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return ""


def archive_inspect(
    stream: IO[bytes],
    *,
    kind: str,
    size: int,
    limits: ArchiveLimits | None = None,
    scanner: MemberScanner | None = None,
) -> ArchiveReport:
    """Inspect an archive read from a seekable ``stream`` of ``size`` bytes; with a
    ``scanner``, scan a ZIP's members one by one (``infected_member`` then names the
    first one with a threat, whatever other problem the archive has)."""
    limits = limits or ArchiveLimits.from_settings()
    report = ArchiveReport(kind=kind, packed_bytes=size)
    try:
        if kind == "zip":
            _zip_inspect(stream, report, limits, depth=1, scanner=scanner, prefix="")
            if scanner is not None:
                _verdict_raise(scanner.finish())
        elif kind == "gzip":
            _gzip_inspect(stream, report, limits)
        else:
            raise ValueError(f"not an archive kind: {kind!r}")
    except _Infected as infected:
        report.infected_member, report.signature = infected.member, infected.signature
    except _Uninspectable as problem:
        report.problem, report.problem_member = str(problem), problem.member
        report.problem_detail = problem.detail
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError):
        # A damaged or exotic archive (unsupported compression method…) cannot be
        # inspected: ClamAV may not unpack it either.
        report.problem = "unreadable"
    if report.problem and scanner is not None:
        # The walk stopped early. Members already sent may still hold a threat: a threat
        # found outranks "could not be fully inspected" (quarantined, not merely
        # blocked). Failing one, a member clamd could not fully scan came before the
        # stop: it is the first problem.
        member, found, detail = scanner.finish()
        if found == "infected":
            report.infected_member, report.signature = member, detail
            report.problem = report.problem_member = report.problem_detail = ""
        elif found:
            report.problem, report.problem_member, report.problem_detail = found, member, detail
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


def _local_header_read(stream: IO[bytes], info: zipfile.ZipInfo) -> tuple[bool, int, bytes]:
    """(ZIP64 in the local header?, where the entry's data ends, the header's name and
    extra field). ClamAV reads local headers, which may carry ZIP64 fields the central
    directory does not (``force_zip64`` on a small entry)."""
    stream.seek(info.header_offset)
    header = stream.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != ZIP_MAGIC:
        raise zipfile.BadZipFile("bad local header")
    fields = _LOCAL_HEADER.unpack(header)
    compressed, uncompressed = fields[7], fields[8]
    name_length, extra_length = fields[9], fields[10]
    stream.seek(info.header_offset + _LOCAL_HEADER.size)
    name = stream.read(name_length)
    extra = stream.read(extra_length)
    data_end = (
        info.header_offset + _LOCAL_HEADER.size + name_length + extra_length + info.compress_size
    )
    zip64 = 0xFFFFFFFF in (compressed, uncompressed) or _extra_has_zip64(extra)
    return zip64, data_end, name + extra


def _region_scan(
    stream: IO[bytes], scanner: MemberScanner, name: str, start: int, end: int
) -> None:
    """Scan the archive's own bytes between ``start`` and ``end`` as a pseudo-member."""
    if end <= start:
        return
    sink = scanner.open(name)
    stream.seek(start)
    left = end - start
    while left:
        chunk = stream.read(min(_READ_CHUNK, left))
        if not chunk:
            break
        sink.feed(chunk)
        left -= len(chunk)
    _threat_raise(scanner.done(sink))


def _threat_raise(verdict: MemberVerdict) -> None:
    """Stop the walk at a threat; any other problem of a member's scan is left with
    the scanner (its ``finish`` reports it if no threat comes)."""
    name, problem, detail = verdict
    if problem == "infected":
        raise _Infected(name, detail)


def _verdict_raise(verdict: MemberVerdict) -> None:
    name, problem, detail = verdict
    _threat_raise(verdict)
    if problem:
        raise _Uninspectable(problem, name, detail)


def _zip_inspect(
    stream: IO[bytes],
    report: ArchiveReport,
    limits: ArchiveLimits,
    *,
    depth: int,
    scanner: MemberScanner | None,
    prefix: str,
) -> None:
    report.depth = max(report.depth, depth)
    if depth > limits.max_depth:
        raise _Uninspectable("nested_too_deep", prefix.rstrip("/"))
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    # Without our own member scan, ClamAV alone reads the entries and misses threats in
    # ZIP64 ones (Cisco-Talos/clamav#1527).
    if scanner is None and _zip_has_zip64_locator(stream, size):
        raise _Uninspectable("zip64")
    stream.seek(0)
    with zipfile.ZipFile(stream) as archive:
        infos = archive.infolist()
        report.entries += len(infos)
        if report.entries > limits.max_entries:
            raise _Uninspectable("too_many_entries")
        for info in infos:
            if info.flag_bits & 0x1:
                raise _Uninspectable("encrypted", prefix + info.filename)
            if scanner is None:
                zip64, _data_end, _name_extra = _local_header_read(stream, info)
                if zip64 or _extra_has_zip64(info.extra):
                    raise _Uninspectable("zip64")
        ordered = sorted(infos, key=lambda info: info.header_offset)
        # The local headers' names and extra fields are bytes of the archive no member
        # holds (an extra field may carry 64 KiB of anything): scanned too, as one
        # pseudo-member, bounded like a nested archive.
        headers = bytearray()
        if scanner is not None:
            first = ordered[0].header_offset if ordered else archive.start_dir
            _region_scan(stream, scanner, prefix + BEFORE_FIRST_ENTRY, 0, first)
        for info, following in zip(ordered, [*ordered[1:], None], strict=True):
            if scanner is not None:
                # Checked entry by entry, just before the entry is unpacked: its local
                # header is then in the segment about to be decrypted anyway (reading
                # every header first decrypted a whole ZIP of small members once more).
                headers += _zip_gap_check(stream, info, following, archive.start_dir, prefix)
                if len(headers) > limits.nested_max_bytes:
                    raise _Uninspectable("hidden_data", prefix + info.filename)
            if info.filename.endswith("/") and not info.file_size and not info.compress_size:
                continue
            _zip_entry_read(
                archive, info, report, limits, depth=depth, scanner=scanner, prefix=prefix
            )
        if scanner is not None:
            _region_scan(stream, scanner, prefix + CENTRAL_DIRECTORY, archive.start_dir, size)
            _region_scan(
                io.BytesIO(bytes(headers)), scanner, prefix + LOCAL_HEADERS, 0, len(headers)
            )


def _zip_gap_check(
    stream: IO[bytes],
    info: zipfile.ZipInfo,
    following: zipfile.ZipInfo | None,
    start_dir: int,
    prefix: str,
) -> bytes:
    """Entries must follow each other up to the central directory: a gap is data that no
    entry accounts for, which a reader of local headers (ClamAV) might see and we not.
    So is a stored entry's data beyond its size (zipfile returns only ``file_size``
    bytes of it). Returns the local header's name and extra field (to be scanned)."""
    _zip64, data_end, name_extra = _local_header_read(stream, info)
    next_start = following.header_offset if following is not None else start_dir
    if next_start - data_end not in _DATA_DESCRIPTOR_SIZES:
        raise _Uninspectable("hidden_data", prefix + info.filename)
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise _Uninspectable("hidden_data", prefix + info.filename)
    return name_extra


def _zip_entry_read(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    report: ArchiveReport,
    limits: ArchiveLimits,
    *,
    depth: int,
    scanner: MemberScanner | None,
    prefix: str,
) -> None:
    # Never empty: an empty member name would read as "no member holds a threat".
    name = prefix + (info.filename or NO_NAME)
    nested: bytearray | None = None
    sink = scanner.open(name) if scanner is not None else None
    produced = 0
    with archive.open(info) as entry:
        if scanner is not None and hasattr(entry, "_left"):
            # zipfile silently drops what a compressed stream yields beyond the
            # declared size: read it all (the limits above bound it), and compare.
            setattr(entry, "_left", _UNBOUNDED)  # noqa: B010
        first = True
        for chunk in _entry_chunks(entry):
            _count_unpacked(report, limits, len(chunk))
            produced += len(chunk)
            if first and archive_kind(chunk) == "zip":
                nested = bytearray()
            first = False
            if sink is not None:
                sink.feed(chunk)
            if nested is not None:
                if len(nested) + len(chunk) > limits.nested_max_bytes:
                    raise _Uninspectable("nested_too_big", name)
                nested += chunk
        if scanner is not None and (produced != info.file_size or not _entry_consumed(entry, info)):
            raise _Uninspectable("hidden_data", name)
    if scanner is not None and sink is not None:
        _threat_raise(scanner.done(sink))
        report.members_scanned += 1
    if nested is not None:
        _zip_inspect(
            io.BytesIO(bytes(nested)),
            report,
            limits,
            depth=depth + 1,
            scanner=scanner,
            prefix=name + "/",
        )


def _entry_consumed(entry: IO[bytes], info: zipfile.ZipInfo) -> bool:
    """Did unpacking the entry (read to its end) use all of its data, and its whole
    compressed stream? zipfile stops at ``file_size`` and ignores what follows the end
    of a deflate stream: bytes nobody would scan. (zipfile's reader state, checked by
    tests/test_scanning_hidden_bytes.py against the Python in use.)"""
    if getattr(entry, "_compress_left", 0) > 0:
        return False
    decompressor = getattr(entry, "_decompressor", None)
    if decompressor is None:
        return True  # stored: its sizes were checked against each other
    inner = getattr(decompressor, "_decomp", None) or decompressor  # zipfile's LZMA
    if getattr(inner, "unused_data", b"") or getattr(inner, "unconsumed_tail", b""):
        return False
    if info.compress_type in (zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
        return bool(getattr(decompressor, "eof", False))
    return True


def _entry_chunks(entry: IO[bytes]) -> Iterator[bytes]:
    while True:
        chunk = entry.read(_READ_CHUNK)
        if not chunk:
            return
        yield chunk


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
