"""A clinician sends a transfer from the browser: creates it, uploads a study with the
resumable upload widget, picks a letter from her files, sends it; the radiologist opens
the personal link from the e-mail in another browser and downloads; the clinician sees
the receipt. No console error anywhere (strict CSP)."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import mail
from django.test import Client

from accounts.models import User
from sharing.models import ShareLinkDownload, Transfer
from tests.conftest import BrowserPage
from tests.files_helpers import Backend, content_of, root_of, version_store
from tests.helpers import client_signed_in


def test_clinician_sends_a_transfer_and_sees_the_recipients_download(
    browser_page: BrowserPage,
    chromium: Any,
    live_server: Any,
    owner: User,
    folder_backend: Backend,
) -> None:
    version_store(
        actor=owner, folder=root_of(owner), name="Courrier.txt", content=b"Cher confrere\n" * 40
    )
    signed_in: Client = client_signed_in(owner)
    session = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    page = browser_page.page
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )

    page.goto("/sharing/transfers/")
    page.locator("#transfer-new").click()
    page.locator("#id_subject").fill("IRM genou Mme Durand")
    page.locator("#id_message").fill("Pour avis, merci.")
    page.locator("#transfer-form button[type=submit]").click()
    page.locator("#upload-zone").wait_for()

    study = content_of(1024 * 1024 + 5, seed="irm")
    page.locator("#upload-files").set_input_files(
        [{"name": "IRM.dcm", "mimeType": "application/dicom", "buffer": study}]
    )
    page.locator(".upload-row.upload-done").wait_for()
    page.locator("#folder-listing").get_by_text("IRM.dcm").wait_for()
    letter = page.locator("#id_file_ids option", has_text="Courrier.txt").get_attribute("value")
    assert letter
    page.locator("#id_file_ids").select_option(letter)
    page.locator("#transfer-pick button[type=submit]").click()
    page.locator("#folder-listing").get_by_text("Courrier.txt").wait_for()

    page.locator("#id_recipients").fill("dr.radio@clinique.example")
    page.locator("#transfer-send button[type=submit]").click()
    page.locator("#transfer-recipients").get_by_text("dr.radio@clinique.example").wait_for()
    transfer = Transfer.objects.get(subject="IRM genou Mme Durand")
    assert transfer.sent_at is not None
    received = [message for message in mail.outbox if message.to == ["dr.radio@clinique.example"]]
    assert len(received) == 1
    found = re.search(r"https?://\S+?(/s/[A-Za-z0-9_-]{43}/)", str(received[0].body))
    assert found

    # The radiologist, in a browser of their own; the study is scanned clean meanwhile.
    from files import services
    from files.models import File, ScanStatus

    for file in File.objects.filter(folder=transfer.folder):
        assert file.current_version is not None
        services.version_mark_scanned(version=file.current_version, status=ScanStatus.AVAILABLE)
    recipient = chromium.new_context(base_url=live_server.url, locale="en-GB")
    try:
        other = recipient.new_page()
        other.goto(found.group(1))
        # The code the site asks for by default, from the radiologist's mailbox.
        other.locator("#link-send-code").click()
        other.locator("#link-notice").wait_for()
        code = mail.outbox[-1].subject.rsplit(" ", 1)[-1]
        assert mail.outbox[-1].to == ["dr.radio@clinique.example"]
        other.locator("#link-code").fill(code)
        other.locator("#link-code-confirm").click()
        other.locator("#link-files").wait_for()
        with other.expect_download() as download_info:
            other.locator("#link-files li", has_text="IRM.dcm").get_by_role("link").click()
        download = download_info.value
        assert Path(download.path()).read_bytes() == study
        # On a phone, the count and size of everything read on one line: beside the
        # ZIP button they were split over two ("2 files," then "1.0 MB" under it).
        other.set_viewport_size({"width": 390, "height": 844})
        total = other.locator("#link-download-all + span").bounding_box()
        assert total is not None
        assert total["height"] < 30, total
    finally:
        recipient.close()

    assert ShareLinkDownload.objects.filter(link__transfer=transfer, name="IRM.dcm").exists()
    page.reload()
    page.locator("#transfer-recipients .receipts").get_by_text("IRM.dcm").wait_for()
    browser_page.screenshot("transfer-receipt")
    # On a phone the files are stacked cards; the total is a line across them, its
    # name at one end and the size at the other (it was a table row squeezed to the
    # width of its two words, under the last card).
    page.set_viewport_size({"width": 390, "height": 844})
    table = page.locator("#transfer-files").bounding_box()
    total = page.locator("#transfer-files tfoot tr")
    line = total.bounding_box()
    name, size = (cell.bounding_box() for cell in total.locator("th, td").all()[:2])
    assert table is not None
    assert line is not None
    assert name is not None
    assert size is not None
    assert line["width"] > 0.9 * table["width"], (line, table)
    assert size["x"] + size["width"] > line["x"] + 0.8 * line["width"], (size, line)
    assert abs(size["y"] - name["y"]) < 5, (name, size)
    assert browser_page.console_errors == []
