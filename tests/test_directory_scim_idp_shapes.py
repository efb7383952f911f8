"""SCIM requests in the shapes real directories send (Entra ID, Okta, HR connectors),
and what an outside review found them to break: a member Entra removes from a group
must leave the team, a userName must name one account, a full replacement that says
nothing of ``active`` must not bring a leaver back, and nothing a directory sends is a
500. Every refusal names the person in the audit log."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from directory.tokens import directory_token_create
from tests.test_directory_scim import Directory, new_user, patch

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def directory(site_admin: User) -> Directory:
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    return Directory(raw)


GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_a_person_entra_removes_from_a_group_leaves_the_team(
    directory: Directory, owner: User, teammate: User
) -> None:
    """Entra ID adds and removes members with a value list and ``"$ref": null`` (its
    documented shape), not with the path filter RFC 7644 §3.5.2.2 shows: the removal
    was a 400, Entra retried it for ever, and Tom kept the team and its files."""
    created = directory.send(
        "POST", "Groups", {"schemas": [GROUP], "displayName": "Radiologie", "members": []}
    )
    group = created.json()["id"]
    added = directory.send(
        "PATCH",
        f"Groups/{group}",
        patch(
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": str(owner.pk)}, {"value": str(teammate.pk)}],
            }
        ),
    )
    assert added.status_code == 200, added.content
    team = Team.objects.get(name="Radiologie")
    assert set(team.memberships.values_list("user_id", flat=True)) == {owner.pk, teammate.pk}

    removed = directory.send(
        "PATCH",
        f"Groups/{group}",
        patch(
            {
                "op": "Remove",
                "path": "members",
                "value": [{"$ref": None, "value": str(teammate.pk)}],
            }
        ),
    )
    assert removed.status_code == 200, removed.content
    assert [m["value"] for m in removed.json()["members"]] == [str(owner.pk)]
    assert list(team.memberships.values_list("user_id", flat=True)) == [owner.pk]
    event = AuditEvent.objects.filter(action=Action.DIRECTORY_GROUP_UPDATE).latest("pk")
    assert event.details["removed"] == [teammate.email]

    # A value that names nobody is refused, as an unknown member is on Add.
    unknown = directory.send(
        "PATCH",
        f"Groups/{group}",
        patch({"op": "Remove", "path": "members", "value": [{"value": "Tom"}]}),
    )
    assert (unknown.status_code, unknown.json()["scimType"]) == (400, "invalidValue")


def test_a_username_that_is_already_someones_sign_in_address_is_refused(
    directory: Directory, owner: User
) -> None:
    """Alice's account was made in SecureDrive: to the directory her userName is her
    e-mail address. A second account created with that userName made
    ``userName eq "alice…"`` answer two people, so a directory matching by userName
    (Entra's and Okta's default) could deactivate the wrong one and leave Alice's open."""
    twin = directory.send("POST", "Users", new_user(owner.email.upper(), "twin@chu.example"))
    assert (twin.status_code, twin.json()["scimType"]) == (409, "uniqueness")
    found = directory.get("Users", data={"filter": f'userName eq "{owner.email}"'}).json()
    assert [person["id"] for person in found["Resources"]] == [str(owner.pk)]

    # Nor may an existing directory account be renamed to it.
    claire = directory.send("POST", "Users", new_user("claire@chu.example", "claire@chu.example"))
    renamed = directory.send(
        "PATCH",
        f"Users/{claire.json()['id']}",
        patch({"op": "replace", "path": "userName", "value": owner.email}),
    )
    assert (renamed.status_code, renamed.json()["scimType"]) == (409, "uniqueness")


def test_a_full_replacement_that_says_nothing_of_active_does_not_bring_a_leaver_back(
    directory: Directory, teammate: User
) -> None:
    """An HR connector PUTs the whole record without ``active``: Tom, who left, stays
    deactivated. Reopening an account takes an explicit ``active: true``."""
    left = directory.send(
        "PATCH", f"Users/{teammate.pk}", patch({"op": "replace", "value": {"active": "False"}})
    )
    assert left.status_code == 200, left.content
    teammate.refresh_from_db()
    assert not teammate.is_active

    record = new_user(teammate.email, teammate.email, displayName="Tom Teammate")
    answer = directory.send("PUT", f"Users/{teammate.pk}", record)
    assert answer.status_code == 200, answer.content
    assert answer.json()["active"] is False
    teammate.refresh_from_db()
    assert not teammate.is_active
    assert not AuditEvent.objects.filter(action=Action.ACCOUNTS_USER_REACTIVATE).exists()

    back = directory.send("PUT", f"Users/{teammate.pk}", {**record, "active": True})
    assert back.json()["active"] is True


