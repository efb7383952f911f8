"""The uploader knows the scanner's limit before it starts (issue #16): a file the site
would block after the upload is refused in the browser before a byte is sent, with the
reason and what to do; a ZIP (scanned file by file) and a small file go through. With
the production limit (a clamd of our own, StreamMaxLength 4000M) a real 5 GiB file is
refused under the block policy and sent under the windowed one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test.utils import override_settings

from accounts.models import User
from files import scan_policy
from files.clamd import CLAMAV_SCAN_MAX_BYTES
from files.models import File, ScanPolicyChoice, UploadSession
from tests.conftest import BrowserPage
from tests.files_helpers import Backend, content_of
from tests.test_browser_upload import signed_in_page
from tests.test_scanning_large import PRODUCTION_LIMITS, clamd_private, dicom_like, study_zip


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
        assert warning.endswith("20.0\u00a0kB.")
        page.locator(".upload-row.upload-done").nth(1).wait_for()
        browser_page.screenshot("browser-upload-scan-limit")

    assert sorted(File.objects.values_list("name", flat=True)) == ["Courrier.txt", "scanner.zip"]
    assert UploadSession.objects.count() == 2  # nothing was started for echo.mp4
    assert browser_page.console_errors == []


@pytest.fixture
def production_clamd(tmp_path: Path, clamd: str) -> Iterator[str]:
    """clamd at the production limits (docs/scanning.md: 4000M, clamd's ceiling), ours
    alone, scanning this test's uploads; one pass stays under what ClamAV scans in one
    file (2 GiB)."""
    with (
        clamd_private(tmp_path, PRODUCTION_LIMITS) as address,
        override_settings(CLAMD_ADDRESS=address),
    ):
        yield address


def test_a_5_gib_file_is_refused_before_sending_under_block_and_sent_under_windowed(
    browser_page: BrowserPage,
    live_server: Any,
    owner: User,
    site_admin: User,
    folder_backend: Backend,
    production_clamd: str,
    tmp_path: Path,
) -> None:
    echo = tmp_path / "echo-cardiaque.mp4"
    with echo.open("wb") as sparse:
        sparse.truncate(5 * 2**30)  # a real 5 GiB file that takes no disk
    page = signed_in_page(browser_page, live_server, owner)
    page.goto("/files/")
    zone = page.locator("#upload-zone")
    assert zone.get_attribute("data-scan-max-bytes") == str(CLAMAV_SCAN_MAX_BYTES)
    assert zone.get_attribute("data-scan-policy") == "block"

    page.locator("#upload-files").set_input_files(str(echo))
    warning = page.locator(".upload-row.upload-refused").get_by_role("alert")
    warning.wait_for()
    text = warning.inner_text()
    assert text.startswith("Not sent: this file is larger than the virus scanner can check")
    assert text.endswith("2.1\u00a0GB.")  # 2 GiB - 1 MiB in the list's decimal units
    browser_page.screenshot("browser-upload-5gib-blocked")
    assert not UploadSession.objects.exists()  # not one byte, not even a session

    scan_policy.site_scan_policy_set(actor=site_admin, policy=ScanPolicyChoice.WINDOWED)
    page.goto("/files/")
    page.evaluate("document.getElementById('upload-zone').dataset.chunkSize = '1048576'")
    page.locator("#upload-files").set_input_files(str(echo))
    row = page.locator(".upload-row").last
    row.get_by_role("status").get_by_text("scanned in overlapping windows").wait_for()
    row.locator(".upload-status", has_text="/ 5.4\u00a0GB").wait_for()  # bytes are going out
    # Polled in the database (no page element says it), through Playwright so that the
    # page goes on; two minutes, for a loaded machine.
    deadline = time.monotonic() + 120
    while not UploadSession.objects.filter(offset__gt=0).exists():  # the server keeps them
        assert time.monotonic() < deadline, "no PATCH was committed within 2 minutes"
        page.wait_for_timeout(100)
    row.get_by_role("button", name="Pause").click()  # the whole 5 GiB is not needed here
    row.locator(".upload-status", has_text="Paused").wait_for()
    session = UploadSession.objects.get()
    assert session.length == 5 * 2**30
    assert session.offset < session.length
    assert browser_page.console_errors == []
