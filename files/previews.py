"""Previews: content shown in the browser without downloading it (docs/previews.md).

Every preview goes through the same gate as a download (``files.downloads``: scan
verdict, integrity, shredding, the caller's selector or link check) and is audited as
``files.version.view`` with the version's lineage, never as a download. What reaches the
browser is chosen so that nothing a person uploaded can run in SecureDrive's origin:

* **Raster images** are decoded by Pillow (formats from an allow-list, a pixel budget
  against decompression bombs, the input size capped) and re-encoded as a fresh PNG or
  JPEG no larger than ``RENDITION_MAX_EDGE``: the original bytes (and whatever a
  polyglot hides in them) are never served inline.
* **PDF** bytes go to PDF.js (vendored, in a module worker, no eval, no wasm) through
  the download stream, sandboxed and under a fixed ``application/pdf``.
* **Video and audio** stream through the download path with Range, under a fixed type
  from ``MEDIA_TYPES``, inline, ``nosniff`` and ``Content-Security-Policy: sandbox``.
* **Plain text and CSV** are decoded here (size-capped, never failing on bad bytes)
  and rendered by the template with autoescaping.
* Anything else (SVG, HTML, XML, office documents...) is download-only.

Nothing here writes to disk: sources are decrypted into memory (capped), renditions
are made in memory (``io.BytesIO``), and thumbnails are stored encrypted
(files/thumbnails.py).
"""

from __future__ import annotations

import csv
import enum
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext
from audit.models import Outcome
from files.blobs import version_content
from files.lineage import version_lineage_details
from files.models import FileVersion

_heif_registered = False


def _heif_register() -> None:
    """HEIC/HEIF photos (iPhones), decoded by libheif through pillow-heif: registered on the
    first rendition, not when the URLs load (a web worker stays small)."""
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


class PreviewKind(enum.StrEnum):
    PDF = "pdf"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"
    NONE = "none"


# The stored type is libmagic's sniff of the plaintext (files/uploads.py, the scan),
# not what the uploader claimed. Pillow format names a type may be decoded as.
IMAGE_FORMATS: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("JPEG",),
    "image/png": ("PNG",),
    "image/webp": ("WEBP",),
    "image/gif": ("GIF",),
    "image/tiff": ("TIFF",),
    "image/heic": ("HEIF",),
    "image/heif": ("HEIF",),
}
# The only types a media stream is ever labelled with: the sniffed type must be one of
# these keys, and the response carries the value, never anything the upload said.
MEDIA_TYPES: dict[str, tuple[PreviewKind, str]] = {
    "video/mp4": (PreviewKind.VIDEO, "video/mp4"),
    "video/webm": (PreviewKind.VIDEO, "video/webm"),
    "audio/mpeg": (PreviewKind.AUDIO, "audio/mpeg"),
    "audio/mp3": (PreviewKind.AUDIO, "audio/mpeg"),
    "audio/webm": (PreviewKind.AUDIO, "audio/webm"),
}
PDF_TYPE = "application/pdf"
TEXT_TYPES = frozenset({"text/plain", "text/csv", "application/csv"})

# A rendition's longest edge: sharp on a laptop screen, ~300 KB as JPEG.
RENDITION_MAX_EDGE = 2048
RENDITION_JPEG_QUALITY = 85


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def source_max_bytes() -> int:
    """Largest image or PDF decoded on the server (memory: the whole source is held)."""
    return _setting("PREVIEW_SOURCE_MAX_BYTES", 50 * 1024 * 1024)


def image_max_pixels() -> int:
    """Decompression-bomb budget: a 10,000 x 5,000 image, ~200 MB decoded as RGBA."""
    return _setting("PREVIEW_IMAGE_MAX_PIXELS", 50_000_000)


def text_max_bytes() -> int:
    return _setting("PREVIEW_TEXT_MAX_BYTES", 512 * 1024)


CSV_MAX_ROWS = 1000
CSV_MAX_COLUMNS = 50


