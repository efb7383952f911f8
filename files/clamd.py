"""A small client for clamd's protocol (PING, VERSION, INSTREAM).

Protocol (clamd(8)): commands are prefixed with ``z`` and terminated by NUL. INSTREAM
takes chunks framed as ``uint32_be(length) + data`` and a zero-length chunk to finish;
clamd answers ``stream: OK``, ``stream: <name> FOUND`` or ``<message> ERROR``. When a
stream passes StreamMaxLength clamd replies with an error and closes the socket, so a
broken pipe while sending is not the end: the reply is still read (FIELD-NOTES).
"""

from __future__ import annotations

import enum
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
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


def _parse_address(address: str) -> tuple[int, str | tuple[str, int]]:
    parts = urlsplit(address)
    if parts.scheme == "unix" and parts.path:
        return socket.AF_UNIX, parts.path
    if parts.scheme == "tcp" and parts.hostname and parts.port:
        family = socket.AF_INET6 if ":" in parts.hostname else socket.AF_INET
        return family, (parts.hostname, parts.port)
    raise ClamdError(f"clamd address must be tcp://host:port or unix:///path, not {address!r}")


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

    def instream(self, chunks: Iterable[bytes]) -> ScanResult:
        """Scan a stream of byte chunks; memory stays at one chunk."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                for chunk in chunks:
                    # Frames are limited to 2^32-1 bytes; in practice chunks are ~1 MiB.
                    for start in range(0, len(chunk), 1 << 20):
                        piece = chunk[start : start + (1 << 20)]
                        sock.sendall(struct.pack(">I", len(piece)) + piece)
                sock.sendall(struct.pack(">I", 0))
            except (BrokenPipeError, ConnectionResetError):
                pass  # clamd hung up early (size limit): its reply says why
            except OSError as error:
                raise ClamdError(f"clamd connection failed: {error}") from error
            try:
                reply = self._read_reply(sock)
            except OSError as error:
                raise ClamdError(f"clamd connection failed: {error}") from error
        return parse_scan_reply(reply)


def parse_scan_reply(reply: str) -> ScanResult:
    if not reply:
        raise ClamdError("clamd closed the connection without an answer")
    body = reply.split(":", 1)[1].strip() if reply.startswith("stream:") else reply
    if body == "OK":
        return ScanResult(Verdict.CLEAN, "")
    if body.endswith(" FOUND"):
        return ScanResult(Verdict.INFECTED, body.removesuffix(" FOUND").strip())
    if body.endswith(" ERROR"):
        return ScanResult(Verdict.ERROR, body.removesuffix(" ERROR").strip())
    raise ClamdError(f"unexpected clamd reply {reply!r}")
