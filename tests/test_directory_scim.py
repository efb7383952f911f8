"""SCIM 2.0 provisioning (issue #17, item 2): the organisation's directory creates,
finds, changes and deactivates accounts and teams under /scim/v2/; deactivating there
is the admin's offboarding, whole, within the one request."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from accounts.models import OffboardingReport, Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from directory.models import SuccessorRule
from directory.tokens import directory_token_create
from sharing.models import ShareLink
from sharing.services import links
from tests.conftest import PASSWORD, missing_service
from tests.files_helpers import root_of, version_store
from tests.helpers import client_signed_in, client_signed_in_long_ago

pytestmark = [pytest.mark.django_db]

SCIM = "application/scim+json"


class Directory:
    """The directory's HTTP client: a bearer token on every request."""

    def __init__(self, token: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def get(self, path: str, **extra: Any) -> Any:
        return self.client.get(f"/scim/v2/{path}", **extra)

    def send(self, method: str, path: str, body: dict[str, Any], **extra: Any) -> Any:
        call = getattr(self.client, method.lower())
        return call(f"/scim/v2/{path}", json.dumps(body), content_type=SCIM, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self.client.delete(f"/scim/v2/{path}", **extra)


@pytest.fixture
def directory(site_admin: User) -> Directory:
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    return Directory(raw)


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": list(operations),
    }


def new_user(user_name: str, email: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "emails": [{"value": email, "type": "work", "primary": True}],
        **extra,
    }


def test_without_a_valid_token_the_directory_is_refused_with_a_scim_error(site_admin: User) -> None:
    for client in (Client(), Client(HTTP_AUTHORIZATION="Bearer sdscim_" + "x" * 43)):
        answer = client.get("/scim/v2/Users")
        assert answer.status_code == 401
        assert answer["Content-Type"] == SCIM
        assert answer.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_REQUEST_REFUSE).count() == 2
    # A revoked token stops at once.
    token, raw = directory_token_create(actor=site_admin, name="Old LDAP")
    token.revoked_at = timezone.now()
    token.save()
    assert Directory(raw).get("Users").status_code == 401


def test_the_directory_creates_finds_and_pages_through_people(
    directory: Directory, owner: User, teammate: User, site_admin: User
) -> None:
    created = directory.send(
        "POST", "Users",
        new_user("claire.dubois@chu.example", "claire.dubois@chu.example",
                 externalId="e-1234", displayName="Claire Dubois"),
    )  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert created["ETag"] == body["meta"]["version"]
    claire = User.objects.get(email="claire.dubois@chu.example")
    assert claire.full_name == "Claire Dubois"
    assert not claire.has_usable_password()
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_USER_CREATE).count() == 1

    duplicate = directory.send("POST", "Users", new_user("other", "claire.dubois@chu.example"))
    assert duplicate.status_code == 409
    assert duplicate.json()["scimType"] == "uniqueness"

    def found(text: str, **params: Any) -> list[str]:
        answer = directory.get("Users", data={"filter": text, **params})
        assert answer.status_code == 200, answer.content
        return sorted(r["userName"] for r in answer.json()["Resources"])

    assert found('userName eq "CLAIRE.DUBOIS@chu.example"') == ["claire.dubois@chu.example"]
    assert found('externalId eq "e-1234"') == ["claire.dubois@chu.example"]
    assert found('emails co "hopital"') == [owner.email, site_admin.email, teammate.email]
    assert found('displayName sw "Tom"') == [teammate.email]
    assert found("externalId pr") == ["claire.dubois@chu.example"]
    assert found('displayName sw "Tom" or externalId eq "e-1234"') == [
        "claire.dubois@chu.example", teammate.email,
    ]  # fmt: skip
    assert found('active eq true and emails.value ew "chu.example"') == [
        "claire.dubois@chu.example"
    ]
    page = directory.get("Users", data={"startIndex": 2, "count": 1}).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (4, 2, 1)
    assert page["Resources"][0]["id"] == str(owner.pk)  # by id: Sam, Alice, Tom, Claire
    bad = directory.get("Users", data={"filter": 'password eq "x"'})
    assert bad.status_code == 400
    assert bad.json()["scimType"] == "invalidFilter"
    for broken in ("userName eq", "(((", 'id eq "12" and', 'userName zz "a"'):
        answer = directory.get("Users", data={"filter": broken})
        assert (answer.status_code, answer.json().get("scimType")) == (400, "invalidFilter"), (
            broken,
            answer.content,
        )


