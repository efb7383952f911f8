"""System checks for the files settings: a bad value stops ``manage.py check`` (and
every production start) instead of failing at the first upload."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from files.clamd import clamd_address_valid
from files.crypto import MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE


@register()
def files_settings_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    segment = settings.FILES_SEGMENT_SIZE
    if not MIN_SEGMENT_SIZE <= segment <= MAX_SEGMENT_SIZE:
        errors.append(
            Error(
                f"FILES_SEGMENT_SIZE is {segment}: it must be between {MIN_SEGMENT_SIZE} "
                f"and {MAX_SEGMENT_SIZE} bytes (files/crypto.py).",
                id="files.E001",
            )
        )
    for name in (
        "FILES_PERSONAL_QUOTA_BYTES",
        "FILES_TEAM_QUOTA_BYTES",
        "FILES_UPLOAD_MAX_BYTES",
        "FILES_VERSION_KEEP_DAYS",
        "FILES_TRASH_RETENTION_DAYS",
    ):
        if getattr(settings, name) < 0:
            errors.append(Error(f"{name} cannot be negative.", id="files.E002"))
    if settings.FILES_VERSION_KEEP_COUNT < 1:
        errors.append(
            Error(
                "FILES_VERSION_KEEP_COUNT must be at least 1: the current version is "
                "always kept, and 0 would read as 'keep nothing'.",
                id="files.E003",
            )
        )
    if settings.FILES_SCRUB_BATCH < 0:
        errors.append(Error("FILES_SCRUB_BATCH cannot be negative.", id="files.E002"))
    address = settings.CLAMD_ADDRESS
    if address and not clamd_address_valid(address):
        errors.append(
            Error(
                f"SECUREDRIVE_CLAMD_ADDRESS is {address!r}: it must be tcp://host:port "
                "(e.g. tcp://127.0.0.1:3310) or unix:///path (e.g. "
                "unix:///run/clamav/clamd.ctl). Otherwise every upload would wait for a "
                "virus scan that never comes.",
                id="files.E004",
            )
        )
    return errors
