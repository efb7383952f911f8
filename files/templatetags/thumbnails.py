"""``{% thumbnails_ready files as ready %}``: which files of a list have a thumbnail to
show, in one query (templates/files/_thumbnail.html, _grid.html)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django import template

from files.models import File
from files.thumbnails import thumbnail_ready_ids

register = template.Library()


@register.simple_tag
def thumbnails_ready(files: Iterable[File]) -> set[uuid.UUID]:
    version_ids = [file.current_version_id for file in files if file.current_version_id]
    return thumbnail_ready_ids(version_ids) if version_ids else set()
