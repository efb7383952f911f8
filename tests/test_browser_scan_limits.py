"""The uploader knows the scanner's limit before it starts (issue #16): a file the site
would block after the upload is refused in the browser before a byte is sent, with the
reason and what to do; a ZIP (scanned file by file) and a small file go through."""

from __future__ import annotations

from typing import Any

from django.test.utils import override_settings

from accounts.models import User
from files.models import File, UploadSession
from tests.conftest import BrowserPage
from tests.files_helpers import Backend, content_of
from tests.test_browser_upload import signed_in_page
from tests.test_scanning_large import dicom_like, study_zip


def test_a_file_beyond_the_scanner_limit_is_refused_before_a_byte_is_sent(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend, clamd: str
) -> None:
    page = signed_in_page(browser_page, live_server, owner)
    study = study_zip(
        {f"SERIE/IM{index}.dcm": dicom_like(15_000, str(index)) for index in range(4)}
    )
    with override_settings(SCAN_MAX_BYTES=20_000):
        page.goto("/files/")
        page.locator("#upload-files").set_input_files(
            [
                {"name": "echo.mp4", "mimeType": "video/mp4", "buffer": content_of(60_000)},
                {"name": "Courrier.txt", "mimeType": "text/plain", "buffer": b"Cher confrere"},
                {"name": "scanner.zip", "mimeType": "application/zip", "buffer": study},
            ]
        )
        refused = page.locator(".upload-row.upload-refused")
        refused.get_by_role("alert").wait_for()
        warning = refused.get_by_role("alert").inner_text()
        assert "Not sent: this file is larger than the virus scanner can check" in warning
        assert "Put it in a ZIP archive" in warning
        assert warning.endswith("20.0 kB.")
        page.locator(".upload-row.upload-done").nth(1).wait_for()
        browser_page.screenshot("browser-upload-scan-limit")

    assert sorted(File.objects.values_list("name", flat=True)) == ["Courrier.txt", "scanner.zip"]
    assert UploadSession.objects.count() == 2  # nothing was started for echo.mp4
    assert browser_page.console_errors == []
