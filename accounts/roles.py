"""Separation of duties: who may give whom a role or a team membership (docs/accounts.md).

Two rules, decided here and called by every way in (admin pages, team pages,
invitations; there is no Django admin and no API for roles):

* **Nobody widens their own access.** A person may not grant themselves a role, join a
  team, or raise their own role in a team (``self_grant_refusal``). Giving up a role or
  leaving a team is always allowed.
* **Four eyes for the site-wide roles.** Making someone a site administrator or an
  auditor is a ``RoleProposal``: one administrator proposes, a *second* person (another
  administrator or an auditor, neither the proposer nor the person concerned) approves
  within ``PROPOSAL_LIFETIME``; otherwise it lapses. An auditor reads every audit event
  and an administrator manages accounts and team memberships (who reads which files):
  either, in one person's hands, would let them widen access unseen.
* **The first auditor** is appointed by the operator (shell access) with
  ``manage.py auditor_appoint_first``, which refuses once an active auditor exists.
* **An auditor reads no file content** (ARCHITECTURE.md, invariant 4). The role and
  access to colleagues' files exclude each other: the auditor role is refused (when
  proposed, approved or appointed) to someone in a team or holding shares of others'
  files, naming them (``auditor_content_access``); an auditor is refused a team (team
  pages, invitations, the directory) and a share, transfer, personal link or file
  request (sharing/services); the sharer reads a neutral refusal
  (``recipient_refusal_message``), only the log and administrators learn the role.
  Conflicts older than this rule are not deleted behind the administrators' backs, but
  are suspended: whoever holds the role reads no file content through them
  (``files.selectors.role_withholds_content``, a 403 that says why), and the people
  list and the person's page flag them (``auditors_with_content_access``) until an
  administrator removes the memberships and shares or withdraws the role.
* **What she opened to outsiders on others' files ends at the grant.** Links,
  transfers and file requests the new auditor made on content outside her personal
  space (in teams she left first) are withdrawn in the grant's transaction
  (``auditor_grant_planned``, received by sharing), each audited with the reason
  ``BECAME_AUDITOR``; the approver sees the list first, and the person is told in the
  role's notice (``accounts.role_notices``).

Each step is audited: ``accounts.role.propose``, ``accounts.role.approve``,
``accounts.role.decline``, ``accounts.role.expire``, ``accounts.role.first_auditor``, and
the change itself as ``accounts.user.roles``; refusals with outcome ``denied``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import role_notices, sessions, tokens
from accounts.errors import AccountRuleError
from accounts.models import GrantedRole, RoleProposal, Team, TeamMembership, TeamRole, User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome

# Long enough for a colleague on leave for a long weekend, short enough that a
# forgotten proposal does not wait for a moment nobody watches.
PROPOSAL_LIFETIME = dt.timedelta(days=3)

_ROLE_FIELD = {GrantedRole.SITE_ADMIN: "is_site_admin", GrantedRole.AUDITOR: "is_auditor"}


def _has_role(user: User, role: str) -> bool:
    return bool(getattr(user, _ROLE_FIELD[GrantedRole(role)]))


def _denied(
    action: Action, *, actor: User | None, subject: User, reason: str, **details: object
) -> None:
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="accounts.user",
        target_id=subject.pk,
        details={"email": subject.email, "reason": reason, **details},
    )


# --- Nobody widens their own access ------------------------------------------------------


def self_grant_refusal(*, actor: User, subject: User) -> str:
    """Why ``actor`` may not grant ``subject`` a site-wide role ("" when they may ask
    for it): nobody proposes themselves."""
    return "self_grant" if actor.pk == subject.pk else ""


def team_membership_self_refusal(
    *, actor: User, user: User, current: TeamMembership | None, role: str
) -> str:
    """Joining a team or becoming its manager widens one's access: never by oneself."""
    if actor.pk != user.pk:
        return ""
    if current is None:
        return "self_grant"
    if role == TeamRole.MANAGER and current.role != TeamRole.MANAGER:
        return "self_grant"
    return ""


