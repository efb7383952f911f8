"""An outside review of roles and privileges: site administrator, auditor, team manager,
the privacy officer's pages and the access reviews. Each story is an attempt to widen
one's own access or read what one's role does not give.

People: Alice (a clinician, manager of Cardiologie), Tom (her teammate), Sam (a site
administrator), Audrey (an auditor), Oscar (an outsider).
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Team, TeamMembership, TeamRole, User
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from reviews import services as reviews
from reviews.models import AccessReview, Decision
from tests.conftest import user_create
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = pytest.mark.django_db


def test_a_site_admin_cannot_read_an_active_auditors_trail_through_a_data_export(
    site_admin: User, auditor: User, owner: User
) -> None:
    """Sam is under investigation: Audrey searches the log for his actions. Were he able
    to "export Audrey's personal data", her activity would tell him what she looked at:
    the audit log read by an administrator, which separation of duties forbids. An
    active person downloads their own data; the administrator's export is for leavers."""
    audit.record(
        action=Action.AUDIT_CONSOLE_VIEW,
        actor=auditor,
        details={"page": "events", "actor": str(site_admin.pk)},
    )
    sam = client_signed_in(site_admin)
    for person in (auditor, owner):
        response = sam.get(f"/privacy/people/{person.pk}/export.zip")
        assert response.status_code == 403
    refused = AuditEvent.objects.filter(action=Action.PRIVACY_EXPORT, outcome=Outcome.DENIED)
    assert sorted(refused.values_list("target_id", flat=True)) == sorted(
        [str(auditor.pk), str(owner.pk)]
    )
    assert not AuditEvent.objects.filter(
        action=Action.PRIVACY_EXPORT, outcome=Outcome.SUCCESS
    ).exists()
    page = sam.get(f"/privacy/people/{auditor.pk}/").content.decode()
    assert f"/privacy/people/{auditor.pk}/export.zip" not in page
    # Sam still downloads his own data, and Audrey hers.
    assert sam.get(f"/privacy/people/{site_admin.pk}/export.zip").status_code == 200
    assert client_signed_in(auditor).get("/privacy/export.zip").status_code == 200


def test_a_manager_cannot_confirm_their_own_membership_in_an_access_review(
    owner: User, teammate: User, site_admin: User, team: Team
) -> None:
    """Alice reviews Cardiologie: confirming Tom is hers to decide, confirming herself
    is not (nobody certifies their own access); giving it up stays allowed."""
    reviews.access_reviews_open()
    review = AccessReview.objects.get(team=team)
    mine = TeamMembership.objects.get(team=team, user=owner)
    item = review.items.get(kind="member", object_id=mine.pk)
    alice = client_signed_in(owner)
    alice.post(f"/reviews/{review.pk}/items/{item.pk}/", {"decision": "confirmed"})
    item.refresh_from_db()
    assert item.decision == Decision.PENDING
    refused = AuditEvent.objects.get(action=Action.REVIEWS_ITEM_DECIDE, outcome=Outcome.DENIED)
    assert refused.details["reason"] == "self_review"
    # Tom is hers to confirm. Her own membership waits for the escalation: a site
    # administrator then decides it, and the review closes (the next one can open).
    toms = review.items.get(kind="member", object_id=TeamMembership.objects.get(user=teammate).pk)
    alice.post(f"/reviews/{review.pk}/items/{toms.pk}/", {"decision": "confirmed"})
    sam = client_signed_in(site_admin)
    sam.post(f"/reviews/{review.pk}/items/{item.pk}/", {"decision": "confirmed"})
    item.refresh_from_db()
    assert item.decision == Decision.PENDING  # not escalated yet: the manager's to finish
    reviews.access_reviews_escalate(now=timezone.now() + timedelta(days=15))
    sam.post(f"/reviews/{review.pk}/items/{item.pk}/", {"decision": "confirmed"})
    item.refresh_from_db()
    assert (item.decision, item.decided_by) == (Decision.CONFIRMED, site_admin)
    review.refresh_from_db()
    assert review.closed_at is not None


