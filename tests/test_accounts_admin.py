"""Administration stories: invitations, roles, teams, policy and the access review."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from accounts.models import AccountPolicy, Invitation, Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Echographie cardiaque 2026!"


@pytest.fixture
def invite(django_capture_on_commit_callbacks: Any) -> Callable[..., str]:
    """Send an invitation as an administrator; return the link's path from the e-mail."""

    def send(admin_client: Client, email: str, **extra: object) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post("/accounts/admin/invitations/", {"email": email, **extra})
        assert response.status_code == 302, response.content.decode()[:2000]
        return _link_in_last_mail(email)

    return send


def _link_in_last_mail(email: str) -> str:
    message = mail.outbox[-1]
    assert message.to == [email]
    link = re.search(r"https?://[^/\s]+(/accounts/invitation/\S+/)", str(message.body))
    assert link is not None, message.body
    return link.group(1)


def test_invited_clinician_creates_an_account_once(
    site_admin: User, invite: Callable[..., str]
) -> None:
    cardiology = Team.objects.create(name="Cardiologie", slug="cardiologie")
    admin_client = client_signed_in(site_admin)
    path = invite(admin_client, "claire.durand@hopital.example", teams=[cardiology.pk])
    invitation = Invitation.objects.get()
    assert path.split("/")[-2] not in invitation.token_hash  # only a hash is stored

    newcomer = Client()
    page = newcomer.get(path)
    assert "claire.durand@hopital.example" in page.content.decode()
    created = newcomer.post(
        path, {"full_name": "Claire Durand", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert created.status_code == 302
    claire = User.objects.get(email="claire.durand@hopital.example")
    assert claire.check_password(NEW_PASSWORD)
    assert not claire.is_site_admin
    assert TeamMembership.objects.filter(team=cardiology, user=claire).exists()
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_INVITATION_SEND).exists()
    assert AuditEvent.objects.filter(
        action=Action.ACCOUNTS_INVITATION_ACCEPT, actor_id=str(claire.pk)
    )

    # The link works once.
    again = Client().get(path)
    assert again.status_code == 410
    assert AuditEvent.objects.filter(
        action=Action.ACCOUNTS_INVITATION_USE, outcome="denied"
    ).exists()


def test_weak_password_is_refused_at_invitation(
    site_admin: User, invite: Callable[..., str]
) -> None:
    path = invite(client_signed_in(site_admin), "bob@hopital.example")
    response = Client().post(
        path, {"full_name": "Bob", "password1": "bob@hopital", "password2": "bob@hopital"}
    )
    assert response.status_code == 200
    assert not User.objects.filter(email="bob@hopital.example").exists()


def test_revoked_or_guessed_invitations_answer_gone(
    site_admin: User, invite: Callable[..., str]
) -> None:
    admin_client = client_signed_in(site_admin)
    path = invite(admin_client, "dan@hopital.example")
    invitation = Invitation.objects.get()
    admin_client.post(f"/accounts/admin/invitations/{invitation.pk}/revoke/", CONFIRMED)
    assert Client().get(path).status_code == 410
    assert Client().get("/accounts/invitation/guessed-token-value/").status_code == 410


def test_invitation_guessing_is_rate_limited(db: None) -> None:
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [guesser.get(f"/accounts/invitation/guess-{n}/").status_code for n in range(32)]
    assert statuses[0] == 410
    assert statuses[-1] == 429
    assert AuditEvent.objects.filter(details__reason="rate limited").exists()


def test_cannot_invite_an_existing_account(site_admin: User, owner: User) -> None:
    response = client_signed_in(site_admin).post(
        "/accounts/admin/invitations/", {"email": owner.email}
    )
    assert response.status_code == 400  # a refusal, recorded as one
    assert "already exists" in response.content.decode()
    assert not Invitation.objects.exists()
    [refused] = AuditEvent.objects.filter(action=Action.REQUEST_INPUT_REFUSE)
    assert "already exists" in refused.details["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/admin/users/",
        "/accounts/admin/invitations/",
        "/accounts/admin/policy/",
        "/accounts/admin/access-review/",
    ],
)
def test_clinicians_and_auditors_cannot_administer(owner: User, path: str) -> None:
    auditor = User.objects.create_user("audrey@hopital.example", "x" * 20, is_auditor=True)
    for person in (owner, auditor):
        assert client_signed_in(person).get(path).status_code == 403
    denied = AuditEvent.objects.filter(action=Action.ACCOUNTS_ADMIN_ACCESS, outcome="denied")
    assert denied.count() == 2


