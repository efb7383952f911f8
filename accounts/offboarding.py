"""Offboarding: cut a leaver's access in one action, now or on a departure date.

An offboarding is first a *plan* (``offboarding_plan``): what will happen, line by line
(sessions ended, tokens revoked, links and transfers withdrawn with their recipients,
file requests closed, internal shares removed, files handed to whom, into which
folder). Other apps add their part through the ``offboarding_planned`` signal: each
receiver returns an ``OffboardingStep`` holding its lines *and* the function that does
exactly that (files: sharing/services/offboarding.py, files/services/spaces.py). The
admin's preview shows a plan; ``user_deactivate`` makes the plan again inside its
transaction, with the rows locked, and applies that very plan, so the preview, what is
done and the report kept afterwards (``OffboardingReport``) are one computation. When
the plan changed since the admin looked at it (its digest differs), nothing is done
and the new plan is shown again.

``user_deactivated`` is still sent after the steps, for anything outside the plan.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import devices_for_user

from accounts import invitations, sessions
from accounts import services as account_services
from accounts.errors import AccountRuleError
from accounts.models import (
    Invitation,
    OffboardingReport,
    PersonalAccessToken,
    RoleProposal,
    TeamMembership,
    TeamRole,
    User,
    UserSession,
)
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome

logger = logging.getLogger(__name__)

# Sent inside the deactivation's transaction, with user=, successor= (User or None)
# and actor=. Receivers return a JSON-safe dict summarising what they revoked or moved.
user_deactivated = Signal()
# Sent with user=, successor= and lock= (True inside the deactivation's transaction:
# lock the rows the step will change). Receivers return an ``OffboardingStep``.
offboarding_planned = Signal()

# One line of a plan, JSON-safe: {"key": ..., "count": n} and, depending on the key,
# "recipients" (e-mail addresses told or cut off), "to" (who receives files) and
# "folder" (where). accounts/offboarding_report.py puts each key into words.
PlanLine = dict[str, Any]


@dataclass
class OffboardingStep:
    """One app's part of an offboarding: the lines it shows and the function that does
    exactly what they say (``apply(actor)`` returns the dict kept in the audit event)."""

    name: str
    lines: list[PlanLine]
    apply: Callable[[User | None], dict[str, Any]]


@dataclass
class OffboardingPlan:
    user: User
    successor: User | None
    session_ids: list[int]
    token_ids: list[int]
    device_count: int
    steps: list[OffboardingStep] = field(default_factory=list)
    # Pending invitations the leaver sent (id, address): an administrator leaving could
    # otherwise invite a private address into a team and come back in through it.
    invitations: list[tuple[int, str]] = field(default_factory=list)
    # Pending invitations *to* the leaver's address (id, who sent it): one sent before
    # the account existed (the directory or the identity provider then made it) is
    # refused while the account holds the address, but would open a new account, with
    # its teams, to whoever reads that mailbox once the address is free (the directory
    # renames many leavers). Revoked with the rest.
    invitations_to_them: list[tuple[int, str]] = field(default_factory=list)
    # Team memberships (id, team name): they end, and a reactivation does not bring
    # them back (a manager adds the person again), as for the site-wide roles.
    memberships: list[tuple[int, str]] = field(default_factory=list)
    # Teams the leaver is the only active manager of: nobody will manage them, and no
    # access review opens for a team without a manager (reviews app). Said, not done.
    teams_without_manager: list[str] = field(default_factory=list)
    # Open proposals of a site-wide role *for* the leaver (id, role): they close, so that
    # a second person cannot approve, after a return, a role proposed before the
    # departure (a reactivation withdraws the roles: proposed and approved again).
    role_proposals: list[tuple[int, str]] = field(default_factory=list)
    # A set-up link an administrator sent after a reactivation, still unused: it is
    # revoked, or it would choose the password of the next reactivated account.
    setup_link_pending: bool = False

    def lines(self) -> list[PlanLine]:
        own: list[PlanLine] = [
            {"key": "sessions_ended", "count": len(self.session_ids)},
            {"key": "tokens_revoked", "count": len(self.token_ids)},
            {"key": "mfa_devices_disabled", "count": self.device_count},
        ]
        if self.invitations:
            own.append(
                {
                    "key": "invitations_revoked",
                    "count": len(self.invitations),
                    "recipients": [email for _pk, email in self.invitations],
                }
            )
        if self.invitations_to_them:
            own.append(
                {
                    "key": "invitations_to_them_revoked",
                    "count": len(self.invitations_to_them),
                    "withdrawn": [sender for _pk, sender in self.invitations_to_them],
                }
            )
        if self.memberships:
            own.append(
                {
                    "key": "teams_left",
                    "count": len(self.memberships),
                    "teams": [name for _pk, name in self.memberships],
                }
            )
        if self.role_proposals:
            own.append(
                {
                    "key": "role_proposals_closed",
                    "count": len(self.role_proposals),
                    "roles": sorted(role for _pk, role in self.role_proposals),
                }
            )
        if self.setup_link_pending:
            own.append({"key": "setup_link_revoked", "count": 1})
        if self.teams_without_manager:
            own.append(
                {
                    "key": "teams_without_manager",
                    "count": len(self.teams_without_manager),
                    "teams": self.teams_without_manager,
                }
            )
        return own + [line for step in self.steps for line in step.lines]

    def as_json(self) -> dict[str, Any]:
        successor = self.successor
        return {
            "user": self.user.email,
            "user_name": self.user.get_full_name(),
            "successor": successor.email if successor else "",
            "successor_name": successor.get_full_name() if successor else "",
            "lines": self.lines(),
        }

    def digest(self) -> str:
        """What the admin saw, in 64 characters: carried by the confirmation form."""
        text = json.dumps(self.as_json(), sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()


class OffboardingPlanChanged(AccountRuleError):
    """The plan made at deactivation differs from the one the admin confirmed."""


def offboarding_plan(*, user: User, successor: User | None, lock: bool = False) -> OffboardingPlan:
    """What deactivating ``user`` now would do. With ``lock`` (inside the deactivation's
    transaction) every row the plan names is locked until the commit."""
    session_rows = UserSession.objects.filter(user=user, ended_at__isnull=True).order_by("pk")
    token_rows = PersonalAccessToken.objects.filter(user=user, revoked_at__isnull=True).order_by(
        "pk"
    )
    now = timezone.now()
    invitation_rows = Invitation.objects.filter(
        invited_by=user, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).order_by("pk")
    invitation_to_rows = (
        invitations.invitations_pending_to_address(email=user.email)
        .select_related("invited_by")
        .order_by("pk")
    )
    membership_rows = (
        TeamMembership.objects.filter(user=user).select_related("team").order_by("team__name")
    )
    proposal_rows = RoleProposal.objects.filter(
        subject=user, decided_at__isnull=True, expires_at__gt=now
    ).order_by("pk")
    if lock:
        proposal_rows = proposal_rows.select_for_update()
        membership_rows = membership_rows.select_for_update(of=("self",))
        session_rows = session_rows.select_for_update()
        token_rows = token_rows.select_for_update()
        invitation_rows = invitation_rows.select_for_update()
        invitation_to_rows = invitation_to_rows.select_for_update(of=("self",))
    other_managers = TeamMembership.objects.filter(
        team=OuterRef("team"), role=TeamRole.MANAGER, user__is_active=True
    ).exclude(user=user)
    plan = OffboardingPlan(
        user=user,
        successor=successor,
        session_ids=list(session_rows.values_list("pk", flat=True)),
        token_ids=list(token_rows.values_list("pk", flat=True)),
        device_count=sum(1 for _device in devices_for_user(user, confirmed=True)),
        invitations=list(invitation_rows.values_list("pk", "email")),
        invitations_to_them=[
            (invitation.pk, _invitation_sender(invitation)) for invitation in invitation_to_rows
        ],
        memberships=[(membership.pk, membership.team.name) for membership in membership_rows],
        role_proposals=list(proposal_rows.values_list("pk", "role")),
        setup_link_pending=account_services.setup_link_pending_until(user) is not None,
        teams_without_manager=sorted(
            TeamMembership.objects.filter(user=user, role=TeamRole.MANAGER)
            .filter(~Exists(other_managers))
            .values_list("team__name", flat=True)
        ),
    )
    for _receiver, step in offboarding_planned.send(
        sender=User, user=user, successor=successor, lock=lock
    ):
        if isinstance(step, OffboardingStep):
            plan.steps.append(step)
    return plan


def _invitation_sender(invitation: Invitation) -> str:
    """Who sent it, as the report lists it: "Name <address>" (no words: the report is
    read later in other languages)."""
    sender = invitation.invited_by
    if sender is None:
        return "?"
    return f"{sender.get_full_name() or sender.email} <{sender.email}>"


def successor_candidates(*, leaver: User) -> Any:
    """Who may receive a leaver's files: active people other than the leaver, never an
    auditor (whose role is to check access to patient files, not to hold them)."""
    return (
        User.objects.filter(is_active=True, is_auditor=False)
        .exclude(pk=leaver.pk)
        .order_by("full_name", "email")
    )


def _last_holder_refusal(user: User) -> str:
    """Deactivating is losing every role: refused for the site's last active
    administrator or auditor (accounts.roles). Inside a transaction (rows locked)."""
    from accounts import roles

    return roles.last_holder_refusal(user=user, keeps_site_admin=False, keeps_auditor=False)


def _last_holder_refused(*, actor: User, user: User, action: Action, reason: str) -> NoReturn:
    from accounts import roles

    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="accounts.user",
        target_id=user.pk,
        details={"email": user.email, "reason": reason},
    )
    raise AccountRuleError(roles.refusal_message(f"{reason}_leaves"))


class _LastHolder(Exception):
    """Raised inside the deactivation's transaction, so that it rolls back and the
    refusal is recorded after, outside it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _check_may_deactivate(
    *, actor: User, user: User, successor: User | None, action: Action
) -> None:
    if successor is not None and successor.pk == actor.pk:
        # Naming oneself to receive a leaver's personal files is reading them by one's
        # own decision: separation of duties, as for joining a team (accounts.roles).
        audit.record(
            action=action,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="accounts.user",
            target_id=user.pk,
            details={"email": user.email, "successor": actor.email, "reason": "self_grant"},
        )
        raise AccountRuleError(
            _("Nobody may give themselves a colleague's files: name someone else.")
        )
    if user.pk == actor.pk:
        raise AccountRuleError(_("You cannot deactivate your own account."))
    with transaction.atomic():
        last = _last_holder_refusal(user)
    if last:
        _last_holder_refused(actor=actor, user=user, action=action, reason=last)
    if successor is not None and (successor.pk == user.pk or not successor.is_active):
        raise AccountRuleError(_("Choose an active colleague to receive the files."))
    if successor is not None and successor.is_auditor:
        raise AccountRuleError(
            _("An auditor cannot receive a colleague's files: choose someone else.")
        )


