from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def platform_status(request: HttpRequest) -> dict[str, object]:
    """What every page must say loudly: scanning switched off."""
    return {
        "scanner_disabled": not settings.CLAMD_ADDRESS,
        "profile": settings.PROFILE,
    }
