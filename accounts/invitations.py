"""Invitations: the only way in. Single-use, expiring, only a hash of the token stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import AccountRuleError
from accounts.models import AccountPolicy, Invitation, Team, TeamMembership, TeamRole, User
from audit import floods
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from core.ratelimit import address_counted

# 256 random bits: guessing is hopeless, and the view is rate limited on top.
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    # A plain SHA-256 suffices for a 256-bit random secret (no dictionary to attack).
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class InvitationSent:
    invitation: Invitation
    url: str  # contains the token: shown to nobody but the recipient's mailbox


def invitation_url(token: str) -> str:
    return f"{settings.SITE_URL}{reverse('accounts:invitation_accept', kwargs={'token': token})}"


def invitation_create(
    *,
    actor: User,
    email: str,
    full_name: str = "",
    teams: list[Team] | None = None,
    grants_site_admin: bool = False,
    grants_auditor: bool = False,
) -> InvitationSent:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise AccountRuleError(_("An account with this e-mail address already exists."))
    if grants_auditor and teams:
        # An auditor reads no file content (accounts.roles): teams or the role, not both.
        audit.record(
            action=Action.ACCOUNTS_INVITATION_SEND,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="accounts.invitation",
            details={
                "email": email,
                "auditor": True,
                "teams": [team.name for team in teams],
                "reason": "auditor",
            },
        )
        raise AccountRuleError(
            _(
                "An auditor reads the audit log, never file content: invite them either "
                "as an auditor or into teams (%(teams)s), not both."
            )
            % {"teams": ", ".join(team.name for team in teams)}
        )
    policy = AccountPolicy.current()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        # A new invitation replaces any pending one for the same address.
        Invitation.objects.filter(
            email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        invitation = Invitation.objects.create(
            email=email,
            full_name=full_name.strip(),
            token_hash=token_hash(token),
            invited_by=actor,
            grants_site_admin=grants_site_admin,
            grants_auditor=grants_auditor,
            expires_at=timezone.now() + dt.timedelta(hours=policy.invitation_valid_hours),
        )
        invitation.teams.set(teams or [])
        audit.record(
            action=Action.ACCOUNTS_INVITATION_SEND,
            actor=actor,
            target_type="accounts.invitation",
            target_id=invitation.pk,
            details={
                "email": email,
                "site_admin": grants_site_admin,
                "auditor": grants_auditor,
                "teams": [team.slug for team in teams or []],
            },
        )
        url = invitation_url(token)
        # Sent from the web process after commit, never through the broker: Celery
        # messages must not carry secrets, and this e-mail carries the token.
        transaction.on_commit(lambda: _invitation_mail(invitation, url))
    return InvitationSent(invitation=invitation, url=url)


def _invitation_mail(invitation: Invitation, url: str) -> None:
    context = {"invitation": invitation, "url": url}
    send_mail(
        subject=_("You are invited to SecureDrive"),
        message=render_to_string("accounts/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_get_valid(*, token: str) -> Invitation | None:
    """The pending invitation for this token, or None (unknown, used, revoked, expired,
    or its sender no longer an active administrator)."""
    invitation = Invitation.objects.filter(token_hash=token_hash(token)).first()
    if invitation is None or not invitation.is_pending():
        return None
    return invitation


def invitation_refusal_reason(*, token: str) -> str:
    """Why ``invitation_get_valid`` found nothing, for the audit log."""
    invitation = Invitation.objects.filter(token_hash=token_hash(token)).first()
    if invitation is not None and not invitation.inviter_may_still_invite():
        return "sender no longer an administrator"
    return "unknown, used or expired"


def invitation_refused_record(*, token: str, reason: str, **details: Any) -> AuditEvent:
    return audit.record(
        action=Action.ACCOUNTS_INVITATION_USE,
        outcome=Outcome.DENIED,
        details={"reason": reason, "token_hash_prefix": token_hash(token)[:12], **details},
    )


def invitation_limited_record(*, token: str, ip_address: str) -> None:
    """The page refused by its rate limit: once per address and window, then counted
    (audit/floods.py)."""
    floods.rate_limited_record(
        endpoint="accounts.invitation",
        source=address_counted(ip_address),
        ip_address=ip_address,
        actor_label="anonymous",
        record=lambda flood: invitation_refused_record(token=token, reason="rate limited", **flood),
    )


def invitation_accept(
    *, invitation: Invitation, password: str | None, full_name: str, via: str = ""
) -> User:
    """Create the account. The caller signs the person in; MFA enrolment follows.

    ``password`` is None when the person signs in through an identity provider (sso/):
    the account then has no usable password, and ``via`` names the provider."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        # The inviter's row too: a deactivation or a role withdrawal committing now waits
        # for this acceptance, or this one sees it (Invitation.inviter_may_still_invite).
        User.objects.select_for_update(no_key=True).filter(pk=locked.invited_by_id or 0).first()
        if not locked.is_pending():
            raise AccountRuleError(_("This invitation is no longer valid."))
        if User.objects.filter(email__iexact=locked.email).exists():
            raise AccountRuleError(_("An account with this e-mail address already exists."))
        user = User.objects.create_user(
            locked.email,
            password,
            full_name=full_name.strip() or locked.full_name,
        )
        for team in locked.teams.all():
            TeamMembership.objects.create(team=team, user=user, role=TeamRole.MEMBER)
        locked.accepted_at = timezone.now()
        locked.accepted_user = user
        locked.save(update_fields=["accepted_at", "accepted_user"])
        audit.record(
            action=Action.ACCOUNTS_INVITATION_ACCEPT,
            actor=user,
            target_type="accounts.invitation",
            target_id=locked.pk,
            details={
                "invited_by": locked.invited_by.email if locked.invited_by else "",
                **({"via": via} if via else {}),
            },
        )
        _roles_propose(locked, user)
    return user


