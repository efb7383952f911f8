"""A team's files stay under the team's governance (December 2026 review): moving team
content out of the team space (to someone's personal space, or to another team) is for
the team's managers only, asked on screen first, recorded readably and shown to the
team's managers; and a colleague who may only view a file cannot copy it into her own
files, where she would own it and could share it further (docs/sharing-shares.md,
docs/accounts.md "Teams")."""

# Fixtures (owner, teammate, team, folder_backend) come from tests.files_helpers.

from __future__ import annotations

import secrets

import pytest
from django.test import Client
from django.urls import reverse

from accounts import tokens
from accounts.models import Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import services
from files.models import File, Folder
from sharing.models import ShareRole
from sharing.services import shares
from tests.conftest import user_create
from tests.files_helpers import Backend, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]


def token_client(user: User) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user,
        name=f"tests {secrets.token_hex(4)}",
        scopes=["read", "write"],
        expires_in_days=30,
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def team_root(team: Team) -> Folder:
    return services.space_root(services.space_team_get_or_create(team=team))


@pytest.fixture
def report(owner: User, team: Team) -> File:
    return version_store(
        actor=owner, folder=team_root(team), name="CR Dupont.pdf", content=b"%PDF-1.4 CR"
    ).file


@pytest.fixture
def emergency(teammate: User) -> Team:
    """A second team Tom belongs to (as a manager there, which gives nothing in
    Cardiologie)."""
    urgences = Team.objects.create(name="Urgences", slug="urgences")
    TeamMembership.objects.create(team=urgences, user=teammate, role=TeamRole.MANAGER)
    return urgences


def test_a_member_cannot_move_a_team_file_into_her_own_files_any_way(
    teammate: User, team: Team, report: File
) -> None:
    mine = root_of(teammate)
    browser = client_signed_in(teammate)

    page = browser.post(f"/files/{report.pk}/move/", {"move-destination": mine.pk})
    bulk = browser.post("/files/selection/move/", {"file": report.pk, "destination": mine.pk})
    api = token_client(teammate).patch(
        f"/api/v1/files/{report.pk}/", {"folder": mine.pk}, content_type="application/json"
    )

    for response in (page, bulk, api):
        assert response.status_code == 403, response.content
        text = response.content.decode()
        assert "Only a manager of the team" in text
        assert "Alice Martin" in text  # whom to ask
        assert "copy it" in text
    report.refresh_from_db()
    assert report.folder_id == team_root(team).pk
    refusals = AuditEvent.objects.filter(
        action=Action.FILES_ACCESS, outcome=Outcome.DENIED, target_id=str(report.pk)
    )
    assert refusals.count() == 3
    assert {event.details["need"] for event in refusals} == {"move_out_of_team"}
    assert not AuditEvent.objects.filter(action=Action.FILES_FILE_MOVE).exists()
    # Copying stays open to the members (as downloading does).
    copied = browser.post(f"/files/{report.pk}/copy/", {"copy-destination": mine.pk})
    assert copied.status_code == 302


def test_a_member_of_two_teams_cannot_carry_a_folder_from_one_to_the_other(
    owner: User, teammate: User, team: Team, emergency: Team, report: File
) -> None:
    folder = services.folder_create(actor=owner, parent=team_root(team), name="Dossiers")
    services.file_move(actor=owner, file=report, destination=folder)
    other_team = team_root(emergency)

    page = client_signed_in(teammate).post(
        f"/files/folders/{folder.pk}/move/", {"move-destination": other_team.pk}
    )
    api = token_client(teammate).patch(
        f"/api/v1/files/folders/{folder.pk}/",
        {"parent": other_team.pk},
        content_type="application/json",
    )

    assert page.status_code == 403
    assert api.status_code == 403, api.content
    folder.refresh_from_db()
    report.refresh_from_db()
    assert folder.space_id == report.space_id == team_root(team).space_id
    # Inside the team space, members still move freely.
    inside = services.folder_create(actor=owner, parent=team_root(team), name="Archives")
    moved = client_signed_in(teammate).post(
        f"/files/folders/{folder.pk}/move/", {"move-destination": inside.pk}
    )
    assert moved.status_code == 302


def test_a_manager_moves_a_team_file_out_after_confirming_and_the_team_sees_it(
    owner: User, teammate: User, team: Team, report: File
) -> None:
    mine = root_of(owner)
    browser = client_signed_in(owner)

    asked = browser.post(f"/files/{report.pk}/move/", {"move-destination": mine.pk})

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Move “CR Dupont.pdf” out of the team Cardiologie?" in page
    assert "Alice Martin&#x27;s personal space" in page
    report.refresh_from_db()
    assert report.folder_id == team_root(team).pk  # nothing moved yet

    done = browser.post(
        f"/files/{report.pk}/move/", {"move-destination": mine.pk, "confirmed": "yes"}
    )

    assert done.status_code == 302
    report.refresh_from_db()
    assert report.space_id == mine.space_id
    event = AuditEvent.objects.get(action=Action.FILES_FILE_MOVE)
    assert event.details["from_team"] == "Cardiologie"
    assert event.details["to_owner"] == "Alice Martin <alice.martin@hopital.example>"
    auditor = user_create("audrey@hopital.example", full_name="Audrey Auditor", is_auditor=True)
    console = client_signed_in(auditor).get(f"/audit/events/{event.sequence}/")
    assert "from team Cardiologie to Alice Martin" in console.content.decode()
    # The team's managers see what left the team space, the members do not.
    second = user_create("bea.manager@hopital.example", full_name="Béa Manager")
    TeamMembership.objects.create(team=team, user=second, role=TeamRole.MANAGER)
    team_page = client_signed_in(second).get(reverse("accounts:team", args=[team.slug]))
    assert team_page.status_code == 200
    listing = team_page.content.decode()
    assert "Moved out of the team space" in listing
    assert "CR Dupont.pdf" in listing
    assert "Alice Martin" in listing
    member_page = client_signed_in(teammate).get(reverse("accounts:team", args=[team.slug]))
    assert "CR Dupont.pdf" not in member_page.content.decode()