def user_departure_schedule(
    *, actor: User, user: User, departure_on: dt.date, successor: User | None
) -> None:
    _check_may_deactivate(
        actor=actor, user=user, successor=successor, action=Action.ACCOUNTS_USER_DEPARTURE_SCHEDULE
    )
    if departure_on <= timezone.localdate():
        raise AccountRuleError(_("A scheduled departure must be in the future."))
    with transaction.atomic():
        user.departure_scheduled_for = departure_on
        user.files_successor = successor
        user.save(update_fields=["departure_scheduled_for", "files_successor"])
        audit.record(
            action=Action.ACCOUNTS_USER_DEPARTURE_SCHEDULE,
            actor=actor,
            target_type="accounts.user",
            target_id=user.pk,
            details={
                "email": user.email,
                "departure_on": departure_on.isoformat(),
                "successor": successor.email if successor else "",
            },
        )


def user_departure_cancel(*, actor: User, user: User) -> None:
    """The successor named with the date goes with it: the directory (SCIM) would
    otherwise hand the files to that person at a later, unrelated departure."""
    with transaction.atomic():
        user.departure_scheduled_for = None
        user.files_successor = None
        user.save(update_fields=["departure_scheduled_for", "files_successor"])
        audit.record(
            action=Action.ACCOUNTS_USER_DEPARTURE_CANCEL,
            actor=actor,
            target_type="accounts.user",
            target_id=user.pk,
            details={"email": user.email},
        )


