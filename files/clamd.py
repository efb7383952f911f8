"""A small client for clamd's protocol (PING, VERSION, STATS, INSTREAM).

Protocol (clamd(8)): commands are prefixed with ``z`` and terminated by NUL. INSTREAM
takes chunks framed as ``uint32_be(length) + data`` and a zero-length chunk to finish;
clamd answers ``stream: OK``, ``stream: <name> FOUND`` or ``<message> ERROR``. When a
stream passes StreamMaxLength clamd replies with an error and closes the socket, so a
broken pipe while sending is not the end: the reply is still read (FIELD-NOTES).

clamd does not report its StreamMaxLength (neither VERSION nor STATS carry it), but it
checks every INSTREAM chunk's *declared* length against the bytes left before reading
the chunk: a chunk header alone, with no data, is answered "size limit exceeded" at
once when it is too long, and with a silent close otherwise. ``stream_max_length``
finds the exact limit that way by bisection, without sending a byte of content.
"""

from __future__ import annotations

import enum
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit


class ClamdError(Exception):
    """clamd could not be reached or answered something unexpected."""


class Verdict(enum.Enum):
    CLEAN = "clean"
    INFECTED = "infected"
    ERROR = "error"  # e.g. size limit exceeded: the content was NOT fully scanned


@dataclass(frozen=True)
class ScanResult:
    verdict: Verdict
    detail: str  # signature name for INFECTED, clamd's message for ERROR


# With ``AlertExceedsMax yes`` a limit clamd reached inside the content (MaxFileSize,
# MaxScanSize, MaxRecursion…) is reported as a "virus" of this family: it means "not
# fully scanned", not "a threat" (FIELD-NOTES).
LIMIT_SIGNATURE_PREFIX = "Heuristics.Limits.Exceeded"
# The size fields of clamd's options are capped at 4 GB (FIELD-NOTES); a chunk's length
# is a uint32.
_STREAM_MAX_CEILING = 2**32 - 1
# What ClamAV can scan in one file, whatever StreamMaxLength, MaxFileSize and MaxScanSize
# say: "Technical design limitations prevent ClamAV from scanning files greater than
# 2 GB" (clamd.conf(5), MaxFileSize). clamd accepts a longer INSTREAM (up to 4 GB) and
# then answers Heuristics.Limits.Exceeded.MaxFileSize (with AlertExceedsMax) or an
# error, so every single pass (one stream, one scan window, one ZIP member's window) is
# kept at most this long. 2 GiB less 1 MiB: ClamAV 1.4.6 scanned a 2 GiB - 1 MiB
# stream and refused 2 GiB (bench/README.md, "scanning of any size").
CLAMAV_SCAN_MAX_BYTES = 2**31 - 2**20
# How long a verdict may take, beyond the connection's timeout, per byte of the stream:
# clamd scans a stream only once it has all of it, so a 2 GiB window's verdict came more
# than 60 s (SECUREDRIVE_CLAMD_TIMEOUT_S) after its last byte on the bench (2 busy cores),
# and the production databases scan slower than the test signatures. At 3 MB/s a 2 GiB
# window may take ~12 min, longer than clamd's own MaxScanTime in docker-compose.yml
# (10 min): clamd answers "not fully scanned" before we would give up and retry.
CLAMD_SCAN_RATE_FLOOR_BYTES_PER_S = 3_000_000
_SIZE_LIMIT_REPLY = "size limit exceeded"


def _parse_address(address: str) -> tuple[int, str | tuple[str, int]]:
    parts = urlsplit(address)
    if parts.scheme == "unix" and parts.path:
        return socket.AF_UNIX, parts.path
    if parts.scheme == "tcp" and parts.hostname and parts.port:
        family = socket.AF_INET6 if ":" in parts.hostname else socket.AF_INET
        return family, (parts.hostname, parts.port)
    raise ClamdError(f"clamd address must be tcp://host:port or unix:///path, not {address!r}")


def clamd_address_valid(address: str) -> bool:
    """Whether ``address`` is one clamd can be reached at (``tcp://host:port`` or
    ``unix:///path``): checked at start, so that a typo does not leave every upload
    waiting for a scan that never comes."""
    try:
        _parse_address(address)
    except ClamdError:
        return False
    return True


