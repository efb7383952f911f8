"""What a folder's page and its upload zone say about the external links that reach it.

The files app imports nothing of sharing (the dependency goes the other way), so its
folder page asks through this tag, as it includes sharing's templates."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import ngettext

from files.models import Folder
from sharing.selectors import folder_links_reaching

register = template.Library()

# How many makers the banner names (a folder reached by many links says "and N more").
MAKERS_NAMED = 5


@register.inclusion_tag("sharing/links/_folder_open_to_outsiders.html")
def folder_open_to_outsiders(folder: Folder, *, can_edit: bool) -> dict[str, Any]:
    """The banner for those who may add to ``folder`` (``can_edit``) while links reach
    it: nothing for the others, who put nothing there."""
    if not can_edit:
        return {"links": []}
    found = folder_links_reaching(folder=folder)
    makers: list[str] = []
    for link in found:
        name = link.created_by.get_full_name() or link.created_by.email
        if name not in makers:
            makers.append(name)
    named = ", ".join(makers[:MAKERS_NAMED])
    more = len(makers) - MAKERS_NAMED
    if more > 0:
        named += " " + ngettext("and %(count)s more", "and %(count)s more", more) % {"count": more}
    return {
        "links": found,
        "count": len(found),
        "makers": named,
        "last_expiry": max((link.expires_at for link in found), default=None),
    }


@register.simple_tag
def folder_links_reaching_count(folder: Folder) -> int:
    """How many live external links reach ``folder``: the upload zone says it where the
    files are dropped (inside the zone, and on each file's row as it uploads), as the
    banner above may be scrolled away when a file is dropped on the list."""
    return len(folder_links_reaching(folder=folder))
