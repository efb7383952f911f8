"""What a clinician opened to outsiders on a team's file ends when a manager moves the
file out of the team, into a space she is not of.

Tom works in Cardiologie only; Alice manages Cardiologie and belongs to Urgences too.
Tom sent Mrs Dupont's echo (Cardiologie's) to a radiologist by link and by transfer, and
opened a file request into a Cardiologie folder for the lab. Alice moves the echo, or
its folder, into Urgences or into her own files. Only the people of a space may open
its files to outsiders (``files.selectors.sharing_refusal``), so what Tom opened on the
moved content is withdrawn in the move's transaction: the radiologist reads "This link
was withdrawn" (410), never an empty transfer; the lab reads the closed request's page;
each withdrawal is in the log with the file, both sides, Tom's name and who moved it;
Tom is told in his language; the move's confirmation names it all first. Alice, of the
destination too, keeps hers.
"""

# Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
# pytest injects them.

from __future__ import annotations

import secrets
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client

from accounts import tokens
from accounts.models import Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from audit.readable import readable_events
from files import services
from files.models import File, Folder
from files.signals import content_moved_across_spaces
from sharing.models import FileRequest, ShareLink, Transfer
from sharing.services import file_requests, links
from sharing.services.move_out import opened_on_moved_withdraw
from tests.conftest import user_create
from tests.files_helpers import content_of, root_of, version_store
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

MOVED_OUT = "moved out"


@pytest.fixture
def emergencies(owner: User) -> Team:
    """Urgences, which Alice belongs to and Tom does not."""
    urgences = Team.objects.create(name="Urgences", slug="urgences")
    TeamMembership.objects.create(team=urgences, user=owner, role=TeamRole.MEMBER)
    return urgences


def root(team: Team) -> Folder:
    return services.space_root(services.space_team_get_or_create(team=team))


def token_client(user: User) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user,
        name=f"tests {secrets.token_hex(4)}",
        scopes=["read", "write"],
        expires_in_days=30,
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def test_moving_a_team_file_into_another_team_withdraws_what_a_non_member_opened_on_it(
    owner: User,
    teammate: User,
    team: Team,
    emergencies: Team,
    echo: File,
    django_capture_on_commit_callbacks: Any,
) -> None:
    teammate.language = "fr"
    teammate.save(update_fields=["language"])
    toms, tom_token = links.share_link_create(actor=teammate, target=echo, expires_at=week())
    _alices, alice_token = links.share_link_create(actor=owner, target=echo, expires_at=week())
    alice = client_signed_in(owner)

    asked = alice.post(f"/files/{echo.pk}/move/", {"move-destination": root(emergencies).pk})

    page = asked.content.decode()
    assert asked.status_code == 200
    assert "Tom Teammate" in page  # named before anything happens
    assert "Link to “Dupont Marie - echo.jpg”" in page
    assert "Alice Martin" not in page.split("confirmation-losses")[1]  # she keeps hers
    toms.refresh_from_db()
    assert toms.revoked_at is None

    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        done = alice.post(
            f"/files/{echo.pk}/move/",
            {"move-destination": root(emergencies).pk, "confirmed": "yes"},
        )
    assert done.status_code == 302

    refused = Client().get(f"/s/{tom_token}/")
    assert refused.status_code == 410
    assert WITHDRAWN_PAGE in refused.content.decode()
    assert Client().get(f"/s/{alice_token}/").status_code == 200  # of Urgences too
    revoke = AuditEvent.objects.get(
        action=Action.SHARING_LINK_REVOKE, target_id=str(toms.pk), details__reason=MOVED_OUT
    )
    assert revoke.details["from_team"] == "Cardiologie"
    assert revoke.details["to_team"] == "Urgences"
    assert revoke.details["moved_by"] == "Alice Martin"
    [row] = [row for row in readable_events([revoke])]
    assert (
        "Tom Teammate may no longer open it to people outside: “Dupont Marie - echo.jpg” "
        "was moved from team Cardiologie to team Urgences by Alice Martin"
    ) in row.note
    move = AuditEvent.objects.get(action=Action.FILES_FILE_MOVE, target_id=str(echo.pk))
    assert move.details["links_withdrawn"] == 1
    assert move.details["withdrawn_from"] == ["Tom Teammate <tom.teammate@hopital.example>"]
    [told] = [message for message in mail.outbox[before:] if teammate.email in message.to]
    assert "Alice Martin a déplacé «\u00a0Dupont Marie - echo.jpg\u00a0»" in str(told.body)
    assert "Dupont Marie - echo.jpg" in str(told.subject)
    assert not [message for message in mail.outbox[before:] if owner.email in message.to]