def _roles_propose(invitation: Invitation, user: User) -> None:
    """Roles named in an invitation are not given with the account: they become the
    inviter's proposals, which a second person approves (``accounts.roles``)."""
    from accounts import roles
    from accounts.models import GrantedRole

    asked = [
        role
        for role, wanted in (
            (GrantedRole.SITE_ADMIN, invitation.grants_site_admin),
            (GrantedRole.AUDITOR, invitation.grants_auditor),
        )
        if wanted
    ]
    for role in asked:
        if invitation.invited_by is None:
            continue
        try:
            roles.role_propose(
                actor=invitation.invited_by, subject=user, role=role, via="invitation"
            )
        except AccountRuleError:
            continue  # refused and audited (e.g. the inviter is no longer an administrator)


def invitation_revoke(*, actor: User, invitation: Invitation) -> None:
    with transaction.atomic():
        if invitation.accepted_at is None and invitation.revoked_at is None:
            invitation.revoked_at = timezone.now()
            invitation.save(update_fields=["revoked_at"])
        audit.record(
            action=Action.ACCOUNTS_INVITATION_REVOKE,
            actor=actor,
            target_type="accounts.invitation",
            target_id=invitation.pk,
            details={"email": invitation.email},
        )


def invitations_pending_to_address(*, email: str) -> Any:
    """Invitations still usable that were sent to ``email`` (any letter case).

    One sent before the account existed (the directory or the identity provider then
    made it) is refused while an account holds the address, but would open a new
    account, with its teams, to whoever reads that mailbox once no account holds it:
    revoked when the person leaves (accounts.offboarding) or her address changes
    (accounts.address_change)."""
    return Invitation.objects.filter(
        email__iexact=email.strip(),
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )


def invitations_revoke_to_address(
    *, ids: list[int], actor: User | None, actor_label: str, reason: str
) -> int:
    """Revoke the invitations ``ids`` (from ``invitations_pending_to_address``, rows
    locked by the caller), one ``accounts.invitation.revoke`` each, naming who sent it
    and why. Inside the caller's transaction; returns how many."""
    revoked = 0
    for invitation in Invitation.objects.filter(pk__in=ids, revoked_at__isnull=True).select_related(
        "invited_by"
    ):
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(
            action=Action.ACCOUNTS_INVITATION_REVOKE,
            actor=actor,
            actor_label=actor_label,
            target_type="accounts.invitation",
            target_id=invitation.pk,
            details={
                "email": invitation.email,
                "invited_by": invitation.invited_by.email if invitation.invited_by else "",
                "reason": reason,
            },
        )
        revoked += 1
    return revoked
