"""The finalize pipeline's content work: decrypt once, hash, sniff and scan together.

One pass over the blob feeds every decrypted (authenticated) segment to SHA-256, to a
small buffer for libmagic, and to clamd's INSTREAM socket: memory stays at a segment or
two whatever the file size, and no plaintext touches a disk. A ZIP is instead read at
random through the same decryptor (files/archives.py), because ClamAV cannot be trusted
with everything inside it: it is scanned member by member (each member a clamd stream of
its own), not as one stream, and its segments are hashed as the members are unpacked
(one decryption, not one to hash and one to unpack). A gzip gets a second read to be
measured against the bomb limits.

A stream longer than one pass (clamd's StreamMaxLength measured from clamd, and never
more than ClamAV can scan in one file: files/clamd.py) is scanned in overlapping
windows (files/scan_windows.py) when the policy says "windowed"; the overlap is at least
the longest signature of the loaded databases (files/signatures.py). Otherwise it is not
inspectable, and the policy decides.

The database side (claiming a version, recording the verdict, telling the owner) is
``files.services.finalize``; this module only reads and decides.
"""

from __future__ import annotations

import enum
import hashlib
import io
import itertools
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import magic
from django.conf import settings

from files.archives import (
    ArchiveReport,
    MemberSink,
    MemberVerdict,
    archive_inspect,
    archive_kind,
)
from files.blobs import version_content
from files.clamd import CLAMAV_SCAN_MAX_BYTES, ClamdClient, ClamdError, Verdict
from files.crypto import BlobDecryptor, BlobIntegrityError
from files.models import FileVersion
from files.scan_windows import WindowedScan, WindowsResult
from files.signatures import signature_span

logger = logging.getLogger(__name__)

# libmagic needs only the first bytes; 64 KiB covers every format it knows well.
SNIFF_BYTES = 64 * 1024


class ScanPolicy(enum.StrEnum):
    """What happens to content that cannot be scanned in one clamd stream."""

    BLOCK = "block"  # blocked: nobody can download it
    WINDOWED = "windowed"  # scanned in overlapping windows; blocked if still not inspectable
    ALLOW = "allow"  # not scanned, downloadable with a "not fully scanned" label


class ScanVerdict(enum.Enum):
    CLEAN = "clean"
    INFECTED = "infected"
    UNINSPECTABLE = "uninspectable"  # too big, or an archive nobody can fully inspect
    INTEGRITY_FAILED = "integrity_failed"


@dataclass
class ScanReport:
    verdict: ScanVerdict
    sha256: str = ""
    crc32: int | None = None  # of the plaintext, for ZIP archives (no second pass there)
    sniffed_type: str = ""
    signature: str = ""
    reason: str = ""
    details: dict[str, object] = field(default_factory=dict)


class ScannerDisabled(Exception):
    """No clamd is configured (embedded mode): versions stay pending."""


def scanner_client() -> ClamdClient:
    address = str(settings.CLAMD_ADDRESS or "")
    if not address:
        raise ScannerDisabled
    return ClamdClient(address, timeout_s=float(settings.CLAMD_TIMEOUT_S))


def _no_progress() -> None:
    pass


@dataclass(frozen=True)
class ScanLimits:
    """How much clamd takes in one stream, and how much windows overlap."""

    window_bytes: int  # the lowest of the limits below: what one pass may hold
    stream_max_length: int | None  # as measured from clamd; None if it could not be
    configured_max_bytes: int  # SECUREDRIVE_SCAN_MAX_BYTES
    overlap_bytes: int
    signature_longest: int | None  # from the databases; None if they are not readable
    signature_details: dict[str, object] = field(default_factory=dict)

    clamav_max_bytes: int = CLAMAV_SCAN_MAX_BYTES  # what ClamAV can scan in one file

    @property
    def limited_by(self) -> str:
        """Which limit sets ``window_bytes``: "clamav", "stream_max_length" or
        "configured" (the admin page says it in words)."""
        if self.window_bytes == self.clamav_max_bytes:
            return "clamav"
        if self.window_bytes == self.stream_max_length:
            return "stream_max_length"
        return "configured"

    def as_details(self) -> dict[str, object]:
        return {"window_bytes": self.window_bytes, "window_overlap": self.overlap_bytes}


_limits_lock = threading.Lock()
_limits_cache: dict[tuple[object, ...], tuple[float, ScanLimits]] = {}


def _signature_longest() -> tuple[int | None, dict[str, object]]:
    directory = str(settings.SCAN_SIGNATURE_DIR or "")
    if not directory or not Path(directory).is_dir():
        return None, {}
    try:
        span = signature_span(directory)
    except OSError:
        logger.warning("signature databases in %s not readable", directory)
        return None, {}
    return span.longest, span.as_details()


