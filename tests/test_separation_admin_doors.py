"""A site administrator manages accounts and teams but reads no file content
(ARCHITECTURE.md, invariant 4), and never widens their own access by any way in
(docs/accounts.md, "Nobody grants themselves anything").

Sam is a site administrator; Alice a clinician with patient files in her personal
space and in Cardiologie. The admin pages already refuse Sam's joining Cardiologie and
naming himself to receive Alice's files; here Sam tries the same through a directory
(SCIM) token he creates himself.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import pytest

from accounts.errors import AccountRuleError
from accounts.models import Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from directory.models import SuccessorRule
from directory.tokens import directory_token_create
from files.models import File
from tests.files_helpers import root_of, version_store
from tests.helpers import client_signed_in
from tests.test_directory_scim import Directory, patch

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend", "small_segments")]


def test_an_admin_cannot_join_a_team_through_his_own_directory_token(
    site_admin: User, owner: User, team: Team
) -> None:
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    directory = Directory(raw)
    answer = directory.send(
        "PATCH",
        f"Groups/{team.pk}",
        patch({"op": "add", "path": "members", "value": [{"value": str(site_admin.pk)}]}),
    )
    assert answer.status_code == 200, answer.content
    assert str(site_admin.pk) not in [m["value"] for m in answer.json()["members"]]
    assert not TeamMembership.objects.filter(team=team, user=site_admin).exists()
    [skip] = AuditEvent.objects.filter(action=Action.DIRECTORY_GROUP_MEMBER_SKIP)
    assert (skip.details["reason"], skip.details["email"]) == ("self_grant", site_admin.email)


@pytest.mark.parametrize("rule", [SuccessorRule.TOKEN_CREATOR, SuccessorRule.NAMED])
def test_an_admin_cannot_make_a_token_that_hands_leavers_files_to_himself(
    site_admin: User, rule: str
) -> None:
    sam = client_signed_in(site_admin)
    page = sam.post(
        "/directory/tokens/",
        {"name": "Entra ID", "successor_rule": rule, "successor": site_admin.pk},
    )
    assert page.status_code == 400
    with pytest.raises(AccountRuleError, match="Nobody may name themselves"):
        directory_token_create(
            actor=site_admin, name="Keycloak", successor_rule=rule, successor=site_admin
        )
    refusals = AuditEvent.objects.filter(action=Action.DIRECTORY_TOKEN_CREATE, outcome="denied")
    assert refusals.exists()
    assert refusals.last().details["reason"] == "self_grant"  # type: ignore[union-attr]


def test_a_directory_deactivation_never_hands_files_to_the_tokens_creator(
    site_admin: User, owner: User
) -> None:
    """A token made before the rule (or any token) whose successor is its own creator:
    the leaver's files stay, unreachable, for the retention period."""
    report = version_store(actor=owner, folder=root_of(owner), name="cr.pdf", content=b"cr").file
    TeamMembership.objects.create(
        team=Team.objects.create(name="Urgences", slug="urgences"),
        user=site_admin,
        role=TeamRole.MANAGER,
    )
    TeamMembership.objects.create(team=Team.objects.get(slug="urgences"), user=owner)
    from directory.models import DirectoryToken

    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    DirectoryToken.objects.filter(created_by=site_admin).update(
        successor_rule=SuccessorRule.TOKEN_CREATOR
    )
    answer = Directory(raw).send(
        "PATCH", f"Users/{owner.pk}", patch({"op": "replace", "path": "active", "value": False})
    )
    assert answer.status_code == 200, answer.content
    owner.refresh_from_db()
    assert not owner.is_active
    assert owner.files_successor is None
    assert File.objects.get(pk=report.pk).space.owner == owner
