from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import send_mail
from django.db import transaction
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django_otp import devices_for_user

from accounts import credential_approvals, security_notices, sessions
from accounts.errors import AccountRuleError
from accounts.models import (
    AccountPolicy,
    GrantedRole,
    RoleProposal,
    Team,
    TeamMembership,
    TeamRole,
    User,
)
from audit import floods
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from core.ratelimit import address_counted


@dataclass(frozen=True)
class FirstAdmin:
    user: User
    created: bool
    setup_url: str | None  # None once the administrator has set a password


class SetupLinkTokenGenerator(PasswordResetTokenGenerator):
    """Django's reset token (a keyed hash of the password hash, the last sign-in and
    the e-mail address), bound as well to when the latest link was issued
    (``setup_link_sent_at``): issuing a new link, from the web or the console, ends the
    ones made before, even for someone whose password does not change until a link is
    used. Without a link on record it is Django's token, unchanged."""

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        value = super()._make_hash_value(user, timestamp)
        issued = user.setup_link_sent_at
        if issued is None:
            return value
        return f"{value}|{round(issued.timestamp() * 1_000_000)}"


setup_link_token_generator = SetupLinkTokenGenerator()


def setup_url_for(user: User) -> str:
    """A one-time link: it stops working once the password is set, once a newer link
    is issued, or after 24 h."""
    path = reverse(
        "accounts:setup",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": setup_link_token_generator.make_token(user),
        },
    )
    return f"{settings.SITE_URL}{path}"


def user_password_set(*, user: User, password: str, via: str) -> None:
    """Set ``user``'s password and record it in one transaction: both or neither.

    A new password (a set-up link printed because the old one leaked) ends every open
    session of the person: Django already refuses a session signed in with the old
    password on its next request, but the session list would still show it open and
    nothing in the audit log would say it ended. It also revokes the person's API
    tokens: whoever held the old password (and a session) could have minted one, and a
    token does not depend on the password. The only way to set a password here is such
    a link (there is no ordinary password change to ask about)."""
    from accounts import tokens

    with transaction.atomic():
        user.set_password(password)
        # The link that brought the person here is used: nothing pending any more.
        user.setup_link_sent_at = None
        user.setup_link_sent_by = None
        # A password of their own now (one the server's operator printed a link for):
        # no longer someone who signs in only through a provider.
        user.provider_sign_in_only = False
        user.save(
            update_fields=[
                "password",
                "setup_link_sent_at",
                "setup_link_sent_by",
                "provider_sign_in_only",
            ]
        )
        ended = sessions.user_sessions_end_all(user=user, reason=sessions.EndReason.PASSWORD_SET)
        revoked = tokens.tokens_revoke_all(actor=user, user=user, reason="new password")
        password_set = audit.record(
            action=Action.ACCOUNTS_PASSWORD_SET,
            actor=user,
            target_type="accounts.user",
            target_id=user.pk,
            details={"via": via, "sessions_ended": ended, "tokens_revoked": len(revoked)},
        )
        # Told even through the person's own link: a link printed at the console
        # (manage.py setup_link) can reset the password of someone who has one.
        security_notices.security_notice_queue(event=password_set)


def setup_link_refused_record(reason: str = "invalid or expired link", **extra: Any) -> AuditEvent:
    """An expired, used or guessed set-up link: worth knowing about."""
    return audit.record(
        action=Action.ACCOUNTS_SETUP_LINK_USE,
        outcome=Outcome.DENIED,
        details={"reason": reason, **extra},
    )


def setup_link_limited_record(*, ip_address: str) -> None:
    """The set-up page refused by its rate limit: once per address and window, then
    counted (audit/floods.py)."""
    floods.rate_limited_record(
        endpoint="accounts.setup",
        source=address_counted(ip_address),
        ip_address=ip_address,
        actor_label="anonymous",
        record=lambda flood: setup_link_refused_record("rate limited", **flood),
    )


