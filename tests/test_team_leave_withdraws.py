"""What a clinician opened to outsiders on a team's files ends when she leaves the team.

Alice worked in Cardiologie and Urgences: she sent Mrs Dupont's echo (Cardiologie's) to
a radiologist by link and by transfer, and opened a file request into Cardiologie's
folder for the lab. Sam (administrator) removes her from Cardiologie, or she leaves it
herself. A person who is no longer of a space may not open its files to outsiders
(``files.selectors.sharing_refusal``), so what she opened there is withdrawn in the
removal's transaction: the radiologist reads "This link was withdrawn" (410), never an
empty transfer; the lab reads the closed request's page; each withdrawal is in the log
with the file, the team, her name and who removed her; she is told in her language.
What she opened on Urgences' files or her own stays.
"""

# Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
# pytest injects them.

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from accounts import services as account_services
from accounts.models import Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from audit.readable import readable_events
from directory.tokens import directory_token_create
from files import services
from files.models import File, Folder
from sharing.models import FileRequest, ShareLink, Transfer
from sharing.services import file_requests, links
from tests.files_helpers import content_of, version_store
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

CONFIRMED = {"confirmed": "yes"}


@pytest.fixture
def emergency_scan(owner: User) -> File:
    """A scan in Urgences' space, another team of Alice's she does not leave."""
    emergencies = Team.objects.create(name="Urgences", slug="urgences")
    TeamMembership.objects.create(team=emergencies, user=owner, role=TeamRole.MEMBER)
    folder = services.space_root(services.space_team_get_or_create(team=emergencies))
    return version_store(
        actor=owner, folder=folder, name="Durand Paul - scanner.dcm", content=content_of(600)
    ).file


def removed_from_the_team(alice: User, team: Team, by: User) -> None:
    membership = TeamMembership.objects.get(team=team, user=alice)
    page = client_signed_in(by).post(
        f"/accounts/teams/{team.slug}/members/{membership.pk}/remove/", CONFIRMED
    )
    assert page.status_code == 302
    assert not TeamMembership.objects.filter(team=team, user=alice).exists()


def test_her_link_to_a_team_file_is_withdrawn_when_she_is_removed(
    owner: User, team: Team, site_admin: User, echo: File
) -> None:
    link, token = links.share_link_create(actor=owner, target=echo, expires_at=week())
    membership = TeamMembership.objects.get(team=team, user=owner)
    asked = client_signed_in(site_admin).post(
        f"/accounts/teams/{team.slug}/members/{membership.pk}/remove/"
    )
    page = asked.content.decode()
    assert (
        "1 thing Alice Martin opened to people outside on the files of Cardiologie is "
        "withdrawn" in page
    )
    # Sam does not manage Cardiologie: he reads the kind, not the patient's file name.
    assert "1 link" in page
    assert "Dupont Marie - echo.jpg" not in page
    link.refresh_from_db()
    assert link.revoked_at is None  # not before the confirmation
    removed_from_the_team(owner, team, site_admin)

    link.refresh_from_db()
    assert link.revoked_at is not None
    page = Client().get(f"/s/{token}/")
    assert page.status_code == 410
    assert WITHDRAWN_PAGE in page.content.decode()


def test_her_transfer_holding_a_team_file_is_withdrawn_not_emptied(
    owner: User,
    team: Team,
    site_admin: User,
    echo: File,
    letter: File,
    django_capture_on_commit_callbacks: Any,
) -> None:
    token = transfer_sent(owner, "Echo Dupont", [echo, letter], django_capture_on_commit_callbacks)
    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        removed_from_the_team(owner, team, site_admin)

    radiologist = Client()
    page = radiologist.get(f"/s/{token}/")
    assert page.status_code == 410  # was 200, the transfer emptied of its files
    assert WITHDRAWN_PAGE in page.content.decode()
    assert radiologist.get(f"/s/{token}/files/{letter.pk}/").status_code == 410
    assert Transfer.objects.get(subject="Echo Dupont").revoked_at is not None
    # The radiologist hears of it from the neutral notice (the sender's name, no file).
    [told] = [message for message in mail.outbox[before:] if RADIOLOGIST in message.to]
    assert "Dupont" not in told.body


