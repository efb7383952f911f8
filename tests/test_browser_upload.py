"""A clinician drops files into the file browser: tus-js-client in a real Chromium
uploads them through /api/v1/uploads/, a progress row per file, and the file appears
with its scan badge, which updates without reloading once the scan is done."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.test import Client

from accounts.models import User
from files import services
from files.models import File, ScanStatus, UploadSession
from tests.conftest import BrowserPage
from tests.files_helpers import (
    Backend,
    content_of,
    folder_backend,  # noqa: F401
)
from tests.helpers import client_signed_in


def test_files_chosen_in_the_browser_upload_with_tus_and_show_their_scan_badge(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    signed_in: Client = client_signed_in(owner)
    session = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    page = browser_page.page
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    study = content_of(3 * 1024 * 1024 + 99, seed="browser")
    letter = b"Dear colleague,\n" * 50

    page.goto("/files/")
    page.locator("#upload-files").set_input_files(
        [
            {"name": "IRM genou.dcm", "mimeType": "application/dicom", "buffer": study},
            {"name": "Courrier.txt", "mimeType": "text/plain", "buffer": letter},
        ]
    )
    page.locator(".upload-row.upload-done").nth(1).wait_for()
    listing = page.locator("#folder-contents")
    listing.get_by_text("IRM genou.dcm").wait_for()
    listing.get_by_text("Courrier.txt").wait_for()
    browser_page.screenshot("browser-upload")

    study_file = File.objects.get(name="IRM genou.dcm")
    version = study_file.current_version
    assert version is not None
    assert version.sha256 == hashlib.sha256(study).hexdigest()
    assert UploadSession.objects.filter(completed_at__isnull=False).count() == 2
    badge = page.locator(f'.scan-badge[data-file="{study_file.pk}"]')
    assert badge.inner_text().strip() != "available"

    services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
    page.locator(f'.scan-badge[data-file="{study_file.pk}"]', has_text="available").wait_for()
    browser_page.screenshot("browser-upload-scanned")
    assert browser_page.console_errors == []  # no CSP violation, no script error