def test_a_move_within_the_team_space_asks_nothing(owner: User, team: Team, report: File) -> None:
    inside = services.folder_create(actor=owner, parent=team_root(team), name="Archives")
    done = client_signed_in(owner).post(
        f"/files/{report.pk}/move/", {"move-destination": inside.pk}
    )
    assert done.status_code == 302
    report.refresh_from_db()
    assert report.folder_id == inside.pk


def test_a_viewer_cannot_copy_a_file_into_her_own_files_any_way(
    owner: User, folder_backend: Backend
) -> None:
    rita = user_create("rita.radiologue@hopital.example", full_name="Rita Radiologue")
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Imagerie")
    letter = version_store(actor=owner, folder=folder, name="cr-irm.pdf", content=b"%PDF").file
    shares.share_create(actor=owner, item=folder, recipient=rita, role=ShareRole.VIEWER)
    mine = root_of(rita)
    browser = client_signed_in(rita)

    file_page = browser.get(f"/files/{letter.pk}/")
    page = browser.post(f"/files/{letter.pk}/copy/", {"copy-destination": mine.pk})
    bulk = browser.post("/files/selection/copy/", {"file": letter.pk, "destination": mine.pk})
    api = token_client(rita).post(
        f"/api/v1/files/{letter.pk}/copy/", {"folder": mine.pk}, content_type="application/json"
    )

    assert file_page.status_code == 200
    assert f"/files/{letter.pk}/copy/" not in file_page.content.decode()  # not offered
    for response in (page, bulk, api):
        assert response.status_code == 403, response.content
        assert "only view" in response.content.decode()
    assert not File.objects.filter(space=mine.space).exists()
    refused = AuditEvent.objects.filter(action=Action.FILES_FILE_COPY, outcome=Outcome.DENIED)
    assert refused.count() == 3
    assert {event.details["reason"] for event in refused} == {"view_only"}
    # The download itself stays open to her.
    assert browser.get(f"/files/{letter.pk}/download/").status_code == 200


def test_an_editor_still_copies_into_her_own_files(owner: User, folder_backend: Backend) -> None:
    rita = user_create("rita.radiologue@hopital.example", full_name="Rita Radiologue")
    letter = version_store(actor=owner, folder=root_of(owner), name="cr.pdf", content=b"%PDF").file
    shares.share_create(actor=owner, item=letter, recipient=rita, role=ShareRole.EDITOR)
    copied = client_signed_in(rita).post(
        f"/files/{letter.pk}/copy/", {"copy-destination": root_of(rita).pk}
    )
    assert copied.status_code == 302
    assert File.objects.filter(space=root_of(rita).space, name="cr.pdf").exists()


def test_ticked_team_files_leave_the_team_only_once_the_manager_confirms(
    owner: User, team: Team, report: File
) -> None:
    mine = root_of(owner)
    browser = client_signed_in(owner)
    fields = {"file": report.pk, "destination": mine.pk, "next": f"/files/teams/{team.slug}/"}

    asked = browser.post("/files/selection/move/", fields)

    assert asked.status_code == 200
    assert "out of the team Cardiologie" in asked.content.decode()
    report.refresh_from_db()
    assert report.space_id == team_root(team).space_id
    done = browser.post("/files/selection/move/", {**fields, "confirmed": "yes"})
    assert done.status_code == 302
    report.refresh_from_db()
    assert report.space_id == mine.space_id
    assert AuditEvent.objects.get(action=Action.FILES_FILE_MOVE).details["left_team"] == team.pk


def test_no_undo_is_offered_that_the_team_rule_would_refuse(
    owner: User, team: Team, emergency: Team, report: File
) -> None:
    """Alice manages Cardiologie and is a plain member of Urgences: she may move a
    Cardiologie file into Urgences, but moving it back out of Urgences is for Tom, its
    manager; the notice must not offer her an "Undo" that answers 403."""
    TeamMembership.objects.create(team=emergency, user=owner)
    browser = client_signed_in(owner)

    done = browser.post(
        f"/files/{report.pk}/move/",
        {"move-destination": team_root(emergency).pk, "confirmed": "yes"},
        follow=True,
    )

    assert done.status_code == 200
    page = done.content.decode()
    assert "Moved to" in page
    assert "undo-offer" not in page
    report.refresh_from_db()
    assert report.space_id == team_root(emergency).space_id
