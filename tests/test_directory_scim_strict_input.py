"""What a directory sends that SecureDrive must refuse, or read exactly as RFC 7643/7644
say, found by an outside review: an externalId given to two people, filter strings with
JSON escapes, names longer than the account keeps, and a key given twice in one JSON
object. Every refusal is a SCIM error a directory's operator can act on, and an audit
event an auditor can read; nothing stored changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from directory.models import DirectoryAccount, DirectoryGroup
from directory.tokens import directory_token_create
from tests.conftest import user_create
from tests.test_directory_scim import SCIM, Directory, new_user, patch

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def directory(site_admin: User) -> Directory:
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    return Directory(raw)


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.DIRECTORY_REQUEST_REFUSE).order_by("pk"))


# --- externalId names one person ------------------------------------------------------


def test_two_people_cannot_share_an_external_id(directory: Directory) -> None:
    """The directory's identifier of a person names one account: with two, a directory
    matching on externalId (a common Okta and HR-connector setting) could deactivate
    the wrong nurse and leave the leaver's account open."""
    claire = directory.send(
        "POST", "Users", new_user("claire@chu.example", "claire@chu.example", externalId="e-1")
    )
    assert claire.status_code == 201, claire.content

    twin = directory.send(
        "POST", "Users", new_user("marc@chu.example", "marc@chu.example", externalId="e-1")
    )
    assert (twin.status_code, twin.json()["scimType"]) == (409, "uniqueness"), twin.content
    assert "externalId" in twin.json()["detail"]
    assert not User.objects.filter(email="marc@chu.example").exists()

    marc = directory.send(
        "POST", "Users", new_user("marc@chu.example", "marc@chu.example", externalId="e-2")
    )
    marc_id = marc.json()["id"]
    patched = directory.send(
        "PATCH", f"Users/{marc_id}", patch({"op": "replace", "path": "externalId", "value": "e-1"})
    )
    assert (patched.status_code, patched.json()["scimType"]) == (409, "uniqueness")
    marc_again = new_user("marc@chu.example", "marc@chu.example", externalId="e-1")
    replaced = directory.send("PUT", f"Users/{marc_id}", marc_again)
    assert (replaced.status_code, replaced.json()["scimType"]) == (409, "uniqueness")
    assert directory.get(f"Users/{marc_id}").json()["externalId"] == "e-2"
    found = directory.get("Users", data={"filter": 'externalId eq "e-1"'}).json()
    assert [person["userName"] for person in found["Resources"]] == ["claire@chu.example"]
    refusals = _refusals()
    assert len(refusals) == 3
    assert refusals[1].details["user"] == "marc@chu.example"
    # externalId is case-exact (RFC 7643 §3.1): "E-1" is another identifier.
    other = directory.send(
        "POST", "Users", new_user("lea@chu.example", "lea@chu.example", externalId="E-1")
    )
    assert other.status_code == 201, other.content


def test_two_teams_cannot_share_an_external_id(directory: Directory) -> None:
    """The same for groups: a directory matching on externalId would change the members
    of whichever team it found first."""
    group = "urn:ietf:params:scim:schemas:core:2.0:Group"
    first = directory.send(
        "POST", "Groups", {"schemas": [group], "displayName": "Radiologie", "externalId": "g-1"}
    )
    assert first.status_code == 201, first.content
    second = {"schemas": [group], "displayName": "Urgences", "externalId": "g-1"}
    twin = directory.send("POST", "Groups", second)
    assert (twin.status_code, twin.json()["scimType"]) == (409, "uniqueness"), twin.content
    assert not Team.objects.filter(name="Urgences").exists()
    urgences = directory.send("POST", "Groups", {**second, "externalId": "g-2"})
    renamed = directory.send(
        "PATCH",
        f"Groups/{urgences.json()['id']}",
        patch({"op": "replace", "path": "externalId", "value": "g-1"}),
    )
    assert (renamed.status_code, renamed.json()["scimType"]) == (409, "uniqueness")
    assert _refusals()[-1].details["team"] == "Urgences"


