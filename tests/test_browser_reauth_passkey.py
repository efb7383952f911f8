"""In Chromium: a clinician whose only second factor is a passkey confirms it again
before minting an API token (accounts/reauth.py, "sudo mode"), with Chromium's virtual
authenticator (DevTools WebAuthn domain), as tests/test_browser_mfa.py does.

The story: Alice signed in with her passkey a while ago (her proof is stale); she asks
for a token for the ward scanner, is asked to confirm it is her, touches her passkey,
comes back to the tokens page told that nothing was done yet, sends the form again and
gets her token. The log says she confirmed (``accounts.reauth``, success, passkey)."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest
from django.conf import settings
from django_otp_webauthn.models import WebAuthnCredential
from pytest_django import Settings

from accounts import mfa
from accounts.models import PersonalAccessToken, User
from accounts.reauth import PROOF_SESSION_KEY
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import BrowserPage
from tests.test_browser_mfa import passkey_script_ready, password_step, session_id

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def proof_made_stale(session_key: str) -> None:
    """As after REAUTH_MINUTES without a second factor: the session forgets its proof."""
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    session.pop(PROOF_SESSION_KEY, None)
    session.save()


def ask_for_a_token(page: Any) -> None:
    page.goto("/accounts/tokens/")
    page.get_by_label("Name").fill("Scanner in room 12")
    page.get_by_label("Expires after (days)").fill("7")
    page.get_by_role("button", name="Create token").click()


def test_clinician_with_only_a_passkey_confirms_it_before_minting_a_token(
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
    # Alice's only second factor: a passkey, created at her first sign-in.
    password_step(page, owner)
    page.get_by_role("link", name="Use a passkey").click()
    page.get_by_label("Name of this passkey").fill("Ward laptop")
    passkey_script_ready(page)
    page.get_by_role("button", name="Create a passkey").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    page.get_by_role("link", name="I have saved my codes").click()
    page.get_by_role("heading", name="Welcome, Alice").wait_for()
    assert WebAuthnCredential.objects.filter(user=owner).count() == 1
    assert not mfa.devices_of(user=owner, kind=mfa.DeviceKind.TOTP).exists()

    proof_made_stale(session_id(page))
    ask_for_a_token(page)

    page.get_by_role("heading", name="Confirm it is you").wait_for()
    assert "/accounts/security/confirm/" in page.url
    page.get_by_text("Nothing was changed yet").wait_for()
    assert not PersonalAccessToken.objects.exists()
    before = session_id(page)
    passkey_script_ready(page)
    page.get_by_role("button", name="Use my passkey").click()

    page.get_by_role("heading", name="API tokens").wait_for()
    page.get_by_text("Confirmed. Nothing was changed yet: you can do it now.").wait_for()
    assert session_id(page) != before  # a fresh proof, a fresh session id
    assert not PersonalAccessToken.objects.exists()  # the refused form was not replayed
    ask_for_a_token(page)
    page.get_by_role("heading", name="Token “Scanner in room 12” created").wait_for()
    browser_page.screenshot("reauth-passkey-token")

    assert PersonalAccessToken.objects.filter(user=owner, name="Scanner in room 12").exists()
    confirmed = AuditEvent.objects.get(action=Action.ACCOUNTS_REAUTH)
    assert confirmed.outcome == "success"
    assert confirmed.actor_id == str(owner.pk)
    assert confirmed.details["device_type"] == "passkey"
    assert browser_page.console_errors == []
