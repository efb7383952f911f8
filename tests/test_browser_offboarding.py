"""An administrator offboards a colleague whose browser is open: their next click fails."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import BrowserPage
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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
    page.set_default_timeout(15_000)
    return BrowserPage(page)


def test_offboarded_clinician_is_signed_out_on_next_click(
    chromium: Any, live_server: Any, site_admin: User, owner: User, outsider: User
) -> None:
    leaver = browser_signed_in(chromium, live_server, owner)
    leaver.page.goto("/")
    leaver.page.get_by_role("heading", name="Welcome, Alice").wait_for()

    admin = browser_signed_in(chromium, live_server, site_admin)
    admin.page.goto("/accounts/admin/users/")
    admin.page.get_by_role("link", name="Alice Martin").click()
    admin.page.get_by_label("Give their personal files to").select_option(label=outsider.email)
    admin.screenshot("offboarding-admin-form")
    admin.page.get_by_role("button", name="Deactivate").click()
    # Nothing happens before the confirmation page, which says what will be lost.
    admin.page.get_by_role("heading", name="Deactivate Alice Martin now?").wait_for()
    admin.page.get_by_text("1 open session ends at once").wait_for()
    admin.screenshot("offboarding-admin-confirm")
    admin.page.get_by_role("button", name="Deactivate").click()
    admin.page.get_by_text("Account deactivated").wait_for()
    admin.screenshot("offboarding-admin-done")

    # The leaver's tab is still open on the home page; one click later they are out.
    leaver.page.get_by_role("link", name="Teams").click()
    leaver.page.get_by_role("heading", name="Sign in to SecureDrive").wait_for()
    assert "/accounts/login/" in leaver.page.url
    leaver.screenshot("offboarding-leaver-signed-out")

    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert event.details["sessions_ended"] == 1
    assert event.details["successor"] == outsider.email
    assert leaver.console_errors == []
    assert admin.console_errors == []
    leaver.page.context.close()
    admin.page.context.close()
