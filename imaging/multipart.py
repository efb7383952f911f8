"""An incremental reader of ``multipart/related`` bodies (RFC 2046 section 5.1, RFC 2387),
as DICOMweb STOW-RS sends them (PS3.18 section 10.5).

Django's ``MultiPartParser`` only understands ``multipart/form-data`` (parts are form
fields named by ``Content-Disposition``), and ``request.body`` would hold a whole study in
memory. This reader pulls the body through ``read(n)`` one chunk at a time and hands out
each part's content as a stream of chunks: it never holds more than one chunk plus the
delimiter's length, whatever the size of a part or of the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

CRLF = b"\r\n"
# A part's header block: a few short lines in practice; a bound keeps a hostile body
# from growing the buffer without end.
MAX_PART_HEADER_BYTES = 16 * 1024
MAX_PARTS = 100_000
# RFC 2046: 1 to 70 characters from a restricted set. Longer ones are accepted (up to
# 200): Orthanc 1.10's DICOMweb client sends 73 (two UUIDs joined by "-").
_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,199}[0-9A-Za-z'()+_,\-./:=?]$")


# name=value or name="quoted; value" (RFC 9110 section 5.6.6).
_PARAMETER = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class MultipartError(ValueError):
    """The body is not well-formed ``multipart/related``: the message says how."""


@dataclass(frozen=True)
class MediaType:
    type: str  # lower case, "multipart/related"
    parameters: dict[str, str]


def media_type_parse(header: str) -> MediaType:
    """``multipart/related; type="application/dicom"; boundary=abc`` as a type and its
    parameters (names lower-cased, quotes removed). Quoted values may hold ``;``."""
    head, _, rest = header.partition(";")
    parameters: dict[str, str] = {}
    for match in _PARAMETER.finditer(rest):
        name, value = match.group(1).lower(), match.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        parameters.setdefault(name, value)
    return MediaType(type=head.strip().lower(), parameters=parameters)


def boundary_check(boundary: str) -> bytes:
    if not _BOUNDARY.match(boundary):
        raise MultipartError("the boundary parameter is missing or not valid (RFC 2046)")
    return boundary.encode("ascii")


@dataclass
class Part:
    """One body part: its headers (names lower-cased) and its content, read once."""

    headers: dict[str, str]
    chunks: Iterator[bytes]

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "text/plain")


class MultipartReader:
    """``for part in MultipartReader(read, boundary): for chunk in part.chunks: ...``

    Each part's chunks must be consumed (or ``part.chunks`` exhausted) before asking for
    the next part; the reader skips whatever was left. Raises ``MultipartError`` on a
    malformed or truncated body.
    """

    def __init__(self, read: Callable[[int], bytes], boundary: bytes, *, chunk_size: int) -> None:
        self._read = read
        self._chunk_size = chunk_size
        # The body is read as if it began with CRLF: then every delimiter, the first one
        # included, is CRLF "--" boundary (RFC 2046 section 5.1.1).
        self._delimiter = CRLF + b"--" + boundary
        self._buffer = bytearray(CRLF)
        self._eof = False
        self._part_open = False
        self.bytes_read = 0

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._read(self._chunk_size)
        if not chunk:
            self._eof = True
            return False
        self.bytes_read += len(chunk)
        self._buffer += chunk
        return True

    def _until_delimiter(self) -> Iterator[bytes]:
        """The bytes before the next delimiter, in chunks; consumes the delimiter."""
        keep = len(self._delimiter) - 1
        while True:
            found = self._buffer.find(self._delimiter)
            if found >= 0:
                if found:
                    yield bytes(self._buffer[:found])
                del self._buffer[: found + len(self._delimiter)]
                return
            if len(self._buffer) > keep:
                out = bytes(self._buffer[: len(self._buffer) - keep])
                del self._buffer[: len(self._buffer) - keep]
                yield out
            if not self._fill():
                raise MultipartError("the body ended before the closing boundary")

    def _need(self, count: int) -> None:
        while len(self._buffer) < count:
            if not self._fill():
                raise MultipartError("the body ended before the closing boundary")

    def _after_delimiter(self) -> bool:
        """True when a part follows, False after the closing delimiter ("--")."""
        self._need(2)
        if self._buffer[:2] == b"--":
            return False
        # Transport padding (spaces, tabs) may follow a delimiter before its CRLF.
        while True:
            stripped = self._buffer.lstrip(b" \t")
            if stripped[:2] == CRLF:
                del self._buffer[: len(self._buffer) - len(stripped) + 2]
                return True
            if len(stripped) >= 2 or not self._fill():
                raise MultipartError("a boundary line is not followed by CRLF")

    def _headers(self) -> dict[str, str]:
        while True:
            if self._buffer[:2] == CRLF:  # no headers at all
                del self._buffer[:2]
                return {}
            end = self._buffer.find(CRLF + CRLF)
            if end >= 0:
                break
            if len(self._buffer) > MAX_PART_HEADER_BYTES:
                raise MultipartError("a part's headers are too long")
            if not self._fill():
                raise MultipartError("the body ended inside a part's headers")
        if end > MAX_PART_HEADER_BYTES:
            raise MultipartError("a part's headers are too long")
        block = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        headers: dict[str, str] = {}
        for line in block.split("\r\n"):
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise MultipartError("a part header line is not 'Name: value'")
            headers[name.strip().lower()] = value.strip()
        return headers

    def parts(self) -> Iterator[Part]:
        # The preamble (before the first delimiter) is ignored, as RFC 2046 says.
        for _ in self._until_delimiter():
            pass
        count = 0
        while self._after_delimiter():
            count += 1
            if count > MAX_PARTS:
                raise MultipartError("too many parts")
            headers = self._headers()
            chunks = self._until_delimiter()
            yield Part(headers=headers, chunks=chunks)
            for _ in chunks:  # whatever the consumer left unread
                pass
        # The epilogue after the closing delimiter is ignored; nothing more is read.