def scan_limits(client: ClamdClient, *, fresh: bool = False) -> ScanLimits:
    """The limits of the next scans, read from clamd (cached a few minutes): clamd's
    StreamMaxLength bisected with header-only probes, capped by SCAN_MAX_BYTES and by
    what ClamAV can scan in one file (``CLAMAV_SCAN_MAX_BYTES``, under 2 GiB); the
    overlap is the configured floor or the databases' longest signature if longer."""
    key = (
        client.family,
        client.target,
        int(settings.SCAN_MAX_BYTES),
        int(settings.SCAN_WINDOW_OVERLAP_BYTES),
        str(settings.SCAN_SIGNATURE_DIR or ""),
    )
    now = time.monotonic()
    with _limits_lock:
        cached = _limits_cache.get(key)
    if cached and not fresh and now - cached[0] < float(settings.SCAN_LIMITS_CACHE_S):
        return cached[1]
    configured = int(settings.SCAN_MAX_BYTES)
    measured = client.stream_max_length()  # ClamdError: clamd down, the caller retries
    longest, signature_details = _signature_longest()
    overlap = max(int(settings.SCAN_WINDOW_OVERLAP_BYTES), longest or 0)
    limits = ScanLimits(
        window_bytes=min(configured, measured, CLAMAV_SCAN_MAX_BYTES),
        stream_max_length=measured,
        configured_max_bytes=configured,
        overlap_bytes=overlap,
        signature_longest=longest,
        signature_details=signature_details,
    )
    with _limits_lock:
        _limits_cache[key] = (now, limits)
    return limits


class _MemberSink:
    def __init__(self, name: str, scan: WindowedScan) -> None:
        self.name, self.scan = name, scan

    def feed(self, chunk: bytes) -> None:
        self.scan.feed(chunk)


def _windows_problem(result: WindowsResult) -> tuple[str, str]:
    if result.overflowed:
        return "too_big", ""
    if result.verdict is Verdict.INFECTED:
        return "infected", result.detail
    if result.verdict is Verdict.ERROR:
        return "scanner_limit", result.detail[:200]
    return "", ""


class _ClamdMemberScanner:
    """Each ZIP member is a clamd stream of its own, in windows if the policy allows.

    A member's verdict is read only once a few more have been sent (``IN_FLIGHT``), so
    that clamd scans them on one core while the next are decrypted and unpacked on the
    other. The first threat is reported with its member's name; failing one, the first
    member clamd could not fully scan. Verdicts are still read after such a problem, so
    no more than ``IN_FLIGHT`` are ever outstanding while the walk goes on."""

    IN_FLIGHT = 4

    def __init__(self, client: ClamdClient, limits: ScanLimits, *, windows: bool) -> None:
        self.client, self.limits, self.windows_allowed = client, limits, windows
        self.pending: list[_MemberSink] = []
        self.sending: _MemberSink | None = None  # the member being unpacked and sent
        self.windowed_members = 0
        self.problem: MemberVerdict = ("", "", "")

    def open(self, name: str) -> MemberSink:
        self.sending = _MemberSink(
            name,
            WindowedScan(
                self.client,
                size=self.limits.window_bytes,
                overlap=self.limits.overlap_bytes,
                allow_windows=self.windows_allowed,
            ),
        )
        return self.sending

    def _collect(self, sink: _MemberSink) -> None:
        problem, detail = _windows_problem(sink.scan.finish())
        if sink.scan.windows > 1:
            self.windowed_members += 1
        first_threat = problem == "infected" and self.problem[1] != "infected"
        if problem and (not self.problem[1] or first_threat):
            self.problem = (sink.name, problem, detail)

    def done(self, sink: MemberSink) -> MemberVerdict:
        assert isinstance(sink, _MemberSink)  # noqa: S101  (ours, from open())
        sink.scan.end()
        self.sending = None
        self.pending.append(sink)
        while len(self.pending) > self.IN_FLIGHT and self.problem[1] != "infected":
            self._collect(self.pending.pop(0))
        return self.problem

    def finish(self) -> MemberVerdict:
        """Every outstanding verdict; a threat outranks any other problem."""
        while self.pending and self.problem[1] != "infected":
            self._collect(self.pending.pop(0))
        return self.problem

    def close(self) -> None:
        """Close every clamd stream still open, including that of a member the walk
        left halfway (an archive limit reached inside it)."""
        for sink in [*self.pending, *([self.sending] if self.sending else [])]:
            sink.scan.close()
        self.pending, self.sending = [], None


