"""A second outside review of "admins cut access the minute staff leave": each way of
leaving (the admin's button, the departure date, the directory, leaving a team), and
what must not outlive it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client

from accounts import offboarding, services, tokens
from accounts.models import OffboardingReport, Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from directory.tokens import directory_token_create
from files import tus
from files.models import File, UploadSession
from files.services.spaces import space_root, space_team_get_or_create
from tests.conftest import user_create
from tests.files_helpers import content_of, root_of, version_store

pytestmark = pytest.mark.django_db


def scim(raw_token: str, method: str, path: str) -> Any:
    return getattr(Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}"), method.lower())(
        f"/scim/v2/{path}"
    )


@pytest.fixture
def cardiology(owner: User) -> Team:
    team = Team.objects.create(name="Cardiologie", slug="cardiologie")
    manager = user_create("marc.manager@hopital.example", full_name="Marc Manager")
    TeamMembership.objects.create(team=team, user=manager, role=TeamRole.MANAGER)
    TeamMembership.objects.create(team=team, user=owner)
    return team


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_directory_ignores_the_successor_of_a_departure_that_was_cancelled(
    site_admin: User, owner: User, outsider: User, cardiology: Team
) -> None:
    # In March an administrator schedules Alice's departure and names Oscar (then her
    # colleague in another department) to receive her files; she stays after all.
    version_store(actor=owner, folder=root_of(owner), name="cr-dupont.pdf", content=b"x" * 40)
    offboarding.user_departure_schedule(
        actor=site_admin,
        user=owner,
        departure_on=offboarding.timezone.localdate() + offboarding.dt.timedelta(days=30),
        successor=outsider,
    )
    offboarding.user_departure_cancel(actor=site_admin, user=owner)

    # In October she leaves for real: the directory deletes her. Nobody named Oscar for
    # this departure; the token's rule (her team's manager) applies.
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    assert scim(raw, "DELETE", f"Users/{owner.pk}").status_code == 204

    report = OffboardingReport.objects.get(user=owner)
    assert report.successor is not None
    assert report.successor.email == "marc.manager@hopital.example"
    assert not File.objects.filter(name="cr-dupont.pdf", space__owner=outsider).exists()


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_directory_ignores_the_successor_of_an_earlier_departure_after_a_return(
    site_admin: User, owner: User, outsider: User, cardiology: Team
) -> None:
    # Alice left once; her files went to Oscar. She came back (reactivated) and joined
    # cardiology again. When she leaves again, her new files go by this departure's
    # rule, not to whoever received them the first time.
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=outsider)
    offboarding.user_reactivate(actor=site_admin, user=owner)
    TeamMembership.objects.create(team=cardiology, user=owner)
    version_store(actor=owner, folder=root_of(owner), name="cr-martin.pdf", content=b"y" * 40)

    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    assert scim(raw, "DELETE", f"Users/{owner.pk}").status_code == 204

    report = OffboardingReport.objects.filter(user=owner).latest("pk")
    assert report.successor is not None
    assert report.successor.email == "marc.manager@hopital.example"