@pytest.mark.parametrize(
    "field",
    [
        {"userName": "u" * 290 + "@chu.example"},
        {"externalId": "e" * 301},
    ],
    ids=["userName", "externalId"],
)
def test_an_overlong_identifier_is_a_400_not_a_500(
    directory: Directory, field: dict[str, Any]
) -> None:
    body = {**new_user("long@chu.example", "long@chu.example"), **field}
    answer = directory.send("POST", "Users", body)
    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidValue"), answer.content
    assert not User.objects.filter(email="long@chu.example").exists()
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_REQUEST_REFUSE).count() == 1


def test_a_start_index_past_the_end_is_an_empty_page(directory: Directory, owner: User) -> None:
    """RFC 7644 §3.4.2.4: a page beyond the last result is empty, not an invalid filter."""
    for start in ("5", str(10**30)):
        answer = directory.get("Users", data={"startIndex": start, "count": "10"})
        assert answer.status_code == 200, answer.content
        body = answer.json()
        assert (body["totalResults"], body["itemsPerPage"], body["Resources"]) == (2, 0, [])


def test_a_refused_change_names_the_person_in_the_audit_log(
    directory: Directory, site_admin: User
) -> None:
    """The directory tries to deactivate the last administrator: refused, and the
    auditor reads whom it was about, not only ``/scim/v2/Users/1``."""
    answer = directory.send(
        "PATCH",
        f"Users/{site_admin.pk}",
        patch({"op": "Replace", "path": "active", "value": "False"}),
    )
    assert answer.status_code == 400
    site_admin.refresh_from_db()
    assert site_admin.is_active
    event = AuditEvent.objects.get(action=Action.DIRECTORY_REQUEST_REFUSE)
    assert event.details["user"] == "Sam Admin <sam.admin@hopital.example>"


def test_an_overlong_group_external_id_is_a_400_not_a_500(directory: Directory) -> None:
    body = {"schemas": [GROUP], "displayName": "Radiologie", "externalId": "g" * 301}
    answer = directory.send("POST", "Groups", body)
    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidValue"), answer.content
    assert not Team.objects.filter(name="Radiologie").exists()


def test_a_flood_without_a_valid_token_is_slowed_and_does_not_flood_the_audit_log(
    directory: Directory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone on the network could send request after request with a made-up token:
    each wrote a refusal to the audit log, with no limit (the API has 60 a minute).
    Past the limit the address gets 429 and one ``ratelimit.api`` event per window;
    the directory, with its token, is not held up by it."""
    from directory.scim import views

    monkeypatch.setattr(views, "ANONYMOUS_RATE", "5/60s")
    stranger = Directory("sdscim_" + "x" * 43)
    answers = [stranger.get("Users") for _ in range(12)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 7
    limited = answers[-1]
    assert limited.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert int(limited["Retry-After"]) >= 1
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_REQUEST_REFUSE).count() == 5
    assert AuditEvent.objects.filter(action=Action.RATELIMIT_API).count() == 1
    assert directory.get("Users").status_code == 200


ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_entra_default_attribute_mappings_create_and_deactivate_people(
    directory: Directory, teammate: User
) -> None:
    """Entra ID's default mappings send the enterprise extension (department, employee
    number, manager) with every person, and put its changes in the same PATCH as
    ``active``. It was refused whole (400): nobody with a department was created, and
    a leaver moved to another department as they were disabled stayed active."""
    created = directory.send(
        "POST",
        "Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "claire.dubois@chu.example",
            "active": True,
            "emails": [{"primary": True, "type": "work", "value": "claire.dubois@chu.example"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "Claire Dubois", "familyName": "Dubois", "givenName": "Claire"},
            "roles": [],
            ENTERPRISE: {"employeeNumber": "12", "department": "Radiologie"},
        },
    )
    assert created.status_code == 201, created.content
    assert User.objects.get(email="claire.dubois@chu.example").is_active

    left = directory.send(
        "PATCH",
        f"Users/{teammate.pk}",
        patch(
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Leavers"},
            {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "3a5f"},
        ),
    )
    assert left.status_code == 200, left.content
    teammate.refresh_from_db()
    assert not teammate.is_active