BEFORE_UNIQUE = [("directory", "0001_directory_tokens_accounts_groups")]
UNIQUE = [("directory", "0002_external_id_once")]


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_over_an_external_id_held_twice_stops_naming_both_and_changes_nothing() -> None:
    """An installation where two live accounts (or teams) got one externalId before the
    database held the rule: the upgrade does not pick which loses it. It stops, names
    them and says what to do; once the directory has given each its own, it goes on."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_UNIQUE)
    try:
        claire = user_create("claire@chu.example")
        marc = user_create("marc@chu.example")
        gone = user_create("ancien@chu.example")
        for person, deleted_at in ((claire, None), (marc, None), (gone, timezone.now())):
            DirectoryAccount.objects.create(
                user=person, user_name=person.email, external_id="e-1", deleted_at=deleted_at
            )
        for name in ("Radiologie", "Urgences"):
            team = Team.objects.create(name=name, slug=name.lower())
            DirectoryGroup.objects.create(team=team, external_id="g-1")
        executor.loader.build_graph()

        with pytest.raises(CommandError) as stopped:
            executor.migrate(UNIQUE)

        message = str(stopped.value)
        assert "externalId “e-1” is held by the accounts claire@chu.example, marc@chu.example" in (
            message
        )
        assert "externalId “g-1” is held by the teams Radiologie, Urgences" in message
        assert "ancien@chu.example" not in message  # deleted by the directory: not live
        assert "Nothing was changed" in message
        assert DirectoryAccount.objects.filter(external_id="e-1").count() == 3

        DirectoryAccount.objects.filter(user=marc).update(external_id="e-2")
        DirectoryGroup.objects.filter(team__name="Urgences").update(external_id="g-2")
        executor = MigrationExecutor(connection)
        executor.migrate(UNIQUE)
        with pytest.raises(IntegrityError), transaction.atomic():
            DirectoryAccount.objects.filter(user=marc).update(external_id="e-1")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


# --- Filters read as RFC 7644 §3.4.2.2 writes them ---------------------------------------


def test_a_filter_value_with_json_escapes_finds_the_person(directory: Directory) -> None:
    """A quote in a userName is sent as \\" and a backslash (DOMAIN\\user) as \\\\: the
    first was a 400 and the second looked for two backslashes, so the directory found
    nobody, created the person again and got 409 for ever."""
    for user_name, email in (('o"brien', "obrien@chu.example"), ("CHU\\jdoe", "jdoe@chu.example")):
        created = directory.send("POST", "Users", new_user(user_name, email))
        assert created.status_code == 201, created.content

    def found(text: str) -> list[str]:
        answer = directory.get("Users", data={"filter": text})
        assert answer.status_code == 200, (text, answer.content)
        return [person["userName"] for person in answer.json()["Resources"]]

    assert found('userName eq "o\\"brien"') == ['o"brien']
    assert found('userName eq "CHU\\\\jdoe"') == ["CHU\\jdoe"]
    assert found('userName eq "CHU\\u005cjdoe"') == ["CHU\\jdoe"]
    # An escaped quote does not end the string: this is one value, not an "or".
    assert found('userName eq "x\\" or userName eq \\"o\\"brien"') == []
    searched = directory.send("POST", "Users/.search", {"filter": 'userName eq "o\\"brien"'})
    assert [person["userName"] for person in searched.json()["Resources"]] == ['o"brien']


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "a\\qb"',
        'userName eq "unterminated',
        'userName eq "a\\"',
        'userName eq "\\u12"',
    ],
    ids=["unknown-escape", "unterminated", "escaped-end", "short-unicode"],
)
def test_a_malformed_filter_string_is_an_invalid_filter(directory: Directory, text: str) -> None:
    answer = directory.get("Users", data={"filter": text})
    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidFilter"), answer.content
    assert _refusals()[-1].details["scim_type"] == "invalidFilter"


# --- Lengths the account keeps ----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "attribute"),
    [
        ({"name": {"givenName": "G" * 151}}, "name.givenName"),
        ({"name": {"familyName": "F" * 151}}, "name.familyName"),
        ({"name": {"formatted": "N" * 151}}, "name.formatted"),
        ({"name": {"middleName": "M" * 151}}, "name.middleName"),
        ({"displayName": "D" * 151}, "displayName"),
        ({"name": {"givenName": "G" * 80, "familyName": "F" * 80}}, "name.givenName"),
        (
            {"emails": [{"value": "a" * 250 + "@chu.example", "type": "work", "primary": True}]},
            "emails[0].value",
        ),
        (
            {"emails": [{"value": "long@chu.example", "primary": True, "type": "t" * 300}]},
            "emails[0].type",
        ),
    ],
    ids=["given", "family", "formatted", "middle", "display", "given+family", "email", "type"],
)
def test_a_name_longer_than_the_account_keeps_is_refused_naming_the_attribute(
    directory: Directory, extra: dict[str, Any], attribute: str
) -> None:
    """The account's full name holds 150 characters (as the admin's form) and an e-mail
    address 254: longer was cut without a word (or kept whole in what we echo back, with
    no limit at all), so the name people saw was not the directory's."""
    body = {**new_user("long@chu.example", "long@chu.example"), **extra}

    answer = directory.send("POST", "Users", body)

    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidValue"), answer.content
    assert attribute in answer.json()["detail"]
    assert not User.objects.filter(email__startswith="long@").exists()
    assert _refusals()[-1].details["detail"] == answer.json()["detail"]