class PreviewUnavailable(Exception):
    """This content cannot be shown (damaged, too large, a format outside the lists):
    the page offers the download instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def preview_kind(version: FileVersion, name: str = "") -> PreviewKind:
    """How ``version`` may be previewed, from its sniffed type only."""
    base = _base_type(version.content_type)
    if base == PDF_TYPE:
        return PreviewKind.PDF
    if base in IMAGE_FORMATS:
        return PreviewKind.IMAGE
    if base in MEDIA_TYPES:
        return MEDIA_TYPES[base][0]
    if base in TEXT_TYPES:
        return PreviewKind.TEXT
    return PreviewKind.NONE


def stream_type(version: FileVersion) -> str | None:
    """The fixed type a PDF or media stream is served under, None if it is neither."""
    base = _base_type(version.content_type)
    if base == PDF_TYPE:
        return PDF_TYPE
    if base in MEDIA_TYPES:
        return MEDIA_TYPES[base][1]
    return None


# --- Audit -----------------------------------------------------------------------------


def version_view_record(
    *,
    version: FileVersion,
    actor: User | None,
    actor_label: str = "",
    context: RequestContext | None,
    outcome: str = Outcome.SUCCESS,
    extra: Mapping[str, object] | None = None,
    **details: object,
) -> None:
    """``files.version.view`` naming the original file, version and path (lineage)."""
    audit.record(
        action=Action.FILES_VERSION_VIEW,
        outcome=outcome,
        actor=actor,
        actor_label=actor_label,
        target_type="files.version",
        target_id=version.pk,
        details={**version_lineage_details(version), **(extra or {}), **details},
        request=context,
    )


# --- Decrypting into memory ------------------------------------------------------------------


def version_plaintext(version: FileVersion, *, limit: int) -> bytes:
    """The first ``limit`` bytes of the version's plaintext, in memory only.

    Raises ``EnvelopeError``, ``BlobIntegrityError`` or ``BlobMissingError`` like a
    download; the caller records the integrity failure.
    """
    if version.size == 0:
        return b""
    end = min(version.size, limit) - 1
    content = version_content(version)
    data_key = content.data_key()
    reader = content.reader()
    try:
        decryptor = content.decryptor(data_key, reader)
        return b"".join(decryptor.decrypt_range(0, end))
    finally:
        reader.close()


# --- Images ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendition:
    content: bytes
    content_type: str
    width: int
    height: int


def image_rendition(
    source: bytes, *, formats: tuple[str, ...], max_edge: int = RENDITION_MAX_EDGE
) -> Rendition:
    """A fresh PNG (transparency) or JPEG of the first frame, at most ``max_edge``.

    Raises ``PreviewUnavailable`` for anything Pillow cannot or may not decode: another
    format than ``formats``, a damaged file, or more pixels than the budget (checked
    from the header, before decoding).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            _heif_register()
            with Image.open(io.BytesIO(source), formats=list(formats)) as opened:
                width, height = opened.size
                if width * height > image_max_pixels():
                    raise PreviewUnavailable("too_many_pixels")
                opened.draft("RGB", (max_edge, max_edge))  # JPEG: decode at a smaller scale
                image = ImageOps.exif_transpose(opened) or opened
                image.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
                has_alpha = image.mode in ("RGBA", "LA", "PA") or (
                    image.mode == "P" and "transparency" in image.info
                )
                out = io.BytesIO()
                if has_alpha:
                    image = image.convert("RGBA")
                    image.save(out, format="PNG", optimize=True)
                    content_type = "image/png"
                else:
                    image = image.convert("RGB")
                    image.save(out, format="JPEG", quality=RENDITION_JPEG_QUALITY)
                    content_type = "image/jpeg"
                return Rendition(out.getvalue(), content_type, image.width, image.height)
    except PreviewUnavailable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise PreviewUnavailable("too_many_pixels") from error
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
    ) as error:
        # UnidentifiedImageError is an OSError; plugins raise SyntaxError on bad headers.
        raise PreviewUnavailable(f"undecodable: {type(error).__name__}") from error


def version_image_rendition(
    version: FileVersion, *, max_edge: int = RENDITION_MAX_EDGE
) -> Rendition:
    base = _base_type(version.content_type)
    if base not in IMAGE_FORMATS:
        raise PreviewUnavailable("not_an_image")
    if version.size > source_max_bytes():
        raise PreviewUnavailable("too_large")
    source = version_plaintext(version, limit=version.size)
    return image_rendition(source, formats=IMAGE_FORMATS[base], max_edge=max_edge)


# --- Text --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextPreview:
    text: str
    rows: list[list[str]] | None  # a CSV's cells, when it parses as one
    truncated: bool
    header: bool = False  # the first row names the columns (read as headers)


def text_decode(data: bytes, *, cut: bool = False) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252 with
    replacement characters: never an exception, whatever the bytes. ``cut``: the bytes
    stop at the size cap, maybe inside a character."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if cut and error.reason == "unexpected end of data":
            # A multi-byte character cut by the size cap, not another encoding.
            return data[: error.start].decode("utf-8-sig", errors="replace")
        return data.decode("cp1252", errors="replace")


def _csv_rows(text: str) -> list[list[str]] | None:
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text), dialect):
            rows.append(row[:CSV_MAX_COLUMNS])
            if len(rows) >= CSV_MAX_ROWS:
                break
    except csv.Error:
        return None
    return rows


def version_text_preview(version: FileVersion, name: str) -> TextPreview:
    limit = text_max_bytes()
    data = version_plaintext(version, limit=limit)
    text = text_decode(data, cut=version.size > limit).replace("\x00", "\ufffd")
    is_csv = _base_type(version.content_type) in ("text/csv", "application/csv") or (
        name.lower().endswith((".csv", ".tsv"))
    )
    rows = _csv_rows(text) if is_csv else None
    return TextPreview(
        text=text,
        rows=rows,
        truncated=version.size > limit,
        header=rows is not None and len(rows) > 1 and csv_has_header(text),
    )


def csv_has_header(text: str) -> bool:
    """Whether the first row looks like column names (the standard library's guess:
    its cells differ in type or length from the columns below), so that a screen
    reader announces each cell with its column's name."""
    try:
        return csv.Sniffer().has_header(text[:8192])
    except csv.Error:
        return False