class _Tee:
    """Decrypted segments, each also fed, in order, to SHA-256, CRC-32 and the sniff
    buffer.

    A stream is hashed as it passes (``__iter__``). A ZIP is hashed during the member
    pass instead (``absorb_at``, called by ``PlaintextReader`` for every segment it
    decrypts): its members are read in order, so each segment is decrypted once for
    both, not once to hash and again to unpack (2x the AES-GCM and disk reads, measured
    in bench/README.md). Whatever was not hashed in order (the central directory read
    first, a pass stopped early) is decrypted again by ``complete``.
    """

    def __init__(
        self, segments: Iterator[bytes], *, delay_s: float, progress: Callable[[], None]
    ) -> None:
        self._segments = segments
        self._delay_s = delay_s
        self._progress = progress
        self.digest = hashlib.sha256()
        self.crc32 = 0
        self.head = bytearray()
        self.hashed_segments = 0

    def _absorb(self, segment: bytes) -> None:
        self.digest.update(segment)
        self.crc32 = zlib.crc32(segment, self.crc32)
        if len(self.head) < SNIFF_BYTES:
            self.head += segment[: SNIFF_BYTES - len(self.head)]
        self.hashed_segments += 1
        if self._delay_s:
            time.sleep(self._delay_s)  # test only: SECUREDRIVE_SCAN_SEGMENT_DELAY_S
        self._progress()

    def absorb_at(self, index: int, segment: bytes) -> None:
        """Segment ``index`` was decrypted elsewhere: hash it if it is the next one."""
        if index == self.hashed_segments:
            self._absorb(segment)

    def __iter__(self) -> Iterator[bytes]:
        for segment in self._segments:
            self._absorb(segment)
            yield segment

    def complete(self, decryptor: BlobDecryptor) -> None:
        """Hash the segments not hashed yet (clamd hung up, or was never asked), up to
        the final one: a blob cut at a segment boundary is still detected."""
        for index in range(self.hashed_segments, decryptor.segment_count):
            self._absorb(decryptor.decrypt_segment(index))


