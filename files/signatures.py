"""How long can a match of the loaded signatures be? The overlap of scan windows.

A file larger than clamd's StreamMaxLength is scanned in overlapping windows
(files/scan_windows.py). A body signature whose match spans at most L bytes lies wholly
inside some window when consecutive windows overlap by at least L - 1 bytes, so the
overlap must be at least the longest *bounded* match of the databases clamd loads.

clamd does not tell its signatures' lengths, so they are read here from the database
files themselves (``SECUREDRIVE_SCAN_SIGNATURE_DIR``, clamd's DatabaseDirectory when the
worker can read it): ``.ndb``/``.ndu`` body signatures, ``.ldb``/``.ldu`` logical
signatures' subsignatures, inside ``.cvd``/``.cld`` containers too. The span of a body
is its fixed bytes plus the upper bound of each ``{n-m}`` gap and alternative group.

What windows cannot promise, and is counted rather than hidden (docs/scanning.md):
bodies with an unbounded gap (``*``, ``{n-}``) or a PCRE, logical signatures whose
subsignatures may lie far apart, offsets from the end of the file or an entry point,
and hashes of a whole file (``.hdb``, ``.hsb``…). That is why windowed scanning is a
policy the site chooses, never the same thing as a full scan.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_TEXT_BODY = {".ndb", ".ndu"}
_TEXT_LOGICAL = {".ldb", ".ldu"}
_WHOLE_FILE_HASH = {".hdb", ".hsb", ".hdu", ".hsu", ".mdb", ".msb", ".mdu", ".msu", ".imp"}
_CONTAINERS = {".cvd", ".cld", ".cud"}
_CVD_HEADER = 512


@dataclass
class SignatureSpan:
    """The longest bounded match, and what windows cannot cover."""

    longest: int = 0
    longest_name: str = ""
    bounded: int = 0
    unbounded: int = 0  # `*`, `{n-}`, PCRE, several subsignatures
    whole_file: int = 0  # hashes of the whole file or section
    databases: list[str] = field(default_factory=list)

    def as_details(self) -> dict[str, object]:
        return {
            "signature_longest": self.longest,
            "signatures_bounded": self.bounded,
            "signatures_unbounded": self.unbounded,
            "signatures_whole_file": self.whole_file,
        }


class _Unbounded(Exception):
    pass


def _group_span(group: str) -> int:
    return max((_body_span(choice) for choice in group.split("|")), default=0)


def _body_span(body: str) -> int:
    """Upper bound of the bytes a hex body signature can match; raises _Unbounded."""
    span, index = 0, 0
    while index < len(body):
        char = body[index]
        if char == "*":
            raise _Unbounded
        if char in "{[":
            end = body.index("}" if char == "{" else "]", index)
            low, dash, high = body[index + 1 : end].partition("-")
            if dash and not high:
                raise _Unbounded  # {n-}
            span += int(high or low)
            index = end + 1
        elif char in "!(":
            start = body.index("(", index)
            end = body.index(")", start)
            span += _group_span(body[start + 1 : end])
            index = end + 1
        else:
            span += 1  # two hex digits or nibble wildcards: one byte
            index += 2
    return span


def _subsignature_span(subsignature: str) -> int:
    # "offset:hexbody" or "hexbody::modifiers"; PCRE subsignatures contain '/'.
    if "/" in subsignature:
        raise _Unbounded
    body = subsignature.split("::", 1)[0]
    if ":" in body:
        body = body.split(":", 1)[1]
    return _body_span(body)


def _lines_measure(name: str, lines: Iterator[str], span: SignatureSpan) -> None:
    suffix = Path(name).suffix.lower()
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if suffix in _TEXT_BODY:
                fields = line.split(":")
                length = _body_span(fields[3])
            elif suffix in _TEXT_LOGICAL:
                subsignatures = line.split(";")[3:]
                if len(subsignatures) != 1:
                    raise _Unbounded  # subsignatures may match anywhere in the file
                length = _subsignature_span(subsignatures[0])
            elif suffix in _WHOLE_FILE_HASH:
                span.whole_file += 1
                continue
            else:
                continue
        except _Unbounded:
            span.unbounded += 1
            continue
        except (IndexError, ValueError):
            span.unbounded += 1  # not understood: never counted as covered
            continue
        span.bounded += 1
        if length > span.longest:
            span.longest, span.longest_name = length, line.split(":")[0].split(";")[0]


def _container_members(path: Path) -> Iterator[tuple[str, Iterator[str]]]:
    data = path.read_bytes()[_CVD_HEADER:]
    for mode in ("r:gz", "r:"):
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode=mode) as archive:
                for member in archive.getmembers():
                    handle = archive.extractfile(member)
                    if handle is not None:
                        text = handle.read().decode("utf-8", "replace")
                        yield member.name, iter(text.splitlines())
            return
        except tarfile.TarError:
            continue


def signature_span(directory: str | Path) -> SignatureSpan:
    """Measure every database in ``directory`` (clamd's DatabaseDirectory)."""
    span = SignatureSpan()
    for path in sorted(Path(directory).iterdir()):
        suffix = path.suffix.lower()
        if suffix in _CONTAINERS:
            span.databases.append(path.name)
            for name, lines in _container_members(path):
                _lines_measure(name, lines, span)
        elif suffix in _TEXT_BODY | _TEXT_LOGICAL | _WHOLE_FILE_HASH:
            span.databases.append(path.name)
            with path.open(encoding="utf-8", errors="replace") as handle:
                _lines_measure(path.name, iter(handle), span)
    return span
