"""Recent authentication ("sudo mode"): a stolen signed-in session cookie is not enough
to add a second factor, mint a token or use an administrator's most dangerous powers
(accounts/reauth.py). And what a new password or "sign out everywhere" must also end:
API tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts import mfa, tokens
from accounts.models import Invitation, PersonalAccessToken, User, UserSession
from accounts.totp import AuthenticatorApp
from audit.actions import Action
from audit.models import AuditEvent
from sso.models import ExternalIdentity
from tests.conftest import PASSWORD, user_create
from tests.helpers import (
    CONFIRMED,
    client_password_only,
    client_signed_in,
    totp_code,
    totp_device_confirmed,
    totp_wrong_code,
)

pytestmark = pytest.mark.django_db

REAUTH = "/accounts/security/confirm/"
TOKENS = "/accounts/tokens/"
TOTP_ADD = "/accounts/mfa/setup/authenticator-app/"
PASSKEY_ADD = "/accounts/mfa/setup/passkey/"
RECOVERY_CODES = "/accounts/security/recovery-codes/"
PASSKEY_BEGIN = "/accounts/webauthn/registration/begin/"
TOKEN_FORM = {"name": "Scanner in room 12", "scopes": ["read"], "expires_in_days": "30"}
WINDOW_PASSED = dt.timedelta(minutes=10, seconds=1)


@pytest.fixture
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC), tick=False) as moved:
        yield moved


def events(action: str, **where: object) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **where).order_by("pk"))


def sent_to_confirm(response: object) -> dict[str, list[str]]:
    """The query of the confirmation page a refused request was sent to."""
    location = response["Location"]  # type: ignore[index]
    assert location.startswith(REAUTH), location
    return parse_qs(urlsplit(location).query)


# --- 1. The rule --------------------------------------------------------------------------


def test_a_session_older_than_the_window_cannot_add_factors_or_mint_tokens(
    owner: User, traveller: time_machine.Traveller
) -> None:
    thief = client_signed_in(owner)  # the cookie lifted from a ward PC after sign-in
    traveller.shift(WINDOW_PASSED)

    assert sent_to_confirm(thief.get(TOTP_ADD)) == {"next": [TOTP_ADD]}
    assert sent_to_confirm(thief.get(PASSKEY_ADD)) == {"next": [PASSKEY_ADD]}
    # A form sent is not replayed: back to the page it came from, to do it again.
    refused = thief.post(TOKENS, TOKEN_FORM, HTTP_REFERER=f"http://testserver{TOKENS}")
    assert sent_to_confirm(refused) == {"next": [TOKENS], "resubmit": ["1"]}
    # Without a Referer there is no page to go back to: the confirmation page says so.
    assert sent_to_confirm(thief.post(RECOVERY_CODES)) == {"resubmit": ["1"]}
    device = AuthenticatorApp.objects.get(user=owner)
    assert sent_to_confirm(thief.post(f"/accounts/security/totp/{device.pk}/remove/"))
    # django-otp-webauthn's own endpoint, reachable without SecureDrive's pages.
    assert thief.post(PASSKEY_BEGIN).status_code == 403
    [passkey_refusal] = events(Action.ACCOUNTS_MFA_DEVICE_ADD, outcome="denied")
    assert passkey_refusal.details["reason"] == "no recent second factor"
    # Nothing was made, nothing removed, and the listing pages stay open.
    assert not PersonalAccessToken.objects.filter(user=owner).exists()
    assert AuthenticatorApp.objects.filter(user=owner, confirmed=True).count() == 1
    assert not StaticDevice.objects.filter(user=owner).exists()
    assert thief.get(TOKENS).status_code == 200
    assert thief.get("/accounts/security/").status_code == 200


def test_sign_in_itself_is_a_fresh_proof_for_the_whole_window(
    owner: User, traveller: time_machine.Traveller
) -> None:
    device = totp_device_confirmed(owner)
    browser = client_password_only(owner)
    assert browser.post("/accounts/mfa/verify/", {"code": totp_code(device)}).status_code == 302

    traveller.shift(dt.timedelta(minutes=9))
    assert browser.post(TOKENS, TOKEN_FORM).status_code == 200  # the token, shown once
    assert browser.post(PASSKEY_BEGIN).status_code == 200
    traveller.shift(dt.timedelta(minutes=1, seconds=1))
    assert browser.get(TOTP_ADD)["Location"].startswith(REAUTH)


def test_confirming_with_the_authenticator_app_lets_the_person_do_it_again(
    owner: User, traveller: time_machine.Traveller
) -> None:
    device = totp_device_confirmed(owner)
    browser = client_signed_in(owner)
    traveller.shift(WINDOW_PASSED)
    bounced = browser.post(TOKENS, TOKEN_FORM, HTTP_REFERER=f"http://testserver{TOKENS}")

    page = browser.get(bounced["Location"])
    assert page.status_code == 200
    assert "Confirm it is you" in page.text
    assert "Nothing was changed yet" in page.text
    wrong = browser.post(REAUTH, {"code": totp_wrong_code(device), "next": TOKENS, "resubmit": "1"})
    assert "This code is not valid" in wrong.text
    traveller.shift(dt.timedelta(seconds=2))  # past the device's own back-off
    before = browser.session.session_key
    confirmed = browser.post(REAUTH, {"code": totp_code(device), "next": TOKENS, "resubmit": "1"})
    assert confirmed["Location"] == TOKENS
    # A privilege step: the session gets a new id, the old one opens nothing (fixation).
    assert browser.session.session_key != before
    assert UserSession.objects.filter(session_key=browser.session.session_key).exists()
    assert "Nothing was changed yet: you can do it now" in browser.get(TOKENS).text

    assert browser.post(TOKENS, TOKEN_FORM).status_code == 200
    assert PersonalAccessToken.objects.filter(user=owner).count() == 1
    denied, success = events(Action.ACCOUNTS_REAUTH)
    assert (denied.outcome, denied.details["reason"]) == ("denied", "invalid code")
    assert success.outcome == "success"
    assert success.details == {
        "device_type": "totp",
        "purpose": "reauthentication",
        "device": device.pk,
        "name": "Authenticator app",
    }


def test_a_code_used_to_sign_in_cannot_be_replayed_to_confirm(
    owner: User, traveller: time_machine.Traveller
) -> None:
    device = totp_device_confirmed(owner)
    browser = client_password_only(owner)
    code = totp_code(device)
    browser.post("/accounts/mfa/verify/", {"code": code})
    assert "This code is not valid" in browser.post(REAUTH, {"code": code}).text


def test_wrong_confirmation_codes_count_with_sign_in_failures_towards_the_limit(
    owner: User, traveller: time_machine.Traveller
) -> None:
    device = totp_device_confirmed(owner)
    mfa.recovery_codes_generate(actor=owner)
    thief = client_signed_in(owner)
    traveller.shift(WINDOW_PASSED)
    other_browser = client_password_only(owner)
    for attempt in range(mfa.MFA_FAILURES_PER_ACCOUNT // 2):
        traveller.shift(dt.timedelta(seconds=2**attempt))  # past each device's back-off
        assert "not valid" in thief.post(REAUTH, {"code": totp_wrong_code(device)}).text
        assert (
            "not valid"
            in other_browser.post(
                "/accounts/mfa/verify/recovery-code/", {"code": "aaaa-bbbb-cccc"}
            ).text
        )

    traveller.shift(dt.timedelta(minutes=2))
    refused = thief.post(REAUTH, {"code": totp_code(device)})
    assert refused.status_code == 429
    assert events(Action.ACCOUNTS_REAUTH)[-1].details["reason"] == "too many failures"
    assert thief.get(TOTP_ADD)["Location"].startswith(REAUTH)


def test_the_confirmation_page_never_sends_anyone_off_site(
    owner: User, traveller: time_machine.Traveller
) -> None:
    device = totp_device_confirmed(owner)
    browser = client_signed_in(owner)
    traveller.shift(WINDOW_PASSED)
    bounced = browser.post(TOKENS, TOKEN_FORM, HTTP_REFERER="https://evil.example/tokens/")
    assert sent_to_confirm(bounced) == {"resubmit": ["1"]}
    answer = browser.post(REAUTH, {"code": totp_code(device), "next": "https://evil.example/"})
    assert answer["Location"] == "/accounts/security/"


def test_someone_signed_in_through_a_provider_without_a_device_signs_in_again(
    owner: User, traveller: time_machine.Traveller
) -> None:
    identity = ExternalIdentity.objects.create(
        user=owner, name="Hospital sign-in", provider="hospital", issuer="https://idp", subject="a1"
    )
    browser = Client()
    browser.force_login(owner)
    session = browser.session
    # The provider asserted the second factor: the identity stands for it (sso/views.py).
    session[DEVICE_ID_SESSION_KEY] = identity.persistent_id
    session.save()
    traveller.shift(WINDOW_PASSED)
    page = browser.get(f"{REAUTH}?next={TOKENS}")
    assert "sign in again to confirm it is you" in page.text
    answer = browser.post(REAUTH, {"sign_in_again": "1", "next": TOKENS})
    assert answer["Location"] == "/accounts/login/?next=%2Faccounts%2Ftokens%2F"
    assert browser.get(TOKENS)["Location"].startswith("/accounts/login/")


def test_the_confirmation_page_speaks_french(
    owner: User, traveller: time_machine.Traveller
) -> None:
    browser = client_signed_in(owner)
    browser.cookies["django_language"] = "fr"
    traveller.shift(WINDOW_PASSED)
    page = browser.get(f"{REAUTH}?next={TOKENS}&resubmit=1", HTTP_ACCEPT_LANGUAGE="fr")
    assert "Confirmez que c\u2019est vous" in page.text
    assert "Rien n\u2019a encore été modifié" in page.text


def test_the_api_refuses_to_mint_a_token_from_a_session_past_the_window(
    owner: User, traveller: time_machine.Traveller
) -> None:
    browser = client_signed_in(owner)
    body = {"name": "Backup script", "scopes": ["read"], "expires_in_days": 30}
    assert browser.post("/api/v1/tokens/", body, content_type="application/json").status_code == 201
    traveller.shift(WINDOW_PASSED)
    refused = browser.post(
        "/api/v1/tokens/", {**body, "name": "Other"}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert "recently confirmed second factor" in refused.json()["detail"]
    assert PersonalAccessToken.objects.filter(user=owner).count() == 1


def test_an_administrators_dangerous_actions_need_a_recent_proof(
    site_admin: User, owner: User, traveller: time_machine.Traveller
) -> None:
    other_admin = user_create("ada.admin@hopital.example", is_site_admin=True)
    leaver = user_create("leo.leaver@hopital.example", is_active=False)
    admin = client_signed_in(site_admin)
    traveller.shift(WINDOW_PASSED)

    withdraw = admin.post(
        f"/accounts/admin/users/{other_admin.pk}/", {"is_site_admin": "", **CONFIRMED}
    )
    assert sent_to_confirm(withdraw)["resubmit"] == ["1"]
    deactivate = admin.post(
        f"/accounts/admin/users/{owner.pk}/deactivate/", {"when": "now", **CONFIRMED}
    )
    assert sent_to_confirm(deactivate)
    assert sent_to_confirm(admin.post(f"/accounts/admin/users/{leaver.pk}/reactivate/"))
    setup_link = f"/accounts/admin/users/{owner.pk}/setup-link/"
    assert sent_to_confirm(admin.post(setup_link, CONFIRMED))
    export = f"/privacy/people/{leaver.pk}/export.zip"
    assert sent_to_confirm(admin.get(export)) == {"next": [export]}
    assert sent_to_confirm(admin.post("/accounts/admin/policy/", {}))
    assert sent_to_confirm(admin.post(f"/accounts/admin/users/{owner.pk}/departure/cancel/"))
    # Reading stays open.
    assert admin.get(f"/accounts/admin/users/{owner.pk}/").status_code == 200
    other_admin.refresh_from_db()
    owner.refresh_from_db()
    leaver.refresh_from_db()
    assert other_admin.is_site_admin
    assert owner.is_active
    assert not leaver.is_active


def test_a_stolen_administrator_session_cannot_invite_its_thief(
    site_admin: User, traveller: time_machine.Traveller
) -> None:
    admin = client_signed_in(site_admin)
    traveller.shift(WINDOW_PASSED)
    invite = {"email": "thief@mail.example", "full_name": "Not A Colleague"}
    assert sent_to_confirm(admin.post("/accounts/admin/invitations/", invite))
    assert not Invitation.objects.exists()
    assert admin.get("/accounts/admin/invitations/").status_code == 200


# --- 2. What else a new password or "sign out everywhere" ends ----------------------------


def _token(user: User, name: str) -> str:
    _token_row, plaintext = tokens.token_create(
        actor=user, name=name, scopes=["read"], expires_in_days=30
    )
    return plaintext


def test_sign_out_everywhere_revokes_the_tokens_after_saying_so(owner: User) -> None:
    plaintexts = [_token(owner, "Scanner"), _token(owner, "Backup script")]
    browser = client_signed_in(owner)
    asked = browser.post("/accounts/sessions/sign-out-everywhere/")
    assert asked.status_code == 200
    assert "Your 2 API tokens are revoked" in asked.text
    assert browser.get("/accounts/sessions/").status_code == 200  # nothing done yet

    done = browser.post("/accounts/sessions/sign-out-everywhere/", CONFIRMED, follow=True)
    assert "your 2 API tokens are revoked" in done.text
    for plaintext in plaintexts:
        api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        assert api.get("/api/v1/me/").status_code == 401
    revoked = events(Action.ACCOUNTS_TOKEN_REVOKE)
    assert sorted(event.details["name"] for event in revoked) == ["Backup script", "Scanner"]
    assert {event.details["reason"] for event in revoked} == {"signed out everywhere"}
    [everywhere] = events(Action.ACCOUNTS_SESSION_REVOKE_ALL)
    assert everywhere.details == {"sessions_ended": 1, "tokens_revoked": 2}


def test_a_password_set_through_a_link_revokes_the_tokens(owner: User) -> None:
    plaintext = _token(owner, "Scanner")
    uid = urlsafe_base64_encode(force_bytes(owner.pk))
    link = f"/accounts/setup/{uid}/{default_token_generator.make_token(owner)}/"
    browser = Client()
    form_page = browser.get(link, follow=True)
    form_url = form_page.redirect_chain[-1][0]
    new_password = "a brand new ward passphrase 2026"
    answer = browser.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert answer.status_code == 302
    assert Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}").get("/api/v1/me/").status_code == 401
    [revoked] = events(Action.ACCOUNTS_TOKEN_REVOKE)
    assert revoked.details["name"] == "Scanner"
    assert revoked.details["reason"] == "new password"
    [password_set] = events(Action.ACCOUNTS_PASSWORD_SET)
    assert password_set.details["tokens_revoked"] == 1


# --- 5. A first second factor ---------------------------------------------------------------

ENROL_CONFIRM = "/accounts/mfa/setup/confirm/"


def test_a_session_left_at_enrolment_cannot_enrol_the_next_persons_app(
    traveller: time_machine.Traveller,
) -> None:
    """Nora signed in on the ward PC for the first time and was called away from the
    "Set up two-step verification" page. Whoever sits down later must not enrol their
    own authenticator app in her account: her password again, first."""
    nora = user_create("nora.petit@hopital.example", full_name="Nora Petit")
    browser = client_password_only(nora)
    assert browser.get(TOTP_ADD).status_code == 200  # the QR code, right after sign-in
    pending = AuthenticatorApp.objects.get(user=nora, confirmed=False)
    traveller.shift(WINDOW_PASSED)

    page = browser.get(TOTP_ADD)
    assert page["Location"] == f"{ENROL_CONFIRM}?{urlencode({'next': TOTP_ADD})}"
    refused = browser.post(TOTP_ADD, {"code": totp_code(pending), "name": "Thief's phone"})
    assert refused["Location"].startswith(ENROL_CONFIRM)
    assert browser.post(PASSKEY_BEGIN).status_code == 403
    [passkey_refusal] = events(Action.ACCOUNTS_MFA_DEVICE_ADD, outcome="denied")
    assert passkey_refusal.details["reason"] == "no recent second factor"
    assert not AuthenticatorApp.objects.filter(user=nora, confirmed=True).exists()

    wrong = browser.post(ENROL_CONFIRM, {"password": "not her password", "next": TOTP_ADD})
    assert wrong.status_code == 400
    assert "This password is not correct." in wrong.text
    assert events(Action.ACCOUNTS_LOGIN, outcome="denied")
    assert browser.get(TOTP_ADD)["Location"].startswith(ENROL_CONFIRM)

    confirmed = browser.post(ENROL_CONFIRM, {"password": PASSWORD, "next": TOTP_ADD})
    assert confirmed["Location"] == TOTP_ADD
    [again] = events(Action.ACCOUNTS_REAUTH_PASSWORD)
    assert again.actor_id == str(nora.pk)
    # Nora goes on with the same app she had scanned.
    done = browser.post(TOTP_ADD, {"code": totp_code(pending), "name": "Work phone"})
    assert done.status_code == 200  # her recovery codes, shown once
    assert AuthenticatorApp.objects.get(pk=pending.pk).confirmed


def test_a_verified_provider_session_cannot_add_a_first_passkey_past_the_window(
    owner: User, traveller: time_machine.Traveller
) -> None:
    """Someone whose second factor is the identity provider's has no device of her own:
    her first passkey still needs a recent proof, at the package's own endpoint too."""
    AuthenticatorApp.objects.filter(user=owner).delete()
    identity = ExternalIdentity.objects.create(
        user=owner, name="Hospital sign-in", provider="hospital", issuer="https://idp", subject="a2"
    )
    browser = Client()
    browser.force_login(owner)
    session = browser.session
    session[DEVICE_ID_SESSION_KEY] = identity.persistent_id
    session.save()
    traveller.shift(WINDOW_PASSED)
    assert browser.get(PASSKEY_ADD)["Location"].startswith(REAUTH)
    assert browser.post(PASSKEY_BEGIN).status_code == 403
    assert events(Action.ACCOUNTS_MFA_DEVICE_ADD, outcome="denied")