def test_a_patch_to_an_overlong_name_changes_nothing(directory: Directory, owner: User) -> None:
    answer = directory.send(
        "PATCH",
        f"Users/{owner.pk}",
        patch({"op": "replace", "path": "name.familyName", "value": "M" * 151}),
    )
    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidValue"), answer.content
    assert "name.familyName" in answer.json()["detail"]
    owner.refresh_from_db()
    assert owner.full_name == "Alice Martin"
    assert _refusals()[-1].details["user"] == "Alice Martin <alice.martin@hopital.example>"
    many = directory.send(
        "PATCH",
        f"Users/{owner.pk}",
        patch(
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": f"a{n}@chu.example", "type": "other"} for n in range(30)],
            }
        ),
    )
    assert (many.status_code, many.json()["scimType"]) == (400, "invalidValue"), many.content
    assert "emails" in many.json()["detail"]


def test_an_overlong_team_name_is_refused_not_cut(directory: Directory) -> None:
    """Two groups whose names differ after the 100th character became one team name."""
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "R" * 101,
    }
    answer = directory.send("POST", "Groups", body)
    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidValue"), answer.content
    assert "displayName" in answer.json()["detail"]
    assert not Team.objects.exists()


# --- One value per key ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        (
            "post",
            b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],'
            b' "userName": "twice@chu.example", "active": true, "active": false}',
        ),
        (
            "patch",
            b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations":'
            b' [{"op": "replace", "path": "active", "value": false, "value": true}]}',
        ),
    ],
    ids=["create", "patch-operation"],
)
def test_a_key_given_twice_is_refused_not_read_as_its_last_value(
    directory: Directory, owner: User, method: str, raw: bytes
) -> None:
    """``{"active": true, "active": false}``: the last value won. A proxy, a log or a
    reviewer reading the first would not see what was done (RFC 8259 §4: names SHOULD
    be unique; RFC 7493 I-JSON: MUST)."""
    path = "/scim/v2/Users" if method == "post" else f"/scim/v2/Users/{owner.pk}"

    answer = getattr(directory.client, method)(path, raw, content_type=SCIM)

    assert (answer.status_code, answer.json()["scimType"]) == (400, "invalidSyntax"), answer.content
    assert "“" in answer.json()["detail"]
    assert "twice" in answer.json()["detail"]
    assert not User.objects.filter(email="twice@chu.example").exists()
    owner.refresh_from_db()
    assert owner.is_active
    assert _refusals()[-1].details["scim_type"] == "invalidSyntax"


# --- The body's announced length ------------------------------------------------------


@pytest.mark.parametrize("announced", ["abc", "-1", "+5", "1_000", "²", " 12"])
def test_a_content_length_that_is_not_a_number_of_bytes_is_a_scim_error_on_record(
    directory: Directory, announced: str
) -> None:
    """A proxy or a client that mangles Content-Length got a 500 (``int()`` on the
    header): the directory's operator read nothing they could act on, and nothing was on
    record. It is a 400 in SCIM's shape, refused input on record; nobody is created."""
    answer = directory.send(
        "POST",
        "Users",
        new_user("claire@chu.example", "claire@chu.example"),
        CONTENT_LENGTH=announced,
    )
    assert answer.status_code == 400, answer.content
    assert answer.json()["scimType"] == "invalidSyntax"
    assert "Content-Length" in answer.json()["detail"]
    [refusal] = _refusals()
    assert refusal.details["status"] == 400
    assert refusal.details["method"] == "POST"
    assert not User.objects.filter(email="claire@chu.example").exists()


def test_a_content_length_over_the_limit_is_still_refused_as_too_large(
    directory: Directory,
) -> None:
    answer = directory.send(
        "POST",
        "Users",
        new_user("claire@chu.example", "claire@chu.example"),
        CONTENT_LENGTH=str(10**30),
    )
    assert answer.status_code == 413, answer.content
    assert not User.objects.filter(email="claire@chu.example").exists()
