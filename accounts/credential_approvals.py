"""Four eyes before a key to an account goes to an address someone else just set.

The threat: one site administrator, alone, moves a clinician's e-mail address to a
mailbox he holds (with a directory token he created, SCIM), has her password dropped (a
deactivation and a reactivation), then sends her a set-up link, or a link to the
identity provider, from her page: it arrives in his mailbox and he signs in as her,
reading her patient files. Each step is audited and her former address is told
(accounts/security_notices.py), but telling is not stopping.

The rule: for ``settings.CREDENTIAL_APPROVAL_DAYS`` (default 14) after someone other
than the person changed her address (``User.email_changed_at``, set by the directory),
every key to the account an administrator has e-mailed there needs the approval of a
*second* site administrator:

* a set-up link (``accounts.services.setup_link_send``), alone or with a reactivation
  (``accounts.offboarding.user_reactivate``);
* a link to an identity provider (``sso.account_link.account_link_send``).

SecureDrive has no other key an administrator can issue: second factors and recovery
codes are reset only by a reactivation (which deletes them and issues nothing) and made
only by the person, signed in (docs/mfa.md). Any such step added later calls
``credential_gate`` too.

One administrator asks (``approval_request``); another, never the asker nor the person,
approves or refuses (``approval_decide``) on *Administration → Link approvals* within
``REQUEST_LIFETIME``; the approval lets the asker send that key once, to that very
address, within ``APPROVAL_LIFETIME`` (``credential_gate`` then ``approval_use``, in the
transaction that issues the key). With a single active administrator nobody can
approve: the web refuses, and the server's operator, who already has full access, can
print a set-up link at the console (``manage.py setup_link``), untouched by this rule.

Each step is audited, naming people: ``accounts.credential_approval.request``,
``.approve``, ``.refuse``, ``.use``; the refused key itself as
``accounts.setup_link.send`` or ``sso.account_link.send`` denied, reason
``address changed by someone else``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NoReturn

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.errors import AccountRuleError
from accounts.models import CredentialApproval, User

# Re-exported: the callers (services, sso, views) name the kinds of key from here.
from accounts.models import CredentialKind as CredentialKind
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome

# Long enough for a colleague off for a long weekend (as role proposals).
REQUEST_LIFETIME = dt.timedelta(days=3)
# Once approved: the asker sends the key the same day, or asks again.
APPROVAL_LIFETIME = dt.timedelta(hours=24)

ADDRESS_CHANGED = "address changed by someone else"


class ApprovalNeeded(AccountRuleError):
    """A key refused until a second administrator approves: the page says why and, when
    another administrator exists, offers to ask one."""

    recorded = True  # by credential_refusal_raise

    def __init__(self, message: str, *, kind: str, provider: str, approver_exists: bool) -> None:
        super().__init__(message, 409)
        self.kind = kind
        self.provider = provider
        self.approver_exists = approver_exists


@dataclass(frozen=True)
class Gate:
    """What ``credential_gate`` found: the approval to use (None when none is needed),
    or why the key may not go out now ("" when it may)."""

    approval: CredentialApproval | None = None
    refusal: str = ""


def approval_needed_until(user: User, now: dt.datetime | None = None) -> dt.datetime | None:
    """Until when keys to ``user``'s account need a second administrator (None: not)."""
    if user.email_changed_at is None:
        return None
    until = user.email_changed_at + dt.timedelta(days=settings.CREDENTIAL_APPROVAL_DAYS)
    return until if until > (now or timezone.now()) else None


def approvers_for(*, actor: User, user: User) -> QuerySet[User]:
    """The active site administrators who may approve ``actor``'s request for ``user``."""
    return (
        User.objects.filter(is_active=True, is_site_admin=True)
        .exclude(pk=actor.pk)
        .exclude(pk=user.pk)
    )


def _usable_approval(
    *, actor: User, user: User, kind: str, provider: str, now: dt.datetime
) -> CredentialApproval | None:
    return (
        CredentialApproval.objects.select_for_update(of=("self",))
        .select_related("decided_by")
        .filter(
            subject=user,
            kind=kind,
            provider=provider,
            requested_by=actor,
            approved=True,
            used_at__isnull=True,
            expires_at__gt=now,
            email__iexact=user.email,
        )
        .order_by("-decided_at")
        .first()
    )


def credential_gate(*, actor: User, user: User, kind: str, provider: str = "") -> Gate:
    """May ``actor`` send ``user`` this key now? Call inside the transaction that issues
    it, with ``user``'s row locked; on a returned approval, call ``approval_use`` in the
    same transaction. Nothing is recorded here: a refusal is recorded by
    ``credential_refusal_raise``, after the caller's transaction."""
    now = timezone.now()
    if approval_needed_until(user, now) is None:
        return Gate()
    approval = _usable_approval(actor=actor, user=user, kind=kind, provider=provider, now=now)
    if approval is None:
        return Gate(refusal=ADDRESS_CHANGED)
    return Gate(approval=approval)


