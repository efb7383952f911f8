"""Two-step verification for everyone, and guessing stopped at every step.

Real django-otp devices and throttling; codes come from pyotp with each device's own
secret, as from a phone. Time is frozen and moved by hand (time-machine), never slept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator

import pytest
import time_machine
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp_webauthn.models import WebAuthnCredential

from accounts import mfa
from accounts.models import User
from accounts.totp import AuthenticatorApp
from audit.actions import Action
from audit.models import AuditEvent
from sso.models import ExternalIdentity
from tests.conftest import PASSWORD, user_create
from tests.helpers import (
    client_password_only,
    client_signed_in,
    totp_code,
    totp_device_confirmed,
    totp_wrong_code,
)

pytestmark = pytest.mark.django_db

VERIFY = "/accounts/mfa/verify/"
RECOVERY = "/accounts/mfa/verify/recovery-code/"
ENROL = "/accounts/mfa/setup/"
TOTP_ADD = "/accounts/mfa/setup/authenticator-app/"


@pytest.fixture
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC), tick=False) as moved:
        yield moved


def events(action: str, **where: object) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **where))


def sign_in(client: Client, email: str, password: str = PASSWORD) -> int:
    return client.post("/accounts/login/", {"username": email, "password": password}).status_code


# --- Enforcement --------------------------------------------------------------------------


def test_a_password_alone_only_opens_enrolment(owner: User) -> None:
    browser = client_password_only(owner)

    for path in ("/", "/status/", "/accounts/security/", "/accounts/sessions/"):
        response = browser.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == f"{ENROL}?next={path.replace('/', '%2F')}", path
    # Forms posted elsewhere are refused the same way, without a next.
    assert browser.post("/accounts/security/recovery-codes/")["Location"] == ENROL

    # What stays reachable: enrolment, signing out, language, health, static files and
    # django-otp-webauthn's endpoints.
    assert browser.get(ENROL).status_code == 200
    assert browser.get(TOTP_ADD).status_code == 200
    assert browser.get("/accounts/mfa/setup/passkey/").status_code == 200
    assert browser.get("/accounts/webauthn/jsi18n/").status_code == 200
    assert browser.get("/healthz").status_code in (200, 503)
    assert browser.get("/static/securedrive/securedrive.css").status_code == 200
    language = browser.post("/i18n/setlang/", {"language": "fr", "next": ENROL})
    assert language["Location"] == ENROL
    assert browser.post("/accounts/logout/")["Location"] == "/accounts/login/"
    assert browser.get("/")["Location"].startswith("/accounts/login/")


def test_someone_with_a_device_is_asked_for_it_and_lands_where_they_were_going(
    owner: User,
) -> None:
    device = totp_device_confirmed(owner)
    browser = Client()
    signed_in = browser.post(
        "/accounts/login/?next=/accounts/sessions/",
        {"username": owner.email, "password": PASSWORD, "next": "/accounts/sessions/"},
        follow=True,
    )
    assert signed_in.redirect_chain[-1][0] == f"{VERIFY}?next=%2Faccounts%2Fsessions%2F"
    assert "Two-step verification" in signed_in.content.decode()

    verified = browser.post(VERIFY, {"code": totp_code(device), "next": "/accounts/sessions/"})
    assert verified["Location"] == "/accounts/sessions/"
    assert browser.get("/").status_code == 200
    [success] = events(Action.ACCOUNTS_MFA_VERIFY, outcome="success")
    assert success.actor_id == str(owner.pk)
    # Which device, by the name its owner gave it: an auditor reads it, and the id alone
    # says nothing once the device is removed.
    assert success.details == {
        "device_type": "totp",
        "purpose": "sign-in",
        "device": device.pk,
        "name": "Authenticator app",
    }


def test_next_never_leads_off_site(owner: User) -> None:
    device = totp_device_confirmed(owner)
    browser = client_password_only(owner)
    response = browser.post(VERIFY, {"code": totp_code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_a_stolen_password_cannot_add_a_device_to_an_enrolled_account(owner: User) -> None:
    totp_device_confirmed(owner)
    thief = client_password_only(owner)
    for path in (TOTP_ADD, "/accounts/mfa/setup/passkey/", ENROL):
        assert thief.get(path)["Location"].startswith(VERIFY), path
    # django-otp-webauthn refuses too: its endpoint is reachable, the ceremony is not.
    refused = thief.post("/accounts/webauthn/registration/begin/")
    assert refused.status_code == 403
    assert AuthenticatorApp.objects.filter(user=owner).count() == 1


def linked_to_a_provider(user: User) -> ExternalIdentity:
    """The person's identity at the organisation's provider: a django-otp device too
    (sso/models.py), but not one they can enter a code into."""
    identity: ExternalIdentity = ExternalIdentity.objects.create(
        user=user,
        name="Test provider",
        confirmed=True,
        provider="test",
        issuer="https://idp.hopital.example",
        subject="sub-alice",
    )
    return identity


def test_a_provider_link_does_not_block_a_first_passkey(owner: User) -> None:
    # Alice signs in through the provider at password level: SecureDrive sends her to
    # enrolment. Her provider link is no second factor she could verify first.
    linked_to_a_provider(owner)
    browser = client_password_only(owner)
    assert browser.get(ENROL).status_code == 200
    begun = browser.post("/accounts/webauthn/registration/begin/")
    assert begun.status_code == 200, begun.content
    assert begun.json()["user"]["name"] == owner.email


def test_a_provider_link_does_not_block_a_first_authenticator_app(owner: User) -> None:
    linked_to_a_provider(owner)
    browser = client_password_only(owner)
    browser.get(TOTP_ADD)
    device = AuthenticatorApp.objects.get(user=owner, confirmed=False)
    done = browser.post(TOTP_ADD, {"code": totp_code(device), "name": "Work phone"})
    assert done.status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    assert browser.get("/").status_code == 200


def test_a_stolen_password_cannot_add_a_passkey_next_to_a_provider_link_and_an_app(
    owner: User,
) -> None:
    linked_to_a_provider(owner)
    totp_device_confirmed(owner)
    thief = client_password_only(owner)
    assert thief.post("/accounts/webauthn/registration/begin/").status_code == 403
    assert thief.post("/accounts/webauthn/registration/complete/").status_code == 403


def test_a_stolen_password_cannot_pass_off_an_existing_passkey_as_just_created(
    owner: User,
) -> None:
    passkey = WebAuthnCredential.objects.create(
        user=owner, name="Laptop", credential_id=b"\x01" * 16, public_key=b"\x02" * 32
    )
    thief = client_password_only(owner)
    response = thief.post("/accounts/mfa/setup/passkey/added/", {"device": passkey.pk})
    assert response["Location"].startswith(VERIFY)
    assert thief.get("/")["Location"].startswith(VERIFY)


def test_the_api_is_left_to_its_own_authentication(owner: User) -> None:
    totp_device_confirmed(owner)
    browser = client_password_only(owner)
    response = browser.get("/api/v1/me/")
    # Not a redirect to an HTML form: the API refuses the unverified session itself.
    assert response.status_code in (401, 403)


# --- Authenticator app enrolment ----------------------------------------------------------


def test_clinician_enrols_an_authenticator_app_and_sees_recovery_codes_once(owner: User) -> None:
    browser = client_password_only(owner)
    page = browser.get(TOTP_ADD)
    html = page.content.decode()
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"', html)
    device = AuthenticatorApp.objects.get(user=owner, confirmed=False)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)
    assert secret is not None
    assert secret.group(1).replace(" ", "") in device.config_url
    # A reload shows the same secret rather than a new one.
    assert browser.get(TOTP_ADD).content.decode().count(secret.group(1)) == 1
    assert AuthenticatorApp.objects.filter(user=owner).count() == 1

    done = browser.post(TOTP_ADD, {"code": totp_code(device), "name": "Work phone"})
    assert done.status_code == 200
    codes = re.findall(r">([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})<", done.content.decode())
    assert len(set(codes)) == 10
    device.refresh_from_db()
    assert (device.confirmed, device.name) == (True, "Work phone")
    assert browser.get("/").status_code == 200  # this session is now verified

    # Stored as hashes: the database alone does not give a valid code away.
    stored = set(StaticToken.objects.filter(device__user=owner).values_list("token", flat=True))
    assert len(stored) == 10
    assert not stored & ({code.replace("-", "") for code in codes} | set(codes))
    # Shown once: the Security page only counts them.
    security = browser.get("/accounts/security/").content.decode()
    assert "10 of 10 codes left." in security
    assert codes[0] not in security

    [added] = events(Action.ACCOUNTS_MFA_DEVICE_ADD)
    assert added.details == {"device_type": "totp", "device": device.pk, "name": "Work phone"}
    assert (
        events(Action.ACCOUNTS_MFA_VERIFY, outcome="success")[0].details["purpose"] == "enrolment"
    )
    [generated] = events(Action.ACCOUNTS_MFA_RECOVERY_CODES_GENERATE)
    assert generated.details == {"count": 10, "unused_codes_replaced": 0}


def test_a_mistyped_enrolment_code_keeps_the_app_unconfirmed(owner: User) -> None:
    browser = client_password_only(owner)
    browser.get(TOTP_ADD)
    device = AuthenticatorApp.objects.get(user=owner)
    response = browser.post(TOTP_ADD, {"code": totp_wrong_code(device), "name": "Phone"})
    assert "This code is not valid" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert browser.get("/")["Location"].startswith(ENROL)
    [denied] = events(Action.ACCOUNTS_MFA_VERIFY, outcome="denied")
    assert denied.details["reason"] == "invalid code"
    assert denied.details["purpose"] == "enrolment"


# --- Wrong codes: throttled, limited, audited ---------------------------------------------


def test_a_wrong_code_is_refused_audited_and_slows_the_next_try(
    owner: User, traveller: time_machine.Traveller
) -> None:
    device = totp_device_confirmed(owner)
    browser = client_password_only(owner)

    wrong = browser.post(VERIFY, {"code": totp_wrong_code(device)})
    assert wrong.status_code == 200
    assert "This code is not valid. Check it and try again." in wrong.content.decode()

    # django-otp's back-off: even the right code waits a second after a failure.
    too_soon = browser.post(VERIFY, {"code": totp_code(device)})
    assert too_soon.status_code == 429
    assert "Wait 1 second before trying again." in too_soon.content.decode()
    assert browser.get("/").status_code == 302

    traveller.shift(dt.timedelta(seconds=2))
    assert browser.post(VERIFY, {"code": totp_code(device)})["Location"] == "/"

    reasons = [
        (event.outcome, event.details.get("reason"), event.details["device_type"])
        for event in events(Action.ACCOUNTS_MFA_VERIFY)
    ]
    assert reasons == [
        ("denied", "invalid code", "totp"),
        ("denied", "device throttled", "totp"),
        ("success", None, "totp"),
    ]


def test_a_code_used_twice_is_refused_as_a_wrong_one_but_audited_as_reused(
    owner: User, traveller: time_machine.Traveller
) -> None:
    """A code read over Alice's shoulder (or relayed by a phishing page) and typed again
    within its 30 seconds: the thief sees the same neutral refusal as for a typo, but
    the auditor reads that a code was used twice, which a typo never explains."""
    device = totp_device_confirmed(owner)
    code = totp_code(device)
    alice = client_password_only(owner)
    assert alice.post(VERIFY, {"code": code})["Location"] == "/"

    thief = client_password_only(owner, remote_addr="10.66.0.1")
    replayed = thief.post(VERIFY, {"code": code})
    assert replayed.status_code == 200
    assert "This code is not valid. Check it and try again." in replayed.text
    assert thief.get("/").status_code == 302
    traveller.shift(dt.timedelta(seconds=2))
    typo = thief.post(VERIFY, {"code": totp_wrong_code(device)})
    assert (typo.status_code, typo.text.count("This code is not valid")) == (
        replayed.status_code,
        replayed.text.count("This code is not valid"),
    )

    reused, wrong = events(Action.ACCOUNTS_MFA_VERIFY, outcome="denied")
    assert (reused.details["reason"], wrong.details["reason"]) == (
        "code already used",
        "invalid code",
    )
    auditor = client_signed_in(
        user_create("audrey.auditor@hopital.example", full_name="Audrey", is_auditor=True)
    )
    page = f"/audit/events/{reused.sequence}/"
    assert "code already used" in auditor.get(page).text
    assert "code déjà utilisé" in auditor.get(page, HTTP_ACCEPT_LANGUAGE="fr").text
    assert "code already used" not in auditor.get(f"/audit/events/{wrong.sequence}/").text


def test_switching_between_app_and_recovery_codes_does_not_escape_the_limit(
    owner: User, traveller: time_machine.Traveller
) -> None:
    device = totp_device_confirmed(owner)
    mfa.recovery_codes_generate(actor=owner)
    attacker = client_password_only(owner)
    for attempt in range(mfa.MFA_FAILURES_PER_ACCOUNT // 2):
        # Past each device's own back-off (1, 2, 4… seconds).
        traveller.shift(dt.timedelta(seconds=2**attempt))
        assert "not valid" in attacker.post(VERIFY, {"code": totp_wrong_code(device)}).text
        assert "not valid" in attacker.post(RECOVERY, {"code": "aaaa-bbbb-cccc"}).text

    traveller.shift(dt.timedelta(minutes=2))
    refused = attacker.post(VERIFY, {"code": totp_code(device)})
    assert refused.status_code == 429
    assert "Too many incorrect codes. For your security, wait 15 minutes" in refused.text
    assert events(Action.ACCOUNTS_MFA_VERIFY, outcome="denied")[-1].details["reason"] == (
        "too many failures"
    )

    # A quarter of an hour later, signing in again works.
    traveller.shift(dt.timedelta(minutes=15))
    owner_again = client_password_only(owner)
    assert owner_again.post(VERIFY, {"code": totp_code(device)})["Location"] == "/"


def test_wrong_codes_from_one_address_are_limited_across_accounts(
    owner: User, traveller: time_machine.Traveller
) -> None:
    people = [user_create(f"agent{number}@ward.example") for number in range(3)]
    devices = {person.pk: totp_device_confirmed(person) for person in people}
    ward_pc = "10.20.30.40"
    browsers = [client_password_only(person, remote_addr=ward_pc) for person in people]
    for attempt in range(mfa.MFA_FAILURES_PER_ADDRESS // len(people)):
        if attempt:  # past each device's own back-off: 1, 2, 4… seconds
            traveller.shift(dt.timedelta(seconds=2 ** (attempt - 1) + 1))
        for person, browser in zip(people, browsers, strict=True):
            browser.post(VERIFY, {"code": totp_wrong_code(devices[person.pk])})

    owner_device = totp_device_confirmed(owner)
    same_address = client_password_only(owner, remote_addr=ward_pc)
    assert same_address.post(VERIFY, {"code": totp_code(owner_device)}).status_code == 429
    elsewhere = client_password_only(owner, remote_addr="10.99.0.1")
    assert elsewhere.post(VERIFY, {"code": totp_code(owner_device)})["Location"] == "/"


# --- Recovery codes -----------------------------------------------------------------------


def test_a_recovery_code_signs_in_once(owner: User) -> None:
    totp_device_confirmed(owner)
    codes = mfa.recovery_codes_generate(actor=owner)

    browser = client_password_only(owner)
    # Typed from paper: upper case and spaces instead of dashes are fine.
    typed = codes[0].upper().replace("-", " ")
    assert browser.post(RECOVERY, {"code": typed, "next": "/status/"})["Location"] == "/status/"
    assert browser.get("/").status_code == 200
    [used] = events(Action.ACCOUNTS_MFA_RECOVERY_CODE_USE)
    assert (used.actor_id, used.details) == (str(owner.pk), {"remaining": 9})
    assert events(Action.ACCOUNTS_MFA_VERIFY, outcome="success")[0].details["device_type"] == (
        "recovery_code"
    )

    again = client_password_only(owner)
    response = again.post(RECOVERY, {"code": codes[0]})
    assert "This code is not valid" in response.text
    assert again.get("/").status_code == 302
    [denied] = events(Action.ACCOUNTS_MFA_VERIFY, outcome="denied")
    assert (denied.details["device_type"], denied.details["reason"]) == (
        "recovery_code",
        "invalid code",
    )


def unkeyed_digest(user: User, code: str) -> str:
    """What the first release stored: SHA-256 of the code and the account id, cut to
    64 bits. Anyone holding a database dump can compute it for every possible code."""
    typed = "".join(character for character in code.lower() if character.isalnum())
    return hashlib.sha256(f"securedrive.recovery-code:{user.pk}:{typed}".encode()).hexdigest()[:16]


def test_a_database_dump_alone_cannot_confirm_a_recovery_code(owner: User) -> None:
    """A stolen backup must not let someone try the 2^59 codes offline: what is stored
    depends on the keyring, which lives outside the database."""
    totp_device_confirmed(owner)
    codes = mfa.recovery_codes_generate(actor=owner)
    stored = set(StaticToken.objects.filter(device__user=owner).values_list("token", flat=True))
    assert len(stored) == 10
    assert not stored & {unkeyed_digest(owner, code) for code in codes}
    assert not stored & ({code.replace("-", "") for code in codes} | set(codes))

    browser = client_password_only(owner)
    assert browser.post(RECOVERY, {"code": codes[3]})["Location"] == "/"
    assert mfa.recovery_codes_remaining(user=owner) == 9


def test_recovery_codes_printed_before_the_keyed_hashes_still_work_once(owner: User) -> None:
    """Sheets printed before the change sit in drawers: they keep working until the
    person makes new codes, and each still works only once."""
    totp_device_confirmed(owner)
    sheet = ["abcd-efgh-jkmn", "pqrs-tuvw-xyz2"]
    device = StaticDevice.objects.create(user=owner, name="Recovery codes")
    for code in sheet:
        StaticToken.objects.create(device=device, token=unkeyed_digest(owner, code))

    browser = client_password_only(owner)
    assert browser.post(RECOVERY, {"code": sheet[0].upper()})["Location"] == "/"
    again = client_password_only(owner)
    assert "This code is not valid" in again.post(RECOVERY, {"code": sheet[0]}).text
    assert mfa.recovery_codes_remaining(user=owner) == 1


def test_new_recovery_codes_replace_the_old_ones(owner: User) -> None:
    old_codes = mfa.recovery_codes_generate(actor=owner)
    browser = client_signed_in(owner)
    page = browser.post("/accounts/security/recovery-codes/")
    new_codes = re.findall(r">([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})<", page.text)
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)

    stranger = client_password_only(owner)
    assert "not valid" in stranger.post(RECOVERY, {"code": old_codes[1]}).text
    generated = events(Action.ACCOUNTS_MFA_RECOVERY_CODES_GENERATE)
    assert [event.details["unused_codes_replaced"] for event in generated] == [0, 10]


# --- Managing devices ---------------------------------------------------------------------


def test_the_last_sign_in_device_cannot_be_removed(owner: User) -> None:
    first = totp_device_confirmed(owner)
    mfa.recovery_codes_generate(actor=owner)  # codes are no device: still the last one
    browser = client_signed_in(owner)

    refused = browser.post(f"/accounts/security/totp/{first.pk}/remove/", follow=True)
    assert "This is your only sign-in device." in refused.text
    assert AuthenticatorApp.objects.filter(pk=first.pk).exists()
    [denied] = events(Action.ACCOUNTS_MFA_DEVICE_REMOVE)
    assert (denied.outcome, denied.details["reason"]) == ("denied", "last device")

    # With a second app enrolled, either can go.
    browser.get(TOTP_ADD)
    second = AuthenticatorApp.objects.get(user=owner, confirmed=False)
    browser.post(TOTP_ADD, {"code": totp_code(second), "name": "New phone"})
    assert "New phone" in browser.get("/accounts/security/").text
    removed = browser.post(f"/accounts/security/totp/{second.pk}/remove/", follow=True)
    assert "“New phone” was removed." in removed.text
    assert events(Action.ACCOUNTS_MFA_DEVICE_REMOVE)[-1].outcome == "success"


def test_people_rename_their_devices_and_cannot_reach_anyone_elses(
    owner: User, outsider: User
) -> None:
    device = totp_device_confirmed(owner)
    browser = client_signed_in(owner)
    renamed = browser.post(f"/accounts/security/totp/{device.pk}/rename/", {"name": "Pixel 8"})
    assert renamed["Location"] == "/accounts/security/"
    device.refresh_from_db()
    assert device.name == "Pixel 8"
    [event] = events(Action.ACCOUNTS_MFA_DEVICE_RENAME)
    assert (event.details["previous_name"], event.details["name"]) == (
        "Authenticator app",
        "Pixel 8",
    )

    intruder = client_signed_in(outsider)
    for action in ("rename", "remove"):
        path = f"/accounts/security/totp/{device.pk}/{action}/"
        assert intruder.get(path).status_code == 404
        assert intruder.post(path, {"name": "mine"}).status_code == 404
    assert intruder.get(f"/accounts/security/sms/{device.pk}/remove/").status_code == 404
    device.refresh_from_db()
    assert device.name == "Pixel 8"


def test_mfa_pages_hold_no_executable_inline_code(owner: User) -> None:
    totp_device_confirmed(owner)
    WebAuthnCredential.objects.create(
        user=owner, name="Laptop", credential_id=b"\x01" * 16, public_key=b"\x02" * 32
    )
    browser = client_password_only(owner)
    pages = [browser.get(VERIFY).text, browser.get(RECOVERY).text]
    signed_in = client_signed_in(owner)
    for path in ("/accounts/security/", TOTP_ADD, "/accounts/mfa/setup/passkey/"):
        pages.append(signed_in.get(path).text)
    assert 'id="passkey-verification-placeholder"' in pages[0]
    for html in pages:
        # Only JSON data blocks (django-otp-webauthn's configuration) are inline.
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert all('type="application/json"' in tag for tag in inline), inline
        assert not re.search(r"\sstyle=", html)
        assert "<style" not in html


def test_the_second_step_speaks_french_down_to_the_passkey_script(owner: User) -> None:
    totp_device_confirmed(owner)
    browser = client_password_only(owner)
    browser.post("/i18n/setlang/", {"language": "fr", "next": VERIFY})
    assert "Validation en deux étapes" in browser.get(VERIFY).text
    wrong = browser.post(VERIFY, {"code": "12"})
    assert "Ce code n\u2019est pas valide." in wrong.text
    # django-otp-webauthn ships no French: SecureDrive's djangojs catalogue fills in.
    script = browser.get("/accounts/webauthn/jsi18n/").text
    assert "Finalisation de la v" in script


# --- Password guessing (django-axes) ------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_from_any_address(
    owner: User, traveller: time_machine.Traveller
) -> None:
    for attempt in range(4):
        assert sign_in(Client(REMOTE_ADDR=f"10.0.0.{attempt}"), owner.email, "guess") == 200
    # Case and spaces do not buy extra guesses at the same account.
    fifth = Client(REMOTE_ADDR="10.0.0.4").post(
        "/accounts/login/", {"username": " Alice.MARTIN@hopital.example", "password": "guess"}
    )
    assert fifth.status_code == 429
    assert "Too many attempts" in fifth.text

    # Now even the right password, from anywhere, is refused.
    assert sign_in(Client(REMOTE_ADDR="10.0.0.99"), owner.email) == 429
    [lockout] = events(Action.ACCOUNTS_LOCKOUT)
    assert (lockout.actor_label, lockout.outcome) == (owner.email, "denied")
    assert lockout.details["failures"] == 5
    reasons = [event.details["reason"] for event in events(Action.ACCOUNTS_LOGIN, outcome="denied")]
    assert reasons == ["invalid credentials"] * 5 + ["locked out"]

    traveller.shift(dt.timedelta(minutes=16))
    assert sign_in(Client(REMOTE_ADDR="10.0.0.99"), owner.email) == 302


def test_five_failures_from_one_address_lock_that_address(owner: User) -> None:
    for number in range(5):
        sign_in(Client(REMOTE_ADDR="10.7.7.7"), f"guess{number}@hopital.example", "guess")
    assert sign_in(Client(REMOTE_ADDR="10.7.7.7"), owner.email) == 429
    assert sign_in(Client(REMOTE_ADDR="10.8.8.8"), owner.email) == 302
    assert len(events(Action.ACCOUNTS_LOCKOUT)) == 1


def test_locked_unknown_and_known_accounts_get_the_same_answer(owner: User) -> None:
    def locked_page(email: str) -> tuple[int, str]:
        response = None
        for attempt in range(6):
            response = Client(REMOTE_ADDR=f"10.1.{len(email)}.{attempt}").post(
                "/accounts/login/", {"username": email, "password": "guess"}
            )
        assert response is not None
        # Every page carries a fresh CSRF token; the rest must be identical.
        return response.status_code, re.sub(r"[A-Za-z0-9]{64}", "", response.text)

    known = locked_page(owner.email)
    unknown = locked_page("nobody.here@hopital.example")
    assert known[0] == unknown[0] == 429
    assert known[1] == unknown[1]
    assert owner.email not in known[1]
    assert {event.actor_label for event in events(Action.ACCOUNTS_LOCKOUT)} == {
        owner.email,
        "nobody.here@hopital.example",
    }


def test_new_recovery_codes_shut_out_a_session_opened_with_an_old_one(owner: User) -> None:
    """Alice's code sheet was photographed; the thief, who also had her password, signed
    in with one of its codes. Alice makes new codes: the old ones stop working, and so
    must the session the thief opened with one. Her own session stays verified."""
    device = totp_device_confirmed(owner)
    codes = mfa.recovery_codes_generate(actor=owner)
    thief = client_password_only(owner, remote_addr="10.66.0.1")
    assert thief.post(RECOVERY, {"code": codes[0]})["Location"] == "/"
    assert thief.get("/").status_code == 200

    alice = client_password_only(owner)
    assert alice.post(VERIFY, {"code": totp_code(device)})["Location"] == "/"
    assert alice.post("/accounts/security/recovery-codes/").status_code == 200

    assert thief.get("/")["Location"].startswith(VERIFY)
    assert alice.get("/").status_code == 200
    assert mfa.recovery_codes_remaining(user=owner) == 10


def test_a_person_signed_in_with_a_recovery_code_stays_in_after_making_new_ones(
    owner: User,
) -> None:
    totp_device_confirmed(owner)
    codes = mfa.recovery_codes_generate(actor=owner)
    browser = client_password_only(owner)
    assert browser.post(RECOVERY, {"code": codes[0]})["Location"] == "/"
    page = browser.post("/accounts/security/recovery-codes/")
    new_codes = re.findall(r">([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})<", page.text)
    assert len(new_codes) == 10
    assert browser.get("/").status_code == 200
