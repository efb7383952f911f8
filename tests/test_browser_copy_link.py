"""A clinician asks a lab for results: on the new file request's page she chooses "a
week" (the date input shows only for "until a date"), and copies the request's link
with one click; the clipboard holds exactly the link shown, and the page says
"Copied" to her screen reader too."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts.models import User
from sharing.models import FileRequest
from sharing.services.policy import expiry_in_days
from tests.files_helpers import Backend, root_of
from tests.test_browser_share_link import browser_signed_in

pytestmark = [
    pytest.mark.usefixtures("rate_limit_cache"),
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_a_clinician_copies_the_link_of_a_new_file_request(
    chromium: Any, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    root_of(owner)  # her space, where the files will go
    clinician = browser_signed_in(chromium, live_server, owner)
    page = clinician.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto("/sharing/requests/new/")
    page.get_by_label("Title").fill("Bilan sanguin M. Petit")

    expiry = page.get_by_role("group", name="Available for")
    last_day = expiry.get_by_label("Last day (included)")
    expect(last_day).to_be_hidden()  # a preset is chosen: no date to give
    expiry.get_by_label("until a date").check()
    expect(last_day).to_be_visible()
    expiry.get_by_label("7 days").check()
    expect(last_day).to_be_hidden()
    page.get_by_role("button", name="Create the link").click()

    shown = page.locator("#request-url").input_value()
    assert shown.startswith(f"{settings.SITE_URL}/r/")
    # The click waited for the new page to arrive, not for its deferred scripts: the
    # copy button does nothing until copy.js has bound it (at DOMContentLoaded).
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Copy the link").click()
    page.get_by_role("status").filter(has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == shown
    clinician.screenshot("file-request-link-copied")

    created = FileRequest.objects.get()
    assert abs(created.expires_at - expiry_in_days(7)) < dt.timedelta(minutes=1)
    assert clinician.console_errors == []