def user_deactivate(
    *,
    actor: User | None,
    user: User,
    successor: User | None,
    scheduled: bool = False,
    actor_label: str = "",
    expected_digest: str | None = None,
) -> dict[str, Any]:
    """Deactivate now. Every session and token dies at once; MFA devices are disabled;
    each app's step of the plan is applied, all in one transaction. A report is kept and
    e-mailed (after commit) to the successor and the administrators.

    ``actor`` is None when the departure-date task or the directory (SCIM) runs it;
    ``actor_label`` then names who did. ``expected_digest``: the digest of the plan the
    admin confirmed; if the plan made now differs, ``OffboardingPlanChanged``.
    """
    if actor is not None:
        _check_may_deactivate(
            actor=actor, user=user, successor=successor, action=Action.ACCOUNTS_USER_DEACTIVATE
        )
    elif successor is not None and (
        successor.pk == user.pk or not successor.is_active or successor.is_auditor
    ):
        successor = None  # a stale successor: the files stay for the retention period
    label = actor_label or ("" if actor else "system (departure date)")
    try:
        return _deactivate(
            actor=actor,
            user=user,
            successor=successor,
            scheduled=scheduled,
            label=label,
            expected_digest=expected_digest,
        )
    except _LastHolder as last:
        assert actor is not None  # noqa: S101  (only checked for a person's decision)
        _last_holder_refused(
            actor=actor, user=user, action=Action.ACCOUNTS_USER_DEACTIVATE, reason=last.reason
        )


