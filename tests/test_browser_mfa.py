"""In Chromium: a second factor is set up and used, as a clinician would.

Codes come from pyotp with the key shown on the page; passkeys from Chromium's virtual
authenticator (DevTools WebAuthn domain). WebAuthn needs a secure context and a domain
name: the live server is reached as http://localhost, which browsers treat as secure.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django_otp_webauthn.models import WebAuthnCredential
from playwright.sync_api import expect
from pytest_django import Settings

from accounts import invitations, mfa
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import PASSWORD, BrowserPage
from tests.helpers import totp_device_confirmed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INVITED_PASSWORD = "Consultation du mardi 2026!"


def password_step(page: Any, user: User, password: str = PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("E-mail address").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def passkey_script_ready(page: Any) -> None:
    # django-otp-webauthn's module script shows its button one await before it binds
    # the click handler: a person never clicks that fast, a robot can.
    page.wait_for_load_state("networkidle")


def session_id(page: Any) -> str:
    [cookie] = [c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME]
    return str(cookie["value"])


def assert_id_signed_out(session_key: str) -> None:
    """The id a browser held before its second factor opens nothing any more."""
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = session_key
    assert replay.get("/api/v1/me/").status_code in (401, 403)
    assert replay.get("/")["Location"].startswith("/accounts/login/")


def sign_out(page: Any) -> None:
    # The menu opens through Bootstrap, a deferred script: after a page reached by a click
    # (which waits for the page to arrive, not to load) it may not be listening yet.
    page.wait_for_load_state("load")
    page.locator("#user-menu").click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in to SecureDrive").wait_for()


def test_invited_clinician_sets_up_an_authenticator_app_then_signs_in_with_it(
    browser_page: BrowserPage, site_admin: User
) -> None:
    sent = invitations.invitation_create(
        actor=site_admin, email="claire.durand@hopital.example", full_name="Claire Durand"
    )
    page = browser_page.page
    page.goto(urlsplit(sent.url).path)  # the link from the invitation e-mail
    page.get_by_role("heading", name="Welcome to SecureDrive").wait_for()
    page.get_by_label("Password", exact=True).fill(INVITED_PASSWORD)
    page.get_by_label("Password again").fill(INVITED_PASSWORD)
    browser_page.screenshot("invitation-accept")
    page.get_by_role("button", name="Create my account").click()
    claire = User.objects.get(email="claire.durand@hopital.example")

    page.get_by_role("heading", name="Set up two-step verification").wait_for()
    assert "/accounts/mfa/setup/" in page.url
    browser_page.screenshot("mfa-enrol")

    page.get_by_role("link", name="Use an authenticator app").click()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    app = pyotp.TOTP(secret)  # what the phone computes after scanning the QR code
    page.wait_for_load_state("load")  # images included: the QR code is decoded by then
    assert page.locator("#totp-qr-code").evaluate("img => img.naturalWidth") > 100
    browser_page.screenshot("mfa-totp-add")
    page.get_by_label("6-digit code shown by the app").fill(app.now())
    page.get_by_label("Name of this authenticator app").fill("Work phone")
    page.get_by_role("button", name="Confirm and add").click()

    page.get_by_role("heading", name="Your recovery codes").wait_for()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(set(codes)) == 10
    browser_page.screenshot("mfa-recovery-codes")
    page.get_by_role("link", name="I have saved my codes").click()
    page.get_by_role("heading", name="Welcome, Claire").wait_for()

    sign_out(page)
    password_step(page, claire, INVITED_PASSWORD)
    page.get_by_role("heading", name="Two-step verification").wait_for()
    browser_page.screenshot("mfa-verify")
    # A code works once (replay protection): half a minute later the phone shows the
    # next one. The clock is moved for the server and pyotp alike, never slept.
    with time_machine.travel(dt.datetime.now(tz=dt.UTC), tick=True) as clock:
        clock.shift(dt.timedelta(seconds=app.interval))
        page.get_by_label("6-digit code").fill(app.now())
        page.get_by_role("button", name="Verify").click()
        page.get_by_role("heading", name="Welcome, Claire").wait_for()

    assert browser_page.console_errors == []
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_INVITATION_ACCEPT).count() == 1
    assert (
        AuditEvent.objects.filter(action=Action.ACCOUNTS_MFA_VERIFY, outcome="success").count() == 2
    )


def test_clinician_creates_a_passkey_then_signs_in_with_it(
    browser_page: BrowserPage, owner: User, live_server: Any, settings: Settings
) -> None:
    assert live_server.url.startswith("http://localhost:")  # an IP is no valid RP ID
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    page = browser_page.page
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    password_step(page, owner)
    page.get_by_role("link", name="Use a passkey").click()
    before_first_passkey = session_id(page)
    page.get_by_label("Name of this passkey").fill("Ward laptop")
    passkey_script_ready(page)
    page.get_by_role("button", name="Create a passkey").click()

    page.get_by_role("heading", name="Your recovery codes").wait_for()
    assert session_id(page) != before_first_passkey
    assert_id_signed_out(before_first_passkey)
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    passkey = WebAuthnCredential.objects.get(user=owner)
    assert passkey.name == "Ward laptop"
    page.get_by_role("link", name="I have saved my codes").click()
    page.get_by_role("heading", name="Welcome, Alice").wait_for()

    sign_out(page)
    password_step(page, owner)
    passkey_script_ready(page)
    before_passkey = session_id(page)
    page.get_by_role("button", name="Use my passkey").click()
    page.get_by_role("heading", name="Welcome, Alice").wait_for()
    assert session_id(page) != before_passkey
    assert_id_signed_out(before_passkey)

    page.goto("/accounts/security/")
    page.locator(f'[data-device="passkey-{passkey.pk}"]').wait_for()
    browser_page.screenshot("mfa-security")
    assert browser_page.console_errors == []
    verified = AuditEvent.objects.get(action=Action.ACCOUNTS_MFA_VERIFY, outcome="success")
    assert verified.details["device_type"] == "passkey"
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_MFA_DEVICE_ADD).count() == 1


def test_clinician_without_their_phone_signs_in_with_a_recovery_code(
    browser_page: BrowserPage, owner: User
) -> None:
    totp_device_confirmed(owner)
    codes = mfa.recovery_codes_generate(actor=owner)
    page = browser_page.page
    password_step(page, owner)
    page.get_by_role("link", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(codes[3])
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name="Welcome, Alice").wait_for()
    assert mfa.recovery_codes_remaining(user=owner) == 9
    assert browser_page.console_errors == []
