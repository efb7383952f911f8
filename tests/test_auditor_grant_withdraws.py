"""What a clinician opened to outsiders on colleagues' files ends when she becomes an auditor.

Alice worked in Cardiologie: she sent Mrs Dupont's echo to a radiologist by link and by
transfer, and opened a file request into the team's folder for the lab. She left the
team, and Sam (administrator) proposed her as auditor; Audrey (auditor) approves. An
auditor reads no file content (ARCHITECTURE.md, invariant 4), so what she opened on the
team's files is withdrawn at the grant: the radiologist gets the "This link was
withdrawn" page (410), the lab the closed request's page, never a page that says Alice is
an auditor. Each withdrawal is in the audit log with the file's name, Alice's name and
the reason, and Alice reads in the role's notice, in her language, what was withdrawn.
What she opened on her own files stays: an auditor keeps her personal space.
"""

# Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
# pytest injects them.

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client

from accounts import roles
from accounts import services as account_services
from accounts.models import RoleProposal, Team, TeamMembership, User
from audit.actions import Action
from audit.models import AuditEvent
from audit.readable import readable_events
from files.models import File, Folder
from sharing.models import FileRequest, ShareLink, Transfer
from sharing.services import file_requests, links
from tests.files_helpers import version_store
from tests.helpers import client_signed_in
from tests.withdrawal_helpers import (
    CLOSED_PAGE,
    RADIOLOGIST,
    WITHDRAWN_PAGE,
    transfer_sent,
    week,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments", "transfers_without_code"),
]


def leaves_the_team(alice: User, team: Team, site_admin: User) -> None:
    """She left before leaving a team withdrew what she opened on its files (the row
    deleted as it was then; tests/test_team_leave_withdraws.py is today's way out): what
    the grant finds is what such a departure left standing."""
    TeamMembership.objects.filter(team=team, user=alice).delete()


def becomes_auditor(alice: User, site_admin: User, approver: User) -> None:
    """Sam proposes, Audrey approves (four eyes): the grant itself."""
    proposal = roles.role_propose(actor=site_admin, subject=alice, role="auditor")
    roles.role_proposal_decide(actor=approver, proposal_id=proposal.pk, approve=True)
    alice.refresh_from_db()
    assert alice.is_auditor


def says_nothing_of_auditors(page: Any) -> None:
    assert "auditor" not in page.content.decode().lower()


def test_her_link_to_a_team_file_is_withdrawn_and_her_own_files_link_stays(
    owner: User, team: Team, site_admin: User, auditor: User, echo: File, letter: File
) -> None:
    team_link, team_token = links.share_link_create(actor=owner, target=echo, expires_at=week())
    own_link, own_token = links.share_link_create(actor=owner, target=letter, expires_at=week())
    leaves_the_team(owner, team, site_admin)
    becomes_auditor(owner, site_admin, auditor)

    team_link.refresh_from_db()
    own_link.refresh_from_db()
    assert team_link.revoked_at is not None
    assert own_link.revoked_at is None
    radiologist = Client()
    page = radiologist.get(f"/s/{team_token}/")
    assert page.status_code == 410
    assert WITHDRAWN_PAGE in page.content.decode()
    says_nothing_of_auditors(page)
    assert radiologist.get(f"/s/{own_token}/").status_code == 200


def test_her_transfer_of_a_team_file_is_withdrawn_and_its_recipient_told(
    owner: User,
    team: Team,
    site_admin: User,
    auditor: User,
    echo: File,
    letter: File,
    django_capture_on_commit_callbacks: Any,
) -> None:
    team_token = transfer_sent(
        owner, "Echo Dupont", [echo, letter], django_capture_on_commit_callbacks
    )
    own_token = transfer_sent(
        owner, "Courrier Martin", [letter], django_capture_on_commit_callbacks
    )
    leaves_the_team(owner, team, site_admin)
    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        becomes_auditor(owner, site_admin, auditor)

    withdrawn = Transfer.objects.get(subject="Echo Dupont")
    assert withdrawn.revoked_at is not None
    assert Transfer.objects.get(subject="Courrier Martin").revoked_at is None
    radiologist = Client()
    page = radiologist.get(f"/s/{team_token}/")
    assert page.status_code == 410
    assert WITHDRAWN_PAGE in page.content.decode()
    says_nothing_of_auditors(page)
    assert radiologist.get(f"/s/{team_token}/files/{letter.pk}/").status_code == 410
    assert radiologist.get(f"/s/{own_token}/").status_code == 200
    # The radiologist hears of it from the neutral notice offboarding sends too: the
    # sender's name, never her role nor the files.
    told = [message for message in mail.outbox[before:] if RADIOLOGIST in message.to]
    assert len(told) == 1
    assert "auditor" not in told[0].body.lower()
    assert "Dupont" not in told[0].body