def setup_link_issue(
    *, email: str | None = None, only_without_password: bool = False
) -> tuple[User, str]:
    """A fresh one-time set-up link for ``email``, or for the first site administrator.

    For the operator at the server's console (``manage.py setup_link``), who can already
    do anything: the link lets its holder choose the account's password, so it is
    recorded. Raises ``User.DoesNotExist`` for no such active account (or, with
    ``only_without_password``, when it has a password already).
    """
    active = User.objects.filter(is_active=True)
    if email:
        user = active.get(email__iexact=email.strip())
    else:
        user = active.filter(is_site_admin=True).order_by("pk")[:1].get()
    if only_without_password and user.has_usable_password():
        raise User.DoesNotExist
    with transaction.atomic():
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        # As setup_link_send: the new link ends every one made before (printed earlier,
        # perhaps pasted where it should not be), whether or not a password is set.
        previous = locked.setup_link_sent_at
        setup_link_revoke_pending(user=locked)
        issued = timezone.now()
        if previous is not None and issued <= previous:
            issued = previous + dt.timedelta(microseconds=1)
        locked.setup_link_sent_at = issued
        locked.save(update_fields=["password", "setup_link_sent_at", "setup_link_sent_by"])
        audit.record(
            action=Action.ACCOUNTS_SETUP_LINK_ISSUE,
            actor_label="system",
            target_type="accounts.user",
            target_id=locked.pk,
            details={"email": locked.email},
        )
        url = setup_url_for(locked)
    return locked, url


def signs_in_through_provider_only(user: User) -> bool:
    """True for someone with no password of their own who signs in through the
    organisation's identity provider: linked to it now (the link disabled by an
    offboarding counts), or before a reactivation deleted the link
    (``User.provider_sign_in_only``). A set-up link makes no sense for them."""
    if user.has_usable_password():
        return False
    if user.provider_sign_in_only:
        return True
    return any(
        getattr(device, "is_provider_identity", False)
        for device in devices_for_user(user, confirmed=None)
    )


SETUP_LINK_PROVIDER_ONLY = "signs in through an identity provider"


def _setup_link_refusal_raise(*, actor: User, user: User, reason: str) -> NoReturn:
    """Record ``accounts.setup_link.send`` refused (outside any transaction that a
    refusal rolls back) and raise the message the administrator reads."""
    audit.record(
        action=Action.ACCOUNTS_SETUP_LINK_SEND,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="accounts.user",
        target_id=user.pk,
        details={"email": user.email, "reason": reason},
    )
    if reason == "account deactivated":
        raise AccountRuleError(_("This account is deactivated: reactivate it first."))
    if reason == SETUP_LINK_PROVIDER_ONLY:
        raise AccountRuleError(
            _(
                "%(name)s signs in through the organisation's identity provider, not with a "
                "password: no set-up link was sent. Send them a link to the provider instead "
                "(Identity providers, on their page)."
            )
            % {"name": user.get_full_name() or user.email},
            403,
        )
    raise AccountRuleError(_("This person has a password already: no set-up link was sent."))


def setup_link_provider_only_check(*, actor: User, user: User) -> None:
    """Before a reactivation asked to send a set-up link: refuse (403, recorded) for
    someone who signs in only through the identity provider, before anything changes."""
    if signs_in_through_provider_only(user):
        _setup_link_refusal_raise(actor=actor, user=user, reason=SETUP_LINK_PROVIDER_ONLY)


def setup_link_pending_until(user: User) -> dt.datetime | None:
    """When the set-up link an administrator sent ``user`` expires, or None (none sent,
    used, revoked or expired). Django's token lives PASSWORD_RESET_TIMEOUT seconds."""
    if user.setup_link_sent_at is None or user.has_usable_password():
        return None
    until = user.setup_link_sent_at + dt.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    return until if until > timezone.now() else None


def setup_link_revoke_pending(*, user: User) -> bool:
    """End any set-up link of ``user`` (a new one, an offboarding). Call inside the
    caller's transaction, with ``user``'s row locked; the caller saves ``password``,
    ``setup_link_sent_at`` and ``setup_link_sent_by``. Returns whether one was pending.

    Django's set-up token is a keyed hash of the password hash (among others): a new
    unusable password (a fresh random marker) kills every link made before, including
    one printed from the command line. A usable password is never touched here."""
    pending = setup_link_pending_until(user) is not None
    if not user.has_usable_password():
        user.set_unusable_password()
    user.setup_link_sent_at = None
    user.setup_link_sent_by = None
    return pending