def test_ticked_folder_moved_into_her_own_files_withdraws_tom_s_transfer_and_file_request(
    owner: User,
    teammate: User,
    team: Team,
    django_capture_on_commit_callbacks: Any,
) -> None:
    folder = services.folder_create(actor=owner, parent=root(team), name="Dupont Marie")
    below = services.folder_create(actor=owner, parent=folder, name="Bilans")
    echo = version_store(actor=owner, folder=below, name="echo.jpg", content=content_of(700)).file
    token = transfer_sent(teammate, "Echo Dupont", [echo], django_capture_on_commit_callbacks)
    request, request_token = file_requests.file_request_create(
        actor=teammate, folder=below, title="Bilans Dupont", expires_at=week()
    )
    alice = client_signed_in(owner)
    ticked = {"folder": folder.pk, "destination": root_of(owner).pk}

    asked = alice.post("/files/selection/move/", ticked)
    page = asked.content.decode()
    assert asked.status_code == 200
    assert "Tom Teammate" in page
    assert "Transfer “Echo Dupont”" in page
    assert "File request “Bilans Dupont” (closed)" in page

    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        done = alice.post("/files/selection/move/", {**ticked, "confirmed": "yes"})
    assert done.status_code == 302

    radiologist = Client()
    answer = radiologist.get(f"/s/{token}/")
    assert answer.status_code == 410  # was 200, a transfer emptied of its file
    assert WITHDRAWN_PAGE in answer.content.decode()
    assert Transfer.objects.get(subject="Echo Dupont").revoked_at is not None
    assert [message for message in mail.outbox[before:] if RADIOLOGIST in message.to]
    request.refresh_from_db()
    assert request.closed_at is not None
    lab = Client().get(f"/r/{request_token}/")
    assert lab.status_code == 410
    assert CLOSED_PAGE in lab.content.decode()
    move = AuditEvent.objects.get(action=Action.FILES_FOLDER_MOVE, target_id=str(folder.pk))
    assert move.details["transfers_withdrawn"] == 1
    assert move.details["file_requests_closed"] == 1
    close = AuditEvent.objects.get(action=Action.SHARING_REQUEST_CLOSE, target_id=str(request.pk))
    assert close.details["reason"] == MOVED_OUT
    assert close.details["to_owner"] == "Alice Martin <alice.martin@hopital.example>"
    assert [message for message in mail.outbox[before:] if teammate.email in message.to]


def test_a_move_by_the_api_withdraws_too_but_a_colleague_of_both_teams_keeps_hers(
    owner: User,
    teammate: User,
    team: Team,
    emergencies: Team,
    echo: File,
) -> None:
    colleague = user_create("claire.both@hopital.example", full_name="Claire Both")
    TeamMembership.objects.create(team=team, user=colleague)
    TeamMembership.objects.create(team=emergencies, user=colleague)
    toms, _tom_token = links.share_link_create(actor=teammate, target=echo, expires_at=week())
    claires, _claire_token = links.share_link_create(
        actor=colleague, target=echo, expires_at=week()
    )

    moved = token_client(owner).patch(
        f"/api/v1/files/{echo.pk}/",
        {"folder": root(emergencies).pk},
        content_type="application/json",
    )

    assert moved.status_code == 200, moved.content
    toms.refresh_from_db()
    claires.refresh_from_db()
    assert toms.revoked_at is not None
    assert claires.revoked_at is None
    # The script that moved it is told, as the page's confirmation tells a person.
    assert moved.json()["withdrawn"] == [
        {
            "person": "Tom Teammate",
            "withdrawn": [{"kind": "link", "name": "Dupont Marie - echo.jpg", "files": []}],
        }
    ]


