from __future__ import annotations

from typing import Any

from django import template

from files.types import FOLDER, FileKind, file_kind

register = template.Library()


@register.filter
def kind(item: Any) -> FileKind:
    """The label and icon of a file (by its current version's type) or a folder:
    ``{% with kind=file|kind %}<i class="bi bi-{{ kind.icon }}"></i> {{ kind.label }}``."""
    if hasattr(item, "parent_id"):
        return FOLDER
    version = getattr(item, "current_version", None)
    return file_kind(content_type=getattr(version, "content_type", ""), name=item.name)


@register.filter
def version_kind(version: Any, name: str) -> FileKind:
    """The label and icon of one version of the file named ``name`` (versions of one
    file may differ in type): ``{% with kind=version|version_kind:file.name %}``."""
    return file_kind(content_type=getattr(version, "content_type", ""), name=name)