def setup_link_send(*, actor: User, user: User) -> dt.datetime:
    """E-mail ``user`` a fresh single-use set-up link (choose a password, then a second
    factor); it replaces any link sent before. For an account without a usable password
    (a reactivated one): an administrator must never be able to take over a password
    that works, and the link goes only to the person's own address, never to the
    administrator's screen (as for invitations). Returns when the link expires."""
    with transaction.atomic():
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        refusal = ""
        if not locked.is_active:
            refusal = "account deactivated"
        elif locked.has_usable_password():
            refusal = "has a password"
        elif signs_in_through_provider_only(locked):
            # The link would open a password path around the provider (its second
            # factor, conditional access and offboarding): a link to it is what they need.
            refusal = SETUP_LINK_PROVIDER_ONLY
        if not refusal:
            # Four eyes when someone else changed the address lately (the directory, an
            # administrator): the link would go wherever they pointed it.
            gate = credential_approvals.credential_gate(
                actor=actor, user=locked, kind=credential_approvals.CredentialKind.SETUP_LINK
            )
            refusal = gate.refusal
        if not refusal:
            credential_approvals.approval_use(actor=actor, user=locked, gate=gate)
            setup_link_revoke_pending(user=locked)
            locked.setup_link_sent_at = timezone.now()
            locked.setup_link_sent_by = actor
            locked.save(update_fields=["password", "setup_link_sent_at", "setup_link_sent_by"])
            expires_at = locked.setup_link_sent_at + dt.timedelta(
                seconds=settings.PASSWORD_RESET_TIMEOUT
            )
            audit.record(
                action=Action.ACCOUNTS_SETUP_LINK_SEND,
                actor=actor,
                target_type="accounts.user",
                target_id=locked.pk,
                details={"email": locked.email, "expires_at": expires_at.isoformat()},
            )
            url = setup_url_for(locked)
            # Sent from the web process after commit, never through the broker: Celery
            # messages must not carry secrets, and this e-mail carries the token.
            transaction.on_commit(lambda: _setup_link_mail(locked, actor, url, expires_at))
    if refusal == credential_approvals.ADDRESS_CHANGED:
        credential_approvals.credential_refusal_raise(
            action=Action.ACCOUNTS_SETUP_LINK_SEND,
            actor=actor,
            user=user,
            kind=credential_approvals.CredentialKind.SETUP_LINK,
        )
    if refusal:
        # Outside the transaction, so that the refusal stays in the log.
        _setup_link_refusal_raise(actor=actor, user=user, reason=refusal)
    user.refresh_from_db()
    return expires_at


def _setup_link_mail(user: User, actor: User, url: str, expires_at: dt.datetime) -> None:
    context = {"person": user, "admin": actor, "url": url, "expires_at": expires_at}
    with translation.override(user.email_language):
        send_mail(
            subject=_("Choose your new SecureDrive password"),
            message=render_to_string("accounts/email/setup_link.txt", context),
            from_email=None,
            recipient_list=[user.email],
        )


def first_admin_ensure(*, email: str) -> FirstAdmin:
    """Create the first site administrator when there is no user at all.

    No password is ever generated or printed: the administrator chooses one through a
    one-time set-up link.
    """
    with transaction.atomic():
        if User.objects.exists():
            admin = User.objects.filter(is_site_admin=True).order_by("pk").first()
            if admin is None or admin.has_usable_password():
                return FirstAdmin(
                    user=admin or User.objects.order_by("pk")[0], created=False, setup_url=None
                )
            return FirstAdmin(user=admin, created=False, setup_url=setup_url_for(admin))
        admin = User.objects.create_superuser(email)
        audit.record(
            action=Action.ACCOUNTS_FIRST_ADMIN_CREATE,
            actor_label="system",
            target_type="accounts.user",
            target_id=admin.pk,
            details={"email": admin.email},
        )
    return FirstAdmin(user=admin, created=True, setup_url=setup_url_for(admin))


def user_roles_set(
    *, actor: User, user: User, is_site_admin: bool, is_auditor: bool
) -> list[RoleProposal]:
    """Withdraw roles at once; grant them only through a proposal that a second person
    approves (``accounts.roles``: four eyes, nobody for themselves). Returns the
    proposals made. A withdrawal ends the person's open sessions: they sign in again into
    a session that never had the role."""
    from accounts import roles

    before = {"site_admin": user.is_site_admin, "auditor": user.is_auditor}
    after = {
        "site_admin": user.is_site_admin and is_site_admin,
        "auditor": user.is_auditor and is_auditor,
    }
    refusal = ""
    if before != after:
        with transaction.atomic():
            roles.site_roles_lock()  # before the person's row: see its docstring
            user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
            # As they are now, not as the page showed them (an approval may have landed).
            before = {"site_admin": user.is_site_admin, "auditor": user.is_auditor}
            after = {
                "site_admin": user.is_site_admin and is_site_admin,
                "auditor": user.is_auditor and is_auditor,
            }
            refusal = roles.last_holder_refusal(
                user=user, keeps_site_admin=is_site_admin, keeps_auditor=is_auditor
            )
            if not refusal and before != after:
                user.is_site_admin, user.is_auditor = after["site_admin"], after["auditor"]
                user.save(update_fields=["is_site_admin", "is_auditor"])
                ended = sessions.user_sessions_end_all(
                    user=user, reason=sessions.EndReason.ROLES_CHANGED
                )
                audit.record(
                    action=Action.ACCOUNTS_USER_ROLES,
                    actor=actor,
                    target_type="accounts.user",
                    target_id=user.pk,
                    details={
                        "email": user.email,
                        "before": before,
                        "after": after,
                        "sessions_ended": ended,
                    },
                )
    if refusal:
        # Outside the transaction, so that the refusal stays in the log.
        audit.record(
            action=Action.ACCOUNTS_USER_ROLES,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="accounts.user",
            target_id=user.pk,
            details={"email": user.email, "before": before, "after": after, "reason": refusal},
        )
        raise AccountRuleError(roles.refusal_message(refusal))
    wanted = [
        (GrantedRole.SITE_ADMIN, is_site_admin and not before["site_admin"]),
        (GrantedRole.AUDITOR, is_auditor and not before["auditor"]),
    ]
    return [
        roles.role_propose(actor=actor, subject=user, role=role) for role, asked in wanted if asked
    ]


