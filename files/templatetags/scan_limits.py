"""``{% upload_scan_limits folder as limits %}``: what the uploader must know before it
sends a byte (clamd's single-pass limit, and this space's policy beyond it)."""

from __future__ import annotations

from django import template

from files.models import Folder
from files.scan_policy import upload_limits

register = template.Library()


@register.simple_tag
def upload_scan_limits(folder: Folder) -> dict[str, object]:
    return upload_limits(folder.space.team_id)