def test_a_review_item_of_another_team_is_not_reachable_through_ones_own_review(
    owner: User, teammate: User, outsider: User, team: Team
) -> None:
    """Alice manages Cardiologie; Oscar manages Radiologie. Alice posts a decision on a
    Radiologie item under her own review's address: 404, nothing decided."""
    radiology = Team.objects.create(name="Radiologie", slug="radiologie")
    TeamMembership.objects.create(team=radiology, user=outsider, role=TeamRole.MANAGER)
    reviews.access_reviews_open()
    mine = AccessReview.objects.get(team=team)
    theirs = AccessReview.objects.get(team=radiology)
    foreign = theirs.items.get()
    alice = client_signed_in(owner)
    response = alice.post(
        f"/reviews/{mine.pk}/items/{foreign.pk}/", {"decision": "revoked", **CONFIRMED}
    )
    assert response.status_code == 404
    assert alice.get(f"/reviews/{theirs.pk}/").status_code == 404
    assert alice.get(f"/reviews/{theirs.pk}/export.csv").status_code == 404
    foreign.refresh_from_db()
    assert foreign.decision == Decision.PENDING
    assert TeamMembership.objects.filter(team=radiology, user=outsider).exists()


def test_a_team_manager_cannot_manage_another_team_nor_promote_themselves(
    owner: User, teammate: User, outsider: User, team: Team
) -> None:
    radiology = Team.objects.create(name="Radiologie", slug="radiologie")
    TeamMembership.objects.create(team=radiology, user=outsider, role=TeamRole.MANAGER)
    TeamMembership.objects.create(team=radiology, user=owner, role=TeamRole.MEMBER)
    alice = client_signed_in(owner)
    # Member of Radiologie only: she cannot add Tom there nor make herself its manager.
    for person in (teammate, owner):
        response = alice.post(
            "/accounts/teams/radiologie/", {"user": person.pk, "role": TeamRole.MANAGER}
        )
        assert response.status_code == 404
    assert TeamMembership.objects.get(team=radiology, user=owner).role == TeamRole.MEMBER
    assert not TeamMembership.objects.filter(team=radiology, user=teammate).exists()
    # Tom, a plain member of Cardiologie, cannot make himself its manager either.
    tom = client_signed_in(teammate)
    tom.post("/accounts/teams/cardiologie/", {"user": teammate.pk, "role": TeamRole.MANAGER})
    assert TeamMembership.objects.get(team=team, user=teammate).role == TeamRole.MEMBER


def test_a_site_admin_cannot_make_himself_auditor_nor_approve_his_own_proposal(
    site_admin: User, owner: User
) -> None:
    from accounts import roles
    from accounts.errors import AccountRuleError

    with pytest.raises(AccountRuleError):
        roles.role_propose(actor=site_admin, subject=site_admin, role="auditor")
    proposal = roles.role_propose(actor=site_admin, subject=owner, role="auditor")
    with pytest.raises(AccountRuleError):
        roles.role_proposal_decide(actor=site_admin, proposal_id=proposal.pk, approve=True)
    owner.refresh_from_db()
    assert not owner.is_auditor
    # The auditor's console stays closed to an administrator who is not an auditor.
    assert client_signed_in(site_admin).get("/audit/").status_code in (403, 404)