def test_her_file_request_into_the_team_folder_is_closed_when_she_leaves_herself(
    owner: User, team: Team, team_folder: Folder
) -> None:
    request, token = file_requests.file_request_create(
        actor=owner, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    removed_from_the_team(owner, team, owner)  # a manager may leave herself

    request.refresh_from_db()
    assert request.closed_at is not None
    lab = Client()
    page = lab.get(f"/r/{token}/")
    assert page.status_code == 410
    assert CLOSED_PAGE in page.content.decode()
    upload = lab.post(
        f"/r/{token}/uploads/",
        b"",
        content_type="application/offset+octet-stream",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"},
    )
    assert upload.status_code == 410


def test_each_withdrawal_reads_with_the_file_the_team_her_name_and_who_removed_her(
    owner: User,
    team: Team,
    site_admin: User,
    echo: File,
    team_folder: Folder,
    django_capture_on_commit_callbacks: Any,
) -> None:
    links.share_link_create(actor=owner, target=echo, expires_at=week())
    transfer_sent(owner, "Echo Dupont", [echo], django_capture_on_commit_callbacks)
    file_requests.file_request_create(
        actor=owner, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    removed_from_the_team(owner, team, site_admin)

    events = list(AuditEvent.objects.filter(details__reason="left the team").order_by("sequence"))
    assert {event.action for event in events} == {
        Action.SHARING_LINK_REVOKE,
        Action.SHARING_TRANSFER_REVOKE,
        Action.SHARING_REQUEST_CLOSE,
    }
    rows = {row.event.action: row for row in readable_events(events)}
    assert all(row.who == "Sam Admin" for row in rows.values())
    assert "Dupont Marie - echo.jpg" in rows[Action.SHARING_LINK_REVOKE].what
    assert "Echo Dupont" in rows[Action.SHARING_TRANSFER_REVOKE].what
    assert "Dupont Marie - echo.jpg" in rows[Action.SHARING_TRANSFER_REVOKE].note
    assert "Bilans Dupont" in rows[Action.SHARING_REQUEST_CLOSE].what
    for row in rows.values():
        assert "Alice Martin left the team Cardiologie (removed by Sam Admin)" in row.note
    # The removal's own event counts them.
    removal = AuditEvent.objects.get(action=Action.ACCOUNTS_TEAM_MEMBER_REMOVE)
    assert removal.details["links_withdrawn"] == 1
    assert removal.details["transfers_withdrawn"] == 1
    assert removal.details["file_requests_closed"] == 1


def test_she_is_told_in_french_what_was_withdrawn(
    owner: User,
    team: Team,
    site_admin: User,
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
    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        removed_from_the_team(owner, team, site_admin)

    [notice] = [message for message in mail.outbox[before:] if owner.email in message.to]
    assert "Cardiologie" in notice.subject
    assert "retiré" in notice.subject
    body = notice.body
    assert "Sam Admin" in body
    assert "Lien vers «\u00a0Dupont Marie - echo.jpg\u00a0»" in body
    assert "Echo Dupont" in body
    assert "Bilans Dupont" in body
    assert "Lettre Martin.pdf" not in body  # her own files' link stays


def test_what_she_opened_on_another_team_and_her_own_files_stays(
    owner: User,
    team: Team,
    site_admin: User,
    echo: File,
    letter: File,
    emergency_scan: File,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _link, echo_token = links.share_link_create(actor=owner, target=echo, expires_at=week())
    scan_link, scan_token = links.share_link_create(
        actor=owner, target=emergency_scan, expires_at=week()
    )
    letter_link, letter_token = links.share_link_create(
        actor=owner, target=letter, expires_at=week()
    )
    scan_transfer = transfer_sent(
        owner, "Scanner Durand", [emergency_scan, letter], django_capture_on_commit_callbacks
    )
    emergencies_root = emergency_scan.folder
    scan_request, _token = file_requests.file_request_create(
        actor=owner, folder=emergencies_root, title="Bilans Durand", expires_at=week()
    )
    removed_from_the_team(owner, team, site_admin)

    assert Client().get(f"/s/{echo_token}/").status_code == 410
    for link in (scan_link, letter_link):
        link.refresh_from_db()
        assert link.revoked_at is None
    outside = Client()
    assert outside.get(f"/s/{scan_token}/").status_code == 200
    assert outside.get(f"/s/{letter_token}/").status_code == 200
    assert outside.get(f"/s/{scan_transfer}/").status_code == 200
    assert Transfer.objects.get(subject="Scanner Durand").revoked_at is None
    scan_request.refresh_from_db()
    assert scan_request.closed_at is None
    assert ShareLink.objects.filter(revoked_at__isnull=False).count() == 1
    assert FileRequest.objects.filter(closed_at__isnull=False).count() == 0


def test_nothing_is_withdrawn_while_she_is_still_in_the_team(
    owner: User, team: Team, site_admin: User, echo: File
) -> None:
    """Leaving another team, or a removal of a membership already gone (two managers
    clicking at once), withdraws nothing of Cardiologie's."""
    link, token = links.share_link_create(actor=owner, target=echo, expires_at=week())
    membership = TeamMembership.objects.get(team=team, user=owner)
    other = Team.objects.create(name="Pédiatrie", slug="pediatrie")
    account_services.team_member_set(actor=site_admin, team=other, user=owner, role=TeamRole.MEMBER)
    account_services.team_member_remove(
        actor=site_admin,
        membership=TeamMembership.objects.get(team=other, user=owner),
        reason=account_services.MembershipEndReason.TEAM_MANAGEMENT,
    )
    link.refresh_from_db()
    assert link.revoked_at is None
    assert Client().get(f"/s/{token}/").status_code == 200
    assert TeamMembership.objects.filter(pk=membership.pk).exists()


def test_the_directory_removing_and_adding_her_back_in_one_request_withdraws_nothing(
    owner: User, site_admin: User
) -> None:
    """A directory PATCH that removes Alice from the group and adds her back (a
    re-sync) leaves her in the team: nothing is withdrawn. The next PATCH that only
    removes her withdraws her link, named as the directory's doing."""
    _directory_token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    directory = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    created = directory.post(
        "/scim/v2/Groups",
        json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Radiologie",
                "members": [{"value": str(owner.pk)}],
            }
        ),
        content_type="application/scim+json",
    )
    assert created.status_code == 201, created.content
    group = created.json()["id"]
    radiology = services.space_root(
        services.space_team_get_or_create(team=Team.objects.get(name="Radiologie"))
    )
    report = version_store(
        actor=owner, folder=radiology, name="Dupont Marie - IRM.pdf", content=content_of(300)
    ).file
    link, token = links.share_link_create(actor=owner, target=report, expires_at=week())

    def patch(*operations: dict[str, Any]) -> int:
        answer = directory.patch(
            f"/scim/v2/Groups/{group}",
            json.dumps(
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": list(operations),
                }
            ),
            content_type="application/scim+json",
        )
        return int(answer.status_code)

    resync = patch(
        {"op": "remove", "path": f'members[value eq "{owner.pk}"]'},
        {"op": "add", "path": "members", "value": [{"value": str(owner.pk)}]},
    )
    assert resync == 200
    link.refresh_from_db()
    assert link.revoked_at is None
    assert Client().get(f"/s/{token}/").status_code == 200

    assert patch({"op": "remove", "path": f'members[value eq "{owner.pk}"]'}) == 200
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert Client().get(f"/s/{token}/").status_code == 410
    event = AuditEvent.objects.get(action=Action.SHARING_LINK_REVOKE)
    assert event.details["removed_by"].startswith("directory “Entra ID”")
    assert event.details["membership_end"] == "directory"