def _deactivate(
    *,
    actor: User | None,
    user: User,
    successor: User | None,
    scheduled: bool,
    label: str,
    expected_digest: str | None,
) -> dict[str, Any]:
    with transaction.atomic():
        # Another removal of a site-wide role commits before this one starts, so the
        # last administrator or auditor check below counts what it left (accounts.roles).
        from accounts import roles

        roles.site_roles_lock()
        # Then the leaver's row (docs/architecture.md, "Lock order"): a sharing write of
        # theirs holds it from its first statement (accounts.still_active), so it either
        # commits before this plan is made (and the plan withdraws what it made) or waits
        # and is refused. ``FOR NO KEY UPDATE``, as the writes take it: ``FOR UPDATE``
        # would also block their commit's foreign-key check on this row (``FOR KEY
        # SHARE``) while they hold the audit chain's lock this transaction waits for: a
        # deadlock.
        user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        if not user.is_active:
            return {"already_inactive": True}
        # Again with the holders' rows locked: two administrators deactivating each
        # other at once must not both pass the check above.
        if actor is not None and (last := _last_holder_refusal(user)):
            raise _LastHolder(last)
        plan = offboarding_plan(user=user, successor=successor, lock=True)
        if expected_digest is not None and plan.digest() != expected_digest:
            raise OffboardingPlanChanged(
                _("Something changed since you looked: check the new plan, then confirm.")
            )
        now = timezone.now()
        user.is_active = False
        user.deactivated_at = now
        user.departure_scheduled_for = None
        user.files_successor = successor
        setup_link_revoked = account_services.setup_link_revoke_pending(user=user)
        user.save(
            update_fields=[
                "is_active",
                "deactivated_at",
                "departure_scheduled_for",
                "files_successor",
                "password",
                "setup_link_sent_at",
                "setup_link_sent_by",
            ]
        )
        for user_session in UserSession.objects.filter(pk__in=plan.session_ids):
            sessions.user_session_end(
                user_session=user_session, reason=sessions.EndReason.OFFBOARDED
            )
        PersonalAccessToken.objects.filter(pk__in=plan.token_ids).update(revoked_at=now)
        Invitation.objects.filter(pk__in=[pk for pk, _email in plan.invitations]).update(
            revoked_at=now
        )
        invitations.invitations_revoke_to_address(
            ids=[pk for pk, _sender in plan.invitations_to_them],
            actor=actor,
            actor_label=label,
            reason="account deactivated",
        )
        for proposal in RoleProposal.objects.filter(pk__in=[pk for pk, _r in plan.role_proposals]):
            proposal.decided_at, proposal.approved = now, False
            proposal.save(update_fields=["decided_at", "approved"])
            audit.record(
                action=Action.ACCOUNTS_ROLE_EXPIRE,
                actor=actor,
                actor_label=label,
                target_type="accounts.user",
                target_id=user.pk,
                details={
                    "email": user.email,
                    "role": proposal.role,
                    "proposal": proposal.pk,
                    "reason": "account deactivated",
                },
            )
        devices_disabled = 0
        for device in devices_for_user(user, confirmed=True):
            device.confirmed = False
            device.save(update_fields=["confirmed"])
            devices_disabled += 1
        summary: dict[str, Any] = {
            "email": user.email,
            "sessions_ended": len(plan.session_ids),
            "tokens_revoked": len(plan.token_ids),
            "mfa_devices_disabled": devices_disabled,
            "invitations_revoked": len(plan.invitations),
            "invitations_to_them_revoked": len(plan.invitations_to_them),
            "setup_link_revoked": setup_link_revoked,
            "role_proposals_closed": [role for _pk, role in plan.role_proposals],
            "successor": successor.email if successor else "",
            "scheduled": scheduled,
        }
        for step in plan.steps:
            summary[step.name] = step.apply(actor)
        # After the steps: the shares made to the leaver are already gone, so leaving
        # each team ends nothing twice. One ``accounts.team.member_remove`` per team.
        teams_left: list[str] = []
        for membership in TeamMembership.objects.filter(
            pk__in=[pk for pk, _name in plan.memberships]
        ).select_related("team"):
            account_services.team_member_remove(
                actor=actor,
                actor_label=label,
                membership=membership,
                reason=account_services.MembershipEndReason.OFFBOARDING,
            )
            teams_left.append(membership.team.name)
        summary["teams_left"] = sorted(teams_left)
        for receiver, result in user_deactivated.send(
            sender=User, user=user, successor=successor, actor=actor
        ):
            if isinstance(result, dict):
                summary[getattr(receiver, "__name__", "receiver")] = result
        report = OffboardingReport.objects.create(
            user=user,
            actor=actor,
            actor_label=label,
            successor=successor,
            plan=plan.as_json(),
            digest=plan.digest(),
        )
        summary["report"] = report.pk
        audit.record(
            action=Action.ACCOUNTS_USER_DEACTIVATE,
            actor=actor,
            actor_label=label,
            target_type="accounts.user",
            target_id=user.pk,
            details=summary,
        )
        report_id = report.pk
        transaction.on_commit(
            lambda: offboarding_report_emails_send(report_id=report_id), robust=True
        )
    return summary