# --- Somebody must hold each site-wide role -------------------------------------------

# PostgreSQL advisory lock (two-number form, a key space apart from the audit chain's
# and the uploads' one-number keys): "SD", then 1 for "who holds a site-wide role".
_SITE_ROLES_LOCK = (0x5344, 1)


def site_roles_lock() -> None:
    """Serialise every change that may take a site-wide role away from someone (a
    withdrawal on the roles page, a deactivation by an administrator, the departure
    date or the directory) until the caller's transaction ends.

    Take it first in the transaction, before the person's row (docs/architecture.md,
    "Lock order"): each such change then runs after the previous one committed, and
    ``last_holder_refusal`` counts what that one left. Locking the other holders' rows
    instead (as before) made two administrators withdrawing each other's role wait for
    each other: a deadlock, one of them an error page. SQLite (embedded mode) runs each
    writing transaction alone already (``BEGIN IMMEDIATE``)."""
    if not connection.in_atomic_block:
        raise RuntimeError("site_roles_lock() belongs inside the change's transaction")
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(_SITE_ROLES_LOCK))


def last_holder_refusal(*, user: User, keeps_site_admin: bool, keeps_auditor: bool) -> str:
    """Why ``user`` may not lose a site-wide role now ("" when they may): the site would
    be left with no active administrator ("last_site_admin": nobody to manage accounts)
    or no active auditor ("last_auditor": nobody reads the log, and one administrator
    alone could then approve nothing, nor be watched). Withdrawing the role and
    deactivating the account are both losing it.

    Call inside the change's transaction, after ``site_roles_lock()`` and with ``user``
    read after it: two administrators withdrawing each other's role at the same instant
    cannot both pass (the second waits, then sees the first's change)."""
    site_roles_lock()  # already held: a no-op; otherwise taken before any holder is read
    holders = list(
        User.objects.filter(Q(is_site_admin=True) | Q(is_auditor=True), is_active=True)
        .exclude(pk=user.pk)
        .order_by("pk")
        .values_list("is_site_admin", "is_auditor")
    )
    if user.is_site_admin and not keeps_site_admin and not any(a for a, _b in holders):
        return "last_site_admin"
    if user.is_auditor and not keeps_auditor and not any(b for _a, b in holders):
        return "last_auditor"
    return ""


# --- An auditor reads no file content ------------------------------------------------------

# Sent with user=; each receiver returns a list of short translated lines naming what
# gives the person access to others' files besides their teams (sharing: the files and
# folders shared with them by name). accounts does not import sharing.
content_access_listed = Signal()


def auditor_content_access(user: User) -> list[str]:
    """What lets ``user`` read colleagues' files, in words ("member of Cardiologie,
    Urgences", "3 files or folders shared with them"); [] when nothing does. An auditor
    must hold none of it: the one who checks who read patient files reads none."""
    teams = list(
        Team.objects.filter(memberships__user=user)
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )
    lines = [_("member of %(teams)s") % {"teams": ", ".join(teams)}] if teams else []
    for _receiver, result in content_access_listed.send(sender=User, user=user):
        lines.extend(str(line) for line in result or [])
    return lines


# --- What an auditor had opened to outsiders on others' files: withdrawn at the grant ----

# The audit's reason for each withdrawal (audit/readable.py reads it in words).
BECAME_AUDITOR = "became an auditor"


@dataclass(frozen=True)
class Withdrawn:
    """One thing the grant withdraws, as its creator knew it: a link (``name``: the file
    or folder), a transfer (``name``: its subject; ``files``: those she may no longer
    read) or a file request (``name``: its title)."""

    kind: str  # "link", "transfer", "file_request"
    name: str
    files: tuple[str, ...] = ()

    def as_details(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "files": list(self.files)}


@dataclass(frozen=True)
class WithdrawnKinds:
    """What is withdrawn, counted by kind, for a reader who may not read the names."""

    links: int
    transfers: int
    transfer_files: int
    file_requests: int