def team_create(*, actor: User, name: str, description: str = "") -> Team:
    name = name.strip()
    slug = slugify(name)
    if not slug:
        raise AccountRuleError(_("Give the team a name with letters or digits."))
    if Team.objects.filter(slug=slug).exists() or Team.objects.filter(name__iexact=name).exists():
        raise AccountRuleError(_("A team with this name already exists."))
    with transaction.atomic():
        team = Team.objects.create(name=name, slug=slug, description=description.strip())
        audit.record(
            action=Action.ACCOUNTS_TEAM_CREATE,
            actor=actor,
            target_type="accounts.team",
            target_id=team.pk,
            details={"name": name},
        )
    return team


def _team_member_set_refused(
    *, actor: User, team: Team, user: User, role: str, reason: str, error: AccountRuleError
) -> NoReturn:
    """Record a refused team change (outside any transaction, so that it stays), then
    raise ``error``."""
    audit.record(
        action=Action.ACCOUNTS_TEAM_MEMBER_SET,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="accounts.team",
        target_id=team.pk,
        details={"team": team.name, "email": user.email, "role": role, "reason": reason},
    )
    raise error


def _team_member_inactive_refuse(*, actor: User, team: Team, user: User, role: str) -> NoReturn:
    _team_member_set_refused(
        actor=actor,
        team=team,
        user=user,
        role=role,
        reason="user_inactive",
        error=AccountRuleError(_("Deactivated accounts cannot join a team.")),
    )


def team_member_set(*, actor: User, team: Team, user: User, role: str) -> TeamMembership:
    """Add a person to a team, or change their role in it."""
    if role not in TeamRole.values:
        raise AccountRuleError(_("Unknown team role."))
    if not user.is_active:
        _team_member_inactive_refuse(actor=actor, team=team, user=user, role=role)
    from accounts import roles

    current = TeamMembership.objects.filter(team=team, user=user).first()
    refusal = roles.team_membership_self_refusal(actor=actor, user=user, current=current, role=role)
    if refusal:
        # A site administrator joining a team would read its files: separation of duties.
        _team_member_set_refused(
            actor=actor,
            team=team,
            user=user,
            role=role,
            reason=refusal,
            error=AccountRuleError(
                _("Nobody may give themselves a role or a team: ask another administrator.")
            ),
        )
    with transaction.atomic():
        # The person's row locked: an auditor role approved at this instant waits, or
        # is seen here (accounts.roles.role_proposal_decide locks it too); so does a
        # deactivation, whose plan would otherwise miss a membership committed after it
        # (the person loaded by the page still reads "active").
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        is_auditor, is_active = locked.is_auditor, locked.is_active
        if is_active and not is_auditor:
            membership, created = TeamMembership.objects.get_or_create(
                team=team, user=user, defaults={"role": role}
            )
            previous = None if created else membership.role
            if not created and membership.role != role:
                membership.role = role
                membership.save(update_fields=["role"])
            if created or previous != role:
                audit.record(
                    action=Action.ACCOUNTS_TEAM_MEMBER_SET,
                    actor=actor,
                    target_type="accounts.team",
                    target_id=team.pk,
                    details={
                        "team": team.name,
                        "email": user.email,
                        "role": role,
                        "previous": previous,
                    },
                )
    if not is_active:
        _team_member_inactive_refuse(actor=actor, team=team, user=user, role=role)
    if is_auditor:
        # A team member reads the team's patient files; an auditor reads none
        # (ARCHITECTURE.md, invariant 4).
        _team_member_set_refused(
            actor=actor,
            team=team,
            user=user,
            role=role,
            reason="auditor",
            # Administrators manage roles and read why; a team manager is not told a
            # colleague's role (the event keeps the reason).
            error=AccountRuleError(
                roles.auditor_refusal_message(user)
                if actor.is_site_admin
                else _("%(name)s cannot join this team. Ask an administrator.")
                % {"name": user.get_full_name()},
                409,
            ),
        )
    return membership


