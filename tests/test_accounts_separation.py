"""Separation of duties: nobody widens their own access, and the site-wide roles take
two people (docs/accounts.md, "Roles").

Sam is a site administrator, Paula a second one, Audrey an auditor, Alice a clinician
of Cardiologie. Sam tries to join Cardiologie to read its files and to tick "auditor"
on his own account; both are refused and audited. Roles for others are proposed by one
administrator and approved by a second person before they lapse.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import datetime as dt
import secrets

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts import tokens
from accounts.models import RoleProposal, Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from tests.conftest import user_create
from tests.files_helpers import version_store
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_admin(db: None) -> User:
    return user_create("paula.admin@hopital.example", full_name="Paula Admin", is_site_admin=True)


def token_client(user: User) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user, name=f"t {secrets.token_hex(4)}", scopes=["read"], expires_in_days=30
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def denied(action: str, actor: User) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, outcome="denied", actor_id=str(actor.pk)))


def approve(client: Client, proposal: RoleProposal, *, confirm: bool = True) -> None:
    data = {"decision": "approve"}
    if confirm:
        data[f"p{proposal.pk}-confirm"] = "on"
    response = client.post(f"/accounts/admin/role-approvals/{proposal.pk}/decide/", data)
    assert response.status_code == 302


# --- Nobody widens their own access ------------------------------------------------------


@pytest.mark.usefixtures("folder_backend")
def test_an_admin_cannot_join_a_team_to_read_its_files(site_admin: User, team: Team) -> None:
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    owner = team.memberships.get(role=TeamRole.MANAGER).user
    version = version_store(actor=owner, folder=team_root, name="ecg.pdf", content=b"%PDF ecg")

    sam = client_signed_in(site_admin)
    sam.post(f"/accounts/teams/{team.slug}/", {"user": site_admin.pk, "role": TeamRole.MEMBER})

    assert not TeamMembership.objects.filter(team=team, user=site_admin).exists()
    content = token_client(site_admin).get(f"/api/v1/files/{version.file_id}/content/")
    assert content.status_code == 404
    [refusal] = denied(Action.ACCOUNTS_TEAM_MEMBER_SET, site_admin)
    assert refusal.details["reason"] == "self_grant"


@pytest.mark.usefixtures("folder_backend")
@pytest.mark.parametrize("when", ["now", "later"])
def test_an_admin_cannot_name_himself_to_receive_a_leavers_files(
    site_admin: User, owner: User, when: str
) -> None:
    """Offboarding hands a leaver's personal files to a successor: naming oneself would
    be reading Alice's files by one's own decision, like joining her team."""
    version = version_store(
        actor=owner, folder=services.space_root(services.space_personal_get_or_create(user=owner)),
        name="compte-rendu.pdf", content=b"%PDF cr",
    )  # fmt: skip
    form = {"when": when, "successor": site_admin.pk, "confirmed": "yes"}
    if when == "later":
        form["departure_on"] = (timezone.localdate() + dt.timedelta(days=7)).isoformat()
    client_signed_in(site_admin).post(f"/accounts/admin/users/{owner.pk}/deactivate/", form)

    owner.refresh_from_db()
    assert owner.is_active
    assert owner.files_successor is None
    assert owner.departure_scheduled_for is None
    content = token_client(site_admin).get(f"/api/v1/files/{version.file_id}/content/")
    assert content.status_code == 404
    action = Action.ACCOUNTS_USER_DEACTIVATE
    if when == "later":
        action = Action.ACCOUNTS_USER_DEPARTURE_SCHEDULE
    [refusal] = denied(action, site_admin)
    assert refusal.details["reason"] == "self_grant"


def test_a_member_cannot_make_themselves_manager_of_their_team(
    site_admin: User, team: Team
) -> None:
    TeamMembership.objects.create(team=team, user=site_admin, role=TeamRole.MEMBER)
    client_signed_in(site_admin).post(
        f"/accounts/teams/{team.slug}/", {"user": site_admin.pk, "role": TeamRole.MANAGER}
    )
    assert TeamMembership.objects.get(team=team, user=site_admin).role == TeamRole.MEMBER
    assert denied(Action.ACCOUNTS_TEAM_MEMBER_SET, site_admin)


def test_an_admin_still_adds_others_and_steps_down_himself(
    site_admin: User, owner: User, team: Team
) -> None:
    """The rule stops widening one's own access, nothing else."""
    colleague = user_create("claire@hopital.example")
    sam = client_signed_in(site_admin)
    sam.post(f"/accounts/teams/{team.slug}/", {"user": colleague.pk, "role": TeamRole.MEMBER})
    assert TeamMembership.objects.filter(team=team, user=colleague).exists()
    alice = client_signed_in(owner)
    alice.post(f"/accounts/teams/{team.slug}/", {"user": owner.pk, "role": TeamRole.MEMBER})
    assert TeamMembership.objects.get(team=team, user=owner).role == TeamRole.MEMBER


