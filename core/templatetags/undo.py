from __future__ import annotations

from django import template

from core.confirm import undo_offer_of

register = template.Library()


@register.filter
def undo_offer(extra_tags: str) -> dict[str, object] | None:
    """The "Undo" offer a success message carries (core/confirm.py), or None."""
    return undo_offer_of(extra_tags or "")