def test_her_file_request_into_the_team_folder_is_closed_at_the_grant(
    owner: User, team: Team, site_admin: User, auditor: User, team_folder: Folder
) -> None:
    """Once she left the team, neither she nor an administrator could close it: it
    used to hold the grant back for ever ("close it first")."""
    request, token = file_requests.file_request_create(
        actor=owner, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    leaves_the_team(owner, team, site_admin)
    becomes_auditor(owner, site_admin, auditor)

    request.refresh_from_db()
    assert request.closed_at is not None
    lab = Client()
    page = lab.get(f"/r/{token}/")
    assert page.status_code == 410
    assert CLOSED_PAGE in page.content.decode()
    says_nothing_of_auditors(page)
    upload = lab.post(
        f"/r/{token}/uploads/",
        b"",
        content_type="application/offset+octet-stream",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"},
    )
    assert upload.status_code == 410
    says_nothing_of_auditors(upload)


def test_a_recipient_arriving_before_any_withdrawal_reads_the_withdrawn_page(
    owner: User,
    team: Team,
    echo: File,
    team_folder: Folder,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """An auditor made before grants withdrew anything (the row written as it was then):
    her links, transfer and request still stand, and each recipient reads the plain
    410 page, never an empty transfer nor a page about auditors."""
    _link, link_token = links.share_link_create(actor=owner, target=echo, expires_at=week())
    transfer_token = transfer_sent(owner, "Echo Dupont", [echo], django_capture_on_commit_callbacks)
    _request, request_token = file_requests.file_request_create(
        actor=owner, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    TeamMembership.objects.filter(user=owner).delete()
    User.objects.filter(pk=owner.pk).update(is_auditor=True)

    outside = Client()
    for url in (
        f"/s/{link_token}/",
        f"/s/{link_token}/files/{echo.pk}/",
        f"/s/{transfer_token}/",
        f"/s/{transfer_token}/files/{echo.pk}/",
    ):
        page = outside.get(url)
        assert page.status_code == 410, url
        assert WITHDRAWN_PAGE in page.content.decode(), url
        says_nothing_of_auditors(page)
    page = outside.get(f"/r/{request_token}/")
    assert page.status_code == 410
    assert CLOSED_PAGE in page.content.decode()
    says_nothing_of_auditors(page)


def test_each_withdrawal_reads_with_the_file_her_name_and_the_reason(
    owner: User,
    team: Team,
    site_admin: User,
    auditor: User,
    echo: File,
    team_folder: Folder,
    django_capture_on_commit_callbacks: Any,
) -> None:
    links.share_link_create(actor=owner, target=echo, expires_at=week())
    transfer_sent(owner, "Echo Dupont", [echo], django_capture_on_commit_callbacks)
    file_requests.file_request_create(
        actor=owner, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    leaves_the_team(owner, team, site_admin)
    becomes_auditor(owner, site_admin, auditor)

    events = list(
        AuditEvent.objects.filter(details__reason="became an auditor").order_by("sequence")
    )
    # The link alone, the transfer (and its recipient's link), the request.
    assert {event.action for event in events} == {
        Action.SHARING_LINK_REVOKE,
        Action.SHARING_TRANSFER_REVOKE,
        Action.SHARING_REQUEST_CLOSE,
    }
    rows = {row.event.action: row for row in readable_events(events)}
    assert all(row.who == "Audrey Auditor" for row in rows.values())
    link_row = rows[Action.SHARING_LINK_REVOKE]
    assert "Dupont Marie - echo.jpg" in link_row.what
    assert "Alice Martin" in link_row.what
    transfer_row = rows[Action.SHARING_TRANSFER_REVOKE]
    assert "Echo Dupont" in transfer_row.what
    assert "Dupont Marie - echo.jpg" in transfer_row.note
    assert "Bilans Dupont" in rows[Action.SHARING_REQUEST_CLOSE].what
    for row in rows.values():
        assert "Alice Martin became an auditor" in row.note, row.action


def test_she_is_told_in_her_language_what_was_withdrawn(
    owner: User,
    team: Team,
    site_admin: User,
    auditor: User,
    echo: File,
    letter: File,
    team_folder: Folder,
    django_capture_on_commit_callbacks: Any,
) -> None:
    User.objects.filter(pk=owner.pk).update(language="fr")
    links.share_link_create(actor=owner, target=echo, expires_at=week())
    links.share_link_create(actor=owner, target=letter, expires_at=week())
    transfer_sent(owner, "Echo Dupont", [echo], django_capture_on_commit_callbacks)
    file_requests.file_request_create(
        actor=owner, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    leaves_the_team(owner, team, site_admin)
    account_services.user_roles_set(
        actor=site_admin, user=owner, is_site_admin=False, is_auditor=True
    )
    proposal = RoleProposal.objects.get(subject=owner)
    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        page = client_signed_in(auditor).post(
            f"/accounts/admin/role-approvals/{proposal.pk}/decide/",
            {"decision": "approve", f"p{proposal.pk}-confirm": "on"},
        )
    assert page.status_code == 302
    [notice] = [message for message in mail.outbox[before:] if owner.email in message.to]
    assert "auditrice" in notice.subject.lower() or "auditeur" in notice.subject.lower()
    body = notice.body
    assert "retiré" in body  # French
    assert "Dupont Marie - echo.jpg" in body
    assert "Echo Dupont" in body
    assert "Bilans Dupont" in body
    assert "Lettre Martin.pdf" not in body  # her own files' link stays


def test_the_operators_first_auditor_withdraws_the_same(
    owner: User, team: Team, site_admin: User, echo: File
) -> None:
    link, token = links.share_link_create(actor=owner, target=echo, expires_at=week())
    leaves_the_team(owner, team, site_admin)
    call_command("auditor_appoint_first", owner.email)
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert Client().get(f"/s/{token}/").status_code == 410
    event = AuditEvent.objects.get(action=Action.SHARING_LINK_REVOKE)
    assert event.details["reason"] == "became an auditor"
    assert event.actor_label == "operator"


def test_the_approver_reads_what_approving_will_withdraw(
    owner: User, team: Team, site_admin: User, auditor: User, echo: File, team_folder: Folder
) -> None:
    links.share_link_create(actor=owner, target=echo, expires_at=week())
    links.share_link_create(actor=owner, target=team_folder, expires_at=week())
    leaves_the_team(owner, team, site_admin)
    roles.role_propose(actor=site_admin, subject=owner, role="auditor")
    page = client_signed_in(auditor).get("/accounts/admin/role-approvals/").content.decode()
    assert "Approving withdraws at once" in page
    assert "Link to “Dupont Marie - echo.jpg”" in page
    # The team space's top folder has no name: it goes by the team's.
    assert "Link to “Cardiologie”" in page
    assert ShareLink.objects.get(file=echo).revoked_at is None  # not before the approval
    assert not FileRequest.objects.exists()


def test_a_long_list_on_the_approval_names_ten_and_says_how_many_more(
    owner: User, team: Team, site_admin: User, auditor: User, team_folder: Folder
) -> None:
    """Thirty links would push the Approve button far below on a phone: ten names and
    the count of the rest, as on every confirmation (core/bounded.py)."""
    for number in range(1, 13):
        file = version_store(
            actor=owner, folder=team_folder, name=f"Patient {number:02d}.pdf", content=b"x"
        ).file
        links.share_link_create(actor=owner, target=file, expires_at=week())
    leaves_the_team(owner, team, site_admin)
    roles.role_propose(actor=site_admin, subject=owner, role="auditor")

    page = client_signed_in(auditor).get("/accounts/admin/role-approvals/").content.decode()

    assert "Link to “Patient 10.pdf”" in page
    assert "Patient 11.pdf" not in page
    assert "and 2 more" in page


def test_an_administrator_approving_reads_how_many_are_withdrawn_not_which_files(
    owner: User, team: Team, site_admin: User, echo: File, team_folder: Folder
) -> None:
    """A second administrator may approve too; he manages roles, not Cardiologie's
    files: the approval counts what ends, and names no patient's file."""
    links.share_link_create(actor=owner, target=echo, expires_at=week())
    links.share_link_create(actor=owner, target=team_folder, expires_at=week())
    file_requests.file_request_create(
        actor=owner, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    leaves_the_team(owner, team, site_admin)
    roles.role_propose(actor=site_admin, subject=owner, role="auditor")
    second = User.objects.create_user(
        "sophie.admin@hopital.example", "x" * 20, full_name="Sophie Admin", is_site_admin=True
    )

    page = client_signed_in(second).get("/accounts/admin/role-approvals/").content.decode()

    assert "Approving withdraws at once" in page
    assert "2 links" in page
    assert "1 file request (closed)" in page
    assert "Dupont Marie - echo.jpg" not in page
    assert "Bilans Dupont" not in page
