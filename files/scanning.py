"""The finalize pipeline's content work: decrypt once, hash, sniff and scan together.

One pass over the blob feeds every decrypted (authenticated) segment to SHA-256, to a
small buffer for libmagic, and to clamd's INSTREAM socket: memory stays at a segment or
two whatever the file size, and no plaintext touches a disk. Archives (ZIP, gzip) get a
second, random-access read through the same decryptor (files/archives.py), because
ClamAV cannot be trusted with everything inside them.

The database side (claiming a version, recording the verdict, telling the owner) is
``files.services.finalize``; this module only reads and decides.
"""

from __future__ import annotations

import enum
import hashlib
import io
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import magic
from django.conf import settings

from files.archives import ArchiveReport, archive_inspect, archive_kind
from files.clamd import ClamdClient, ClamdError, Verdict
from files.crypto import BlobDecryptor, BlobIntegrityError
from files.keys import associated_data, data_key_unwrap
from files.models import FileVersion
from files.storage import blob_store

# libmagic needs only the first bytes; 64 KiB covers every format it knows well.
SNIFF_BYTES = 64 * 1024


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


class _Tee:
    """Decrypted segments, each also fed to SHA-256, CRC-32 and the sniff buffer."""

    def __init__(
        self, segments: Iterator[bytes], *, delay_s: float, progress: Callable[[], None]
    ) -> None:
        self._segments = segments
        self._delay_s = delay_s
        self._progress = progress
        self.digest = hashlib.sha256()
        self.crc32 = 0
        self.head = bytearray()

    def __iter__(self) -> Iterator[bytes]:
        for segment in self._segments:
            self.digest.update(segment)
            self.crc32 = zlib.crc32(segment, self.crc32)
            if len(self.head) < SNIFF_BYTES:
                self.head += segment[: SNIFF_BYTES - len(self.head)]
            if self._delay_s:
                time.sleep(self._delay_s)  # test only: SECUREDRIVE_SCAN_SEGMENT_DELAY_S
            self._progress()
            yield segment

    def drain(self) -> None:
        """Hash whatever clamd did not read (it hung up, or was never asked)."""
        for _segment in self:
            pass


class PlaintextReader(io.RawIOBase):
    """A seekable, read-only view of a blob's plaintext, decrypted segment by segment.

    Only one segment is held at a time; each is authenticated before a byte is
    returned. Used for archive inspection (zipfile needs to seek).
    """

    def __init__(
        self, decryptor: BlobDecryptor, progress: Callable[[], None] = _no_progress
    ) -> None:
        self._decryptor = decryptor
        self._progress = progress
        self._size = decryptor.plaintext_size
        self._position = 0
        self._cached_index = -1
        self._cached = b""

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
            self._cached = self._decryptor.decrypt_segment(index)
            self._cached_index = index
            self._progress()
        start = self._position - index * segment_size
        piece = self._cached[start : start + len(buffer)]
        buffer[: len(piece)] = piece
        self._position += len(piece)
        return len(piece)


def version_content_scan(
    *,
    version: FileVersion,
    client: ClamdClient,
    progress: Callable[[], None] = _no_progress,
) -> ScanReport:
    """Decrypt ``version`` once through SHA-256, CRC-32, libmagic and clamd; judge it.

    ``progress`` is called after every decrypted segment (the caller renews its claim
    there, files/services/finalize.py) and may raise to stop the scan.
    Raises ``ClamdError`` when the scanner cannot be reached (the caller retries: fail
    closed), never turns it into a verdict.
    """
    if version.wrapped_data_key is None:
        raise BlobIntegrityError(None, "the data key was destroyed")
    data_key = data_key_unwrap(
        version_id=version.pk, kek_id=version.kek_id, wrapped=bytes(version.wrapped_data_key)
    )
    store = blob_store()
    reader = store.reader(version.blob_key, span=(0, version.ciphertext_size))
    try:
        decryptor = BlobDecryptor(
            data_key, associated_data(version.pk), reader.read_at, version.ciphertext_size
        )
        tee = _Tee(
            decryptor.decrypt_all(),
            delay_s=float(settings.SCAN_SEGMENT_DELAY_S),
            progress=progress,
        )
        limit = int(settings.SCAN_MAX_BYTES)
        oversize = version.size > limit
        result = None if oversize else client.instream(tee)
        tee.drain()
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
        if result is not None and result.verdict is Verdict.INFECTED:
            report.verdict, report.signature = ScanVerdict.INFECTED, result.detail
            return report
        if oversize:
            report.verdict, report.reason = ScanVerdict.UNINSPECTABLE, "too_big"
            report.details = {"scan_max_bytes": limit}
            return report
        if result is not None and result.verdict is Verdict.ERROR:
            # e.g. "INSTREAM size limit exceeded": clamd did not see everything.
            report.verdict, report.reason = ScanVerdict.UNINSPECTABLE, "scanner_limit"
            report.details = {"scanner": result.detail[:200]}
            return report
        kind = archive_kind(head)
        if kind:
            archive: ArchiveReport = archive_inspect(
                io.BufferedReader(PlaintextReader(decryptor, progress), buffer_size=1 << 16),
                kind=kind,
                size=version.size,
            )
            report.details = archive.as_details()
            if not archive.inspectable:
                report.verdict, report.reason = ScanVerdict.UNINSPECTABLE, archive.problem
        return report
    finally:
        reader.close()


__all__ = [
    "ClamdError",
    "PlaintextReader",
    "ScanReport",
    "ScanVerdict",
    "ScannerDisabled",
    "scanner_client",
    "version_content_scan",
]
