"""Signing in with the organisation's identity provider, against a real OpenID provider
(panva's oidc-provider on loopback, tests/oidc_helpers.py): code flow with PKCE, state
and nonce, ID tokens checked, accounts found by (issuer, subject) only, the provider's
strong authentication accepted as the second factor only when the administrator says so.

The people: Alice, whose account is linked to her identity at the provider; Claire,
invited by Sam, who accepts with the provider from her invitation's link; Bob, who has an
account whose address someone else asserts; Mallory, who asserts other people's addresses.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
import time_machine
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core import mail
from django.test import Client
from django.test.utils import override_settings
from joserfc import jwt
from joserfc.jwk import RSAKey

from accounts import invitations
from accounts.models import User, UserSession
from accounts.totp import AuthenticatorApp
from audit.actions import Action
from audit.alerts import alerts_evaluate
from audit.floods import refusal_floods_close
from audit.models import AlertRule, AuditEvent, Outcome
from sso.models import ExternalIdentity
from tests.conftest import PASSWORD, user_create
from tests.helpers import client_password_only, totp_code, totp_device_confirmed
from tests.oidc_helpers import (
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    STRONG_ACR,
    WEAK_ACR,
    Forgery,
    OpenIDProvider,
    is_callback,
    provider_flow,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("oidc_provider")]

ALICE_SUB = "248289761001"  # a stable subject, as providers issue them


def linked_alice(provider: OpenIDProvider) -> User:
    alice = user_create("alice.martin@hopital.example", full_name="Alice Martin")
    totp_device_confirmed(alice)
    ExternalIdentity.objects.create(
        user=alice,
        name="Test provider",
        confirmed=True,
        provider="test",
        issuer=provider.issuer,
        subject=ALICE_SUB,
    )
    provider.account(login="alice", sub=ALICE_SUB, email="alice.martin@hopital.example")
    return alice


def sign_in(
    live_server: Any, login: str, *, slug: str = "test", http: requests.Session | None = None
) -> requests.Response:
    http = http or requests.Session()
    return provider_flow(http, f"{live_server.url}/sso/{slug}/login/", login=login)


def accept_with_provider(
    live_server: Any,
    sent: invitations.InvitationSent,
    login: str,
    *,
    http: requests.Session,
    slug: str = "test",
) -> requests.Response:
    """What the invitee does: open the link from the e-mail, choose "Accept with the
    provider", sign in there; returns SecureDrive's answer to the callback."""
    page_url = f"{live_server.url}{urlsplit(sent.url).path}"
    page = http.get(page_url, timeout=10)
    assert page.status_code == 200
    start = http.post(
        f"{live_server.url}/sso/{slug}/invitation/",
        data={
            "invitation": urlsplit(sent.url).path.rstrip("/").rsplit("/", 1)[-1],
            "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME],
        },
        headers={"Referer": page_url},
        allow_redirects=False,
        timeout=10,
    )
    assert start.status_code == 302, start.text
    return provider_flow(http, start.headers["Location"], login=login)


def confirm_link(live_server: Any, http: requests.Session) -> requests.Response:
    return http.post(
        f"{live_server.url}/sso/link/",
        data={"confirm": "yes", "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME]},
        headers={"Referer": f"{live_server.url}/sso/link/"},
        allow_redirects=False,
        timeout=10,
    )


def landing(http: requests.Session, response: requests.Response) -> str:
    """Where SecureDrive finally shows the person after the callback: the page's path."""
    final = http.get(urljoin(response.url, response.headers["Location"]), timeout=10)
    return urlsplit(final.url).path


def sign_ins() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.SSO_SIGN_IN, outcome=Outcome.SUCCESS))


def refusals(reason_part: str = "") -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action=Action.SSO_TOKEN_REFUSE, outcome=Outcome.DENIED)
    return [event for event in events if reason_part in str(event.details.get("reason", ""))]


# --- Code flow with PKCE ---------------------------------------------------------------------


