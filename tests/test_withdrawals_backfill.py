"""What departures and auditor grants from before the withdrawals left open to outsiders,
found and withdrawn by the operator (manage.py withdrawals_backfill).

Alice worked in Cardiologie: she sent Mrs Dupont's echo (Cardiologie's) to a radiologist
by link and by transfer, and opened a file request into the team's folder for the lab.
She left the team before leaving withdrew anything: her membership row simply went. Her
link and request have been refused at each request since, her transfer showed an empty
page, and nothing said so in the log. The operator runs the command: a dry run names
whose, what and why, and changes nothing; ``--apply`` withdraws each as a departure
today would (410 pages, the radiologist told), audited as found afterwards; a second run
finds nothing. Bob, still in the team, and Alice's own files are untouched.
"""

# Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
# pytest injects them.

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from audit.readable import readable_events
from files import services
from files.models import File, Folder
from sharing.models import FileRequest, ShareLink
from sharing.services import file_requests, links
from sharing.services.withdrawals_backfill import leftover_withdraw, leftovers_find
from tests.files_helpers import content_of, version_store
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

EARLIER = "left the team earlier"


def backfill(*options: str) -> str:
    out = StringIO()
    call_command("withdrawals_backfill", *options, stdout=out)
    return out.getvalue()


def left_long_ago(alice: User, team: Team) -> None:
    """She left before leaving a team withdrew anything (the row deleted, as then)."""
    TeamMembership.objects.filter(team=team, user=alice).delete()