class MembershipEndReason(StrEnum):
    """Why a team membership ended: recorded on its ``accounts.team.member_remove``
    event and on each share it ended."""

    TEAM_MANAGEMENT = "team_management"  # a manager or an administrator removed them
    ACCESS_REVIEW = "access_review"  # revoked in a review (reviews app)
    OFFBOARDING = "offboarding"  # deactivation (accounts.offboarding)
    DIRECTORY = "directory"  # the organisation's directory (SCIM) dropped them


# Sent inside the removal's transaction with team=, user=, actor=, actor_label= and
# reason=. Each receiver ends what the person held *through* the team (sharing: the
# shares of the team space's files and folders made to them, even before they joined;
# and what she had opened to outsiders on the team's files) and returns a JSON-safe dict
# kept in the removal's audit event.
team_membership_ended = Signal()

# The audit's reason for each link, transfer and file request withdrawn because its
# creator left the team whose files it opened (as ``accounts.roles.BECAME_AUDITOR`` for
# the auditor role; audit/readable.py reads both in words).
LEFT_THE_TEAM = "left the team"


def team_member_remove(
    *,
    actor: User | None,
    membership: TeamMembership,
    reason: MembershipEndReason,
    actor_label: str = "",
) -> dict[str, object]:
    """The one way a person leaves a team (team pages, access reviews, offboarding, the
    directory):
    the membership ends and so does what they held through it, in one transaction,
    audited with ``reason``. Returns the removal's audit details ({} when the
    membership was already gone)."""
    with transaction.atomic():
        locked = (
            TeamMembership.objects.select_for_update(of=("self",))
            .select_related("team", "user")
            .filter(pk=membership.pk)
            .first()
        )
        if locked is None:
            return {}
        team, user = locked.team, locked.user
        details: dict[str, object] = {
            "team": team.name,
            "email": user.email,
            "role": locked.role,
            "reason": str(reason),
        }
        locked.delete()
        label = actor_label or ("" if actor else "system")
        for _receiver, result in team_membership_ended.send(
            sender=TeamMembership,
            team=team,
            user=user,
            actor=actor,
            actor_label=label,
            reason=reason,
        ):
            if isinstance(result, dict):
                details.update(result)
        audit.record(
            action=Action.ACCOUNTS_TEAM_MEMBER_REMOVE,
            actor=actor,
            actor_label=label,
            target_type="accounts.team",
            target_id=team.pk,
            details=details,
        )
    return details


def team_memberships_lock(*, user: User) -> set[int]:
    """Lock ``user``'s team memberships until the caller's transaction ends and return
    the ids of her teams, read under the lock.

    A write that opens a team's files to outsiders (a link, a transfer sent, a file
    request) takes them after her row (docs/architecture.md, "Lock order") and checks
    the team against what this returns: ``team_member_remove`` locks the membership it
    deletes (``FOR UPDATE``), so either the write commits first and the removal, after
    it, withdraws what the write made (``sharing.services.team_leave``), or the write
    waits, finds the team gone and is refused. ``FOR NO KEY UPDATE``: two writes of hers
    already queue on her row, so this adds no waiting between them."""
    return set(
        TeamMembership.objects.select_for_update(no_key=True)
        .filter(user=user)
        .order_by("pk")
        .values_list("team_id", flat=True)
    )


def policy_update(*, actor: User, policy: AccountPolicy, changes: dict[str, object]) -> None:
    """Save the site's account policy; audited ``accounts.policy.update`` with the
    before and after of each field that changed.

    The row is locked and compared inside the transaction (as the sharing policy's
    save does): two administrators saving at once queue, and the second's "before"
    values are what the first left, so a change the second undoes is in the log too,
    never overwritten unsaid."""
    with transaction.atomic():
        locked = AccountPolicy.objects.select_for_update().get(pk=policy.pk)
        changed = {
            field: {"before": getattr(locked, field), "after": value}
            for field, value in changes.items()
            if getattr(locked, field) != value
        }
        if not changed:
            return
        for field, value in changes.items():
            setattr(locked, field, value)
            setattr(policy, field, value)
        locked.save()
        audit.record(
            action=Action.ACCOUNTS_POLICY_UPDATE,
            actor=actor,
            target_type="accounts.policy",
            target_id=policy.pk,
            details={"changed": changed},
        )