def offboarding_report_emails_send(*, report_id: int) -> int:
    from accounts.offboarding_report import offboarding_report_emails_send as send

    return send(report_id=report_id)


def user_reactivate(
    *, actor: User | None, user: User, actor_label: str = "", send_setup_link: bool = False
) -> dt.datetime | None:
    """Bring a leaver back, without anything they could sign in with: the old password
    no longer works (whoever knew it, a colleague or a phisher, would otherwise sign in
    first and enrol their own second factor, since the person's devices are deleted
    here); sessions stay ended and API tokens revoked (the deactivation revoked them,
    and none can be made while the account is inactive, accounts/tokens.py). The
    person chooses a new password through a set-up link e-mailed to them
    (``send_setup_link``, or later from their page), or signs in through their identity
    provider once an administrator sent them a link to it (sso/account_link.py).
    Returns when the set-up link expires, if one was sent.

    ``actor`` is None when the directory (SCIM) does it; ``actor_label`` then names it:
    the directory sends no set-up link (an administrator does, from the person's page)."""
    caller_copy = user
    with transaction.atomic():
        user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        # Read before the provider link goes with the devices: someone who signs in only
        # through the provider stays so (no set-up link for them; a link to the provider).
        provider_only = account_services.signs_in_through_provider_only(user)
        deleted = 0
        for device in devices_for_user(user, confirmed=None):
            device.delete()
            deleted += 1
        # A sign-in whose password was checked just before the deactivation wrote its
        # session just after, outside the plan: it must not come back to life here
        # (it could enrol a new second factor with the password step alone).
        sessions_ended = sessions.user_sessions_end_all(
            user=user, reason=sessions.EndReason.OFFBOARDED
        )
        # Site-wide roles do not come back with the account: one person reactivating
        # would grant them alone. They are proposed and approved again (four eyes,
        # accounts/roles.py).
        roles_withdrawn = [
            name
            for name, held in (("site_admin", user.is_site_admin), ("auditor", user.is_auditor))
            if held
        ]
        had_password = user.has_usable_password()
        # A fresh unusable password: the old one no longer signs in, and every set-up
        # link made before (Django's token hashes the password hash) is dead.
        account_services.setup_link_revoke_pending(user=user)
        user.set_unusable_password()
        user.is_active = True
        user.deactivated_at = None
        user.is_site_admin = user.is_auditor = False
        # Who received the files last time is in the offboarding report; kept here it
        # would be taken for this person's next departure's choice (directory/successor.py).
        user.files_successor = None
        user.provider_sign_in_only = provider_only
        user.save(
            update_fields=[
                "provider_sign_in_only",
                "is_active",
                "deactivated_at",
                "is_site_admin",
                "is_auditor",
                "files_successor",
                "password",
                "setup_link_sent_at",
                "setup_link_sent_by",
            ]
        )
        audit.record(
            action=Action.ACCOUNTS_USER_REACTIVATE,
            actor=actor,
            actor_label=actor_label,
            target_type="accounts.user",
            target_id=user.pk,
            details={
                "email": user.email,
                "mfa_devices_deleted": deleted,
                "sessions_ended": sessions_ended,
                "roles_withdrawn": roles_withdrawn,
                "password_withdrawn": had_password,
                "provider_sign_in_only": provider_only,
                "setup_link_sent": bool(
                    send_setup_link and actor is not None and not provider_only
                ),
            },
        )
        expires_at = None
        # Never for someone who signs in only through the provider (the view refuses the
        # request before: accounts.services.setup_link_provider_only_check).
        if send_setup_link and actor is not None and not provider_only:
            expires_at = account_services.setup_link_send(actor=actor, user=user)
    # The caller's copy as it now is (its former password hash would no longer match
    # the one of a session signed in from it).
    caller_copy.refresh_from_db()
    return expires_at


def departures_due_process(*, today: dt.date | None = None) -> int:
    """Deactivate everyone whose departure date has come. Idempotent (beat task).

    Each person is offboarded on their own: one whose offboarding fails (logged with its
    traceback, retried at the next run, since they are still active) does not keep the
    people after them in access."""
    day = today or timezone.localdate()
    count = 0
    for user in User.objects.filter(is_active=True, departure_scheduled_for__lte=day):
        try:
            user_deactivate(actor=None, user=user, successor=user.files_successor, scheduled=True)
        except Exception:
            logger.exception("scheduled departure of user %s failed; retried next run", user.pk)
            continue
        count += 1
    return count