def test_an_admin_cannot_tick_auditor_on_his_own_account(site_admin: User) -> None:
    sam = client_signed_in(site_admin)
    sam.post(f"/accounts/admin/users/{site_admin.pk}/", {"is_site_admin": "on", "is_auditor": "on"})
    site_admin.refresh_from_db()
    assert not site_admin.is_auditor
    assert not RoleProposal.objects.exists()
    assert sam.get("/audit/").status_code == 403
    [refusal] = denied(Action.ACCOUNTS_ROLE_PROPOSE, site_admin)
    assert refusal.details["reason"] == "self_grant"


# --- Four eyes -----------------------------------------------------------------------------


def test_an_auditor_role_takes_a_second_administrator(
    site_admin: User, second_admin: User, owner: User
) -> None:
    sam, paula = client_signed_in(site_admin), client_signed_in(second_admin)
    sam.post(f"/accounts/admin/users/{owner.pk}/", {"is_auditor": "on"})
    owner.refresh_from_db()
    assert not owner.is_auditor  # proposed, not granted
    proposal = RoleProposal.objects.get(subject=owner)

    approve(sam, proposal)  # the proposer cannot be the second pair of eyes
    owner.refresh_from_db()
    assert not owner.is_auditor
    assert denied(Action.ACCOUNTS_ROLE_APPROVE, site_admin)[0].details["reason"] == "proposer"
    page = sam.get("/accounts/admin/role-approvals/").content.decode()
    assert "A second person must decide" in page

    approve(paula, proposal, confirm=False)  # confirmation is required
    owner.refresh_from_db()
    assert not owner.is_auditor

    listing = paula.get("/accounts/admin/role-approvals/").content.decode()
    assert owner.email in listing
    approve(paula, proposal)
    owner.refresh_from_db()
    assert owner.is_auditor
    assert client_signed_in(owner).get("/audit/").status_code == 200
    steps = AuditEvent.objects.filter(
        target_id=str(owner.pk), outcome="success", action__startswith="accounts.role"
    ) | AuditEvent.objects.filter(target_id=str(owner.pk), action=Action.ACCOUNTS_USER_ROLES)
    assert list(steps.order_by("pk").values_list("action", flat=True)) == [
        Action.ACCOUNTS_ROLE_PROPOSE,
        Action.ACCOUNTS_ROLE_APPROVE,
        Action.ACCOUNTS_USER_ROLES,
    ]


def test_an_auditor_approves_a_new_site_admin_but_not_for_herself(
    site_admin: User, auditor: User, owner: User
) -> None:
    sam, audrey = client_signed_in(site_admin), client_signed_in(auditor)
    sam.post(f"/accounts/admin/users/{owner.pk}/", {"is_site_admin": "on"})
    sam.post(f"/accounts/admin/users/{auditor.pk}/", {"is_auditor": "on", "is_site_admin": "on"})
    for_alice = RoleProposal.objects.get(subject=owner)
    for_audrey = RoleProposal.objects.get(subject=auditor)

    approve(audrey, for_audrey)
    auditor.refresh_from_db()
    assert not auditor.is_site_admin
    assert denied(Action.ACCOUNTS_ROLE_APPROVE, auditor)[0].details["reason"] == "self_grant"

    approve(audrey, for_alice)
    owner.refresh_from_db()
    assert owner.is_site_admin