def approval_use(*, actor: User, user: User, gate: Gate) -> None:
    """Spend the approval ``gate`` found, once (in the transaction issuing the key)."""
    approval = gate.approval
    if approval is None:
        return
    approval.used_at = timezone.now()
    approval.save(update_fields=["used_at"])
    audit.record(
        action=Action.ACCOUNTS_CREDENTIAL_APPROVAL_USE,
        actor=actor,
        target_type="accounts.user",
        target_id=user.pk,
        details={
            "name": user.get_full_name(),
            "email": user.email,
            "kind": approval.kind,
            "provider": approval.provider,
            "approval": approval.pk,
            "approved_by": _person(approval.decided_by),
        },
    )


def _person(user: User | None) -> str:
    """A person as the audit log names them: "Sam Admin <sam@…>"."""
    if user is None:
        return ""
    return f"{user.full_name} <{user.email}>" if user.full_name else user.email


def _change_details(user: User) -> dict[str, object]:
    return {
        "name": user.get_full_name(),
        "email": user.email,
        "former_email": user.email_previous,
        "address_changed_by": user.email_changed_by,
        "token_created_by": _person(user.email_changed_token_creator),
        "address_changed_at": user.email_changed_at.isoformat() if user.email_changed_at else "",
    }


def address_changed_by_words(user: User) -> str:
    """Who changed ``user``'s address, for a page: the directory, and the administrator
    who created its token."""
    who = user.email_changed_by or _("someone else")
    creator = user.email_changed_token_creator
    if creator is None:
        return who
    return _("%(directory)s, whose token %(admin)s created") % {
        "directory": who,
        "admin": _person(creator),
    }


def approval_needed_message(*, actor: User, user: User) -> tuple[str, bool]:
    """What the administrator reads, and whether another administrator could approve."""
    until = approval_needed_until(user)
    values = {
        "name": user.get_full_name(),
        "email": user.email,
        "who": address_changed_by_words(user),
        "day": formats.date_format(
            timezone.localtime(user.email_changed_at), "SHORT_DATETIME_FORMAT"
        )
        if user.email_changed_at
        else "",
        "until": formats.date_format(timezone.localtime(until), "SHORT_DATETIME_FORMAT")
        if until
        else "",
    }
    approver_exists = approvers_for(actor=actor, user=user).exists()
    said = (
        _(
            "The e-mail address of %(name)s was changed to %(email)s by %(who)s on %(day)s. "
            "Until %(until)s, a link that opens this account goes out only with the approval "
            "of a second site administrator: whoever changed the address could otherwise "
            "send the key to their own mailbox."
        )
        % values
    )
    if approver_exists:
        return said, True
    return (
        said
        + " "
        + _(
            "You are the only active site administrator, so nobody can approve it here. "
            "The server's operator can print a set-up link at the console "
            "(manage.py setup_link %(email)s), after checking with the person that the "
            "address is theirs."
        )
        % values,
        False,
    )


def credential_refusal_raise(
    *, action: Action, actor: User, user: User, kind: str, provider: str = ""
) -> NoReturn:
    """Record the key refused (outside any transaction a refusal rolls back) and raise
    the message the administrator reads."""
    user.refresh_from_db()
    message, approver_exists = approval_needed_message(actor=actor, user=user)
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="accounts.user",
        target_id=user.pk,
        details={
            **_change_details(user),
            "reason": ADDRESS_CHANGED,
            "kind": kind,
            "provider": provider,
            "second_administrator_exists": approver_exists,
        },
    )
    raise ApprovalNeeded(message, kind=kind, provider=provider, approver_exists=approver_exists)


def credential_gate_check(
    *, action: Action, actor: User, user: User, kind: str, provider: str = ""
) -> None:
    """Before a step that would issue the key later in its transaction (a reactivation
    asked to send a set-up link): refuse, recorded, before anything changes."""
    with transaction.atomic():
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        gate = credential_gate(actor=actor, user=locked, kind=kind, provider=provider)
    if gate.refusal:
        credential_refusal_raise(
            action=action, actor=actor, user=user, kind=kind, provider=provider
        )


def _refused(
    action: Action, *, actor: User, user: User, reason: str, **details: object
) -> NoReturn:
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="accounts.user",
        target_id=user.pk,
        details={**_change_details(user), "reason": reason, **details},
    )
    error = AccountRuleError(refusal_message(reason, user=user), 403 if reason == "self" else 409)
    error.recorded = True
    raise error


def _lapse_expired(now: dt.datetime) -> None:
    """Close pending requests past their expiry (an approved one simply lapses unused)."""
    CredentialApproval.objects.filter(decided_at__isnull=True, expires_at__lte=now).update(
        decided_at=now, approved=False
    )


