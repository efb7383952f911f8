"""Reads of accounts data, always for someone who is allowed to see them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import Invitation, Team, TeamMembership, TeamRole, User, UserSession
from accounts.totp import AuthenticatorApp


def _has_totp() -> Exists:
    return Exists(AuthenticatorApp.objects.filter(user=OuterRef("pk"), confirmed=True))


def _has_passkey() -> Exists:
    return Exists(WebAuthnCredential.objects.filter(user=OuterRef("pk"), confirmed=True))


def users_with_mfa_flag() -> QuerySet[User]:
    """Users annotated with ``has_totp`` and ``has_passkey`` (confirmed devices)."""
    return User.objects.annotate(has_totp=_has_totp(), has_passkey=_has_passkey())


def user_has_mfa(user: User) -> bool:
    return bool(
        AuthenticatorApp.objects.filter(user=user, confirmed=True).exists()
        or WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()
    )


@dataclass(frozen=True)
class AccessReview:
    inactive: list[User]
    pending_invitations: list[Invitation]
    without_mfa: list[User]
    scheduled_departures: list[User]
    site_admins: list[User]
    auditors: list[User]


def access_review() -> AccessReview:
    now = timezone.now()
    users = users_with_mfa_flag().order_by("email")
    return AccessReview(
        inactive=list(User.objects.filter(is_active=False).order_by("-deactivated_at")),
        pending_invitations=list(
            Invitation.objects.filter(
                accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
            ).select_related("invited_by")
        ),
        without_mfa=list(users.filter(~_has_totp(), ~_has_passkey(), is_active=True)),
        scheduled_departures=list(
            User.objects.filter(is_active=True, departure_scheduled_for__isnull=False).order_by(
                "departure_scheduled_for"
            )
        ),
        site_admins=list(users.filter(is_site_admin=True, is_active=True)),
        auditors=list(users.filter(is_auditor=True, is_active=True)),
    )


def team_manageable_by(team: Team, user: User) -> bool:
    """Site administrators and the team's own managers manage its members."""
    if user.is_site_admin:
        return True
    return TeamMembership.objects.filter(team=team, user=user, role=TeamRole.MANAGER).exists()


def team_managed_by_member(team: Team, user: User) -> bool:
    """Whether ``user`` is one of the team's own managers (a site administrator's role
    does not count: it gives nothing on the team's files)."""
    return (
        user.is_active
        and TeamMembership.objects.filter(team=team, user=user, role=TeamRole.MANAGER).exists()
    )


def teams_visible_to(user: User) -> QuerySet[Team]:
    if user.is_site_admin:
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user).distinct()


def user_sessions_open(user: User) -> QuerySet[UserSession]:
    return UserSession.objects.filter(user=user, ended_at__isnull=True)