def test_roles_change_is_audited_and_last_admin_keeps_the_role(
    site_admin: User, owner: User
) -> None:
    """Granting is a proposal a second person approves (tests/test_accounts_separation.py);
    withdrawing is at once, and the last administrator keeps the role."""
    User.objects.filter(pk=owner.pk).update(is_auditor=True)
    User.objects.create_user("iris.auditrice@hopital.example", is_auditor=True)  # not the last
    admin_client = client_signed_in(site_admin)
    admin_client.post(f"/accounts/admin/users/{owner.pk}/", CONFIRMED)
    owner.refresh_from_db()
    assert not owner.is_auditor
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_ROLES)
    assert event.details["after"] == {"site_admin": False, "auditor": False}

    admin_client.post(f"/accounts/admin/users/{site_admin.pk}/", CONFIRMED)
    site_admin.refresh_from_db()
    assert site_admin.is_site_admin


def test_team_manager_manages_own_team_only(site_admin: User, owner: User, outsider: User) -> None:
    admin_client = client_signed_in(site_admin)
    admin_client.post("/accounts/teams/", {"name": "Cardiologie", "description": "Service"})
    cardiology = Team.objects.get(slug="cardiologie")
    admin_client.post("/accounts/teams/cardiologie/", {"user": owner.pk, "role": TeamRole.MANAGER})
    assert TeamMembership.objects.get(team=cardiology, user=owner).role == TeamRole.MANAGER

    manager = client_signed_in(owner)
    manager.post("/accounts/teams/cardiologie/", {"user": outsider.pk, "role": TeamRole.MEMBER})
    assert TeamMembership.objects.filter(team=cardiology, user=outsider).exists()

    member = client_signed_in(outsider)
    assert member.get("/accounts/teams/cardiologie/").status_code == 200
    refused = member.post("/accounts/teams/cardiologie/", {"user": outsider.pk, "role": "manager"})
    assert refused.status_code == 404
    Team.objects.create(name="Secrétariat", slug="secretariat")
    assert member.get("/accounts/teams/secretariat/").status_code == 404
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_TEAM_MEMBER_SET).count() == 2


def test_policy_changes_are_validated_and_audited(site_admin: User) -> None:
    admin_client = client_signed_in(site_admin)
    form = {
        "session_idle_minutes": 30,
        "session_max_hours": 10,
        "login_notification": "on",
        "invitation_valid_hours": 48,
        "token_max_days": 30,
        "personal_files_retention_days": 365,
    }
    assert admin_client.post("/accounts/admin/policy/", form).status_code == 302
    policy = AccountPolicy.current()
    assert (policy.session_idle_minutes, policy.session_max_hours) == (30, 10)
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_POLICY_UPDATE)
    assert event.details["changed"]["session_idle_minutes"] == {"before": 15, "after": 30}

    bad = admin_client.post("/accounts/admin/policy/", {**form, "session_idle_minutes": 0})
    assert bad.status_code == 400
    assert AccountPolicy.current().session_idle_minutes == 30


def test_access_review_shows_what_needs_attention(
    site_admin: User, owner: User, invite: Callable[..., str]
) -> None:
    admin_client = client_signed_in(site_admin)  # gives the admin a second factor
    invite(admin_client, "pending@hopital.example")
    User.objects.create_user("left@hopital.example", "x" * 20, is_active=False)
    page = admin_client.get("/accounts/admin/access-review/").content.decode()
    without_mfa = page.split('id="review-without-mfa"')[1].split('id="review-invitations"')[0]
    assert owner.email in without_mfa
    assert site_admin.email not in without_mfa
    assert "pending@hopital.example" in page
    assert "left@hopital.example" in page


def test_the_administration_tabs_are_a_landmark_that_names_the_current_page(
    site_admin: User,
) -> None:
    """A screen reader finds the administration's sections as a navigation landmark and
    hears which one is open: it was a bare list, the current tab told by its look only."""
    admin = client_signed_in(site_admin)
    html = admin.get("/accounts/admin/invitations/").content.decode()
    nav = html.split('<nav aria-label="Administration">', 1)[1].split("</nav>", 1)[0]
    current = re.findall(r'<a class="nav-link active" aria-current="page" href="([^"]+)"', nav)
    assert current == ["/accounts/admin/invitations/"]
    assert nav.count("aria-current") == 1
