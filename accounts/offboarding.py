"""Offboarding: cut a leaver's access in one action, now or on a departure date.

Other apps react through the ``user_deactivated`` signal (files hand personal files to
the successor; sharing revokes the external links, transfers and file requests the
person created, see sharing/services/offboarding.py). Each receiver
returns a small dict of what it did, which goes into the audit event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import devices_for_user

from accounts import sessions
from accounts.errors import AccountRuleError
from accounts.models import PersonalAccessToken, User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome

# Sent inside the deactivation's transaction, with user=, successor= (User or None)
# and actor=. Receivers return a JSON-safe dict summarising what they revoked or moved.
user_deactivated = Signal()


def _other_active_site_admins(user: User) -> bool:
    return User.objects.filter(is_site_admin=True, is_active=True).exclude(pk=user.pk).exists()


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
    if user.is_site_admin and not _other_active_site_admins(user):
        raise AccountRuleError(_("The last active site administrator cannot be deactivated."))
    if successor is not None and (successor.pk == user.pk or not successor.is_active):
        raise AccountRuleError(_("Choose an active colleague to receive the files."))


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
    with transaction.atomic():
        user.departure_scheduled_for = None
        user.save(update_fields=["departure_scheduled_for"])
        audit.record(
            action=Action.ACCOUNTS_USER_DEPARTURE_CANCEL,
            actor=actor,
            target_type="accounts.user",
            target_id=user.pk,
            details={"email": user.email},
        )


def user_deactivate(
    *, actor: User | None, user: User, successor: User | None, scheduled: bool = False
) -> dict[str, Any]:
    """Deactivate now. Every session and token dies at once; MFA devices are disabled.

    ``actor`` is None when the departure-date task runs it.
    """
    if actor is not None:
        _check_may_deactivate(
            actor=actor, user=user, successor=successor, action=Action.ACCOUNTS_USER_DEACTIVATE
        )
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if not user.is_active:
            return {"already_inactive": True}
        now = timezone.now()
        user.is_active = False
        user.deactivated_at = now
        user.departure_scheduled_for = None
        user.files_successor = successor
        user.save(
            update_fields=[
                "is_active",
                "deactivated_at",
                "departure_scheduled_for",
                "files_successor",
            ]
        )
        sessions_ended = sessions.user_sessions_end_all(
            user=user, reason=sessions.EndReason.OFFBOARDED
        )
        tokens_revoked = PersonalAccessToken.objects.filter(
            user=user, revoked_at__isnull=True
        ).update(revoked_at=now)
        devices_disabled = 0
        for device in devices_for_user(user, confirmed=True):
            device.confirmed = False
            device.save(update_fields=["confirmed"])
            devices_disabled += 1
        summary: dict[str, Any] = {
            "email": user.email,
            "sessions_ended": sessions_ended,
            "tokens_revoked": tokens_revoked,
            "mfa_devices_disabled": devices_disabled,
            "successor": successor.email if successor else "",
            "scheduled": scheduled,
        }
        for receiver, result in user_deactivated.send(
            sender=User, user=user, successor=successor, actor=actor
        ):
            if isinstance(result, dict):
                summary[getattr(receiver, "__name__", "receiver")] = result
        audit.record(
            action=Action.ACCOUNTS_USER_DEACTIVATE,
            actor=actor,
            actor_label="" if actor else "system (departure date)",
            target_type="accounts.user",
            target_id=user.pk,
            details=summary,
        )
    return summary


def user_reactivate(*, actor: User, user: User) -> None:
    """Reactivation requires a fresh MFA enrolment: old devices are deleted."""
    with transaction.atomic():
        deleted = 0
        for device in devices_for_user(user, confirmed=None):
            device.delete()
            deleted += 1
        user.is_active = True
        user.deactivated_at = None
        user.save(update_fields=["is_active", "deactivated_at"])
        audit.record(
            action=Action.ACCOUNTS_USER_REACTIVATE,
            actor=actor,
            target_type="accounts.user",
            target_id=user.pk,
            details={"email": user.email, "mfa_devices_deleted": deleted},
        )


def departures_due_process(*, today: dt.date | None = None) -> int:
    """Deactivate everyone whose departure date has come. Idempotent (beat task)."""
    day = today or timezone.localdate()
    count = 0
    for user in User.objects.filter(is_active=True, departure_scheduled_for__lte=day):
        user_deactivate(actor=None, user=user, successor=user.files_successor, scheduled=True)
        count += 1
    return count
