"""A lab answers a file request in a real Chromium, with no account: tus-js-client
uploads through /r/<token>/uploads/, each file shows as received, and the page runs
under the strict CSP without a single console error."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts.models import User
from files import services
from files.models import File, ScanStatus
from sharing.models import FileRequestUpload
from sharing.services import file_requests
from tests.conftest import BrowserPage
from tests.files_helpers import Backend, body_of, content_of
from tests.helpers import client_signed_in


def test_lab_uploads_through_a_file_request_page_without_an_account(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    root = services.space_root(services.space_personal_get_or_create(user=owner))
    folder = services.folder_create(actor=owner, parent=root, name="Résultats")
    file_request, token = file_requests.file_request_create(
        actor=owner,
        folder=folder,
        title="Bilan M. Petit",
        instructions="PDF uniquement.",
        expires_at=timezone.now() + timedelta(days=3),
        max_files=2,
    )
    page = browser_page.page
    page.goto(f"/r/{token}/")
    page.get_by_text("PDF uniquement.").wait_for()
    page.locator("#uploader-name").fill("Laboratoire Bio+")
    page.locator("#uploader-email").fill("contact@bioplus.example")
    report = content_of(2 * 1024 * 1024 + 17, seed="lab")
    page.locator("#request-files").set_input_files(
        [
            {"name": "bilan.pdf", "mimeType": "application/pdf", "buffer": report},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"RAS\n" * 20},
        ]
    )
    page.locator(".request-done").nth(1).wait_for()
    browser_page.screenshot("file-request-upload")

    received = File.objects.get(folder=folder, name="bilan.pdf")
    assert received.current_version is not None
    services.version_mark_scanned(version=received.current_version, status=ScanStatus.AVAILABLE)
    download = client_signed_in(owner).get(f"/files/{received.pk}/download/")
    assert hashlib.sha256(body_of(download)).hexdigest() == hashlib.sha256(report).hexdigest()
    uploads = FileRequestUpload.objects.filter(request=file_request, completed_at__isnull=False)
    assert {upload.uploader_email for upload in uploads} == {"contact@bioplus.example"}

    # The limit (two files) is reached: a third file is refused with a clear message.
    page.locator("#request-files").set_input_files(
        [{"name": "extra.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n"}]
    )
    page.locator(".request-failed", has_text="no more files").wait_for()
    assert not File.objects.filter(folder=folder, name="extra.pdf").exists()
    # The refused POST is a 413 the page handles; nothing else may fail.
    unexpected = [error for error in browser_page.console_errors if "413" not in error]
    assert unexpected == []