def withdrawn_kinds(items: list[Withdrawn]) -> WithdrawnKinds:
    transfers = [item for item in items if item.kind == "transfer"]
    return WithdrawnKinds(
        links=sum(1 for item in items if item.kind == "link"),
        transfers=len(transfers),
        transfer_files=sum(len(item.files) for item in transfers),
        file_requests=sum(1 for item in items if item.kind == "file_request"),
    )


@dataclass
class AuditorGrantStep:
    """What a receiver of ``auditor_grant_planned`` withdraws at the grant (``withdrawn``,
    shown to the approver before she approves) and the function that does exactly
    that, in the grant's transaction, given who grants (``None``: the operator)."""

    withdrawn: list[Withdrawn] = field(default_factory=list)
    apply: Callable[[User | None], object] = lambda actor: None


# Sent with user= and lock=; each receiver returns an ``AuditorGrantStep``. The sharing
# app withdraws the links, transfers and file requests the person made on content she
# will no longer read (anything outside her own personal space): her role would keep
# them live for outsiders while neither she nor anyone else could see or withdraw them
# (she left the teams first: ``auditor_content_access``). accounts does not import
# sharing.
auditor_grant_planned = Signal()


def auditor_grant_steps(user: User, *, lock: bool = False) -> list[AuditorGrantStep]:
    """What making ``user`` an auditor will withdraw (``lock``: the rows locked, in the
    grant's transaction, so that what is shown and what is done are the same rows)."""
    steps: list[AuditorGrantStep] = []
    for _receiver, step in auditor_grant_planned.send(sender=User, user=user, lock=lock):
        if isinstance(step, AuditorGrantStep):
            steps.append(step)
    return steps


def auditor_grant_withdrawn(user: User) -> list[Withdrawn]:
    """The approver's preview: what approving the auditor role for ``user`` withdraws."""
    return [item for step in auditor_grant_steps(user) for item in step.withdrawn]


def auditor_content_message(user: User, access: list[str]) -> str:
    return _(
        "%(name)s cannot be an auditor while they can read colleagues' files (%(access)s): "
        "an auditor reads the audit log, never file content. Remove them from these teams "
        "and have these shares withdrawn first."
    ) % {"name": user.get_full_name(), "access": "; ".join(access)}


def auditor_refusal_message(user: User) -> str:
    """What an administrator reads when they try to give an auditor access to files
    (administrators manage roles: they know who holds which)."""
    return _(
        "%(name)s is an auditor: an auditor reads the audit log, never file content. "
        "Withdraw the auditor role first if they need these files."
    ) % {"name": user.get_full_name()}


def recipient_refusal_message(recipient: str) -> str:
    """What a sharer (or a team manager) reads when the person they chose may not
    receive files: the same words whatever the reason, so that a colleague does not
    learn who the auditors are by trying to share with them (the audit event keeps the
    precise reason). ``recipient``: the name or address the sharer chose."""
    return _(
        "%(recipient)s cannot receive files from you. Choose someone else, or ask an administrator."
    ) % {"recipient": recipient}


def auditor_with_address(email: str) -> User | None:
    """The active auditor whose account has this e-mail address, if any: a transfer or
    a personal link sent there would put file content in an auditor's hands."""
    email = email.strip()
    if not email:
        return None
    return User.objects.filter(email__iexact=email, is_auditor=True, is_active=True).first()


def auditors_with_content_access() -> list[tuple[User, list[str]]]:
    """Active auditors who still hold access to colleagues' files, with what gives it:
    conflicts older than the rule, suspended while they hold the role (files.selectors)
    and shown to administrators to resolve (the people list and the person's page).
    Nothing is removed automatically: a clinician who is also an auditor would lose the
    files of patients in their care without anyone deciding."""
    conflicts = []
    for auditor in User.objects.filter(is_auditor=True, is_active=True).order_by("email"):
        access = auditor_content_access(auditor)
        if access:
            conflicts.append((auditor, access))
    return conflicts


