"""A security-relevant form sent with what cannot be used is re-displayed with its
errors at 400, not 200: so the refusal is recorded like any other
(``request.input.refuse``, audit/refusals.py), and an administrator probing a form, or a
script posting garbage with a stolen session, leaves a trace. Browsers show the page
with its errors the same way."""

from __future__ import annotations

import pytest
from django.conf import settings

from accounts.models import AccountPolicy, Invitation, Team, User
from audit.actions import Action
from audit.models import AuditEvent
from directory.models import DirectoryToken
from sharing.models import SharingPolicy
from tests.helpers import client_signed_in, totp_device_confirmed

pytestmark = pytest.mark.django_db


def refused(view: str) -> list[AuditEvent]:
    return [
        event
        for event in AuditEvent.objects.filter(action=Action.REQUEST_INPUT_REFUSE)
        if event.details.get("view") == view
    ]


def test_adding_someone_unknown_to_a_team_is_a_recorded_refusal(
    site_admin: User, owner: User
) -> None:
    Team.objects.create(name="Cardiologie", slug="cardiologie")
    answer = client_signed_in(site_admin).post(
        "/accounts/teams/cardiologie/", {"user": "999999", "role": "member"}
    )
    assert answer.status_code == 400
    assert "is-invalid" in answer.content.decode()  # the form, with its error
    [event] = refused("accounts:team")
    assert event.actor_id == str(site_admin.pk)
    assert "user" in event.details["fields"]


def test_an_invitation_to_no_address_is_a_recorded_refusal(site_admin: User) -> None:
    answer = client_signed_in(site_admin).post(
        "/accounts/admin/invitations/", {"email": "not an address", "grants_site_admin": "on"}
    )
    assert answer.status_code == 400
    assert not Invitation.objects.exists()
    assert refused("accounts:admin_invitations")


def test_an_absurd_account_policy_is_a_recorded_refusal(site_admin: User) -> None:
    before = AccountPolicy.current().session_idle_minutes
    answer = client_signed_in(site_admin).post(
        "/accounts/admin/policy/", {"session_idle_minutes": "-1"}
    )
    assert answer.status_code == 400
    assert AccountPolicy.current().session_idle_minutes == before
    assert refused("accounts:admin_policy")


def test_an_absurd_sharing_policy_is_a_recorded_refusal(site_admin: User) -> None:
    before = SharingPolicy.current().link_max_days
    answer = client_signed_in(site_admin).post("/sharing/policy/", {"link_max_days": "-1"})
    assert answer.status_code == 400
    assert SharingPolicy.current().link_max_days == before
    assert refused("sharing:policy")


def test_a_directory_token_without_a_name_is_a_recorded_refusal(site_admin: User) -> None:
    answer = client_signed_in(site_admin).post("/directory/tokens/", {"name": ""})
    assert answer.status_code == 400
    assert not DirectoryToken.objects.exists()
    assert refused("directory:tokens")


def test_renaming_a_second_factor_to_nothing_is_a_recorded_refusal(owner: User) -> None:
    client = client_signed_in(owner)
    device = totp_device_confirmed(owner)
    answer = client.post(f"/accounts/security/totp/{device.pk}/rename/", {"name": ""})
    assert answer.status_code == 400
    assert refused("accounts:mfa_device_rename")


def test_joining_a_team_by_oneself_is_refused_with_the_form_and_recorded_once(
    site_admin: User,
) -> None:
    """Sam, administrator, adds himself to Cardiologie: separation of duties refuses it.
    He sees why next to the form (not a redirect), and the log holds the refusal once."""
    Team.objects.create(name="Cardiologie", slug="cardiologie")
    answer = client_signed_in(site_admin).post(
        "/accounts/teams/cardiologie/", {"user": str(site_admin.pk), "role": "member"}
    )
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Nobody may give themselves a role or a team" in page
    assert "is-invalid" in page
    [denied] = AuditEvent.objects.filter(action=Action.ACCOUNTS_TEAM_MEMBER_SET, outcome="denied")
    assert denied.details["reason"] == "self_grant"
    assert not refused("accounts:team")  # audited where decided, not twice
    assert not Team.objects.get(slug="cardiologie").memberships.exists()


def test_a_team_name_already_taken_is_a_recorded_refusal(site_admin: User) -> None:
    Team.objects.create(name="Cardiologie", slug="cardiologie")
    answer = client_signed_in(site_admin).post("/accounts/teams/", {"name": "cardiologie"})
    assert answer.status_code == 400
    assert "A team with this name already exists." in answer.content.decode()
    [event] = refused("accounts:teams")
    assert event.details["reason"] == "AccountRuleError"
    assert Team.objects.count() == 1


def test_a_refusal_reads_in_the_auditors_language_not_the_refused_persons(
    site_admin: User, auditor: User
) -> None:
    """Sam reads SecureDrive in French; Audrey audits in English, Claude in French. The
    message Sam was shown is stored in no one's language and each reads it in theirs."""
    Team.objects.create(name="Cardiologie", slug="cardiologie")
    sam = client_signed_in(site_admin)
    sam.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    answer = sam.post("/accounts/teams/", {"name": "cardiologie"})
    assert "Une équipe porte déjà ce nom." in answer.content.decode()
    [event] = refused("accounts:teams")
    assert event.details["message"] == "A team with this name already exists."

    audrey = client_signed_in(auditor)
    audrey.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert "A team with this name already exists." in audrey.get("/audit/failures/").text
    claude = client_signed_in(auditor)
    claude.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert "Une équipe porte déjà ce nom." in claude.get("/audit/failures/").text
