"""Spaces are made when the account or the team is made, never by reading.

A GET is a read (RFC 9110 §9.2.1, "safe"): listing one's spaces through the API or
opening the drive in the browser must not write rows. Alice's personal space is there
the moment her account is made; the Cardiologie space the moment the team is made,
whichever way (the admin pages, SCIM, SSO) it was made.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from accounts.models import TeamRole, User
from files.models import Folder, Space, SpaceKind
from tests.conftest import user_create
from tests.helpers import client_signed_in
from tests.test_files_api import token_client

pytestmark = [pytest.mark.django_db]


def _writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        # Reading is still recorded: sessions and the audit log may write; spaces not.
        and ("files_space" in query["sql"] or "files_folder" in query["sql"])
    ]


def test_a_new_colleague_has_her_space_as_soon_as_her_account_exists() -> None:
    alice = user_create("alice.martin@chu-example.fr", full_name="Alice Martin")
    space = Space.objects.get(kind=SpaceKind.PERSONAL, owner=alice)
    assert Folder.objects.filter(space=space, parent__isnull=True).count() == 1


def test_a_new_team_has_its_space_as_soon_as_it_is_made(site_admin: User) -> None:
    team = account_services.team_create(actor=site_admin, name="Cardiologie")
    space = Space.objects.get(kind=SpaceKind.TEAM, team=team)
    assert Folder.objects.filter(space=space, parent__isnull=True).count() == 1


def test_listing_spaces_and_opening_the_drive_write_no_space(site_admin: User) -> None:
    alice = user_create("alice.martin@chu-example.fr", full_name="Alice Martin")
    team = account_services.team_create(actor=site_admin, name="Cardiologie")
    account_services.team_member_set(actor=site_admin, team=team, user=alice, role=TeamRole.MANAGER)
    api = token_client(alice, "read")
    browser = client_signed_in(alice)
    with CaptureQueriesContext(connection) as queries:
        listed = api.get("/api/v1/files/spaces/")
        home = browser.get("/files/")
        team_home = browser.get(f"/files/teams/{team.slug}/")
    assert listed.status_code == 200
    assert [space["kind"] for space in listed.json()] == ["personal", "team"]
    assert home.status_code == 302
    assert team_home.status_code == 302
    assert _writes(queries) == []


def test_a_person_without_a_space_gets_none_made_by_a_read() -> None:
    """Someone whose row was inserted around the model (a raw import): reading must
    still not write; they get an empty list and the drive says there is nothing yet."""
    alice = user_create("alice.martin@chu-example.fr", full_name="Alice Martin")
    Folder.objects.filter(space__owner=alice).delete()
    Space.objects.filter(owner=alice).delete()
    assert token_client(alice, "read").get("/api/v1/files/spaces/").json() == []
    assert client_signed_in(alice).get("/files/").status_code == 404
    assert not Space.objects.filter(owner=alice).exists()
