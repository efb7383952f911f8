"""A clinician sends a study to a radiologist outside the hospital through a link with a
password and e-mail verification; the radiologist, in another browser, gives the
password and the code from the e-mail and downloads; the clinician sees the receipt;
after revocation, and for an expired link, the same address is refused (410); the audit
log has every step."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from sharing.models import ShareLink
from tests.conftest import BROWSER_TIMEOUT_MS, BrowserPage
from tests.files_helpers import Backend, content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [
    pytest.mark.usefixtures("rate_limit_cache"),
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

RADIOLOGIST = "dr.radio@clinique.example"
PASSWORD = "Genou-droit-2026"


def browser_signed_in(chromium: Any, live_server: Any, user: User) -> BrowserPage:
    """A Chromium tab carrying a session that passed password and second factor."""
    client = client_signed_in(user, user_agent="Chromium (ward PC)")
    context = chromium.new_context(base_url=live_server.url, locale="en-GB")
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    return BrowserPage(page)


def test_a_radiologist_downloads_through_a_protected_link_until_it_is_withdrawn(
    chromium: Any, live_server: Any, owner: User, folder_backend: Backend, tmp_path: Path
) -> None:
    study = content_of(300_000, seed="genou")
    version = version_store(actor=owner, folder=root_of(owner), name="IRM genou.dcm", content=study)

    clinician = browser_signed_in(chromium, live_server, owner)
    clinician.page.goto(f"/sharing/files/{version.file_id}/links/")
    clinician.page.get_by_label("Password (optional)").fill(PASSWORD)
    clinician.page.get_by_label("Recipient's e-mail (optional)").fill(RADIOLOGIST)
    clinician.page.get_by_label("The recipient must confirm this address").check()
    clinician.page.get_by_label("Label (only you see it)").fill("Dr Radio, genou")
    clinician.page.get_by_role("button", name="Create the link").click()
    address = clinician.page.locator("#new-link-url").input_value()
    assert re.fullmatch(rf"{re.escape(settings.SITE_URL)}/s/[A-Za-z0-9_-]{{43}}/", address)
    clinician.screenshot("share-link-created")
    path = address.removeprefix(settings.SITE_URL)

    # The radiologist: another browser, no account, no cookie of the hospital.
    recipient_context = chromium.new_context(base_url=live_server.url, locale="en-GB")
    radiologist = BrowserPage(recipient_context.new_page())
    radiologist.page.set_default_timeout(BROWSER_TIMEOUT_MS)
    radiologist.page.goto(path)
    radiologist.page.get_by_label("Password").fill(PASSWORD)
    radiologist.page.get_by_role("button", name="Continue").click()
    radiologist.page.get_by_role("button", name="E-mail me a code").click()
    radiologist.page.locator("#link-notice").wait_for()
    (message,) = [m for m in mail.outbox if m.to == [RADIOLOGIST]]
    code = re.search(r"\b(\d{8})\b", str(message.body))
    assert code is not None
    radiologist.page.get_by_label("Code").fill(code.group(1))
    radiologist.page.get_by_role("button", name="Confirm").click()
    radiologist.page.get_by_text("IRM genou.dcm").wait_for()
    radiologist.screenshot("share-link-recipient")
    with radiologist.page.expect_download() as download_info:
        radiologist.page.locator("#link-download").click()
    saved = tmp_path / "download.dcm"
    download_info.value.save_as(saved)
    assert saved.read_bytes() == study

    # The clinician sees the receipt, and was told of the first download.
    clinician.page.goto(f"/sharing/files/{version.file_id}/links/")
    clinician.page.locator("details.link-receipts summary").click()
    receipt = clinician.page.locator(".link-receipt")
    receipt.wait_for()
    assert "IRM genou.dcm" in receipt.inner_text()
    assert RADIOLOGIST in receipt.inner_text()
    assert [m for m in mail.outbox if m.to == [owner.email] and "downloaded" in m.subject]
    clinician.screenshot("share-link-receipt")

    clinician.page.get_by_role("button", name="Withdraw").click()
    # Irreversible: a page says what ends; the link ends at its button only.
    clinician.page.locator("#confirm-button").click()
    clinician.page.locator('tr[data-state="revoked"]').wait_for()
    refused = radiologist.page.goto(path)
    assert refused is not None
    assert refused.status == 410
    radiologist.page.get_by_role("heading", name="This link was withdrawn").wait_for()
    radiologist.screenshot("share-link-revoked")

    # An expired link: the same answer, never the file.
    link = ShareLink.objects.get()
    ShareLink.objects.filter(pk=link.pk).update(
        revoked_at=None, expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    expired = radiologist.page.goto(path)
    assert expired is not None
    assert expired.status == 410
    radiologist.page.get_by_role("heading", name="This link has expired").wait_for()

    steps = [
        (event.action, event.details.get("outcome", ""))
        for event in AuditEvent.objects.filter(action__startswith="sharing.link.").order_by(
            "sequence"
        )
    ]
    for step in [
        (Action.SHARING_LINK_CREATE, ""),
        (Action.SHARING_LINK_ACCESS, "ok"),
        (Action.SHARING_LINK_VERIFY, "ok"),
        (Action.SHARING_LINK_DOWNLOAD, "ok"),
        (Action.SHARING_LINK_REVOKE, ""),
        (Action.SHARING_LINK_ACCESS, "revoked"),
        (Action.SHARING_LINK_ACCESS, "expired"),
    ]:
        assert step in steps, step
    assert [
        e.details["step"] for e in AuditEvent.objects.filter(action=Action.SHARING_LINK_VERIFY)
    ] == [
        "code sent",
        "code",
    ]
    assert AuditEvent.objects.filter(
        action=Action.FILES_VERSION_DOWNLOAD, actor_label=f"link:{link.pk}"
    ).exists()
    assert clinician.console_errors == []
    assert radiologist.console_errors == [] or all(
        "410" in error for error in radiologist.console_errors
    )
    clinician.page.context.close()
    radiologist.page.context.close()