class ClamdClient:
    def __init__(self, address: str, *, timeout_s: float = 60.0) -> None:
        self.family, self.target = _parse_address(address)
        self.timeout_s = timeout_s

    def _connect(self) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout_s)
        try:
            sock.connect(self.target)
        except OSError as error:
            sock.close()
            raise ClamdError(f"cannot reach clamd: {error}") from error
        return sock

    @staticmethod
    def _read_reply(sock: socket.socket) -> str:
        buffer = bytearray()
        while not buffer.endswith(b"\0"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            buffer += chunk
            if len(buffer) > 65536:
                raise ClamdError("clamd reply too long")
        return buffer.rstrip(b"\0").decode("utf-8", "replace").strip()

    def _command(self, command: bytes) -> str:
        with self._connect() as sock:
            try:
                sock.sendall(b"z" + command + b"\0")
                return self._read_reply(sock)
            except OSError as error:
                raise ClamdError(f"clamd connection failed: {error}") from error

    def ping(self) -> bool:
        try:
            return self._command(b"PING") == "PONG"
        except ClamdError:
            return False

    def version(self) -> str:
        return self._command(b"VERSION")

    def stats(self) -> str:
        """clamd's STATS report (pools, threads, queue, memory): as clamd words it."""
        return self._command(b"STATS").removesuffix("END").strip()

    def instream_open(self) -> InstreamSession:
        """A stream being sent to clamd piece by piece (several may be open at once:
        the overlapping windows of files/scan_windows.py)."""
        sock = self._connect()
        session = InstreamSession(sock)
        try:
            session._send(b"zINSTREAM\0")
        except BaseException:
            sock.close()
            raise
        return session

    def instream(self, chunks: Iterable[bytes]) -> ScanResult:
        """Scan a stream of byte chunks; memory stays at one chunk."""
        with self.instream_open() as session:
            for chunk in chunks:
                if session.hung_up:
                    break
                session.send(chunk)
            return session.finish()

    def _declared_length_refused(self, length: int) -> bool:
        """Is a chunk of ``length`` bytes over what INSTREAM accepts? Only its header
        is sent (see the module's docstring)."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0" + struct.pack(">I", length))
                sock.shutdown(socket.SHUT_WR)
                reply = self._read_reply(sock)
            except OSError as error:
                raise ClamdError(f"clamd connection failed: {error}") from error
        return _SIZE_LIMIT_REPLY in reply

    def stream_max_length(self) -> int:
        """clamd's StreamMaxLength in bytes, measured (about 32 tiny connections)."""
        if not self._declared_length_refused(_STREAM_MAX_CEILING):
            return _STREAM_MAX_CEILING
        low, high = 0, _STREAM_MAX_CEILING  # low accepted, high refused
        while high - low > 1:
            middle = (low + high) // 2
            if self._declared_length_refused(middle):
                high = middle
            else:
                low = middle
        return low


class InstreamSession:
    """One INSTREAM conversation: ``send`` pieces, then ``finish`` for the verdict."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.hung_up = False  # clamd closed early (size limit): its reply says why
        self.sent = 0

    def _send(self, data: bytes | memoryview) -> None:
        if self.hung_up:
            return
        try:
            self._sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.hung_up = True
        except OSError as error:
            raise ClamdError(f"clamd connection failed: {error}") from error

    def send(self, chunk: bytes | memoryview) -> None:
        # Frames are limited to 2^32-1 bytes; in practice chunks are ~1 MiB.
        view = memoryview(chunk)
        for start in range(0, len(view), 1 << 20):
            piece = view[start : start + (1 << 20)]
            # Header and data sent apart: no copy of the data (two per MiB before).
            self._send(struct.pack(">I", len(piece)))
            self._send(piece)
            self.sent += len(piece)

    def end(self) -> None:
        """No more content: clamd starts scanning; ``reply`` waits for its verdict."""
        self._send(struct.pack(">I", 0))

    def finish(self) -> ScanResult:
        self.end()
        return self.reply()

    def reply(self, *, wait_s: float | None = None) -> ScanResult:
        """clamd's verdict; ``wait_s`` (if longer than the connection's timeout) is how
        long clamd may take to scan what was sent: a long stream takes long to scan."""
        try:
            if wait_s is not None and wait_s > (self._sock.gettimeout() or 0):
                self._sock.settimeout(wait_s)
            reply = ClamdClient._read_reply(self._sock)
        except OSError as error:
            raise ClamdError(f"clamd connection failed: {error}") from error
        finally:
            self.close()
        return parse_scan_reply(reply)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> InstreamSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def parse_scan_reply(reply: str) -> ScanResult:
    if not reply:
        raise ClamdError("clamd closed the connection without an answer")
    body = reply.split(":", 1)[1].strip() if reply.startswith("stream:") else reply
    if body == "OK":
        return ScanResult(Verdict.CLEAN, "")
    if body.endswith(" FOUND"):
        name = body.removesuffix(" FOUND").strip()
        if name.startswith(LIMIT_SIGNATURE_PREFIX):
            return ScanResult(Verdict.ERROR, name)  # not fully scanned, not a threat
        return ScanResult(Verdict.INFECTED, name)
    if body.endswith(" ERROR"):
        return ScanResult(Verdict.ERROR, body.removesuffix(" ERROR").strip())
    raise ClamdError(f"unexpected clamd reply {reply!r}")