def test_reactivating_a_former_auditor_gives_the_role_back_only_through_four_eyes(
    site_admin: User, auditor: User, owner: User
) -> None:
    """Audrey, the auditor, left; Sam alone reactivates her account (a second auditor,
    or an alias he set up, comes back). The role would come back with it, by one person:
    the four-eyes rule for site-wide roles. Reactivation now brings the account back
    without its site-wide roles; they are proposed and approved again."""
    from accounts.offboarding import user_deactivate

    second = user_create("sophie.admin@hopital.example", is_site_admin=True)
    user_create("iris.auditrice@hopital.example", is_auditor=True)  # Audrey is not the last
    user_deactivate(actor=site_admin, user=auditor, successor=None)
    user_deactivate(actor=site_admin, user=second, successor=None)
    sam = client_signed_in(site_admin)
    for person in (auditor, second):
        sam.post(f"/accounts/admin/users/{person.pk}/reactivate/", CONFIRMED)
        person.refresh_from_db()
        assert person.is_active
        assert not person.is_auditor
        assert not person.is_site_admin
    reactivated = AuditEvent.objects.get(
        action=Action.ACCOUNTS_USER_REACTIVATE, target_id=str(auditor.pk)
    )
    assert reactivated.details["roles_withdrawn"] == ["auditor"]


def test_withdrawing_a_site_wide_role_asks_first(site_admin: User, auditor: User) -> None:
    """One click on the roles form took Audrey's auditor role away (and signed her out):
    giving it back takes a proposal and a second person, so the administrator is asked
    first, and nothing changes until he confirms."""
    user_create("iris.auditrice@hopital.example", is_auditor=True)  # not the last auditor
    sam = client_signed_in(site_admin)
    asked = sam.post(f"/accounts/admin/users/{auditor.pk}/", {})
    assert "Withdraw this role?" in asked.content.decode()
    auditor.refresh_from_db()
    assert auditor.is_auditor
    sam.post(f"/accounts/admin/users/{auditor.pk}/", CONFIRMED)
    auditor.refresh_from_db()
    assert not auditor.is_auditor
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_USER_ROLES).count() == 1


def test_a_member_revoked_in_a_review_keeps_no_access_through_an_older_share(
    owner: User, teammate: User, team: Team
) -> None:
    """A team file was shared with Tom before he joined (the share then stayed, and the
    review leaves members' shares out). Alice revokes Tom in the review: he must lose
    the team's files, that one included."""
    from files.models import Space, SpaceKind
    from files.selectors import Permission, file_permission
    from files.services import space_root, space_team_get_or_create
    from sharing.models import Share
    from tests.files_helpers import version_store

    root = space_root(space_team_get_or_create(team=team))
    plan = version_store(actor=owner, folder=root, name="planning.pdf", content=b"p").file
    Share.objects.create(file=plan, user=teammate, role="editor", created_by=owner)
    reviews.access_reviews_open()
    review = AccessReview.objects.get(team=team)
    toms = TeamMembership.objects.get(team=team, user=teammate)
    item = review.items.get(kind="member", object_id=toms.pk)
    client_signed_in(owner).post(
        f"/reviews/{review.pk}/items/{item.pk}/", {"decision": "revoked", **CONFIRMED}
    )
    assert not TeamMembership.objects.filter(team=team, user=teammate).exists()
    assert Space.objects.filter(kind=SpaceKind.TEAM, team=team).exists()
    assert file_permission(actor=teammate, file=plan) < Permission.VIEW
    assert not Share.objects.filter(file=plan, user=teammate).exists()


def test_the_only_auditor_keeps_her_role_and_her_account_whatever_one_admin_clicks(
    site_admin: User, auditor: User
) -> None:
    """Sam, alone, withdraws Audrey's auditor role, then tries to deactivate her: the
    site would be left with nobody reading the log, the one check on administrators.
    Both are refused with a reason he can act on, and recorded; once a second auditor
    is approved, the withdrawal goes through."""
    sam = client_signed_in(site_admin)
    page = sam.post(f"/accounts/admin/users/{auditor.pk}/", CONFIRMED, follow=True)
    assert "The last active auditor must keep the role" in page.content.decode()
    auditor.refresh_from_db()
    assert auditor.is_auditor
    refused = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_ROLES)
    assert refused.outcome == Outcome.DENIED
    assert refused.details["reason"] == "last_auditor"

    page = sam.post(
        f"/accounts/admin/users/{auditor.pk}/deactivate/",
        {"when": "now", "successor": "", **CONFIRMED},
        follow=True,
    )
    assert "The last active auditor cannot be deactivated" in page.content.decode()
    auditor.refresh_from_db()
    assert auditor.is_active
    denied = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert (denied.outcome, denied.details["reason"]) == (Outcome.DENIED, "last_auditor")

    user_create("iris.auditrice@hopital.example", is_auditor=True)
    sam.post(f"/accounts/admin/users/{auditor.pk}/", CONFIRMED)
    auditor.refresh_from_db()
    assert not auditor.is_auditor


