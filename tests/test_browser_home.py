"""A person signs in with Chromium, sees the home page and switches to French."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.conftest import PASSWORD, BrowserPage
from tests.helpers import totp_code, totp_device_confirmed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_clinician_signs_in_and_reads_the_home_page_in_both_languages(
    browser_page: BrowserPage, owner: User
) -> None:
    page = browser_page.page
    page.goto("/")
    assert "/accounts/login/" in page.url

    device = totp_device_confirmed(owner)
    page.get_by_label("E-mail address").fill(owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("6-digit code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()

    page.get_by_role("heading", name="Welcome, Alice").wait_for()
    # A clinician's home: their favourites and recent files; the platform's status
    # (database, queue) is for site administrators (tests/test_web_shell.py).
    assert page.get_by_role("heading", name="Recent files").is_visible()
    assert page.locator("#platform-status").count() == 0
    # Scripts run under the strict CSP: "?" opens the shortcuts' help. The deferred
    # script listens once the page has loaded; the heading shows before that.
    page.wait_for_load_state("load")
    page.keyboard.press("?")
    page.get_by_role("heading", name="Keyboard shortcuts").wait_for()
    page.keyboard.press("Escape")
    assert page.locator("#scanner-disabled").is_visible()
    # Bootstrap's CSS is applied (the navbar is styled, not a bare list).
    assert page.locator("nav.navbar").evaluate("e => getComputedStyle(e).display") == "flex"
    browser_page.screenshot("home-en")

    page.locator("#language-menu").click()
    page.get_by_role("button", name="Français").click()
    page.get_by_role("heading", name="Bienvenue, Alice").wait_for()
    page.get_by_role("heading", name="Fichiers récents").wait_for()
    assert page.locator("html").get_attribute("lang") == "fr"
    browser_page.screenshot("home-fr")

    assert browser_page.console_errors == []  # no CSP violation, no script error
