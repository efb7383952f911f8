"""A session id is worth nothing across a privilege change (OWASP ASVS 5.0 V7.2.4).

The id a browser held before the password step, before the second factor, or before an
administrator changed the person's roles must not be signed in afterwards: a cookie
planted by an attacker (session fixation) or read off a shared ward PC between the two
steps would otherwise inherit the full session. Real sign-in views, real devices.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from accounts import mfa
from accounts.models import RoleProposal, User, UserSession
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import PASSWORD, user_create
from tests.helpers import (
    CONFIRMED,
    client_password_only,
    client_signed_in,
    totp_code,
    totp_device_confirmed,
)

pytestmark = pytest.mark.django_db

VERIFY = "/accounts/mfa/verify/"
RECOVERY = "/accounts/mfa/verify/recovery-code/"
TOTP_ADD = "/accounts/mfa/setup/authenticator-app/"


def session_cookie(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def client_with_cookie(session_key: str) -> Client:
    """Someone else's browser replaying a copied session cookie."""
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = session_key
    return replay


def assert_signed_out(replay: Client) -> None:
    assert replay.get("/api/v1/me/").status_code in (401, 403)
    assert replay.get("/")["Location"].startswith("/accounts/login/")
    assert replay.get(VERIFY)["Location"].startswith("/accounts/login/")


def test_a_session_id_planted_before_sign_in_is_not_the_signed_in_one(owner: User) -> None:
    planted = SessionStore()
    planted["planted_by"] = "attacker"
    planted.create()
    browser = client_with_cookie(planted.session_key or "")

    browser.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})

    assert session_cookie(browser) != planted.session_key
    assert not SessionStore().exists(planted.session_key or "")
    assert_signed_out(client_with_cookie(planted.session_key or ""))


def test_the_id_from_the_password_step_stops_working_at_the_authenticator_code(
    owner: User,
) -> None:
    device = totp_device_confirmed(owner)
    browser = client_password_only(owner)
    before_mfa = session_cookie(browser)

    assert browser.post(VERIFY, {"code": totp_code(device)})["Location"] == "/"

    after_mfa = session_cookie(browser)
    assert after_mfa != before_mfa
    assert browser.get("/api/v1/me/").status_code == 200
    assert_signed_out(client_with_cookie(before_mfa))
    # The visible session list follows the new id: still one open session, same row.
    [listed] = UserSession.objects.filter(user=owner, ended_at__isnull=True)
    assert listed.session_key == after_mfa
    assert browser.get("/accounts/sessions/").status_code == 200


def test_the_id_from_the_password_step_stops_working_at_a_recovery_code(owner: User) -> None:
    totp_device_confirmed(owner)
    codes = mfa.recovery_codes_generate(actor=owner)
    browser = client_password_only(owner)
    before_mfa = session_cookie(browser)

    assert browser.post(RECOVERY, {"code": codes[0]})["Location"] == "/"

    assert session_cookie(browser) != before_mfa
    assert browser.get("/api/v1/me/").status_code == 200
    assert_signed_out(client_with_cookie(before_mfa))


def test_the_id_from_the_password_step_stops_working_when_the_first_app_is_enrolled(
    owner: User,
) -> None:
    browser = client_password_only(owner)
    before_mfa = session_cookie(browser)
    browser.get(TOTP_ADD)
    pending = mfa.devices_of(user=owner, kind=mfa.DeviceKind.TOTP).model.objects.get(user=owner)

    added = browser.post(TOTP_ADD, {"code": totp_code(pending), "name": "Work phone"})

    assert added.status_code == 200  # the recovery codes page
    assert session_cookie(browser) != before_mfa
    assert browser.get("/api/v1/me/").status_code == 200
    assert_signed_out(client_with_cookie(before_mfa))


@pytest.mark.parametrize("grant", [True, False], ids=["granted", "withdrawn"])
def test_a_site_admin_role_change_ends_the_persons_open_sessions(
    site_admin: User, grant: bool
) -> None:
    person = user_create("bruno.colleague@hopital.example", is_site_admin=not grant)
    their_browser = client_signed_in(person)
    assert their_browser.get("/").status_code == 200

    form = {"is_site_admin": "on"} if grant else dict(CONFIRMED)  # a withdrawal asks first
    client_signed_in(site_admin).post(f"/accounts/admin/users/{person.pk}/", form)
    if grant:
        # Four eyes (accounts/roles.py): the grant takes effect when a second
        # administrator approves it, and that is when the person's sessions end.
        person.refresh_from_db()
        assert not person.is_site_admin
        assert their_browser.get("/").status_code == 200
        second = user_create("paula.admin@hopital.example", is_site_admin=True)
        proposal = RoleProposal.objects.get(subject=person)
        approved = client_signed_in(second).post(
            f"/accounts/admin/role-approvals/{proposal.pk}/decide/",
            {"decision": "approve", f"p{proposal.pk}-confirm": "on"},
        )
        assert approved.status_code == 302

    person.refresh_from_db()
    assert person.is_site_admin is grant
    assert their_browser.get("/")["Location"].startswith("/accounts/login/")
    assert not UserSession.objects.filter(user=person, ended_at__isnull=True).exists()
    ended = UserSession.objects.get(user=person)
    assert ended.end_reason == "roles changed"
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_ROLES)
    assert event.details["sessions_ended"] == 1
