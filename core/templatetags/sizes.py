from __future__ import annotations

from django import template

from core.sizes import size_text

register = template.Library()


@register.filter
def filesize(size: object) -> str:
    """Bytes in words with decimal units, as the uploader shows them (core/sizes.py).
    Use this rather than Django's ``filesizeformat`` (binary sizes labelled "MB")."""
    return size_text(size)