def test_the_api_says_what_moving_a_folder_withdrew_and_nothing_for_a_rename(
    owner: User,
    teammate: User,
    team: Team,
    emergencies: Team,
    team_folder: Folder,
    django_capture_on_commit_callbacks: Any,
) -> None:
    folder = services.folder_create(actor=owner, parent=team_folder, name="Dupont Marie")
    echo = version_store(
        actor=owner, folder=folder, name="Dupont Marie - echo.jpg", content=content_of(700)
    ).file
    transfer_sent(teammate, "Echo Dupont", [echo], django_capture_on_commit_callbacks)
    file_requests.file_request_create(
        actor=teammate, folder=folder, title="Bilans Dupont", expires_at=week()
    )
    alices_script = token_client(owner)

    renamed = alices_script.patch(
        f"/api/v1/files/folders/{folder.pk}/",
        {"name": "Dupont Marie (cardiologie)"},
        content_type="application/json",
    )
    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["withdrawn"] == []

    moved = alices_script.patch(
        f"/api/v1/files/folders/{folder.pk}/",
        {"parent": root(emergencies).pk},
        content_type="application/json",
    )

    assert moved.status_code == 200, moved.content
    assert moved.json()["space"] == root(emergencies).space_id
    assert moved.json()["withdrawn"] == [
        {
            "person": "Tom Teammate",
            "withdrawn": [
                {"kind": "transfer", "name": "Echo Dupont", "files": ["Dupont Marie - echo.jpg"]},
                {"kind": "file_request", "name": "Bilans Dupont", "files": []},
            ],
        }
    ]


def test_a_move_within_the_team_space_withdraws_nothing(
    owner: User, teammate: User, team: Team, echo: File
) -> None:
    toms, _token = links.share_link_create(actor=teammate, target=echo, expires_at=week())
    inside = services.folder_create(actor=owner, parent=root(team), name="Archives")

    services.file_move(actor=owner, file=echo, destination=inside)

    toms.refresh_from_db()
    assert toms.revoked_at is None


def test_the_backfill_does_not_say_tom_left_a_team_he_never_was_in(
    owner: User, teammate: User, team: Team, emergencies: Team, echo: File
) -> None:
    """A move from before moves withdrew anything left Tom's link standing in Urgences'
    space: the backfill withdraws it, but says it was moved there, never that he left
    Urgences."""
    toms, _token = links.share_link_create(actor=teammate, target=echo, expires_at=week())
    content_moved_across_spaces.disconnect(dispatch_uid="sharing.opened_on_moved_withdraw")
    try:
        services.file_move(actor=owner, file=echo, destination=root(emergencies))
    finally:
        content_moved_across_spaces.connect(
            opened_on_moved_withdraw, dispatch_uid="sharing.opened_on_moved_withdraw"
        )
    toms.refresh_from_db()
    assert toms.revoked_at is None  # as an older move left it

    said = StringIO()
    call_command("withdrawals_backfill", stdout=said)
    assert "no longer a member of Urgences" not in said.getvalue()
    assert "Tom Teammate <tom.teammate@hopital.example> is not a member of Urgences" in (
        said.getvalue()
    )
    assert "moved" in said.getvalue()

    call_command("withdrawals_backfill", "--apply", stdout=StringIO())
    toms.refresh_from_db()
    assert toms.revoked_at is not None
    revoke = AuditEvent.objects.get(action=Action.SHARING_LINK_REVOKE, target_id=str(toms.pk))
    assert revoke.details["reason"] != "left the team earlier"
    [row] = [row for row in readable_events([revoke])]
    assert "left the team" not in row.note
    assert not ShareLink.objects.filter(revoked_at__isnull=True, created_by=teammate).exists()
    assert not FileRequest.objects.filter(closed_at__isnull=True).exists()


