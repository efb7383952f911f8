"""The rows of a folder's list (templates/files/_rows.html), worked out once per page.

A row's template used to be included once per row and to resolve its links, type,
size, date, stars and labels there: ~2 ms a row, most of a 50-row page's time
(bench/listing.py). Here every link is reversed once per page and completed with the
row's id, and the rest is plain text the template only prints; what the page shows is
the same, to the byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils import formats
from django.utils.timezone import is_aware, localtime
from django.utils.translation import gettext as _

from core.sizes import size_text
from files.models import File, Folder
from files.previews import PreviewKind, preview_kind
from files.types import FOLDER, FileKind, file_kind

# Any id the URL converters accept; the reversed path is split around it.
_ID_MARK = 987654321


class _Links:
    """``files:<name>`` for any id, from one ``reverse`` per name and page."""

    def __init__(self) -> None:
        self._parts: dict[str, tuple[str, str]] = {}

    def __call__(self, name: str, pk: int) -> str:
        parts = self._parts.get(name)
        if parts is None:
            before, _mark, after = reverse(f"files:{name}", args=[_ID_MARK]).partition(
                str(_ID_MARK)
            )
            parts = self._parts[name] = (before, after)
        return f"{parts[0]}{pk}{parts[1]}"


@dataclass(frozen=True)
class Row:
    item: File | Folder
    is_folder: bool
    kind: FileKind
    open_url: str
    favourite_url: str
    starred: bool
    select_label: str
    star_label: str
    size: str
    data_size: Any
    content_type: str
    date: str
    version_number: int
    thumbnail_url: str = ""
    preview_url: str = ""
    download_url: str = ""


def listing_rows(
    *,
    folders: Iterable[Folder],
    files: Iterable[File],
    starred: set[str],
    thumbnail_ready: set[uuid.UUID],
) -> list[Row]:
    """The page's folders then files as rows (``starred`` from
    ``favourites.favourite_ids_for``, ``thumbnail_ready`` from
    ``thumbnails.thumbnail_ready_ids``)."""
    link = _Links()
    rows = []
    for folder in folders:
        star = f"folder:{folder.pk}" in starred
        rows.append(
            Row(
                item=folder,
                is_folder=True,
                kind=FOLDER,
                open_url=link("folder", folder.pk),
                favourite_url=link("folder_favourite", folder.pk),
                starred=star,
                select_label=_("Select %(name)s") % {"name": folder.name},
                star_label=_star_label(star, folder.name),
                size="",
                data_size="",
                content_type="",
                date=_date(folder.created_at),
                version_number=0,
            )
        )
    for file in files:
        version = file.current_version
        star = f"file:{file.pk}" in starred
        downloadable = version is not None and version.is_downloadable
        rows.append(
            Row(
                item=file,
                is_folder=False,
                kind=file_kind(content_type=getattr(version, "content_type", ""), name=file.name),
                open_url=link("file", file.pk),
                favourite_url=link("file_favourite", file.pk),
                starred=star,
                select_label=_("Select %(name)s") % {"name": file.name},
                star_label=_star_label(star, file.name),
                size=size_text(version.size if version is not None else None),
                data_size=(version.size if version is not None else None) or "",
                content_type=version.content_type if version is not None else "",
                date=_date(file.updated_at),
                version_number=version.number if version is not None else 0,
                thumbnail_url=(
                    link("thumbnail", file.pk) if file.current_version_id in thumbnail_ready else ""
                ),
                preview_url=(
                    link("preview", file.pk)
                    if downloadable and preview_kind(version) != PreviewKind.NONE  # type: ignore[arg-type]
                    else ""
                ),
                download_url=link("download", file.pk) if downloadable else "",
            )
        )
    return rows


def _star_label(starred: bool, name: str) -> str:
    if starred:
        return _("Remove %(name)s from favourites") % {"name": name}
    return _("Add %(name)s to favourites") % {"name": name}


def _date(value: Any) -> str:
    """As ``{{ value|date:"SHORT_DATETIME_FORMAT" }}`` writes it (in the reader's zone)."""
    local = localtime(value) if is_aware(value) else value
    return formats.date_format(local, "SHORT_DATETIME_FORMAT")