def test_the_last_admin_keeps_his_role_and_the_refusal_is_recorded(
    site_admin: User, auditor: User
) -> None:
    """Sam unticks his own administrator role while nobody else has it: refused, in
    French for a French administrator, and recorded."""
    page = client_signed_in(site_admin).post(
        f"/accounts/admin/users/{site_admin.pk}/",
        CONFIRMED,
        follow=True,
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert "Le dernier administrateur" in page.content.decode()
    site_admin.refresh_from_db()
    assert site_admin.is_site_admin
    refused = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_ROLES)
    assert (refused.outcome, refused.details["reason"]) == (Outcome.DENIED, "last_site_admin")


def test_a_departure_that_would_leave_no_auditor_cannot_be_scheduled(
    site_admin: User, auditor: User
) -> None:
    """Deactivating later is deactivating: Sam cannot schedule the only auditor's
    departure either."""
    from accounts import offboarding
    from accounts.errors import AccountRuleError

    with pytest.raises(AccountRuleError):
        offboarding.user_departure_schedule(
            actor=site_admin,
            user=auditor,
            departure_on=timezone.localdate() + timedelta(days=10),
            successor=None,
        )
    auditor.refresh_from_db()
    assert auditor.departure_scheduled_for is None
    denied = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEPARTURE_SCHEDULE)
    assert (denied.outcome, denied.details["reason"]) == (Outcome.DENIED, "last_auditor")


def test_an_admin_who_deactivates_an_auditor_cannot_read_her_searches_in_her_export(
    site_admin: User, auditor: User
) -> None:
    """Sam is under investigation: Audrey searched the log for his actions, then left.
    Sam (a colleague auditor is still there) deactivates her and, as the privacy pages
    allow for a leaver, downloads her data: her searches must not be in it. The archive
    says what was left out and whom to ask; Audrey's own export still holds them."""
    import io
    import json
    import zipfile

    from accounts.offboarding import user_deactivate

    user_create("iris.auditrice@hopital.example", is_auditor=True)
    audit.record(
        action=Action.AUDIT_CONSOLE_VIEW,
        actor=auditor,
        details={"page": "events", "actor": str(site_admin.pk)},
    )
    audit.record(action=Action.AUDIT_EXPORT, actor=auditor, details={"actor": str(site_admin.pk)})
    own = client_signed_in(auditor).get("/privacy/export.zip")
    own_archive = zipfile.ZipFile(io.BytesIO(b"".join(own.streaming_content)))  # type: ignore[attr-defined]
    own_actions = {
        json.loads(line)["action"]
        for line in own_archive.read("activity.jsonl").decode().splitlines()
    }
    assert {Action.AUDIT_CONSOLE_VIEW, Action.AUDIT_EXPORT} <= own_actions

    user_deactivate(actor=site_admin, user=auditor, successor=None)
    response = client_signed_in(site_admin).get(f"/privacy/people/{auditor.pk}/export.zip")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    activity = archive.read("activity.jsonl").decode()
    assert not any(
        json.loads(line)["action"].startswith("audit.") for line in activity.splitlines()
    )
    assert "Ask an auditor" in archive.read("README.txt").decode()
    exported = AuditEvent.objects.filter(action=Action.PRIVACY_EXPORT).latest("sequence")
    assert exported.details["audit_work_left_out"] is True
