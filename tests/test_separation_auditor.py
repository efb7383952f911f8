"""An auditor reads the audit log, never file content (ARCHITECTURE.md, invariant 4).

Audrey is the hospital's auditor; Alice manages Cardiologie, Tom works in it; Sam and
Paula are site administrators. Every way file content could reach Audrey is tried: a
team (admin page, manager page, invitation, directory), the auditor role given to a
team member (proposal, approval, the operator's first auditor), a share, a transfer or
a personal link to her address, a file request of her own. Each is refused with a
message that says why, and audited. A conflict older than the rule is flagged to the
administrators, not silently removed.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts import invitations
from accounts import services as account_services
from accounts.errors import AccountRuleError
from accounts.models import RoleProposal, Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from directory.tokens import directory_token_create
from files import services
from sharing.errors import FileRequestRuleError, LinkRuleError, ShareRuleError, TransferRuleError
from sharing.models import FileRequest, Share, ShareLink, Transfer
from sharing.services import file_requests, links, shares, transfers
from tests.conftest import user_create
from tests.files_helpers import root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend", "small_segments")]


@pytest.fixture
def second_admin(db: None) -> User:
    return user_create("paula.admin@hopital.example", full_name="Paula Admin", is_site_admin=True)


def denied(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, outcome="denied").order_by("pk"))


# --- Teams --------------------------------------------------------------------------------


def test_neither_an_admin_nor_a_manager_can_put_an_auditor_in_a_team(
    site_admin: User, owner: User, auditor: User, team: Team
) -> None:
    for who in (site_admin, owner):  # Sam from the admin side, Alice as the manager
        page = client_signed_in(who).post(
            f"/accounts/teams/{team.slug}/", {"user": auditor.pk, "role": TeamRole.MEMBER}
        )
        assert page.status_code == 400
        text = page.content.decode()
        if who == site_admin:  # an administrator manages roles and reads why
            assert "Audrey Auditor is an auditor" in text
            assert "never file content" in text
        else:  # a manager is not told a colleague's role
            assert "Audrey Auditor cannot join this team. Ask an administrator." in text
            assert "is an auditor" not in text
            assert "never file content" not in text
    assert not TeamMembership.objects.filter(user=auditor).exists()
    refusals = denied(Action.ACCOUNTS_TEAM_MEMBER_SET)
    assert [(e.actor_id, e.details["reason"]) for e in refusals] == [
        (str(site_admin.pk), "auditor"),
        (str(owner.pk), "auditor"),
    ]
    assert refusals[0].details["email"] == auditor.email
    assert refusals[0].details["team"] == "Cardiologie"


def test_the_refusal_reads_in_french(site_admin: User, auditor: User, team: Team) -> None:
    sam = client_signed_in(site_admin)
    page = sam.post(
        f"/accounts/teams/{team.slug}/",
        {"user": auditor.pk, "role": TeamRole.MEMBER},
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert "Audrey Auditor est auditeur" in page.content.decode()


def test_an_invitation_cannot_make_an_auditor_who_joins_teams(site_admin: User, team: Team) -> None:
    sam = client_signed_in(site_admin)
    page = sam.post(
        "/accounts/admin/invitations/",
        {"email": "nina.new@hopital.example", "teams": [team.pk], "grants_auditor": "on"},
    )
    assert page.status_code == 400
    assert "either as an auditor or into teams (Cardiologie), not both" in page.content.decode()
    [refusal] = denied(Action.ACCOUNTS_INVITATION_SEND)
    assert refusal.details["reason"] == "auditor"
    assert refusal.details["teams"] == ["Cardiologie"]
    # Either one alone is still possible.
    invitations.invitation_create(actor=site_admin, email="nina.new@hopital.example", teams=[team])


def test_the_directory_cannot_put_an_auditor_in_a_team(
    site_admin: User, owner: User, auditor: User
) -> None:
    from tests.test_directory_scim import Directory

    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    directory = Directory(raw)
    created = directory.send(
        "POST",
        "Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Radiologie",
            "members": [{"value": str(owner.pk)}, {"value": str(auditor.pk)}],
        },
    )
    assert created.status_code == 201, created.content
    # The group is carried out without her, and the answer says so.
    assert [m["value"] for m in created.json()["members"]] == [str(owner.pk)]
    assert not TeamMembership.objects.filter(user=auditor).exists()
    [skip] = denied(Action.DIRECTORY_GROUP_MEMBER_SKIP)
    assert skip.details["reason"] == "auditor"
    assert skip.details["email"] == auditor.email


# --- The auditor role ------------------------------------------------------------------------


def test_a_team_member_is_not_made_auditor_and_the_admin_reads_which_teams(
    site_admin: User, teammate: User, team: Team
) -> None:
    other = Team.objects.create(name="Urgences", slug="urgences")
    TeamMembership.objects.create(team=other, user=teammate)
    sam = client_signed_in(site_admin)
    answer = sam.post(f"/accounts/admin/users/{teammate.pk}/", {"is_auditor": "on"}, follow=True)
    text = answer.content.decode()
    assert "Tom Teammate cannot be an auditor while they can read colleagues" in text
    assert "member of Cardiologie, Urgences" in text
    assert not RoleProposal.objects.filter(subject=teammate).exists()
    [refusal] = denied(Action.ACCOUNTS_ROLE_PROPOSE)
    assert refusal.details["reason"] == "auditor_content_access"
    assert refusal.details["access"] == ["member of Cardiologie, Urgences"]


def test_someone_files_are_shared_with_is_not_made_auditor(
    site_admin: User, owner: User, outsider: User
) -> None:
    letter = version_store(actor=owner, folder=root_of(owner), name="lettre.pdf", content=b"l")
    shares.share_create(actor=owner, item=letter.file, recipient=outsider, role="viewer")
    with pytest.raises(AccountRuleError, match="1 file or folder shared with them"):
        account_services.user_roles_set(
            actor=site_admin, user=outsider, is_site_admin=False, is_auditor=True
        )
    assert not RoleProposal.objects.filter(subject=outsider).exists()


def test_joining_a_team_after_the_proposal_stops_its_approval(
    site_admin: User, second_admin: User, outsider: User, team: Team
) -> None:
    """Sam proposes Oscar as auditor; Alice adds Oscar to Cardiologie meanwhile; Paula's
    approval is refused (the proposal stays open), nothing is granted."""
    client_signed_in(site_admin).post(f"/accounts/admin/users/{outsider.pk}/", {"is_auditor": "on"})
    proposal = RoleProposal.objects.get(subject=outsider)
    TeamMembership.objects.create(team=team, user=outsider)

    paula = client_signed_in(second_admin)
    # The approvals page tells Paula before she tries.
    listing = paula.get("/accounts/admin/role-approvals/").content.decode()
    assert "Oscar Outsider cannot be an auditor while they can read colleagues" in listing
    answer = paula.post(
        f"/accounts/admin/role-approvals/{proposal.pk}/decide/",
        {"decision": "approve", f"p{proposal.pk}-confirm": "on"},
        follow=True,
    )
    assert "member of Cardiologie" in answer.content.decode()
    outsider.refresh_from_db()
    assert not outsider.is_auditor
    proposal.refresh_from_db()
    assert proposal.decided_at is None
    [refusal] = denied(Action.ACCOUNTS_ROLE_APPROVE)
    assert refusal.details["reason"] == "auditor_content_access"


def test_the_operator_cannot_appoint_a_team_member_first_auditor(
    teammate: User, team: Team
) -> None:
    with pytest.raises(CommandError, match="member of Cardiologie"):
        call_command("auditor_appoint_first", teammate.email)
    teammate.refresh_from_db()
    assert not teammate.is_auditor
    [refusal] = denied(Action.ACCOUNTS_ROLE_FIRST_AUDITOR)
    assert refusal.details["reason"] == "auditor_content_access"


# --- Sharing ----------------------------------------------------------------------------------


def test_nobody_shares_a_file_with_an_auditor(owner: User, auditor: User) -> None:
    letter = version_store(actor=owner, folder=root_of(owner), name="lettre.pdf", content=b"l")
    alice = client_signed_in(owner)
    page = alice.post(
        f"/sharing/files/{letter.file_id}/share/",
        {"recipient": auditor.email, "role": "viewer"},
    )
    assert page.status_code == 409
    # Alice is not told Audrey's role; the log keeps it.
    text = page.content.decode()
    assert "Audrey Auditor cannot receive files from you" in text
    assert "is an auditor" not in text
    assert not Share.objects.filter(user=auditor).exists()
    [refusal] = denied(Action.SHARING_SHARE_CREATE)
    assert refusal.details["reason"] == "auditor"
    french = alice.post(
        f"/sharing/files/{letter.file_id}/share/",
        {"recipient": auditor.email, "role": "viewer"},
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert "Audrey Auditor ne peut pas recevoir de fichiers de votre part" in (
        french.content.decode()
    )
    with pytest.raises(ShareRuleError):
        shares.share_create(actor=owner, item=letter.file, recipient=auditor, role="viewer")


def test_no_transfer_nor_personal_link_goes_to_an_auditors_address(
    owner: User, auditor: User
) -> None:
    letter = version_store(actor=owner, folder=root_of(owner), name="lettre.pdf", content=b"l")
    transfer = transfers.transfer_create(
        actor=owner, subject="Compte rendu", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    transfers.transfer_files_add(actor=owner, transfer=transfer, files=[letter.file])
    with pytest.raises(TransferRuleError, match="cannot receive files from you") as refused:
        transfers.transfer_send(
            actor=owner,
            transfer=transfer,
            recipients=["dr.radio@clinique.example", auditor.email.upper()],
        )
    assert "is an auditor" not in str(refused.value)
    assert Transfer.objects.get(pk=transfer.pk).sent_at is None
    assert not ShareLink.objects.filter(transfer=transfer).exists()  # all or nothing
    [send_refusal] = denied(Action.SHARING_TRANSFER_SEND)
    assert send_refusal.details["rule"] == "auditor"  # the precise reason, for the log only

    with pytest.raises(LinkRuleError, match="cannot receive files from you") as refused_link:
        links.share_link_create(actor=owner, target=letter.file, recipient_email=auditor.email)
    assert "never file content" not in str(refused_link.value)
    assert not ShareLink.objects.filter(recipient_email=auditor.email).exists()
    [link_refusal] = denied(Action.SHARING_LINK_CREATE)
    assert link_refusal.details["rule"] == "auditor"


def test_an_auditor_cannot_ask_outsiders_for_files(auditor: User) -> None:
    with pytest.raises(FileRequestRuleError, match="cannot ask outsiders for files"):
        file_requests.file_request_create(
            actor=auditor,
            folder=services.folder_create(actor=auditor, parent=root_of(auditor), name="Reçus"),
            title="Résultats",
            expires_at=timezone.now() + dt.timedelta(days=3),
        )
    assert not FileRequest.objects.exists()
    [refusal] = denied(Action.SHARING_REQUEST_CREATE)
    assert refusal.details["reason"] == "auditor"


# --- Conflicts older than the rule -----------------------------------------------------------


def test_admin_pages_flag_an_auditor_still_in_a_team(
    site_admin: User, auditor: User, team: Team
) -> None:
    """A membership made before the rule is not removed behind anyone's back: the
    administrators read it on the people list and on her page, and decide."""
    TeamMembership.objects.create(team=team, user=auditor)
    sam = client_signed_in(site_admin)
    listing = sam.get("/accounts/admin/users/").content.decode()
    assert "Auditors whose access to colleagues' files is suspended" in listing
    assert "Audrey Auditor</a>: member of Cardiologie" in listing
    page = sam.get(f"/accounts/admin/users/{auditor.pk}/").content.decode()
    assert 'id="auditor-content-access"' in page
    assert TeamMembership.objects.filter(user=auditor).exists()


def test_someone_still_collecting_outsiders_files_is_not_made_auditor(
    site_admin: User, owner: User
) -> None:
    """Alice's open file request keeps bringing outsiders' files into her space: while
    it is open, she would read them as an auditor."""
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Résultats")
    file_requests.file_request_create(
        actor=owner, folder=folder, title="Bilans", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    with pytest.raises(AccountRuleError, match="1 open file request"):
        account_services.user_roles_set(
            actor=site_admin, user=owner, is_site_admin=False, is_auditor=True
        )
    assert not RoleProposal.objects.filter(subject=owner).exists()