def test_a_change_on_a_stale_version_is_refused_with_412(directory: Directory, owner: User) -> None:
    first = directory.get(f"Users/{owner.pk}")
    version = first["ETag"]
    renamed = directory.send(
        "PATCH", f"Users/{owner.pk}",
        patch({"op": "replace", "path": "displayName", "value": "Alice Martin-Leroy"}),
        HTTP_IF_MATCH=version,
    )  # fmt: skip
    assert renamed.status_code == 200, renamed.content
    assert renamed["ETag"] != version
    stale = directory.send(
        "PATCH", f"Users/{owner.pk}",
        patch({"op": "replace", "path": "displayName", "value": "A. Martin"}),
        HTTP_IF_MATCH=version,
    )  # fmt: skip
    assert stale.status_code == 412
    owner.refresh_from_db()
    assert owner.full_name == "Alice Martin-Leroy"
    wrong = directory.send("PATCH", f"Users/{owner.pk}", patch({"op": "frob", "path": "x"}))
    assert wrong.status_code == 400
    assert wrong.json()["scimType"]


def test_a_directory_token_cannot_take_over_a_site_administrator(
    directory: Directory, site_admin: User
) -> None:
    """A stolen directory token must not move an administrator's sign-in address to the
    thief's mailbox (nor revive one who left); a rename is still the directory's to do."""
    before = site_admin.email
    taken = directory.send(
        "PATCH", f"Users/{site_admin.pk}",
        patch({"op": "replace", "path": "emails", "value": [
            {"value": "thief@attacker.example", "type": "work", "primary": True}
        ]}),
    )  # fmt: skip
    assert taken.status_code == 403, taken.content
    assert taken.json()["scimType"] == "mutability"
    site_admin.refresh_from_db()
    assert site_admin.email == before
    renamed = directory.send(
        "PATCH", f"Users/{site_admin.pk}",
        patch({"op": "replace", "path": "displayName", "value": "Admin Durand"}),
    )  # fmt: skip
    assert renamed.status_code == 200, renamed.content


def test_groups_become_teams_and_patch_changes_their_members(
    directory: Directory, owner: User, teammate: User, outsider: User
) -> None:
    created = directory.send(
        "POST", "Groups",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Radiologie",
         "members": [{"value": str(owner.pk)}]},
    )  # fmt: skip
    assert created.status_code == 201, created.content
    team = Team.objects.get(name="Radiologie")
    group = created.json()["id"]
    changed = directory.send(
        "PATCH", f"Groups/{group}",
        patch(
            {"op": "add", "path": "members",
             "value": [{"value": str(teammate.pk)}, {"value": str(outsider.pk)}]},
            {"op": "remove", "path": f'members[value eq "{owner.pk}"]'},
        ),
    )  # fmt: skip
    assert changed.status_code == 200, changed.content
    assert set(team.memberships.values_list("user_id", flat=True)) == {teammate.pk, outsider.pk}
    found = directory.get("Groups", data={"filter": f'members.value eq "{teammate.pk}"'}).json()
    assert [g["displayName"] for g in found["Resources"]] == ["Radiologie"]
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_GROUP_UPDATE).count() == 1
    assert directory.delete(f"Groups/{group}").status_code == 204
    assert Team.objects.filter(pk=team.pk).exists()  # the team and its files stay
    assert not team.memberships.exists()
    assert directory.get(f"Groups/{group}").status_code == 404


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_deactivating_through_scim_signs_the_person_out_and_withdraws_links_at_once(
    directory: Directory, owner: User, teammate: User, team: Team
) -> None:
    # Tom manages Alice's team: by the default rule he receives her files.
    TeamMembership.objects.filter(team=team, user=teammate).update(role=TeamRole.MANAGER)
    TeamMembership.objects.filter(team=team, user=owner).update(role=TeamRole.MEMBER)
    browser = client_signed_in(owner)
    assert browser.get("/").status_code == 200
    report = version_store(actor=owner, folder=root_of(owner), name="cr.pdf", content=b"cr").file
    _link, token = links.share_link_create(
        actor=owner, target=report, expires_at=timezone.now() + timedelta(days=3)
    )
    assert Client().get(f"/s/{token}/").status_code == 200

    answer = directory.send(
        "PATCH", f"Users/{owner.pk}", patch({"op": "replace", "path": "active", "value": False})
    )

    assert answer.status_code == 200, answer.content
    assert answer.json()["active"] is False
    # The open browser is signed out on its next request; the link answers 410.
    after = browser.get("/")
    assert after.status_code == 302
    assert after["Location"].startswith("/accounts/login/")
    assert Client().get(f"/s/{token}/").status_code == 410
    assert not ShareLink.objects.filter(created_by=owner, revoked_at__isnull=True).exists()
    # The same offboarding as the admin's button: its event, its report, the successor.
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert event.actor_label.startswith("directory “Entra ID”")
    assert event.details["sessions_ended"] == 1
    assert event.details["successor"] == teammate.email
    assert OffboardingReport.objects.get(user=owner).successor == teammate