def test_a_stale_session_cannot_get_recovery_codes_by_saying_a_passkey_was_just_added(
    owner: User, traveller: time_machine.Traveller
) -> None:
    """Alice signs in through the hospital's provider. She added a passkey last week,
    but closed the tab before the page asked for its name: she has no recovery codes.
    A session cookie lifted from her ward PC, past the window, posts the "passkey
    added" form with that passkey's id: recovery codes (a second factor that outlives
    the session) must not be handed out without a recent proof."""
    AuthenticatorApp.objects.filter(user=owner).delete()
    identity = ExternalIdentity.objects.create(
        user=owner, name="Hospital sign-in", provider="hospital", issuer="https://idp", subject="a3"
    )
    passkey = WebAuthnCredential.objects.create(
        user=owner, name="Passkey", credential_id=b"\x03" * 16, public_key=b"\x04" * 32
    )
    thief = Client()
    thief.force_login(owner)
    session = thief.session
    session[DEVICE_ID_SESSION_KEY] = identity.persistent_id
    session.save()
    traveller.shift(WINDOW_PASSED)

    refused = thief.post("/accounts/mfa/setup/passkey/added/", {"device": passkey.pk})
    assert sent_to_confirm(refused)
    assert not StaticDevice.objects.filter(user=owner).exists()
    assert not events(Action.ACCOUNTS_MFA_RECOVERY_CODES_GENERATE)