class PlaintextReader(io.RawIOBase):
    """A seekable, read-only view of a blob's plaintext, decrypted segment by segment.

    Only one segment is held at a time; each is authenticated before a byte is
    returned, and handed to ``on_segment`` (the hashing of a ZIP's single pass). Used
    for archive inspection (zipfile needs to seek).
    """

    def __init__(
        self,
        decryptor: BlobDecryptor,
        progress: Callable[[], None] = _no_progress,
        on_segment: Callable[[int, bytes], None] | None = None,
    ) -> None:
        self._decryptor = decryptor
        self._progress = progress
        self._on_segment = on_segment
        self._size = decryptor.plaintext_size
        self._position = 0
        self._cached_index = -1
        self._cached = memoryview(b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._position >= self._size:
            return 0
        segment_size = self._decryptor.segment_size
        index = self._position // segment_size
        if index != self._cached_index:
            segment = self._decryptor.decrypt_segment(index)
            if self._on_segment is not None:
                self._on_segment(index, segment)
            self._cached = memoryview(segment)
            self._cached_index = index
            self._progress()
        start = self._position - index * segment_size
        piece = self._cached[start : start + len(buffer)]
        buffer[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)


def _archive_scan(
    *,
    decryptor: BlobDecryptor,
    kind: str,
    size: int,
    client: ClamdClient,
    limits: ScanLimits,
    windows_allowed: bool,
    progress: Callable[[], None],
    on_segment: Callable[[int, bytes], None] | None,
) -> tuple[ArchiveReport, int]:
    """Inspect an archive (a ZIP member by member through clamd); (report, members
    scanned in windows)."""
    scanner = (
        _ClamdMemberScanner(client, limits, windows=windows_allowed) if kind == "zip" else None
    )
    reader = PlaintextReader(decryptor, progress, on_segment)
    try:
        archive = archive_inspect(
            io.BufferedReader(reader, buffer_size=1 << 16),
            kind=kind,
            size=size,
            scanner=scanner,
        )
    finally:
        if scanner is not None:
            scanner.close()
    return archive, scanner.windowed_members if scanner is not None else 0


def version_content_scan(
    *,
    version: FileVersion,
    client: ClamdClient,
    progress: Callable[[], None] = _no_progress,
    policy: ScanPolicy | str = ScanPolicy.BLOCK,
) -> ScanReport:
    """Decrypt ``version`` once through SHA-256, CRC-32, libmagic and clamd; judge it.

    ``progress`` is called after every decrypted segment (the caller renews its claim
    there, files/services/finalize.py) and may raise to stop the scan. ``policy``
    decides only whether content longer than one clamd stream is scanned in windows
    (``windowed``); the verdict it leads to is the caller's.
    Raises ``ClamdError`` when the scanner cannot be reached (the caller retries: fail
    closed), never turns it into a verdict.
    """
    content = version_content(version)  # its own blob, or the one it shares
    if content.wrapped_data_key is None:
        raise BlobIntegrityError(None, "the data key was destroyed")
    limits = scan_limits(client)
    windows_allowed = ScanPolicy(policy) is ScanPolicy.WINDOWED
    data_key = content.data_key()
    reader = content.reader()
    try:
        decryptor = content.decryptor(data_key, reader)
        # What clamd must see is every byte the blob decrypts to, whatever size the
        # version's row records (a row saying less would end the scan early).
        size = decryptor.plaintext_size
        tee = _Tee(
            decryptor.decrypt_all(),
            delay_s=float(settings.SCAN_SEGMENT_DELAY_S),
            progress=progress,
        )
        segments = iter(tee)
        first = next(segments, b"")
        kind = archive_kind(first[:16])
        oversize = size > limits.window_bytes
        # A ZIP is scanned member by member below, not as one stream. A compressed
        # stream (gzip) cut in windows would show clamd only compressed bytes.
        whole_stream = kind != "zip" and (not oversize or (windows_allowed and kind == ""))
        result: WindowsResult | None = None
        if whole_stream:
            windowed = WindowedScan(
                client,
                size=limits.window_bytes,
                overlap=limits.overlap_bytes,
                total_size=size,
            )
            try:
                for segment in itertools.chain([first], segments):
                    windowed.feed(segment)
                    if windowed.decided:
                        break
                result = windowed.finish()
            finally:
                windowed.close()
        archive: ArchiveReport | None = None
        windowed_members = 0
        if kind == "zip":
            # One pass: the members' segments are hashed as they are unpacked.
            archive, windowed_members = _archive_scan(
                decryptor=decryptor, kind=kind, size=size, client=client,
                limits=limits, windows_allowed=windows_allowed, progress=progress,
                on_segment=tee.absorb_at,
            )  # fmt: skip
        tee.complete(decryptor)
        sha256 = tee.digest.hexdigest()
        head = bytes(tee.head)
        report = ScanReport(
            verdict=ScanVerdict.CLEAN,
            sha256=sha256,
            crc32=tee.crc32,
            sniffed_type=magic.from_buffer(head, mime=True) if head else "application/x-empty",
        )
        if version.sha256 and sha256 != version.sha256:
            report.verdict = ScanVerdict.INTEGRITY_FAILED
            report.reason = "sha256_mismatch"
            return report
        if result is not None:
            if result.windows > 1:
                report.details.update(scan_windows=result.windows, **limits.as_details())
            if result.verdict is Verdict.INFECTED:
                report.verdict, report.signature = ScanVerdict.INFECTED, result.detail
                if result.windows > 1:
                    report.details["window_offset"] = result.offset
                return report
            if result.verdict is Verdict.ERROR:
                # e.g. "INSTREAM size limit exceeded", or a limit clamd reached inside
                # the content: clamd did not see everything.
                report.verdict, report.reason = ScanVerdict.UNINSPECTABLE, "scanner_limit"
                report.details["scanner"] = result.detail[:200]
                return report
        elif kind != "zip":
            report.verdict, report.reason = ScanVerdict.UNINSPECTABLE, "too_big"
            report.details = {"scan_max_bytes": limits.window_bytes}
            return report
        if kind == "gzip":
            archive, _ = _archive_scan(
                decryptor=decryptor, kind=kind, size=size, client=client,
                limits=limits, windows_allowed=windows_allowed, progress=progress,
                on_segment=None,
            )  # fmt: skip
        if archive is not None:
            report.details.update(archive.as_details())
            if windowed_members:
                report.details.update(
                    archive_members_windowed=windowed_members, **limits.as_details()
                )
            if archive.infected_member:
                report.verdict, report.signature = ScanVerdict.INFECTED, archive.signature
            elif not archive.inspectable:
                report.verdict, report.reason = ScanVerdict.UNINSPECTABLE, archive.problem
                if archive.problem == "too_big" and archive.problem_member:
                    report.details["scan_max_bytes"] = limits.window_bytes
        return report
    finally:
        reader.close()


__all__ = [
    "ClamdError",
    "PlaintextReader",
    "ScanLimits",
    "ScanPolicy",
    "ScanReport",
    "ScanVerdict",
    "ScannerDisabled",
    "scan_limits",
    "scanner_client",
    "version_content_scan",
]