def test_delete_offboards_with_the_named_successor_and_the_person_is_gone(
    site_admin: User, owner: User, teammate: User
) -> None:
    _token, raw = directory_token_create(
        actor=site_admin, name="Keycloak", successor_rule=SuccessorRule.NAMED, successor=teammate
    )
    directory = Directory(raw)
    assert directory.delete(f"Users/{owner.pk}").status_code == 204
    owner.refresh_from_db()
    assert not owner.is_active
    assert owner.files_successor == teammate
    assert directory.get(f"Users/{owner.pk}").status_code == 404
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_USER_DELETE).count() == 1


def test_the_scim_compliance_checker_passes(
    directory: Directory, site_admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scim2-tester (dev lock file) runs its checks against the endpoint, in process."""
    try:
        from scim2_client.engines.wsgi import WSGISCIMClient
        from scim2_tester import check_server, filling
        from scim2_tester.utils import Status
    except ImportError:  # pragma: no cover
        missing_service("scim2-tester is missing: install the dev lock file (make install-dev)")
    # The checker creates its people with ``active`` at random, then puts them in
    # groups; a deactivated person is left out of a group (directory/scim/groups.py),
    # which it cannot know. The people it creates are active; the values it patches
    # (its checkers import the generator by name) stay random.
    random_value = filling.generate_random_value

    def active_people(context: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).rsplit(".", 1)[-1] == "active":
            return True
        return random_value(context, path, *args, **kwargs)

    monkeypatch.setattr(filling, "generate_random_value", active_people)
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    raw = directory.client.defaults["HTTP_AUTHORIZATION"]
    client = WSGISCIMClient(
        get_wsgi_application(),
        base_url=django_settings.SITE_URL.rstrip("/") + "/scim/v2",
        headers={"Authorization": raw},
    )
    # As Django's test client does: the request must not close the test's connection
    # (its transaction holds the fixtures).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        results = check_server(client)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    failed = [
        f"{result.title}: {result.reason}"
        for result in results
        if result.status not in {Status.SUCCESS, Status.SKIPPED}
    ]
    assert failed == [], "\n".join(failed)
    # 61 checks succeeded when written (2 skipped: searching all types at once, 501).
    assert sum(result.status == Status.SUCCESS for result in results) >= 60


def test_an_admin_creates_a_token_shown_once_and_hashed_then_revokes_it(
    site_admin: User, teammate: User
) -> None:
    from directory.models import DirectoryToken

    admin = client_signed_in(site_admin)
    page = admin.post(
        "/directory/tokens/",
        {"name": "Entra ID", "successor_rule": "named", "successor": str(teammate.pk)},
    )
    raw = page.content.decode().split('<code class="user-select-all text-break">')[1].split("<")[0]
    assert raw.startswith("sdscim_")
    token = DirectoryToken.objects.get()
    assert raw not in (token.token_hash, token.prefix)  # only its hash is kept
    assert token.successor == teammate
    assert raw not in admin.get("/directory/tokens/").content.decode()  # shown once
    assert Directory(raw).get("Users").status_code == 200

    asked = admin.post(f"/directory/tokens/{token.pk}/revoke/")
    assert "Revoke the token of Entra ID?" in asked.content.decode()
    assert Directory(raw).get("Users").status_code == 200  # nothing before confirming
    admin.post(f"/directory/tokens/{token.pk}/revoke/", {"confirmed": "yes"})
    assert Directory(raw).get("Users").status_code == 401
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_TOKEN_REVOKE).count() == 1


def test_creating_a_directory_token_needs_a_recent_second_factor(
    site_admin: User, teammate: User
) -> None:
    """A directory token deactivates anyone but the administrators, moves addresses and
    fills any team (with its space): more than a personal API token or a link to the
    identity provider, which both ask for a recent second factor. An administrator's
    session left open on a ward PC must not mint one: the form asks for the second
    factor again and creates nothing until then; the list still shows."""
    from directory.models import DirectoryToken

    admin = client_signed_in_long_ago(site_admin)
    assert admin.get("/directory/tokens/").status_code == 200
    asked = admin.post(
        "/directory/tokens/",
        {"name": "Entra ID", "successor_rule": "named", "successor": str(teammate.pk)},
    )
    assert asked.status_code == 302
    assert asked["Location"].startswith("/accounts/security/confirm/")
    assert not DirectoryToken.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.DIRECTORY_TOKEN_CREATE).exists()


def test_a_group_write_listing_a_deactivated_person_does_not_bring_them_back(
    directory: Directory, owner: User, teammate: User
) -> None:
    group_body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Radiologie",
        "members": [{"value": str(owner.pk)}, {"value": str(teammate.pk)}],
    }
    created = directory.send("POST", "Groups", group_body)
    assert created.status_code == 201, created.content
    group = created.json()["id"]
    team = Team.objects.get(name="Radiologie")
    # Tom leaves: his offboarding ends his memberships.
    left = directory.send(
        "PATCH", f"Users/{teammate.pk}", patch({"op": "replace", "path": "active", "value": False})
    )
    assert left.status_code == 200, left.content
    assert not team.memberships.filter(user=teammate).exists()

    # The directory's next full sync still lists him in the group (PUT), then adds him
    # again (PATCH): both are carried out without him, and the answer says so by
    # listing the members as stored.
    replaced = directory.send("PUT", f"Groups/{group}", group_body)
    assert replaced.status_code == 200, replaced.content
    assert [m["value"] for m in replaced.json()["members"]] == [str(owner.pk)]
    added = directory.send(
        "PATCH",
        f"Groups/{group}",
        patch({"op": "add", "path": "members", "value": [{"value": str(teammate.pk)}]}),
    )
    assert added.status_code == 200, added.content
    assert [m["value"] for m in added.json()["members"]] == [str(owner.pk)]
    assert not team.memberships.filter(user=teammate).exists()
    skips = AuditEvent.objects.filter(action=Action.DIRECTORY_GROUP_MEMBER_SKIP)
    assert [event.details["email"] for event in skips] == [teammate.email] * 2
    assert {event.details["reason"] for event in skips} == {"account deactivated"}

    # Back months later: his account reopens without the team he had left.
    back = directory.send(
        "PATCH", f"Users/{teammate.pk}", patch({"op": "replace", "path": "active", "value": True})
    )
    assert back.status_code == 200, back.content
    assert not team.memberships.filter(user=teammate).exists()


def test_the_directory_reactivating_someone_does_not_bring_back_the_old_password(
    directory: Directory, owner: User
) -> None:
    signed_in = Client().post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    for active in (False, True):
        answer = directory.send(
            "PATCH",
            f"Users/{owner.pk}",
            patch({"op": "replace", "path": "active", "value": active}),
        )
        assert answer.status_code == 200, answer.content
    owner.refresh_from_db()
    assert owner.is_active
    again = Client().post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert again.status_code == 200  # the sign-in form again: the old password is refused
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_REACTIVATE)
    assert event.details["password_withdrawn"] is True
    assert event.details["setup_link_sent"] is False