def _auditor_conflict_denied(
    action: Action, *, actor: User | None, subject: User, access: list[str], **details: object
) -> AccountRuleError:
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        actor_label="" if actor else "operator",
        target_type="accounts.user",
        target_id=subject.pk,
        details={
            "email": subject.email,
            "reason": "auditor_content_access",
            "access": access,
            **details,
        },
    )
    return AccountRuleError(auditor_content_message(subject, access), 409)


# --- Proposals -----------------------------------------------------------------------------


def _lapse_expired(now: dt.datetime) -> None:
    """Close proposals past their expiry (each audited once, as ``expire``)."""
    for proposal in RoleProposal.objects.select_for_update().filter(
        decided_at__isnull=True, expires_at__lte=now
    ):
        proposal.decided_at, proposal.approved = now, False
        proposal.save(update_fields=["decided_at", "approved"])
        audit.record(
            action=Action.ACCOUNTS_ROLE_EXPIRE,
            actor_label="system",
            target_type="accounts.user",
            target_id=proposal.subject_id,
            details={"role": proposal.role, "proposal": proposal.pk},
        )


def role_proposals_pending() -> QuerySet[RoleProposal]:
    now = timezone.now()
    return (
        RoleProposal.objects.filter(decided_at__isnull=True, expires_at__gt=now)
        .select_related("subject", "proposed_by")
        .order_by("expires_at")
    )


