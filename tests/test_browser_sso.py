"""In Chromium: a clinician signs in with her organisation's identity provider (code flow
with PKCE against the real provider on loopback), then signs out at the provider, and the
provider's back-channel logout ends her live SecureDrive session.
"""

from __future__ import annotations

from typing import Any

import pytest
from django_otp_webauthn.models import WebAuthnCredential
from pytest_django import Settings

from accounts.models import User, UserSession
from accounts.sessions import EndReason
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from sso.models import ExternalIdentity
from tests.conftest import BrowserPage, user_create
from tests.oidc_helpers import STRONG_ACR, WEAK_ACR, OpenIDProvider
from tests.test_browser_mfa import passkey_script_ready
from tests.test_sso_oidc import linked_alice

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("oidc_provider"),
]


def sign_in_with_provider(page: Any, login: str) -> None:
    page.goto("/")
    page.get_by_role("heading", name="Sign in to SecureDrive").wait_for()
    page.get_by_role("link", name="Sign in with Test provider").click()
    page.get_by_role("heading", name="Sign in at the test provider").wait_for()
    page.get_by_label("Identifier").fill(login)
    page.get_by_role("button", name="Continue").click()


def test_signing_out_at_the_provider_ends_the_live_session(
    browser_page: BrowserPage, oidc_provider: OpenIDProvider
) -> None:
    alice = linked_alice(oidc_provider)
    oidc_provider.assurance(STRONG_ACR, ["pwd", "hwk"])  # her e-CPS card, say
    page = browser_page.page

    sign_in_with_provider(page, "alice")
    page.get_by_role("heading", name="Welcome, Alice").wait_for()
    browser_page.screenshot("sso-signed-in")
    [session] = UserSession.objects.filter(user=alice, ended_at__isnull=True)

    # She signs out at the provider (its own page, another site).
    page.goto(f"{oidc_provider.issuer}/session/end")
    page.get_by_role("button", name="Yes, sign me out").click()
    page.get_by_role("heading", name="Signed out of the test provider").wait_for()
    assert oidc_provider.stats()["backchannel_logouts"] >= 1

    # Back on SecureDrive in the same browser: her session is over.
    page.goto("/files/")
    page.get_by_role("heading", name="Sign in to SecureDrive").wait_for()
    session.refresh_from_db()
    assert session.end_reason == EndReason.PROVIDER_LOGOUT
    assert AuditEvent.objects.filter(
        action=Action.SSO_BACKCHANNEL_LOGOUT, outcome=Outcome.SUCCESS, target_id=str(alice.pk)
    ).exists()
    assert browser_page.console_errors == []


def test_password_level_assurance_leads_to_the_local_second_factor(
    browser_page: BrowserPage, oidc_provider: OpenIDProvider
) -> None:
    linked_alice(oidc_provider)
    oidc_provider.assurance(WEAK_ACR, ["pwd"])
    page = browser_page.page
    sign_in_with_provider(page, "alice")
    page.get_by_role("heading", name="Two-step verification").wait_for()
    assert "/accounts/mfa/verify/" in page.url
    assert browser_page.console_errors == []


def test_sign_in_button_in_french(chromium: Any, live_server: Any, oidc_provider: Any) -> None:
    context = chromium.new_context(base_url=live_server.url, locale="fr-FR")
    page = context.new_page()
    page.goto("/accounts/login/")
    button = page.get_by_role("link", name="Se connecter avec Test provider")
    assert button.is_visible()
    assert page.get_by_text("Ou, avec le compte de votre établissement").is_visible()
    BrowserPage(page).screenshot("sso-sign-in-buttons-fr")
    context.close()
    assert User.objects.count() == 0


def test_provider_only_clinician_creates_her_first_passkey(
    browser_page: BrowserPage, oidc_provider: OpenIDProvider, live_server: Any, settings: Settings
) -> None:
    # Claire has no password and no device: only her link to the provider.
    claire = user_create("claire.durand@hopital.example", full_name="Claire Durand")
    claire.set_unusable_password()
    claire.save(update_fields=["password"])
    ExternalIdentity.objects.create(
        user=claire,
        name="Test provider",
        confirmed=True,
        provider="test",
        issuer=oidc_provider.issuer,
        subject="sub-claire",
    )
    oidc_provider.account(login="claire", sub="sub-claire", email=claire.email)
    oidc_provider.assurance(WEAK_ACR, ["pwd"])
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

    sign_in_with_provider(page, "claire")
    page.get_by_role("heading", name="Set up two-step verification").wait_for()
    page.get_by_role("link", name="Use a passkey").click()
    page.get_by_label("Name of this passkey").fill("Ward laptop")
    passkey_script_ready(page)
    page.get_by_role("button", name="Create a passkey").click()

    page.get_by_role("heading", name="Your recovery codes").wait_for()
    assert WebAuthnCredential.objects.get(user=claire).name == "Ward laptop"
    page.get_by_role("link", name="I have saved my codes").click()
    page.get_by_role("heading", name="Welcome, Claire").wait_for()
    assert browser_page.console_errors == []
