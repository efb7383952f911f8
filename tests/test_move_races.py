"""A link, a transfer or a file request made on a team's folder at the very instant a
manager moves it into a team its maker is not of (sharing/services/move_out.py).

Tom (Cardiologie only) sends Mrs Dupont's echo, in the folder "Dupont Marie", to a
radiologist, or opens a file request into the folder, while Alice moves the folder into
Urgences. His write was checked against the space it saw before the move committed; the
move looked for what to withdraw before his write committed. Either order must end with
nothing of his open to outsiders on the moved folder: found and withdrawn by the move,
or refused (409) saying the folder was moved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from files import services as files_services
from files.models import File, Folder
from sharing.errors import FileRequestRuleError, LinkRuleError, TransferRuleError
from sharing.models import FileRequest, ShareLink, Transfer
from sharing.services import file_requests, links, transfers
from tests.files_helpers import content_of, version_store
from tests.test_account_races import in_a_week, together
from tests.withdrawal_helpers import RADIOLOGIST

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures(
        "on_postgres", "folder_backend", "small_segments", "transfers_without_code"
    ),
]


def dupont_folder(alice: User, team: Team) -> tuple[Folder, File]:
    root = files_services.space_root(files_services.space_team_get_or_create(team=team))
    folder = files_services.folder_create(actor=alice, parent=root, name="Dupont Marie")
    echo = version_store(
        actor=alice, folder=folder, name="Dupont Marie - echo.jpg", content=content_of(700)
    ).file
    return folder, echo


def emergencies_root(alice: User) -> Folder:
    urgences = Team.objects.create(name="Urgences", slug="urgences")
    TeamMembership.objects.create(team=urgences, user=alice, role=TeamRole.MEMBER)
    return files_services.space_root(files_services.space_team_get_or_create(team=urgences))


def toms_opening(way: str, tom: User, folder: Folder, echo: File) -> Callable[[], Any]:
    if way == "link":
        return lambda: links.share_link_create(
            actor=tom, target=echo, expires_at=in_a_week(), recipient_email=RADIOLOGIST
        )
    if way == "file request":
        return lambda: file_requests.file_request_create(
            actor=tom, folder=folder, title="Bilans Dupont", expires_at=in_a_week()
        )
    transfer = transfers.transfer_create(actor=tom, subject="Echo Dupont", expires_at=in_a_week())
    transfers.transfer_files_add(actor=tom, transfer=transfer, files=[echo])
    return lambda: transfers.transfer_send(actor=tom, transfer=transfer, recipients=[RADIOLOGIST])


def open_to_outsiders(folder: Folder, echo: File) -> list[str]:
    found = ["link" for _ in ShareLink.objects.filter(file=echo, revoked_at__isnull=True)]
    found += [
        "transfer"
        for _ in Transfer.objects.filter(
            sent_at__isnull=False, revoked_at__isnull=True, items__file=echo
        )
    ]
    found += ["file request" for _ in FileRequest.objects.filter(folder=folder, closed_at=None)]
    return found


@pytest.mark.parametrize("way", ["link", "transfer", "file request"])
def test_what_tom_opens_as_the_folder_is_moved_out_is_refused(
    way: str, owner: User, teammate: User, team: Team
) -> None:
    """The move first (it has looked for what to withdraw and waits for the audit
    chain), then Tom's write. Before, his write committed after the move: live on a
    folder of Urgences, refused at each request but never withdrawn (seen failing)."""
    folder, echo = dupont_folder(owner, team)
    destination = emergencies_root(owner)
    move = lambda: files_services.folder_move(  # noqa: E731
        actor=owner, folder=folder, destination=destination
    )
    write = toms_opening(way, teammate, folder, echo)

    moved, made = together(move, write, in_order=True)

    assert isinstance(moved, Folder), moved
    assert open_to_outsiders(folder, echo) == [], f"the {way} outlived the move"
    assert isinstance(made, (LinkRuleError, FileRequestRuleError, TransferRuleError)), made
    assert made.status_code == 409
    assert "was moved to the team Urgences while you were sharing it" in str(made)


@pytest.mark.parametrize("way", ["link", "transfer", "file request"])
def test_what_tom_opens_just_before_the_folder_is_moved_out_is_withdrawn_by_the_move(
    way: str, owner: User, teammate: User, team: Team
) -> None:
    """The other order: Tom's write waits for the audit chain when Alice moves the
    folder; the move waits for it too before looking, then finds and withdraws it."""
    folder, echo = dupont_folder(owner, team)
    destination = emergencies_root(owner)
    move = lambda: files_services.folder_move(  # noqa: E731
        actor=owner, folder=folder, destination=destination
    )
    write = toms_opening(way, teammate, folder, echo)

    made, moved = together(write, move, in_order=True)

    assert not isinstance(made, BaseException), made
    assert isinstance(moved, Folder), moved
    assert open_to_outsiders(folder, echo) == [], f"the {way} outlived the move"
    event = AuditEvent.objects.get(action=Action.FILES_FOLDER_MOVE)
    counted = {"link": "links_withdrawn", "transfer": "transfers_withdrawn"}
    assert event.details[counted.get(way, "file_requests_closed")] == 1


@pytest.mark.parametrize("way", ["link", "transfer", "file request"])
def test_what_tom_is_refused_as_the_folder_is_moved_out_is_in_the_log_with_its_rule(
    way: str, owner: User, teammate: User, team: Team
) -> None:
    """The refusal of the first story, as an auditor reads it: one refused event of the
    write itself (the link, the transfer's send naming the transfer, the file request),
    in Tom's name, saying the content was moved meanwhile (the rule, not only the
    sentence he was shown) and what was moved."""
    folder, echo = dupont_folder(owner, team)
    destination = emergencies_root(owner)
    move = lambda: files_services.folder_move(  # noqa: E731
        actor=owner, folder=folder, destination=destination
    )
    write = toms_opening(way, teammate, folder, echo)

    _moved, made = together(move, write, in_order=True)

    assert isinstance(made, (LinkRuleError, FileRequestRuleError, TransferRuleError)), made
    action = {
        "link": Action.SHARING_LINK_CREATE,
        "transfer": Action.SHARING_TRANSFER_SEND,
        "file request": Action.SHARING_REQUEST_CREATE,
    }[way]
    [refused] = AuditEvent.objects.filter(action=action, outcome="denied")
    assert refused.actor_id == str(teammate.pk)
    assert refused.details["rule"] == "moved_meanwhile"
    if way == "transfer":
        transfer = Transfer.objects.get(subject="Echo Dupont")
        assert refused.target_type == "sharing.transfer"
        assert refused.target_id == str(transfer.pk)
        assert refused.details["subject"] == "Echo Dupont"
        assert refused.details["moved"] == ["Dupont Marie - echo.jpg"]
        assert refused.details["to_team"] == "Urgences"
        assert transfer.sent_at is None  # still a draft: nothing left
