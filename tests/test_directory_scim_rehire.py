"""A person the directory removed (SCIM DELETE) comes back: HR rehires them.

SecureDrive keeps a removed account, deactivated, for its audit trail. Its userName
answered 409 to every later POST, for ever: a directory that finds nobody with
``userName eq`` creates the person, so a returning nurse could not be provisioned again
(RFC 7644 §3.6: a deleted resource SHOULD NOT count in conflicts). The POST now brings
the same account back through the admin's reactivation (no old password, no second
factor, no site-wide role), audited; what only SecureDrive may decide (a former
administrator or auditor, someone the directory now names with another externalId) is
refused with a detail saying what to do."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import offboarding
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from directory.tokens import directory_token_create
from tests.conftest import PASSWORD
from tests.test_directory_scim import Directory, new_user

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def directory(site_admin: User) -> Directory:
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    return Directory(raw)


USER_NAME = "tom.teammate@hopital.example"


def _removed(directory: Directory, person: User, external_id: str = "e-77") -> None:
    tagged = directory.send(
        "PUT", f"Users/{person.pk}",
        new_user(person.email, person.email, externalId=external_id, displayName=person.full_name,
                 active=True),
    )  # fmt: skip
    assert tagged.status_code == 200, tagged.content
    assert directory.delete(f"Users/{person.pk}").status_code == 204
    person.refresh_from_db()
    assert not person.is_active


def test_a_person_the_directory_removed_is_provisioned_again_on_the_same_account(
    directory: Directory, teammate: User
) -> None:
    signed_in = Client().post("/accounts/login/", {"username": USER_NAME, "password": PASSWORD})
    assert signed_in.status_code == 302
    _removed(directory, teammate)
    # Gone for the directory: its search finds nobody, so it creates him.
    search = directory.get("Users", data={"filter": f'userName eq "{USER_NAME}"'}).json()
    assert search["totalResults"] == 0

    again = directory.send(
        "POST", "Users",
        new_user(USER_NAME, USER_NAME, externalId="e-77", displayName="Tom Teammate-Roux",
                 active=True),
    )  # fmt: skip

    assert again.status_code == 201, again.content
    body = again.json()
    assert (body["id"], body["active"], body["userName"]) == (str(teammate.pk), True, USER_NAME)
    assert again["Location"].endswith(f"/Users/{teammate.pk}")
    teammate.refresh_from_db()
    assert teammate.is_active
    assert teammate.full_name == "Tom Teammate-Roux"
    assert directory.get(f"Users/{teammate.pk}").status_code == 200
    search = directory.get("Users", data={"filter": f'userName eq "{USER_NAME}"'}).json()
    assert [person["id"] for person in search["Resources"]] == [str(teammate.pk)]
    # The admin's reactivation: the old password no longer signs in.
    old = Client().post("/accounts/login/", {"username": USER_NAME, "password": PASSWORD})
    assert old.status_code == 200
    restored = AuditEvent.objects.get(action=Action.DIRECTORY_USER_RESTORE)
    assert restored.actor_label.startswith("directory “Entra ID”")
    assert restored.details["email"] == USER_NAME
    assert restored.details["removed_at"]
    reactivated = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_REACTIVATE)
    assert reactivated.details["password_withdrawn"] is True


def test_a_removed_auditor_comes_back_only_once_an_administrator_reactivated_them(
    directory: Directory, auditor: User, site_admin: User
) -> None:
    """A stolen directory token must not revive an auditor: the POST is refused with
    what to do; once an administrator reactivated the account in SecureDrive (the
    auditor role withdrawn, four eyes to give it back), the directory's retry links it."""
    email = auditor.email
    _removed(directory, auditor, external_id="a-1")

    refused = directory.send("POST", "Users", new_user(email, email, externalId="a-1"))

    assert refused.status_code == 403, refused.content
    assert refused.json()["scimType"] == "mutability"
    assert "reactivate" in refused.json()["detail"]
    auditor.refresh_from_db()
    assert not auditor.is_active
    assert auditor.is_auditor
    event = AuditEvent.objects.filter(action=Action.DIRECTORY_REQUEST_REFUSE).latest("pk")
    assert event.details["user"] == f"Audrey Auditor <{email}>"

    offboarding.user_reactivate(actor=site_admin, user=auditor)
    retried = directory.send("POST", "Users", new_user(email, email, externalId="a-1"))
    assert retried.status_code == 201, retried.content
    assert retried.json()["id"] == str(auditor.pk)
    auditor.refresh_from_db()
    assert auditor.is_active
    assert not auditor.is_auditor


def test_a_recycled_username_under_another_external_id_needs_an_administrator(
    directory: Directory, teammate: User, site_admin: User
) -> None:
    """The directory names the userName's holder with another externalId, or none:
    perhaps the same person under a new directory object, perhaps a namesake given a
    recycled address. Reopening Tom's account (and the files kept with it) for a
    stranger is SecureDrive's administrator's call, not the token's."""
    _removed(directory, teammate, external_id="e-77")

    stranger = directory.send("POST", "Users", new_user(USER_NAME, USER_NAME, externalId="e-99"))
    unnamed = directory.send("POST", "Users", new_user(USER_NAME, USER_NAME))

    for refused in (stranger, unnamed):
        assert (refused.status_code, refused.json()["scimType"]) == (409, "uniqueness")
        assert "administrator reactivates" in refused.json()["detail"]
    teammate.refresh_from_db()
    assert not teammate.is_active
    assert not AuditEvent.objects.filter(action=Action.DIRECTORY_USER_RESTORE).exists()
    refusals = AuditEvent.objects.filter(action=Action.DIRECTORY_REQUEST_REFUSE)
    assert [event.details["user"] for event in refusals] == [f"Tom Teammate <{USER_NAME}>"] * 2
    assert refusals[0].details["detail"] == stranger.json()["detail"]

    # The administrator decides it is Tom: once reactivated, the directory links him.
    offboarding.user_reactivate(actor=site_admin, user=teammate)
    linked = directory.send("POST", "Users", new_user(USER_NAME, USER_NAME, externalId="e-99"))
    assert linked.status_code == 201, linked.content
    assert linked.json()["externalId"] == "e-99"
