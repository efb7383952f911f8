from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from sharing.services.suspension import external_sharing_suspended


def _external_suspension_shown(request: HttpRequest) -> bool:
    """The suspension of external sharing (incident response), said to the site
    administrators on every page and to anyone on the sharing pages (where they would
    try to make a link, a transfer or a file request); asked only there."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    match = getattr(request, "resolver_match", None)
    on_sharing_pages = match is not None and match.namespace == "sharing"
    if not (getattr(user, "is_site_admin", False) or on_sharing_pages):
        return False
    return external_sharing_suspended()


def platform_status(request: HttpRequest) -> dict[str, object]:
    """What every page must say loudly: scanning switched off, external sharing
    suspended."""
    return {
        "scanner_disabled": not settings.CLAMD_ADDRESS,
        "profile": settings.PROFILE,
        "external_sharing_suspended": _external_suspension_shown(request),
    }