def role_propose(*, actor: User, subject: User, role: str, via: str = "admin") -> RoleProposal:
    """Ask a second person to approve ``role`` for ``subject``."""
    role = GrantedRole(role)
    reason = ""
    if not actor.is_site_admin or not actor.is_active:
        reason = "not_site_admin"
    elif self_grant_refusal(actor=actor, subject=subject):
        reason = "self_grant"
    elif not subject.is_active:
        reason = "subject_inactive"
    elif _has_role(subject, role):
        reason = "already_has_role"
    if reason:
        _denied(
            Action.ACCOUNTS_ROLE_PROPOSE, actor=actor, subject=subject, reason=reason, role=role
        )
        raise AccountRuleError(refusal_message(reason))
    if role == GrantedRole.AUDITOR and (access := auditor_content_access(subject)):
        raise _auditor_conflict_denied(
            Action.ACCOUNTS_ROLE_PROPOSE, actor=actor, subject=subject, access=access, role=role
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            _lapse_expired(now)
            proposal = RoleProposal.objects.create(
                subject=subject,
                role=role,
                proposed_by=actor,
                proposed_at=now,
                expires_at=now + PROPOSAL_LIFETIME,
            )
            audit.record(
                action=Action.ACCOUNTS_ROLE_PROPOSE,
                actor=actor,
                target_type="accounts.user",
                target_id=subject.pk,
                details={
                    "email": subject.email,
                    "role": role,
                    "proposal": proposal.pk,
                    "expires_at": proposal.expires_at.isoformat(),
                    "via": via,
                },
            )
    except IntegrityError:
        _denied(
            Action.ACCOUNTS_ROLE_PROPOSE, actor=actor, subject=subject, reason="pending", role=role
        )
        raise AccountRuleError(refusal_message("pending")) from None
    return proposal


def _approver_refusal(*, actor: User, proposal: RoleProposal) -> str:
    if not actor.is_active or not (actor.is_site_admin or actor.is_auditor):
        return "not_approver"
    if actor.pk == proposal.proposed_by_id:
        return "proposer"
    if actor.pk == proposal.subject_id:
        return "self_grant"
    return ""


def role_proposal_decide(*, actor: User, proposal_id: int, approve: bool) -> RoleProposal:
    """Approve (the role is granted at once) or decline a pending proposal."""
    action = Action.ACCOUNTS_ROLE_APPROVE if approve else Action.ACCOUNTS_ROLE_DECLINE
    now = timezone.now()
    with transaction.atomic():
        proposal = (
            RoleProposal.objects.select_for_update(of=("self",))
            .select_related("subject", "proposed_by")
            .filter(pk=proposal_id)
            .first()
        )
        if proposal is None:
            raise AccountRuleError(_("No such proposal."))
        subject = proposal.subject
        reason = _approver_refusal(actor=actor, proposal=proposal)
        if not reason and proposal.decided_at is not None:
            reason = "decided"
        elif not reason and proposal.expires_at <= now:
            reason = "expired"
        elif not reason and approve and not subject.is_active:
            reason = "subject_inactive"
        elif (
            not reason
            and approve
            and not (
                proposal.proposed_by is not None
                and proposal.proposed_by.is_active
                and proposal.proposed_by.is_site_admin
            )
        ):
            # The first pair of eyes is gone (left, or lost the role): start again.
            reason = "proposer_gone"
    if reason:
        _denied(action, actor=actor, subject=subject, reason=reason, proposal=proposal.pk)
        raise AccountRuleError(refusal_message(reason))
    access: list[str] = []
    with transaction.atomic():
        proposal = RoleProposal.objects.select_for_update().get(pk=proposal.pk)
        if proposal.decided_at is not None:
            raise AccountRuleError(refusal_message("decided"))
        if approve and proposal.role == GrantedRole.AUDITOR:
            # Locked: a team membership added at this instant waits (team_member_set
            # locks the person's row too), or is seen here.
            User.objects.select_for_update(no_key=True).get(pk=subject.pk)
            access = auditor_content_access(subject)
        if not access:
            _proposal_close(actor=actor, proposal=proposal, subject=subject, approve=approve)
    if access:
        # Outside the transaction, so that the refusal stays in the log; the proposal
        # stays open, for when the memberships are gone (or to be declined).
        raise _auditor_conflict_denied(
            action, actor=actor, subject=subject, access=access, proposal=proposal.pk
        )
    return proposal


def _proposal_close(*, actor: User, proposal: RoleProposal, subject: User, approve: bool) -> None:
    """Record the decision (and grant the role when approved), in the caller's
    transaction with the proposal locked."""
    action = Action.ACCOUNTS_ROLE_APPROVE if approve else Action.ACCOUNTS_ROLE_DECLINE
    proposal.decided_by, proposal.decided_at, proposal.approved = actor, timezone.now(), approve
    proposal.save(update_fields=["decided_by", "decided_at", "approved"])
    audit.record(
        action=action,
        actor=actor,
        target_type="accounts.user",
        target_id=subject.pk,
        details={
            "email": subject.email,
            "role": proposal.role,
            "proposal": proposal.pk,
            "proposed_by": proposal.proposed_by.email if proposal.proposed_by else "",
        },
    )
    if approve:
        _role_apply(actor=actor, subject=subject, role=proposal.role, proposal=proposal)


def _role_apply(*, actor: User | None, subject: User, role: str, **context: object) -> None:
    subject = User.objects.select_for_update(no_key=True).get(pk=subject.pk)
    before = {"site_admin": subject.is_site_admin, "auditor": subject.is_auditor}
    setattr(subject, _ROLE_FIELD[GrantedRole(role)], True)
    subject.save(update_fields=[_ROLE_FIELD[GrantedRole(role)]])
    after = {"site_admin": subject.is_site_admin, "auditor": subject.is_auditor}
    # A session opened before the grant must not carry the new role (session fixation):
    # the person signs in again, password and second factor, into a new session.
    ended = sessions.user_sessions_end_all(user=subject, reason=sessions.EndReason.ROLES_CHANGED)
    withdrawn: list[Withdrawn] = []
    tokens_revoked: list[str] = []
    if after["auditor"] and not before["auditor"]:
        # An auditor holds no API token (accounts/tokens.py): one made while she was a
        # clinician would be a way into the auditor's account without a second factor.
        tokens_revoked = tokens.tokens_revoke_all(
            actor=actor,
            user=subject,
            reason="became an auditor",
            actor_label="" if actor else "operator",
        )
        # In the grant's transaction: no instant where she is an auditor and what she
        # opened on colleagues' files is still live for outsiders, with nobody able to
        # see or withdraw it.
        for step in auditor_grant_steps(subject, lock=True):
            step.apply(actor)
            withdrawn.extend(step.withdrawn)
    proposal = context.get("proposal")
    event = audit.record(
        action=Action.ACCOUNTS_USER_ROLES,
        actor=actor,
        actor_label="" if actor else "operator",
        target_type="accounts.user",
        target_id=subject.pk,
        details={
            "email": subject.email,
            "before": before,
            "after": after,
            "sessions_ended": ended,
            **({"tokens_revoked": tokens_revoked} if tokens_revoked else {}),
            **({"proposal": proposal.pk} if isinstance(proposal, RoleProposal) else {}),
            **({"withdrawn": [item.as_details() for item in withdrawn]} if withdrawn else {}),
        },
    )
    role_notices.role_granted_notice_queue(event=event)


def auditor_appoint_first(*, email: str) -> User:
    """The operator's way to name the first auditor (shell access to the server is the
    second pair of eyes there). Refused once an active auditor exists: from then on,
    auditors are proposed and approved in the application."""
    with transaction.atomic():
        subject = (
            User.objects.select_for_update(no_key=True).filter(email__iexact=email.strip()).first()
        )
        reason = ""
        if subject is None or not subject.is_active:
            reason = "subject_inactive"
        elif User.objects.filter(is_auditor=True, is_active=True).exists():
            reason = "auditor_exists"
        access = auditor_content_access(subject) if subject is not None and not reason else []
        if not reason and not access:
            assert subject is not None  # noqa: S101  (reason set otherwise)
            audit.record(
                action=Action.ACCOUNTS_ROLE_FIRST_AUDITOR,
                actor_label="operator",
                target_type="accounts.user",
                target_id=subject.pk,
                details={"email": subject.email},
            )
            _role_apply(actor=None, subject=subject, role=GrantedRole.AUDITOR)
            return subject
    if access:
        assert subject is not None  # noqa: S101  (access is only looked up for a subject)
        raise _auditor_conflict_denied(
            Action.ACCOUNTS_ROLE_FIRST_AUDITOR, actor=None, subject=subject, access=access
        )
    # Outside the transaction, so the refusal stays in the log.
    audit.record(
        action=Action.ACCOUNTS_ROLE_FIRST_AUDITOR,
        outcome=Outcome.DENIED,
        actor_label="operator",
        target_type="accounts.user",
        target_id=subject.pk if subject else "",
        details={"email": email, "reason": reason},
    )
    raise AccountRuleError(refusal_message(reason))


def refusal_message(reason: str) -> str:
    messages = {
        "not_site_admin": _("Only a site administrator may propose a role."),
        "self_grant": _("Nobody may give themselves a role or a team: ask another administrator."),
        "subject_inactive": _("This account is not active."),
        "already_has_role": _("This person already has the role."),
        "pending": _("This role is already proposed for this person and awaits approval."),
        "not_approver": _("Only another site administrator or an auditor may approve."),
        "proposer": _("The person who proposed a role cannot approve it: a second person must."),
        "decided": _("This proposal was already decided."),
        "expired": _("This proposal has expired: propose the role again."),
        "proposer_gone": _(
            "The person who proposed this role is no longer an administrator: propose it again."
        ),
        "last_site_admin": _("The last active site administrator must keep the role."),
        "last_auditor": _(
            "The last active auditor must keep the role: have another auditor approved first."
        ),
        "last_site_admin_leaves": _("The last active site administrator cannot be deactivated."),
        "last_auditor_leaves": _(
            "The last active auditor cannot be deactivated: have another auditor approved first."
        ),
        "auditor_exists": _(
            "An auditor already exists: new auditors are proposed and approved in the "
            "administration pages."
        ),
    }
    return messages[reason]
