"""What kind of file this is, in words and as an icon (issue #15: "PDF document", not
``application/pdf``).

The stored ``content_type`` is libmagic's verdict on the content (files/uploads.py),
which is what the label follows; the name's extension only decides where libmagic
says nothing better than "some bytes" (``application/octet-stream``: DICOM without
its preamble, a zip-based office file it did not recognise). Icons are Bootstrap
Icons names (vendored).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class FileKind:
    label: str | Promise
    icon: str  # a Bootstrap Icons name, "bi-" left out


FOLDER = FileKind(_("Folder"), "folder-fill")
UNKNOWN = FileKind(_("File"), "file-earmark")

_PDF = FileKind(_("PDF document"), "file-earmark-pdf")
_WORD = FileKind(_("Word document"), "file-earmark-word")
_EXCEL = FileKind(_("Excel spreadsheet"), "file-earmark-excel")
_POWERPOINT = FileKind(_("PowerPoint presentation"), "file-earmark-ppt")
_ODT = FileKind(_("OpenDocument text"), "file-earmark-richtext")
_ODS = FileKind(_("OpenDocument spreadsheet"), "file-earmark-spreadsheet")
_DICOM = FileKind(_("DICOM image"), "file-earmark-medical")
_ZIP = FileKind(_("ZIP archive"), "file-earmark-zip")
_TEXT = FileKind(_("Text file"), "file-earmark-text")
_CSV = FileKind(_("CSV table"), "file-earmark-spreadsheet")

_BY_TYPE: dict[str, FileKind] = {
    "application/pdf": _PDF,
    "application/msword": _WORD,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _WORD,
    "application/vnd.ms-excel": _EXCEL,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _EXCEL,
    "application/vnd.ms-powerpoint": _POWERPOINT,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _POWERPOINT,
    "application/vnd.oasis.opendocument.text": _ODT,
    "application/vnd.oasis.opendocument.spreadsheet": _ODS,
    "application/dicom": _DICOM,
    "application/zip": _ZIP,
    "application/x-zip-compressed": _ZIP,
    "text/plain": _TEXT,
    "text/csv": _CSV,
    "image/jpeg": FileKind(_("JPEG image"), "file-earmark-image"),
    "image/png": FileKind(_("PNG image"), "file-earmark-image"),
    "image/gif": FileKind(_("GIF image"), "file-earmark-image"),
    "image/webp": FileKind(_("WebP image"), "file-earmark-image"),
    "image/tiff": FileKind(_("TIFF image"), "file-earmark-image"),
    "image/heic": FileKind(_("HEIC image"), "file-earmark-image"),
    "image/svg+xml": FileKind(_("SVG image"), "file-earmark-image"),
    "video/mp4": FileKind(_("MP4 video"), "file-earmark-play"),
    "video/webm": FileKind(_("WebM video"), "file-earmark-play"),
    "video/quicktime": FileKind(_("QuickTime video"), "file-earmark-play"),
    "audio/mpeg": FileKind(_("MP3 audio"), "file-earmark-music"),
    "audio/wav": FileKind(_("WAV audio"), "file-earmark-music"),
    "audio/x-wav": FileKind(_("WAV audio"), "file-earmark-music"),
    "text/html": FileKind(_("Web page"), "file-earmark-code"),
    "application/json": FileKind(_("JSON data"), "file-earmark-code"),
    "application/xml": FileKind(_("XML data"), "file-earmark-code"),
    "text/xml": FileKind(_("XML data"), "file-earmark-code"),
}

# Where libmagic said only "some bytes" (or nothing yet: a file still being scanned).
_BY_EXTENSION: dict[str, FileKind] = {
    "pdf": _PDF,
    "doc": _WORD,
    "docx": _WORD,
    "xls": _EXCEL,
    "xlsx": _EXCEL,
    "ppt": _POWERPOINT,
    "pptx": _POWERPOINT,
    "odt": _ODT,
    "ods": _ODS,
    "dcm": _DICOM,
    "dicom": _DICOM,
    "zip": _ZIP,
    "txt": _TEXT,
    "csv": _CSV,
    "jpg": _BY_TYPE["image/jpeg"],
    "jpeg": _BY_TYPE["image/jpeg"],
    "png": _BY_TYPE["image/png"],
    "heic": _BY_TYPE["image/heic"],
    "tif": _BY_TYPE["image/tiff"],
    "tiff": _BY_TYPE["image/tiff"],
    "mp4": _BY_TYPE["video/mp4"],
    "mp3": _BY_TYPE["audio/mpeg"],
}

_VAGUE = {"", "application/octet-stream", "binary/octet-stream"}
_FAMILIES = {
    "image": FileKind(_("Image"), "file-earmark-image"),
    "video": FileKind(_("Video"), "file-earmark-play"),
    "audio": FileKind(_("Audio"), "file-earmark-music"),
    "text": _TEXT,
}


def file_kind(*, content_type: str, name: str = "") -> FileKind:
    """The label and icon for a file of ``content_type`` named ``name``."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in _BY_TYPE:
        return _BY_TYPE[base]
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if base in _VAGUE and extension in _BY_EXTENSION:
        return _BY_EXTENSION[extension]
    family = base.partition("/")[0]
    if family in _FAMILIES:
        return _FAMILIES[family]
    return _BY_EXTENSION.get(extension, UNKNOWN) if base in _VAGUE else UNKNOWN