@pytest.fixture
def opened_then_left(
    owner: User,
    team: Team,
    teammate: User,
    echo: File,
    letter: File,
    team_folder: Folder,
    django_capture_on_commit_callbacks: Any,
) -> dict[str, str]:
    """What Alice opened before leaving, and what stays: her letter's link, Bob's link.
    Returns the tokens, by name."""
    _link, echo_token = links.share_link_create(
        actor=owner, target=echo, expires_at=week(), recipient_email=RADIOLOGIST
    )
    _mine, letter_token = links.share_link_create(actor=owner, target=letter, expires_at=week())
    _bobs, bob_token = links.share_link_create(actor=teammate, target=echo, expires_at=week())
    transfer_token = transfer_sent(
        owner, "Echo Dupont", [echo, letter], django_capture_on_commit_callbacks
    )
    _request, request_token = file_requests.file_request_create(
        actor=owner, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    left_long_ago(owner, team)
    return {
        "echo": echo_token,
        "letter": letter_token,
        "bob": bob_token,
        "transfer": transfer_token,
        "request": request_token,
    }


def test_the_dry_run_names_what_an_older_departure_left_open_and_changes_nothing(
    opened_then_left: dict[str, str],
) -> None:
    said = backfill()

    assert (
        "Alice Martin <alice.martin@hopital.example> is no longer a member of Cardiologie" in said
    )
    assert f"link to “Dupont Marie - echo.jpg”, for {RADIOLOGIST}" in said
    assert "transfer “Echo Dupont”" in said
    assert "files concerned: Dupont Marie - echo.jpg)" in said
    assert "file request “Bilans Dupont” into the folder “Cardiologie”" in said
    assert "Lettre Martin.pdf" not in said  # her own file's link, and the letter sent
    assert "Bob" not in said  # still of the team
    assert "Dry run: 1 link, 1 transfer and 1 file request held by 1 person would be withdrawn" in (
        said
    )
    assert not ShareLink.objects.filter(revoked_at__isnull=False).exists()
    assert not FileRequest.objects.filter(closed_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(details__reason=EARLIER).exists()


def test_apply_withdraws_them_as_a_departure_would_and_a_second_run_finds_nothing(
    owner: User,
    opened_then_left: dict[str, str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        said = backfill("--apply")

    assert "Withdrawn: 1 link, 1 transfer and 1 file request held by 1 person" in said
    outside = Client()
    for name in ("echo", "transfer"):
        page = outside.get(f"/s/{opened_then_left[name]}/")
        assert page.status_code == 410, name  # the transfer's was an empty page
        assert WITHDRAWN_PAGE in page.content.decode()
    page = outside.get(f"/r/{opened_then_left['request']}/")
    assert page.status_code == 410
    assert CLOSED_PAGE in page.content.decode()
    for name in ("letter", "bob"):
        assert outside.get(f"/s/{opened_then_left[name]}/").status_code == 200, name
    # The radiologist hears of the transfer (the neutral notice); Alice, by default, not.
    told = [message for message in mail.outbox[before:] if RADIOLOGIST in message.to]
    assert len(told) == 1
    assert "Dupont" not in told[0].body
    assert not [message for message in mail.outbox[before:] if owner.email in message.to]

    events = list(AuditEvent.objects.filter(details__reason=EARLIER).order_by("sequence"))
    assert {event.action for event in events} == {
        Action.SHARING_LINK_REVOKE,
        Action.SHARING_TRANSFER_REVOKE,
        Action.SHARING_REQUEST_CLOSE,
    }
    for row in readable_events(events):
        assert "operator" in row.who, row.who
        assert (
            "Alice Martin had left the team Cardiologie; found afterwards by the "
            "operator's backfill" in row.note
        ), row.note

    assert backfill("--apply") == "Nothing left to withdraw.\n"
    assert AuditEvent.objects.filter(details__reason=EARLIER).count() == len(events)


def test_notify_tells_her_in_her_language_what_was_withdrawn(
    owner: User,
    opened_then_left: dict[str, str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    User.objects.filter(pk=owner.pk).update(language="fr")
    with pytest.raises(CommandError):  # nothing to e-mail in a dry run
        backfill("--notify")
    before = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        backfill("--apply", "--notify")

    [notice] = [message for message in mail.outbox[before:] if owner.email in message.to]
    assert "retiré" in notice.subject
    assert "Cardiologie" in notice.subject
    assert "Lien vers «\u00a0Dupont Marie - echo.jpg\u00a0»" in notice.body
    assert "Lettre Martin.pdf" not in notice.body


def test_an_older_auditor_still_holding_a_colleagues_link_has_it_withdrawn(
    owner: User, team: Team, echo: File, letter: File
) -> None:
    """Alice left Cardiologie and was made an auditor before the grant withdrew anything
    (the flag set, as then): her echo link goes, her own letter's stays."""
    echo_link, _token = links.share_link_create(actor=owner, target=echo, expires_at=week())
    letter_link, _token = links.share_link_create(actor=owner, target=letter, expires_at=week())
    left_long_ago(owner, team)
    User.objects.filter(pk=owner.pk).update(is_auditor=True)

    said = backfill()
    assert "Alice Martin <alice.martin@hopital.example> is an auditor" in said
    assert "Dupont Marie - echo.jpg" in said
    assert "Lettre Martin.pdf" not in said
    backfill("--apply")

    echo_link.refresh_from_db()
    letter_link.refresh_from_db()
    assert echo_link.revoked_at is not None
    assert letter_link.revoked_at is None
    [event] = AuditEvent.objects.filter(details__reason="became an auditor earlier")
    [row] = readable_events([event])
    assert "Alice Martin had become an auditor" in row.note
    assert backfill() == "Nothing left to withdraw.\n"


def test_back_in_the_team_since_the_dry_run_she_keeps_what_she_opened(
    owner: User, team: Team, echo: File
) -> None:
    """The operator read the dry run; meanwhile a manager added Alice to Cardiologie
    again. Her membership is read again under the lock: nothing of hers is withdrawn."""
    link, _token = links.share_link_create(actor=owner, target=echo, expires_at=week())
    left_long_ago(owner, team)
    [found] = list(leftovers_find())
    TeamMembership.objects.create(team=team, user=owner, role=TeamRole.MEMBER)

    assert leftover_withdraw(found) is None

    link.refresh_from_db()
    assert link.revoked_at is None
    assert not AuditEvent.objects.filter(details__reason=EARLIER).exists()


def test_a_transfer_holding_files_of_two_teams_she_left_is_counted_and_withdrawn_once(
    owner: User,
    team: Team,
    echo: File,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Mrs Dupont's echo (Cardiologie) and Mr Durand's scan (Urgences), sent in one
    transfer; Alice left both teams long ago. One transfer, said and withdrawn once."""
    emergencies = Team.objects.create(name="Urgences", slug="urgences")
    TeamMembership.objects.create(team=emergencies, user=owner, role=TeamRole.MEMBER)
    scan = version_store(
        actor=owner,
        folder=services.space_root(services.space_team_get_or_create(team=emergencies)),
        name="Durand Paul - scanner.dcm",
        content=content_of(600),
    ).file
    transfer_sent(owner, "Dupont et Durand", [echo, scan], django_capture_on_commit_callbacks)
    left_long_ago(owner, team)
    left_long_ago(owner, emergencies)

    said = backfill()
    assert said.count("transfer “Dupont et Durand”") == 1
    assert "0 links, 1 transfer and 0 file requests held by 1 person" in said
    backfill("--apply")

    assert (
        AuditEvent.objects.filter(
            action=Action.SHARING_TRANSFER_REVOKE, details__reason=EARLIER
        ).count()
        == 1
    )
    assert backfill() == "Nothing left to withdraw.\n"
