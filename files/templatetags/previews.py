"""``{{ version|previewable }}``: whether the preview page can show this version, so
that a "View" button is offered only where it shows something (files/previews.py)."""

from __future__ import annotations

from django import template

from files.models import FileVersion
from files.previews import PreviewKind, preview_kind

register = template.Library()


@register.filter
def previewable(version: FileVersion | None) -> bool:
    return (
        version is not None
        and version.is_downloadable
        and preview_kind(version) != PreviewKind.NONE
    )
