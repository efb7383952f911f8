"""An administrator offboards a colleague whose browser is open: the preview says what will
happen, their next click fails, the report says what happened, and the radiologist
outside who had received a transfer is told, by e-mail, that it was withdrawn."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from sharing.services import transfers
from tests.conftest import BROWSER_TIMEOUT_MS, BrowserPage
from tests.files_helpers import content_of, version_store
from tests.helpers import client_signed_in
from tests.smtp_server import SmtpServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("folder_backend", "small_segments"),
]


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


def test_offboarded_clinician_is_signed_out_on_next_click(
    chromium: Any,
    live_server: Any,
    site_admin: User,
    owner: User,
    outsider: User,
    smtp_server: SmtpServer,
) -> None:
    transfer = transfers.transfer_create(
        actor=owner, subject="IRM Dupont", expires_at=timezone.now() + timedelta(days=7)
    )
    assert transfer.folder is not None
    version_store(actor=owner, folder=transfer.folder, name="dupont.dcm", content=content_of(90))
    transfers.transfer_send(
        actor=owner, transfer=transfer, recipients=["dr.radio@clinique.example"]
    )
    smtp_server.wait_for(1)  # the transfer itself reached the radiologist
    leaver = browser_signed_in(chromium, live_server, owner)
    leaver.page.goto("/")
    leaver.page.get_by_role("heading", name="Welcome, Alice").wait_for()

    admin = browser_signed_in(chromium, live_server, site_admin)
    admin.page.goto("/accounts/admin/users/")
    admin.page.get_by_role("link", name="Alice Martin").click()
    # The picker names people and their roles, not bare addresses.
    admin.page.get_by_label("Give their personal files to").select_option(
        label=f"Oscar Outsider — {outsider.email}"
    )
    admin.screenshot("offboarding-admin-form")
    admin.page.get_by_role("button", name="Deactivate").click()
    # Nothing happens before the preview, which says exactly what will happen.
    admin.page.get_by_role("heading", name="Deactivate Alice Martin now?").wait_for()
    preview = admin.page.locator("#offboarding-lines")
    preview.get_by_text("1 open session ends at once").wait_for()
    preview.get_by_text("1 transfer is withdrawn; its recipients are told").wait_for()
    preview.get_by_text("dr.radio@clinique.example").wait_for()
    handover = re.compile(r"1 file goes to Oscar Outsider .* “From Alice Martin \(")
    preview.get_by_text(handover).wait_for()
    admin.screenshot("offboarding-admin-confirm")
    admin.page.get_by_role("button", name="Deactivate").click()
    # After: the report, with the same numbers, in the past tense.
    admin.page.get_by_role("heading", name="Offboarding report: Alice Martin").wait_for()
    report = admin.page.locator("#offboarding-lines")
    report.get_by_text("1 session ended").wait_for()
    report.get_by_text("1 transfer withdrawn; its recipients were told").wait_for()
    report.get_by_text("dr.radio@clinique.example").wait_for()
    admin.screenshot("offboarding-admin-report")

    # The leaver's tab is still open on the home page; one click later they are out.
    leaver.page.get_by_role("link", name="Teams").click()
    leaver.page.get_by_role("heading", name="Sign in to SecureDrive").wait_for()
    assert "/accounts/login/" in leaver.page.url
    leaver.screenshot("offboarding-leaver-signed-out")

    # The radiologist is told, in a neutral notice that names neither patient nor file.
    smtp_server.wait_for(2)
    notice = smtp_server.to("dr.radio@clinique.example")[-1]
    assert "withdrawn" in notice["Subject"]
    assert "Alice Martin" in notice.text()
    for secret in ("Dupont", "dupont.dcm", "/s/"):
        assert secret not in notice.text() + notice.html() + notice["Subject"]

    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert event.details["sessions_ended"] == 1
    assert event.details["successor"] == outsider.email
    assert leaver.console_errors == []
    assert admin.console_errors == []
    leaver.page.context.close()
    admin.page.context.close()


def test_the_directory_deactivates_a_clinician_whose_browser_is_open(
    chromium: Any, live_server: Any, site_admin: User, owner: User
) -> None:
    """SCIM ``active: false``: one request, and the open tab is signed out on its next
    click while the link she had sent answers 410 (issue #17, item 2)."""
    import json

    from django.test import Client

    from directory.tokens import directory_token_create
    from files.services import space_personal_get_or_create, space_root
    from sharing.services import links

    report = version_store(
        actor=owner,
        folder=space_root(space_personal_get_or_create(user=owner)),
        name="cr.pdf",
        content=content_of(40),
    ).file
    _link, link_token = links.share_link_create(
        actor=owner, target=report, expires_at=timezone.now() + timedelta(days=3)
    )
    leaver = browser_signed_in(chromium, live_server, owner)
    leaver.page.goto("/")
    leaver.page.get_by_role("heading", name="Welcome, Alice").wait_for()
    outside = chromium.new_context(base_url=live_server.url).new_page()
    assert outside.goto(f"/s/{link_token}/").status == 200

    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").patch(
        f"/scim/v2/Users/{owner.pk}",
        json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            }
        ),
        content_type="application/scim+json",
    )
    assert answer.status_code == 200

    leaver.page.get_by_role("link", name="Teams").click()
    leaver.page.get_by_role("heading", name="Sign in to SecureDrive").wait_for()
    assert outside.goto(f"/s/{link_token}/").status == 410
    assert leaver.console_errors == []
    leaver.page.context.close()
    outside.context.close()