def test_sign_in_request_uses_code_flow_with_pkce_state_and_nonce(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    start = requests.get(f"{live_server.url}/sso/test/login/", allow_redirects=False, timeout=10)
    assert start.status_code == 302
    location = urlsplit(start.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == oidc_provider.issuer
    query = parse_qs(location.query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # base64url of a SHA-256
    assert len(query["state"][0]) >= 20
    assert len(query["nonce"][0]) >= 20
    assert "openid" in query["scope"][0].split()


def test_linked_clinician_signs_in_and_is_asked_for_her_own_second_factor(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    alice = linked_alice(oidc_provider)
    http = requests.Session()
    landed = sign_in(live_server, "alice", http=http)
    # Password-level assurance at the provider: SecureDrive still wants Alice's app.
    assert landing(http, landed) == "/accounts/mfa/verify/"
    assert http.get(f"{live_server.url}/api/v1/me/", timeout=10).status_code in (401, 403)
    event = AuditEvent.objects.get(action=Action.SSO_SIGN_IN, outcome=Outcome.SUCCESS)
    assert event.actor_id == str(alice.pk)
    assert event.details["second_factor"] == "local"
    assert event.details["subject"] == ALICE_SUB
    assert UserSession.objects.filter(user=alice, ended_at__isnull=True).count() == 1


def test_accepted_acr_stands_for_the_second_factor(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    alice = linked_alice(oidc_provider)
    oidc_provider.assurance(STRONG_ACR, ["pwd", "hwk"])  # e.g. Pro Santé Connect's e-CPS
    http = requests.Session()
    landed = sign_in(live_server, "alice", http=http)
    assert landing(http, landed) == "/"
    me = http.get(f"{live_server.url}/api/v1/me/", timeout=10)
    assert me.status_code == 200
    assert me.json()["email"] == alice.email
    verify = AuditEvent.objects.get(action=Action.ACCOUNTS_MFA_VERIFY)
    assert verify.details["device_type"] == "identity provider"
    assert verify.details["acr"] == STRONG_ACR


def test_a_sign_in_with_the_providers_second_factor_is_a_recent_proof(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    """Recent authentication (accounts/reauth.py): right after such a sign-in, adding a
    passkey is not sent to "Confirm it is you"."""
    linked_alice(oidc_provider)
    oidc_provider.assurance(STRONG_ACR, ["pwd", "hwk"])
    http = requests.Session()
    assert landing(http, sign_in(live_server, "alice", http=http)) == "/"
    page = http.get(f"{live_server.url}/accounts/mfa/setup/passkey/", allow_redirects=False)
    assert page.status_code == 200


def test_acr_not_listed_by_the_administrator_is_not_a_second_factor(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    linked_alice(oidc_provider)
    oidc_provider.assurance(STRONG_ACR)
    # The administrator accepts only another value for this provider.
    configured = oidc_provider.settings_for(accepted_acr=["urn:other:strong"])
    http = requests.Session()
    with override_settings(OIDC_PROVIDERS={"test": configured}):
        landed = sign_in(live_server, "alice", http=http)
        assert landing(http, landed) == "/accounts/mfa/verify/"


def test_accepted_amr_value_stands_for_the_second_factor(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    linked_alice(oidc_provider)
    oidc_provider.assurance("urn:securedrive:test:password", ["pwd", "otp"])
    configured = oidc_provider.settings_for(accepted_acr=[], accepted_amr=["otp", "hwk"])
    http = requests.Session()
    with override_settings(OIDC_PROVIDERS={"test": configured}):
        landed = sign_in(live_server, "alice", http=http)
        assert landing(http, landed) == "/"


def test_a_weaker_sign_in_cannot_enrol_a_device_where_the_provider_was_the_second_factor(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    """Alice has no password and no app or passkey of her own: the provider's accepted
    assurance (her e-CPS) has been her second factor. Mallory has her password at the
    provider only, which answers at a lower level: SecureDrive must not send him to
    set up his own authenticator app on her account."""
    alice = user_create("alice.martin@hopital.example", full_name="Alice Martin")
    alice.set_unusable_password()
    alice.save(update_fields=["password"])
    ExternalIdentity.objects.create(
        user=alice,
        name="Test provider",
        confirmed=True,
        provider="test",
        issuer=oidc_provider.issuer,
        subject=ALICE_SUB,
    )
    oidc_provider.account(login="alice", sub=ALICE_SUB, email=alice.email)
    oidc_provider.assurance(STRONG_ACR, ["pwd", "hwk"])
    her_pc = requests.Session()
    assert landing(her_pc, sign_in(live_server, "alice", http=her_pc)) == "/"

    oidc_provider.assurance(WEAK_ACR, ["pwd"])
    mallory = requests.Session()
    refused = sign_in(live_server, "alice", http=mallory)
    assert refused.status_code == 403
    assert "second factor" in refused.text
    app_setup = mallory.get(
        f"{live_server.url}/accounts/mfa/setup/authenticator-app/", allow_redirects=False
    )
    assert app_setup.status_code == 302
    assert "/accounts/login/" in app_setup.headers["Location"]
    assert UserSession.objects.filter(user=alice).count() == 1  # her own sign-in only
    event = AuditEvent.objects.get(action=Action.SSO_SIGN_IN, outcome=Outcome.DENIED)
    assert event.actor_id == str(alice.pk)
    assert event.details["reason"] == "second factor not asserted, as it was before"
    assert event.details["acr"] == WEAK_ACR


def test_a_weaker_sign_in_still_leads_to_her_own_app_when_she_has_one(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    linked_alice(oidc_provider)  # with an authenticator app of her own
    oidc_provider.assurance(STRONG_ACR, ["pwd", "hwk"])
    her_pc = requests.Session()
    assert landing(her_pc, sign_in(live_server, "alice", http=her_pc)) == "/"
    oidc_provider.assurance(WEAK_ACR, ["pwd"])
    http = requests.Session()
    assert landing(http, sign_in(live_server, "alice", http=http)) == "/accounts/mfa/verify/"


def test_her_password_alone_cannot_enrol_a_device_where_the_provider_was_the_second_factor(
    oidc_provider: OpenIDProvider,
) -> None:
    """Alice kept the password she was invited with, but never set up an app: she signs
    in through the provider, whose accepted assurance is her second factor. Her
    SecureDrive password alone must not let Mallory enrol his own app on her account."""
    alice = provider_standing_alice(oidc_provider)
    mallory = client_password_only(alice)
    enrol = mallory.get("/accounts/mfa/setup/")
    assert enrol.status_code == 403
    assert "Test provider confirms your second factor" in enrol.content.decode()
    app_setup = mallory.get("/accounts/mfa/setup/authenticator-app/")
    assert app_setup.status_code == 302
    assert not AuthenticatorApp.objects.filter(user=alice).exists()
    passkey_begin = mallory.post("/accounts/webauthn/registration/begin/")
    assert passkey_begin.status_code in (400, 403)
    event = AuditEvent.objects.filter(
        action=Action.ACCOUNTS_MFA_DEVICE_ADD, outcome=Outcome.DENIED
    ).first()
    assert event is not None
    assert "Test provider" in event.details["reason"]


def provider_standing_alice(provider: OpenIDProvider) -> User:
    """Alice kept the password she was invited with but has no app or passkey of her own:
    the provider's accepted assurance (her e-CPS) has stood for her second factor."""
    alice = user_create("alice.martin@hopital.example", full_name="Alice Martin")
    ExternalIdentity.objects.create(
        user=alice,
        name="Test provider",
        confirmed=True,
        provider="test",
        issuer=provider.issuer,
        subject=ALICE_SUB,
        second_factor_asserted_at=dt.datetime.now(tz=dt.UTC),
    )
    provider.account(login="alice", sub=ALICE_SUB, email=alice.email)
    return alice


def sign_in_again_form(page: str) -> str:
    """The action of the page's "Sign in again with Test provider" form (one only)."""
    assert page.count("Sign in again with Test provider</button>") == 1, page
    forms = [
        action
        for action in (part.split('"', 1)[0] for part in page.split('action="')[1:])
        if action.endswith("/again/")
    ]
    assert len(forms) == 1, page
    return forms[0]


def test_refused_weaker_sign_in_leads_in_one_click_to_the_providers_second_factor(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    """The provider kept Alice's password-only session open: signing in again from the
    login page, it answers from that session, at the same lower level, and she is refused
    again. The refusal page's "Sign in again" button makes it authenticate her again
    (prompt=login, max_age=0, the accepted acr asked for): with her e-CPS she is in."""
    alice = provider_standing_alice(oidc_provider)
    oidc_provider.assurance(WEAK_ACR, ["pwd"])
    http = requests.Session()
    refused = sign_in(live_server, "alice", http=http)
    assert refused.status_code == 403
    action = sign_in_again_form(refused.text)

    # She has her e-CPS at hand now; a plain sign-in does not let the provider ask for it.
    oidc_provider.assurance(STRONG_ACR, ["pwd", "hwk"])
    assert sign_in(live_server, "alice", http=http).status_code == 403

    start = http.post(
        urljoin(live_server.url, action),
        data={"csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME]},
        headers={"Referer": refused.url},
        allow_redirects=False,
        timeout=10,
    )
    assert start.status_code == 302, start.text
    location = urlsplit(start.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == oidc_provider.issuer
    query = parse_qs(location.query)
    assert query["prompt"] == ["login"]
    assert query["max_age"] == ["0"]
    assert query["acr_values"] == [STRONG_ACR]
    answered = provider_flow(http, start.headers["Location"], login="alice")
    assert landing(http, answered) == "/"
    [event] = sign_ins()
    assert event.actor_id == str(alice.pk)
    assert event.details["acr"] == STRONG_ACR


def test_the_sign_in_again_button_asks_for_the_configured_acr_values(
    oidc_provider: OpenIDProvider,
) -> None:
    """Where the administrator set the acr_values to ask for, those are asked for."""
    configured = oidc_provider.settings_for(acr_values="eidas1 urn:securedrive:test:password")
    with override_settings(OIDC_PROVIDERS={"test": configured}):
        browser = client_password_only(provider_standing_alice(oidc_provider))
        refused = browser.get("/accounts/mfa/setup/").content.decode()
        start = browser.post(sign_in_again_form(refused))
    assert start.status_code == 302
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["acr_values"] == ["eidas1 urn:securedrive:test:password"]
    assert (query["prompt"], query["max_age"]) == (["login"], ["0"])


def test_her_password_session_refused_enrolment_signs_out_and_goes_to_the_providers_second_factor(
    oidc_provider: OpenIDProvider,
) -> None:
    """On the refused enrolment page, the button ends the password-only session (nothing
    of it is kept) and sends the browser to the provider to authenticate again."""
    alice = provider_standing_alice(oidc_provider)
    browser = client_password_only(alice)
    enrol = browser.get("/accounts/mfa/setup/")
    assert enrol.status_code == 403
    action = sign_in_again_form(enrol.content.decode())
    start = browser.post(action)
    assert start.status_code == 302
    location = urlsplit(start["Location"])
    assert f"{location.scheme}://{location.netloc}" == oidc_provider.issuer
    query = parse_qs(location.query)
    assert (query["prompt"], query["max_age"], query["acr_values"]) == (
        ["login"],
        ["0"],
        [STRONG_ACR],
    )
    assert "_auth_user_id" not in browser.session
    assert not UserSession.objects.filter(user=alice, ended_at__isnull=True).exists()


def test_the_refused_enrolment_is_on_record_once_per_episode_then_again_after_it(
    oidc_provider: OpenIDProvider,
) -> None:
    """Every page of a password-only session is sent to the refused enrolment: one event
    for the episode (counted), not one per click; a new attempt later is on record."""
    alice = provider_standing_alice(oidc_provider)

    def refused_events() -> list[AuditEvent]:
        return list(
            AuditEvent.objects.filter(
                action=Action.ACCOUNTS_MFA_DEVICE_ADD, outcome=Outcome.DENIED
            ).order_by("sequence")
        )

    with time_machine.travel(dt.datetime.now(tz=dt.UTC), tick=False) as clock:
        browser = client_password_only(alice)
        for path in ["/", "/files/", "/accounts/security/", "/sharing/links/"]:
            assert browser.get(path, follow=True).status_code == 403
        assert len(refused_events()) == 1
        clock.shift(dt.timedelta(minutes=11))
        assert client_password_only(alice).get("/accounts/mfa/setup/").status_code == 403
    first, again = refused_events()
    assert "Test provider" in first.details["reason"]
    assert "Test provider" in again.details["reason"]
    [counted] = AuditEvent.objects.filter(action=Action.RATELIMIT_FLOOD)
    assert counted.details["refused"] == 4
    assert counted.target_id == str(alice.pk)


def test_her_own_reloads_of_the_refused_enrolment_tell_no_security_officer(
    oidc_provider: OpenIDProvider, django_capture_on_commit_callbacks: Any
) -> None:
    """Alice, signed in with her password alone, clicks and reloads for a while: every
    page leads to the refused enrolment, counted on her account. That is her own
    action, refused the same way each time, not someone hammering a limit: the
    "refusal flood" alert, meant for guessers and botnets, stays silent (the count stays
    on record); a thief's refused codes on her account still raise it
    (tests/test_audit_refusal_alerts.py)."""
    alice = provider_standing_alice(oidc_provider)
    with time_machine.travel(dt.datetime.now(tz=dt.UTC), tick=False) as clock:
        browser = client_password_only(alice)
        for _reload in range(40):
            assert browser.get("/accounts/mfa/setup/").status_code == 403
        clock.shift(dt.timedelta(minutes=11))
        refusal_floods_close()
        with django_capture_on_commit_callbacks(execute=True):
            raised = alerts_evaluate()
    [counted] = AuditEvent.objects.filter(action=Action.RATELIMIT_FLOOD)
    assert counted.details["refused"] == 40
    assert [alert for alert in raised if alert.rule == AlertRule.REFUSAL_FLOOD] == []
    assert mail.outbox == []


def form_action(response: Any) -> list[str]:
    policy = str(response["Content-Security-Policy"])
    [directive] = [part.strip() for part in policy.split(";") if "form-action" in part]
    return directive.split()[1:]


def test_pages_whose_buttons_post_then_go_to_the_provider_let_their_forms_go_there(
    oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    """Browsers hold a form's redirects to the page's form-action: with 'self' alone,
    Chromium stopped "Accept with", "Confirm with" and "Sign in again with <provider>" at
    SecureDrive's redirect to the provider, and the button did nothing. Those pages allow
    that provider's origin; the others still allow SecureDrive alone."""
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    browser = Client()
    invitation_page = browser.get(urlsplit(sent.url).path)
    assert "Accept with Test provider" in invitation_page.content.decode()
    assert form_action(invitation_page) == ["'self'", oidc_provider.issuer]
    refused_enrolment = client_password_only(provider_standing_alice(oidc_provider)).get(
        "/accounts/mfa/setup/"
    )
    assert form_action(refused_enrolment) == ["'self'", oidc_provider.issuer]
    assert form_action(browser.get("/accounts/login/")) == ["'self'"]


# --- Linking: by subject, never by e-mail alone ------------------------------------------


def test_unknown_person_without_invitation_is_refused_when_accounts_are_not_created(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    oidc_provider.account(login="nina", sub="sub-nina", email="nina.new@hopital.example")
    refused = sign_in(live_server, "nina")
    assert refused.status_code == 403
    assert "invitation" in refused.text
    assert not User.objects.filter(email="nina.new@hopital.example").exists()
    event = AuditEvent.objects.get(action=Action.SSO_SIGN_IN, outcome=Outcome.DENIED)
    assert event.details["reason"] == "no invitation"


def test_same_address_is_not_enough_to_enter_someone_elses_account(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    # Someone whose provider account claims Bob's (verified) address.
    oidc_provider.account(login="mallory", sub="sub-mallory", email="bob.bernard@hopital.example")
    refused = sign_in(live_server, "mallory")
    assert refused.status_code == 403
    assert not ExternalIdentity.objects.filter(user=bob).exists()
    assert not UserSession.objects.filter(user=bob).exists()
    event = AuditEvent.objects.get(action=Action.SSO_SIGN_IN, outcome=Outcome.DENIED)
    assert event.details["reason"] == "address of an unlinked account"


def test_unverified_address_finds_no_invitation(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    oidc_provider.admin(
        "account",
        login="claire",
        sub="sub-claire",
        email="claire.durand@hopital.example",
        email_verified=False,
    )
    refused = sign_in(live_server, "claire")
    assert refused.status_code == 403
    assert not User.objects.filter(email="claire.durand@hopital.example").exists()


@pytest.mark.parametrize("require_email_verified", [True, False])
def test_address_of_a_pending_invitation_does_not_claim_it_without_its_link(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User, require_email_verified: bool
) -> None:
    # Sam invites Claire as an administrator. Mallory's provider account asserts Claire's
    # address (providers let people type it; Pro Santé Connect's profile does not even
    # require it verified). Signing in with it must not take Claire's invitation.
    sent = invitations.invitation_create(
        actor=site_admin, email="claire.durand@hopital.example", grants_site_admin=True
    )
    oidc_provider.account(
        login="mallory",
        sub="sub-mallory",
        email="claire.durand@hopital.example",
        # Pro Santé Connect's case: no email_verified claim at all (null here).
        **({} if require_email_verified else {"email_verified": cast(Any, None)}),
    )
    configured = oidc_provider.settings_for(require_email_verified=require_email_verified)
    http = requests.Session()
    with override_settings(OIDC_PROVIDERS={"test": configured}):
        refused = sign_in(live_server, "mallory", http=http)
        assert refused.status_code == 403
        assert "open the link in its e-mail" in refused.text
        # Nothing waits in her session to be confirmed either.
        assert http.get(f"{live_server.url}/sso/link/", timeout=10).status_code == 400
    assert not User.objects.filter(email="claire.durand@hopital.example").exists()
    assert not ExternalIdentity.objects.exists()
    sent.invitation.refresh_from_db()
    assert sent.invitation.is_pending()
    event = AuditEvent.objects.get(action=Action.SSO_INVITATION_LINK_REQUIRED)
    assert event.outcome == Outcome.DENIED
    assert event.target_id == str(sent.invitation.pk)
    assert event.details["subject"] == "sub-mallory"


def test_refusal_reads_the_same_with_or_without_a_pending_invitation(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    oidc_provider.account(login="mallory", sub="sub-m", email="claire.durand@hopital.example")
    oidc_provider.account(login="nina", sub="sub-n", email="nina.new@hopital.example")
    invited = sign_in(live_server, "mallory")
    nobody = sign_in(live_server, "nina")
    assert invited.status_code == nobody.status_code == 403
    message = '<p id="sso-refusal" role="alert">'
    assert (
        invited.text.split(message)[1].split("</p>")[0]
        == (nobody.text.split(message)[1].split("</p>")[0])
    )


def test_invitation_page_offers_to_accept_with_the_provider(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    page = requests.get(f"{live_server.url}{urlsplit(sent.url).path}", timeout=10)
    assert "Accept with Test provider" in page.text
    assert 'action="/sso/test/invitation/"' in page.text


def test_invited_person_accepts_with_the_provider_then_signs_in_by_subject(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    sent = invitations.invitation_create(
        actor=site_admin, email="claire.durand@hopital.example", full_name="Claire Durand"
    )
    oidc_provider.account(
        login="claire", sub="899700123456", email="claire.durand@hopital.example", name="Claire D."
    )
    http = requests.Session()
    asked = accept_with_provider(live_server, sent, "claire", http=http)
    assert asked.headers["Location"] == "/sso/link/"
    page = http.get(f"{live_server.url}/sso/link/", timeout=10)
    assert "claire.durand@hopital.example" in page.text
    assert not User.objects.filter(email="claire.durand@hopital.example").exists()

    confirmed = confirm_link(live_server, http)
    assert confirmed.status_code == 302
    claire = User.objects.get(email="claire.durand@hopital.example")
    assert not claire.has_usable_password()
    identity = ExternalIdentity.objects.get(user=claire)
    assert (identity.issuer, identity.subject) == (oidc_provider.issuer, "899700123456")
    link = AuditEvent.objects.get(action=Action.SSO_IDENTITY_LINK)
    assert link.details["via"] == "invitation"
    assert link.details["invitation_email_matches"] is True
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_INVITATION_ACCEPT).count() == 1

    # Next time: found by subject, even after the provider changed her address.
    oidc_provider.account(login="claire", sub="899700123456", email="c.durand@new.example")
    http = requests.Session()
    again = sign_in(live_server, "claire", http=http)
    assert landing(http, again) == "/accounts/mfa/setup/"  # no second factor yet
    assert len(sign_ins()) == 2


def test_invitation_link_works_when_the_provider_gives_another_or_no_verified_address(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    # Pro Santé Connect may send no address, or not the one the administrator knew: the
    # link is the proof, and the account gets the invitation's address.
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    oidc_provider.admin(
        "account", login="claire", sub="810099", email="cdurand@perso.example", email_verified=False
    )
    http = requests.Session()
    asked = accept_with_provider(live_server, sent, "claire", http=http)
    assert asked.headers["Location"] == "/sso/link/"
    page = http.get(f"{live_server.url}/sso/link/", timeout=10)
    assert "claire.durand@hopital.example" in page.text
    assert confirm_link(live_server, http).status_code == 302
    claire = User.objects.get(email="claire.durand@hopital.example")
    assert ExternalIdentity.objects.get(user=claire).subject == "810099"
    link = AuditEvent.objects.get(action=Action.SSO_IDENTITY_LINK)
    assert link.details["invitation_email_matches"] is False


def test_confirmation_page_left_open_for_an_hour_no_longer_links(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    # Claire signed in with her e-CPS, then left the confirmation page open on a ward PC:
    # an hour later the provider's answer is stale (its ID token has expired too), and
    # whoever clicks "Yes" there must not get her account, verified.
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    oidc_provider.account(login="claire", sub="sub-claire", email="claire.durand@hopital.example")
    oidc_provider.assurance(STRONG_ACR)
    http = requests.Session()
    asked = accept_with_provider(live_server, sent, "claire", http=http)
    assert asked.headers["Location"] == "/sso/link/"
    later = dt.datetime.now(tz=dt.UTC) + dt.timedelta(hours=1)
    with time_machine.travel(later, tick=True):
        refused = confirm_link(live_server, http)
    assert refused.status_code == 400
    assert not User.objects.filter(email="claire.durand@hopital.example").exists()
    sent.invitation.refresh_from_db()
    assert sent.invitation.is_pending()
    event = AuditEvent.objects.get(action=Action.SSO_SIGN_IN, outcome=Outcome.DENIED)
    assert event.details["reason"] == "confirmation too late"


def test_confirmation_page_opened_after_its_window_says_it_has_expired(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    # The page itself, not only its button: shown an hour later, it would invite whoever
    # sits at the ward PC to click "Yes, create and link my account".
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    oidc_provider.account(login="claire", sub="sub-claire", email="claire.durand@hopital.example")
    http = requests.Session()
    asked = accept_with_provider(live_server, sent, "claire", http=http)
    assert asked.headers["Location"] == "/sso/link/"
    later = dt.datetime.now(tz=dt.UTC) + dt.timedelta(minutes=11)
    with time_machine.travel(later, tick=True):
        page = http.get(f"{live_server.url}/sso/link/", timeout=10)
    assert page.status_code == 400
    assert "waited too long" in page.text
    assert "Yes, create and link my account" not in page.text
    event = AuditEvent.objects.get(action=Action.SSO_SIGN_IN, outcome=Outcome.DENIED)
    assert event.details["reason"] == "confirmation too late"
    # Nothing is left to confirm afterwards.
    assert confirm_link(live_server, http).status_code == 400
    assert not User.objects.filter(email="claire.durand@hopital.example").exists()


def test_invitation_whose_address_got_an_account_meanwhile_is_refused_and_audited(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    oidc_provider.account(login="claire", sub="sub-claire", email="claire.durand@hopital.example")
    http = requests.Session()
    asked = accept_with_provider(live_server, sent, "claire", http=http)
    assert asked.headers["Location"] == "/sso/link/"
    # Meanwhile the directory (SCIM) provisioned an account with the invited address.
    user_create("claire.durand@hopital.example", full_name="Claire Durand")
    refused = confirm_link(live_server, http)
    assert refused.status_code == 403
    assert not ExternalIdentity.objects.exists()
    event = AuditEvent.objects.get(action=Action.SSO_SIGN_IN, outcome=Outcome.DENIED)
    assert event.details["reason"] == "invitation not accepted"


def test_someone_else_signing_in_on_the_same_browser_drops_the_pending_confirmation(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    # Claire reaches "Link your account" on a ward PC and walks away. Bob signs in on the
    # same browser: the confirmation waiting there must not make him Claire.
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    oidc_provider.account(login="claire", sub="sub-claire", email="claire.durand@hopital.example")
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    bobs_app = totp_device_confirmed(bob)
    http = requests.Session()
    asked = accept_with_provider(live_server, sent, "claire", http=http)
    assert asked.headers["Location"] == "/sso/link/"
    signed_in = http.post(
        f"{live_server.url}/accounts/login/",
        data={
            "username": bob.email,
            "password": PASSWORD,
            "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME],
        },
        headers={"Referer": f"{live_server.url}/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 302
    verified = http.post(
        f"{live_server.url}/accounts/mfa/verify/",
        data={
            "code": totp_code(bobs_app),
            "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME],
        },
        headers={"Referer": f"{live_server.url}/accounts/mfa/verify/"},
        allow_redirects=False,
        timeout=10,
    )
    assert verified.headers["Location"] == "/"
    left = http.get(f"{live_server.url}/sso/link/", allow_redirects=False, timeout=10)
    assert left.status_code == 400
    assert confirm_link(live_server, http).status_code == 400
    assert not User.objects.filter(email="claire.durand@hopital.example").exists()


def test_every_pending_key_of_the_round_trip_is_dropped_at_sign_in() -> None:
    from sso import signals, views

    assert set(signals.SIGN_IN_PENDING_SESSION_KEYS) == {
        views.PENDING_LINK_SESSION_KEY,
        views.INVITATION_SESSION_KEY,
        views.ACCOUNT_LINK_SESSION_KEY,
        views.NEXT_SESSION_KEY,
    }


def test_invitation_carried_through_the_round_trip_is_used_once(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    oidc_provider.account(login="claire", sub="sub-claire", email="claire.durand@hopital.example")
    http = requests.Session()
    page_url = f"{live_server.url}{urlsplit(sent.url).path}"
    http.get(page_url, timeout=10)
    token = urlsplit(sent.url).path.rstrip("/").rsplit("/", 1)[-1]
    started = http.post(
        f"{live_server.url}/sso/test/invitation/",
        data={"invitation": token, "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME]},
        headers={"Referer": page_url},
        allow_redirects=False,
        timeout=10,
    )
    assert started.status_code == 302
    # She leaves that tab; later the same browser signs in with the plain button: the
    # abandoned invitation is not carried, and her address alone claims nothing.
    plain = sign_in(live_server, "claire", http=http)
    assert plain.status_code == 403
    assert AuditEvent.objects.filter(action=Action.SSO_INVITATION_LINK_REQUIRED).count() == 1
    assert not User.objects.filter(email="claire.durand@hopital.example").exists()


def test_invitation_revoked_during_the_round_trip_is_refused(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    oidc_provider.account(login="claire", sub="sub-claire", email="claire.durand@hopital.example")
    http = requests.Session()
    page_url = f"{live_server.url}{urlsplit(sent.url).path}"
    http.get(page_url, timeout=10)
    token = urlsplit(sent.url).path.rstrip("/").rsplit("/", 1)[-1]
    started = http.post(
        f"{live_server.url}/sso/test/invitation/",
        data={"invitation": token, "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME]},
        headers={"Referer": page_url},
        allow_redirects=False,
        timeout=10,
    )
    invitations.invitation_revoke(actor=site_admin, invitation=sent.invitation)
    refused = provider_flow(http, started.headers["Location"], login="claire")
    assert refused.status_code == 403
    assert not User.objects.filter(email="claire.durand@hopital.example").exists()
    event = AuditEvent.objects.get(action=Action.SSO_SIGN_IN, outcome=Outcome.DENIED)
    assert event.details["reason"] == "invitation no longer valid"


def test_unknown_invitation_token_does_not_start_a_sign_in(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    http = requests.Session()
    http.get(f"{live_server.url}/accounts/login/", timeout=10)
    refused = http.post(
        f"{live_server.url}/sso/test/invitation/",
        data={
            "invitation": "not-a-token-anyone-was-sent",
            "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME],
        },
        headers={"Referer": f"{live_server.url}/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 410
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_INVITATION_USE)
    assert event.outcome == Outcome.DENIED


def test_signed_userinfo_answer_is_checked_and_read(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    oidc_provider.account(
        login="ines", sub="810001234567", email="ines.roux@hopital.example", name="Inès Roux"
    )
    configured = oidc_provider.settings_for(
        client_id="securedrive-signed-userinfo", create_accounts=True
    )
    with override_settings(OIDC_PROVIDERS={"signed-userinfo": configured}):
        landed = sign_in(live_server, "ines", slug="signed-userinfo")
    assert landed.status_code == 302
    ines = User.objects.get(email="ines.roux@hopital.example")  # read from the signed answer
    assert ines.full_name == "Inès Roux"


def test_provider_allowed_to_create_accounts_creates_one_linked_by_subject(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    oidc_provider.account(login="hugo", sub="sub-hugo-42", email="hugo.petit@hopital.example")
    oidc_provider.assurance(STRONG_ACR)
    configured = oidc_provider.settings_for(create_accounts=True)
    http = requests.Session()
    with override_settings(OIDC_PROVIDERS={"test": configured}):
        landed = sign_in(live_server, "hugo", http=http)
        assert landing(http, landed) == "/"
    hugo = User.objects.get(email="hugo.petit@hopital.example")
    assert ExternalIdentity.objects.get(user=hugo).subject == "sub-hugo-42"
    assert AuditEvent.objects.filter(action=Action.SSO_ACCOUNT_CREATE).count() == 1


def test_unverified_address_never_creates_an_account(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    # Mallory types the head of department's address into her provider profile before
    # anyone invited him: an account with it would be hers, and so would every share and
    # invitation later sent to that address.
    oidc_provider.account(
        login="mallory",
        sub="sub-mallory",
        email="chef.service@hopital.example",
        email_verified=cast(Any, None),
    )
    configured = oidc_provider.settings_for(create_accounts=True, require_email_verified=False)
    with override_settings(OIDC_PROVIDERS={"test": configured}):
        refused = sign_in(live_server, "mallory")
    assert refused.status_code == 403
    assert not User.objects.filter(email="chef.service@hopital.example").exists()
    event = AuditEvent.objects.get(action=Action.SSO_SIGN_IN, outcome=Outcome.DENIED)
    assert event.details["reason"] == "no verified e-mail address"


def test_deactivated_account_cannot_sign_in_through_the_provider(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    alice = linked_alice(oidc_provider)
    User.objects.filter(pk=alice.pk).update(is_active=False)
    refused = sign_in(live_server, "alice")
    assert refused.status_code == 403
    assert not UserSession.objects.filter(user=alice).exists()


# --- Refused tokens ---------------------------------------------------------------------


def _callback_url(live_server: Any, login: str, slug: str, http: requests.Session) -> str:
    response = sign_in_until_callback(live_server, login, slug=slug, http=http)
    return urljoin_location(response)


def sign_in_until_callback(
    live_server: Any, login: str, *, slug: str, http: requests.Session
) -> requests.Response:
    return provider_flow(
        http, f"{live_server.url}/sso/{slug}/login/", login=login, stop_before=is_callback
    )


def urljoin_location(response: requests.Response) -> str:
    return urljoin(response.url, response.headers["Location"])


def test_expired_id_token_is_refused(live_server: Any, oidc_provider: OpenIDProvider) -> None:
    alice = linked_alice(oidc_provider)
    http = requests.Session()
    callback = _callback_url(live_server, "alice", "test", http)
    # The provider's ID tokens live an hour; SecureDrive's clock is two hours ahead.
    later = dt.datetime.now(tz=dt.UTC) + dt.timedelta(hours=2)
    with time_machine.travel(later, tick=True):
        refused = http.get(callback, allow_redirects=False, timeout=10)
    assert refused.status_code == 400
    assert not UserSession.objects.filter(user=alice).exists()
    assert refusals("expired")


def test_callback_replayed_in_another_browser_is_refused(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    alice = linked_alice(oidc_provider)
    callback = _callback_url(live_server, "alice", "test", requests.Session())
    # Someone who read the callback URL (code and state) off a shared screen or a log.
    stolen = requests.get(callback, allow_redirects=False, timeout=10)
    assert stolen.status_code == 400
    assert not UserSession.objects.filter(user=alice).exists()
    assert refusals("state")


def _rsa_key_of_our_own() -> RSAKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return RSAKey.import_key(private)


def _claims_of(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header_part, payload_part, _signature = id_token.split(".")

    def decoded(part: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return value

    return decoded(header_part), decoded(payload_part)


def test_id_token_signed_with_another_key_is_refused(
    live_server: Any, oidc_provider: OpenIDProvider, forging_provider: Forgery
) -> None:
    alice = linked_alice(oidc_provider)
    stats_before = oidc_provider.stats()

    def resigned(real: dict[str, Any]) -> str:
        # The real token's claims (right issuer, audience, nonce, expiry) and the real
        # key id, signed with a key the provider never had.
        header, claims = _claims_of(real["id_token"])
        return jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, _rsa_key_of_our_own())

    forging_provider.replace = resigned
    refused = sign_in(live_server, "alice", slug="forged")
    assert refused.status_code == 400
    assert forging_provider.real_responses  # the exchange happened, the token was swapped
    assert not UserSession.objects.filter(user=alice).exists()
    assert refusals("bad_signature")
    assert oidc_provider.stats()["kids"] == stats_before["kids"]


def test_id_token_with_an_unknown_key_id_is_refused_after_one_key_refresh(
    live_server: Any, oidc_provider: OpenIDProvider, forging_provider: Forgery
) -> None:
    alice = linked_alice(oidc_provider)

    def unknown_key(real: dict[str, Any]) -> str:
        _header, claims = _claims_of(real["id_token"])
        return jwt.encode({"alg": "RS256", "kid": "attacker-key"}, claims, _rsa_key_of_our_own())

    forging_provider.replace = unknown_key
    refused = sign_in(live_server, "alice", slug="forged")
    assert refused.status_code == 400
    assert not UserSession.objects.filter(user=alice).exists()
    assert refusals()


def test_id_token_whose_auth_time_is_not_a_time_is_refused_cleanly(
    live_server: Any, oidc_provider: OpenIDProvider, forging_provider: Forgery
) -> None:
    """A broken provider signs "auth_time": 1e400 (JSON's way to write infinity): a 400
    page and a refusal in the audit log, not a server error."""
    alice = linked_alice(oidc_provider)
    trusted = RSAKey.import_key(
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        parameters={"kid": "provider-key", "alg": "RS256", "use": "sig"},
    )
    forging_provider.trusted_key = trusted

    def infinite_auth_time(real: dict[str, Any]) -> str:
        _header, claims = _claims_of(real["id_token"])
        return jwt.encode(
            {"alg": "RS256", "kid": "provider-key"}, {**claims, "auth_time": float("inf")}, trusted
        )

    forging_provider.replace = infinite_auth_time
    refused = sign_in(live_server, "alice", slug="forged")
    assert refused.status_code == 400
    assert not UserSession.objects.filter(user=alice).exists()
    assert refusals("auth_time")


def _other_application_token(provider: OpenIDProvider, nonce: str) -> str:
    """A genuine ID token of the same provider, issued to another application (with the
    nonce of SecureDrive's flow, so that only the audience is wrong)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    redirect_uri = f"{provider.issuer}/other-application/callback"
    authorize = f"{provider.issuer}/auth?" + urlencode(
        {
            "client_id": OTHER_CLIENT_ID,
            "response_type": "code",
            "scope": "openid email",
            "redirect_uri": redirect_uri,
            "state": "other-state",
            "nonce": nonce,
            "code_challenge": challenge.decode(),
            "code_challenge_method": "S256",
        }
    )
    http = requests.Session()
    redirect = provider_flow(
        http, authorize, login="alice", stop_before=lambda url: url.startswith(redirect_uri)
    )
    code = parse_qs(urlsplit(redirect.headers["Location"]).query)["code"][0]
    token = requests.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET),
        timeout=10,
    )
    token.raise_for_status()
    id_token: str = token.json()["id_token"]
    return id_token


def test_id_token_issued_to_another_application_is_refused(
    live_server: Any, oidc_provider: OpenIDProvider, forging_provider: Forgery
) -> None:
    alice = linked_alice(oidc_provider)
    http = requests.Session()
    to_provider = requests.Request("GET", f"{live_server.url}/sso/forged/login/")
    start = http.send(http.prepare_request(to_provider), allow_redirects=False, timeout=10)
    nonce = parse_qs(urlsplit(start.headers["Location"]).query)["nonce"][0]
    foreign = _other_application_token(oidc_provider, nonce)
    assert _claims_of(foreign)[1]["aud"] == OTHER_CLIENT_ID
    forging_provider.replace = lambda real: foreign

    refused = provider_flow(http, start.headers["Location"], login="alice")
    assert refused.status_code == 400
    assert not UserSession.objects.filter(user=alice).exists()
    assert refusals("aud")


def test_id_token_of_an_earlier_sign_in_is_refused_by_its_nonce(
    live_server: Any, oidc_provider: OpenIDProvider, forging_provider: Forgery
) -> None:
    alice = linked_alice(oidc_provider)
    first = sign_in(live_server, "alice", slug="forged")
    assert first.status_code == 302  # signed in (the second factor comes next)
    earlier = forging_provider.real_responses[-1]["id_token"]
    # Genuine, unexpired, for SecureDrive: but the nonce of a finished sign-in.
    forging_provider.replace = lambda real: earlier
    sessions_before = UserSession.objects.filter(user=alice).count()
    refused = sign_in(live_server, "alice", slug="forged")
    assert refused.status_code == 400
    assert UserSession.objects.filter(user=alice).count() == sessions_before
    assert refusals("nonce")


def test_key_rotation_at_the_provider_is_followed_with_one_key_refresh(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    linked_alice(oidc_provider)
    sign_in(live_server, "alice")  # keys fetched (or already known to this process)
    fetched = oidc_provider.stats()["jwks_requests"]
    sign_in(live_server, "alice")
    assert oidc_provider.stats()["jwks_requests"] == fetched  # cached, not fetched again

    old_kids = oidc_provider.stats()["kids"]
    new_kids = oidc_provider.admin("rotate")["kids"]
    assert set(new_kids).isdisjoint(old_kids)
    landed = sign_in(live_server, "alice")
    assert landed.status_code == 302
    assert oidc_provider.stats()["jwks_requests"] == fetched + 1
    assert len(sign_ins()) == 3


# --- Bad input: 4xx, audited, never a 500 -------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "",
        "code=abc",
        "state=nothing-we-issued&code=abc",
        "error=access_denied&error_description=refused%20by%20the%20person",
        "state=" + "x" * 5000,
    ],
)
def test_hostile_callbacks_are_refused_cleanly(live_server: Any, query: str) -> None:
    response = requests.get(f"{live_server.url}/sso/test/callback/?{query}", timeout=10)
    assert response.status_code == 400
    assert refusals()


def test_error_text_of_a_crafted_callback_stays_short_in_the_audit_log(live_server: Any) -> None:
    """Anyone can send a browser to the callback with an error and its description: the
    auditor reads a line, not pages of someone's text posing as the provider's."""
    description = "Sign-in accepted by the provider, nothing to see here. " * 120
    query = urlencode({"error": "access_denied", "error_description": description})
    response = requests.get(f"{live_server.url}/sso/test/callback/?{query}", timeout=10)
    assert response.status_code == 400
    [event] = refusals("access_denied")
    assert len(event.details["reason"]) <= 300


def test_unknown_provider_is_not_found(live_server: Any) -> None:
    assert requests.get(f"{live_server.url}/sso/nobody/login/", timeout=10).status_code == 404
    assert requests.get(f"{live_server.url}/sso/nobody/callback/", timeout=10).status_code == 404
    assert len(refusals("unknown provider nobody")) == 2


def test_confirmation_with_nothing_pending_is_refused_and_audited(live_server: Any) -> None:
    http = requests.Session()
    assert http.get(f"{live_server.url}/sso/link/", timeout=10).status_code == 400
    assert refusals("nothing to confirm")


def test_a_shift_signing_in_through_one_address_is_not_limited_and_a_forger_there_still_is(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    """A hospital reaches SecureDrive through one NAT address (or one /64): every start
    and callback counted towards 60 per 10 minutes let about 30 sign-ins through, then
    the shift change got 429s and the security officers an alert about their own staff.
    Only refused callbacks count towards that limit now: 40 sign-ins from one address
    all land, then 60 forged callbacks from it are refused and the next is a 429 on
    record."""
    linked_alice(oidc_provider)
    for _colleague in range(40):
        http = requests.Session()
        landed = sign_in(live_server, "alice", http=http)
        assert landed.status_code == 302, landed.text
        assert landing(http, landed) == "/accounts/mfa/verify/"
    assert len(sign_ins()) == 40
    assert refusals() == []

    statuses = [
        requests.get(f"{live_server.url}/sso/test/callback/?code=x", timeout=10).status_code
        for _attempt in range(61)
    ]
    assert statuses[:60] == [400] * 60
    assert statuses[60] == 429
    [limited] = refusals("rate limited")
    assert limited.details["flood_endpoint"] == "sso.provider_sign_in"


def test_a_loop_of_starts_is_limited_apart_from_refusals(
    live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starts (the redirect to the provider) have their own generous limit, which only
    spreads load: a script looping on them past it gets a 429, on record."""
    from sso import views as sso_views

    monkeypatch.setattr(sso_views, "SIGN_IN_STARTS_RATE", "5/10m")
    statuses = [
        requests.get(
            f"{live_server.url}/sso/test/login/", allow_redirects=False, timeout=10
        ).status_code
        for _attempt in range(7)
    ]
    assert statuses == [302] * 5 + [429] * 2
    [limited] = refusals("rate limited")
    assert limited.details["flood_endpoint"] == "sso.provider_sign_in_start"
    # Refused callbacks are counted on their own: the forger's first ones are evaluated.
    answer = requests.get(f"{live_server.url}/sso/test/callback/?code=x", timeout=10)
    assert answer.status_code == 400


def test_callbacks_are_rate_limited_per_address(live_server: Any) -> None:
    statuses = [
        requests.get(f"{live_server.url}/sso/test/callback/?code=x", timeout=10).status_code
        for _attempt in range(61)
    ]
    assert statuses[:60] == [400] * 60
    assert statuses[60] == 429
    assert refusals("rate limited")