def test_the_teams_other_managers_are_told_in_their_language_when_alice_moves_a_file_out(
    owner: User,
    teammate: User,
    team: Team,
    emergencies: Team,
    echo: File,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Bernard co-manages Cardiologie: he answers for its patient files too, and learns
    from his mailbox, in French, that Alice moved Mrs Dupont's echo out of the team, and
    how much of what Tom had opened to outsiders on it was withdrawn, not what it was
    (the transfer's subject goes to Tom only). Alice, who moved it, and Tom, a plain
    member, get no such notice."""
    bernard = user_create("bernard.comanager@hopital.example", full_name="Bernard Comanager")
    bernard.language = "fr"
    bernard.save(update_fields=["language"])
    TeamMembership.objects.create(team=team, user=bernard, role=TeamRole.MANAGER)
    transfer_sent(teammate, "Echo Dupont", [echo], django_capture_on_commit_callbacks)
    links.share_link_create(actor=teammate, target=echo, expires_at=week())
    before = len(mail.outbox)

    with django_capture_on_commit_callbacks(execute=True):
        moved = token_client(owner).patch(
            f"/api/v1/files/{echo.pk}/",
            {"folder": root(emergencies).pk},
            content_type="application/json",
        )

    assert moved.status_code == 200, moved.content
    sent = mail.outbox[before:]
    [told] = [message for message in sent if bernard.email in message.to]
    assert str(told.subject) == (
        "SecureDrive\u00a0: «\u00a0Dupont Marie - echo.jpg\u00a0» a été sorti de Cardiologie"
    )
    body = str(told.body)
    assert "Alice Martin a déplacé «\u00a0Dupont Marie - echo.jpg\u00a0»" in body
    assert "Liens retirés\u00a0: 1" in body
    assert "Transferts retirés\u00a0: 1" in body
    assert "Tom Teammate" in body
    assert "/accounts/teams/cardiologie/" in body
    assert "Echo Dupont" not in body  # the transfer's subject goes to Tom only
    assert [message.subject for message in sent if owner.email in message.to] == []
    assert not [
        message for message in sent if teammate.email in message.to and "sorti" in message.subject
    ]


def test_a_move_within_cardiologie_tells_no_manager(
    owner: User,
    teammate: User,
    team: Team,
    team_folder: Folder,
    echo: File,
    django_capture_on_commit_callbacks: Any,
) -> None:
    bernard = user_create("bernard.comanager@hopital.example", full_name="Bernard Comanager")
    TeamMembership.objects.create(team=team, user=bernard, role=TeamRole.MANAGER)
    inside = services.folder_create(actor=owner, parent=team_folder, name="Échos")
    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        services.file_move(actor=owner, file=echo, destination=inside)
    assert mail.outbox[before:] == []


def test_ticked_items_moved_out_together_make_one_notice_per_manager(
    owner: User,
    teammate: User,
    team: Team,
    team_folder: Folder,
    echo: File,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Alice ticks a folder and a file of Cardiologie and moves them into her own files:
    Bernard gets one e-mail naming both (thirty ticked files would be one e-mail too,
    not thirty), and the withdrawals of both are counted in it."""
    bernard = user_create("bernard.comanager@hopital.example", full_name="Bernard Comanager")
    TeamMembership.objects.create(team=team, user=bernard, role=TeamRole.MANAGER)
    folder = services.folder_create(actor=owner, parent=team_folder, name="Dupont Marie")
    file_requests.file_request_create(
        actor=teammate, folder=folder, title="Bilans Dupont", expires_at=week()
    )
    links.share_link_create(actor=teammate, target=echo, expires_at=week())
    ticked = {"folder": folder.pk, "file": echo.pk, "destination": root_of(owner).pk}
    before = len(mail.outbox)

    with django_capture_on_commit_callbacks(execute=True):
        done = client_signed_in(owner).post(
            "/files/selection/move/", {**ticked, "confirmed": "yes"}
        )

    assert done.status_code == 302
    [told] = [message for message in mail.outbox[before:] if bernard.email in message.to]
    assert told.subject == "SecureDrive: 2 items were moved out of Cardiologie"
    body = str(told.body)
    assert "Alice Martin moved 2 items out of the team Cardiologie into" in body
    assert "- “Dupont Marie”" in body
    assert "- “Dupont Marie - echo.jpg”" in body
    assert "Links withdrawn: 1" in body
    assert "File requests closed: 1" in body
    assert "Opened by: Tom Teammate" in body