def approval_request(
    *, actor: User, user: User, kind: str, provider: str = ""
) -> CredentialApproval:
    """``actor`` asks a second administrator to let him send ``user`` this key."""
    kind = CredentialKind(kind)
    action = Action.ACCOUNTS_CREDENTIAL_APPROVAL_REQUEST
    if actor.pk == user.pk:
        _refused(action, actor=actor, user=user, reason="self", kind=kind)
    if approval_needed_until(user) is None:
        _refused(action, actor=actor, user=user, reason="not needed", kind=kind)
    if not approvers_for(actor=actor, user=user).exists():
        _refused(action, actor=actor, user=user, reason="no second administrator", kind=kind)
    now = timezone.now()
    try:
        with transaction.atomic():
            _lapse_expired(now)
            approval = CredentialApproval.objects.create(
                subject=user,
                kind=kind,
                provider=provider if kind == CredentialKind.PROVIDER_LINK else "",
                email=user.email,
                requested_by=actor,
                requested_at=now,
                expires_at=now + REQUEST_LIFETIME,
            )
            audit.record(
                action=action,
                actor=actor,
                target_type="accounts.user",
                target_id=user.pk,
                details={
                    **_change_details(user),
                    "kind": kind,
                    "provider": approval.provider,
                    "approval": approval.pk,
                    "requested_by": _person(actor),
                    "expires_at": approval.expires_at.isoformat(),
                },
            )
    except IntegrityError:
        _refused(action, actor=actor, user=user, reason="pending", kind=kind)
    return approval


def approvals_pending() -> QuerySet[CredentialApproval]:
    return (
        CredentialApproval.objects.filter(decided_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("subject", "requested_by")
        .order_by("expires_at")
    )


def approvals_of(user: User) -> QuerySet[CredentialApproval]:
    """``user``'s requests still open or approved and unused, for the person's page."""
    now = timezone.now()
    return (
        CredentialApproval.objects.filter(subject=user, expires_at__gt=now, used_at__isnull=True)
        .exclude(approved=False)
        .select_related("requested_by", "decided_by")
    )


def _decider_refusal(*, actor: User, approval: CredentialApproval, now: dt.datetime) -> str:
    if not (actor.is_active and actor.is_site_admin):
        return "not approver"
    if actor.pk == approval.requested_by_id:
        return "requester"
    if actor.pk == approval.subject_id:
        return "self"
    if approval.decided_at is not None:
        return "decided"
    if approval.expires_at <= now:
        return "expired"
    if approval.email.lower() != approval.subject.email.lower():
        return "address changed again"
    requester = approval.requested_by
    if requester is None or not (requester.is_active and requester.is_site_admin):
        return "requester gone"
    return ""


def approval_decide(*, actor: User, approval_id: int, approve: bool) -> CredentialApproval:
    """A second administrator approves (the asker may then send the key once, within
    ``APPROVAL_LIFETIME``) or refuses."""
    action = (
        Action.ACCOUNTS_CREDENTIAL_APPROVAL_APPROVE
        if approve
        else Action.ACCOUNTS_CREDENTIAL_APPROVAL_REFUSE
    )
    now = timezone.now()
    with transaction.atomic():
        approval = (
            CredentialApproval.objects.select_for_update(of=("self",))
            .select_related("subject", "requested_by")
            .filter(pk=approval_id)
            .first()
        )
        if approval is None:
            raise AccountRuleError(_("No such request."), 404)
        subject = approval.subject
        reason = _decider_refusal(actor=actor, approval=approval, now=now)
        if not reason:
            approval.decided_by, approval.decided_at, approval.approved = actor, now, approve
            if approve:
                approval.expires_at = now + APPROVAL_LIFETIME
            approval.save(update_fields=["decided_by", "decided_at", "approved", "expires_at"])
            audit.record(
                action=action,
                actor=actor,
                target_type="accounts.user",
                target_id=subject.pk,
                details={
                    **_change_details(subject),
                    "kind": approval.kind,
                    "provider": approval.provider,
                    "approval": approval.pk,
                    "requested_by": _person(approval.requested_by),
                    **({"usable_until": approval.expires_at.isoformat()} if approve else {}),
                },
            )
    if reason:
        _refused(action, actor=actor, user=subject, reason=reason, approval=approval.pk)
    return approval


def refusal_message(reason: str, *, user: User) -> str:
    messages = {
        "self": _("Nobody may approve or ask for a key to their own account."),
        "not needed": _(
            "No approval is needed: nobody else changed the address of %(name)s recently."
        ),
        "no second administrator": _(
            "You are the only active site administrator, so nobody can approve it here. "
            "The server's operator can print a set-up link at the console "
            "(manage.py setup_link %(email)s), after checking with the person that the "
            "address is theirs."
        ),
        "pending": _("A request for this link already awaits a second administrator."),
        "not approver": _("Only another site administrator may approve."),
        "requester": _("The administrator who asked cannot approve: a second administrator must."),
        "decided": _("This request was already decided."),
        "expired": _("This request has expired: ask again."),
        "address changed again": _(
            "The address of %(name)s changed again since the request: ask again."
        ),
        "requester gone": _(
            "The administrator who asked is no longer an active administrator: ask again."
        ),
    }
    return messages[reason] % {"name": user.get_full_name(), "email": user.email}