def test_a_clinician_neither_sees_nor_decides_proposals(
    site_admin: User, owner: User, outsider: User
) -> None:
    client_signed_in(site_admin).post(f"/accounts/admin/users/{owner.pk}/", {"is_auditor": "on"})
    proposal = RoleProposal.objects.get()
    oscar = client_signed_in(outsider)
    assert oscar.get("/accounts/admin/role-approvals/").status_code == 403
    response = oscar.post(
        f"/accounts/admin/role-approvals/{proposal.pk}/decide/",
        {"decision": "approve", f"p{proposal.pk}-confirm": "on"},
    )
    assert response.status_code == 403
    owner.refresh_from_db()
    assert not owner.is_auditor


def test_a_declined_proposal_grants_nothing(
    site_admin: User, second_admin: User, owner: User
) -> None:
    client_signed_in(site_admin).post(f"/accounts/admin/users/{owner.pk}/", {"is_auditor": "on"})
    proposal = RoleProposal.objects.get()
    client_signed_in(second_admin).post(
        f"/accounts/admin/role-approvals/{proposal.pk}/decide/", {"decision": "decline"}
    )
    owner.refresh_from_db()
    proposal.refresh_from_db()
    assert not owner.is_auditor
    assert proposal.approved is False
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_ROLE_DECLINE).count() == 1


def test_a_proposal_lapses_after_three_days(
    site_admin: User, second_admin: User, owner: User
) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client_signed_in(site_admin).post(
            f"/accounts/admin/users/{owner.pk}/", {"is_auditor": "on"}
        )
    proposal = RoleProposal.objects.get()
    with time_machine.travel(start + dt.timedelta(days=3, minutes=1), tick=False):
        approve(client_signed_in(second_admin), proposal)
        owner.refresh_from_db()
        assert not owner.is_auditor
        assert denied(Action.ACCOUNTS_ROLE_APPROVE, second_admin)[0].details["reason"] == "expired"
        # Proposing again is possible: the lapsed one is closed (and audited).
        client_signed_in(site_admin).post(
            f"/accounts/admin/users/{owner.pk}/", {"is_auditor": "on"}
        )
    assert RoleProposal.objects.filter(decided_at__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_ROLE_EXPIRE).count() == 1


def test_withdrawing_a_role_takes_effect_at_once(site_admin: User, auditor: User) -> None:
    user_create("iris.auditrice@hopital.example", is_auditor=True)  # not the last one
    client_signed_in(site_admin).post(f"/accounts/admin/users/{auditor.pk}/", CONFIRMED)
    auditor.refresh_from_db()
    assert not auditor.is_auditor


def test_roles_in_an_invitation_become_proposals(
    site_admin: User, second_admin: User, django_capture_on_commit_callbacks: object
) -> None:
    from accounts import invitations

    sent = invitations.invitation_create(
        actor=site_admin, email="nouvel.auditeur@hopital.example", grants_auditor=True
    )
    newcomer = invitations.invitation_accept(
        invitation=sent.invitation, password="Echographie cardiaque 2026!", full_name="N"
    )
    assert not newcomer.is_auditor
    proposal = RoleProposal.objects.get(subject=newcomer)
    assert proposal.proposed_by == site_admin
    approve(client_signed_in(second_admin), proposal)
    newcomer.refresh_from_db()
    assert newcomer.is_auditor


# --- The first auditor ---------------------------------------------------------------------


def test_the_operator_appoints_the_first_auditor_once(owner: User, outsider: User) -> None:
    call_command("auditor_appoint_first", owner.email)
    owner.refresh_from_db()
    assert owner.is_auditor
    with pytest.raises(CommandError, match="already exists"):
        call_command("auditor_appoint_first", outsider.email)
    outsider.refresh_from_db()
    assert not outsider.is_auditor
    events = AuditEvent.objects.filter(action=Action.ACCOUNTS_ROLE_FIRST_AUDITOR)
    assert sorted(events.values_list("outcome", flat=True)) == ["denied", "success"]
    assert AuditEvent.objects.get(action=Action.ACCOUNTS_USER_ROLES).actor_label == "operator"


def test_role_approvals_page_in_french(site_admin: User, second_admin: User, owner: User) -> None:
    client_signed_in(site_admin).post(f"/accounts/admin/users/{owner.pk}/", {"is_auditor": "on"})
    paula = client_signed_in(second_admin)
    page = paula.get("/accounts/admin/role-approvals/", HTTP_ACCEPT_LANGUAGE="fr")
    text = page.content.decode()
    assert 'lang="fr"' in text
    assert "Approuver" in text
    assert '<label class="form-check-label"' in text
