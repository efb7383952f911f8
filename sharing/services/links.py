"""External links, the owner's side: create, list, revoke; the sharing policy.

A link is a capability (ARCHITECTURE invariant 7): a 256-bit token shown once, stored
as its SHA-256 (sharing/services/tokens.py), always expiring, revocable at once. Who may create
one, for how long, and with which protections is the site's ``SharingPolicy``; every
refusal is a ``LinkRuleError`` the person can act on, and is audited.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import roles, still_active
from accounts.address_change import addresses_same
from accounts.models import TeamMembership, TeamRole, User
from audit import messages as audit_messages
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext, context_from_request
from audit.models import Outcome
from files import selectors as files_selectors
from files.models import File, Folder
from files.selectors import Permission
from sharing.errors import LinkPolicyError, LinkRuleError, RecipientRefusedError
from sharing.models import ExternalSharing, ShareLink, SharingPolicy, Transfer
from sharing.selectors import share_link_may_manage
from sharing.services import move_out, suspension, team_leave
from sharing.services.policy import expiry_beyond, expiry_beyond_message, expiry_in_days
from sharing.services.tokens import token_new

# A link must live at least this long: shorter is a typo, not a wish.
MIN_LIFETIME = dt.timedelta(minutes=5)
# The highest download limit the page and the API take (the column holds less than 2^31).
MAX_DOWNLOADS_LIMIT = 10_000


class LinkRightError(LinkRuleError):
    """The person sees the item but may not publish it (``files.selectors.sharing_refusal``:
    it was only shared with them). 403."""

    status_code = 403

    def __init__(self, refusal: files_selectors.SharingRefusal) -> None:
        super().__init__(files_selectors.sharing_refusal_message(refusal))
        self.reason = refusal.value


class LinkState(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    EXHAUSTED = "exhausted"
    # The shared file or folder was deleted, or the transfer withdrawn or purged.
    GONE = "gone"
    # Every external link suspended by the administrators (sharing/services/suspension.py):
    # decided at each request by ``link_access.link_state_now``, never stored on the link.
    SUSPENDED = "suspended"

    @property
    def label(self) -> str:
        return str(_STATE_LABELS[self])


_STATE_LABELS = {
    LinkState.ACTIVE: gettext_lazy("active"),
    LinkState.EXPIRED: gettext_lazy("expired"),
    LinkState.REVOKED: gettext_lazy("withdrawn"),
    LinkState.EXHAUSTED: gettext_lazy("download limit reached"),
    LinkState.GONE: gettext_lazy("shared item deleted"),
    LinkState.SUSPENDED: gettext_lazy("suspended by the administrators"),
}

Target = File | Folder | Transfer


def _context(request: HttpRequest | RequestContext | None) -> RequestContext | None:
    if isinstance(request, HttpRequest):
        return context_from_request(request)
    return request


# --- State -------------------------------------------------------------------------------


def share_link_state(link: ShareLink, *, now: dt.datetime | None = None) -> LinkState:
    """What a recipient gets from ``link`` right now (decided here and only here)."""
    now = now or timezone.now()
    if link.revoked_at is not None:
        return LinkState.REVOKED
    if link.expires_at <= now:
        return LinkState.EXPIRED
    if link.file_id is not None:
        file = link.file
        if file is None or file.deleted_at is not None or file.purged_at is not None:
            return LinkState.GONE
    elif link.folder_id is not None:
        folder = link.folder
        if folder is None or folder.deleted_at is not None:
            return LinkState.GONE
    elif link.transfer_id is not None:
        transfer = link.transfer
        if transfer is None or transfer.revoked_at is not None or transfer.purged_at is not None:
            return LinkState.REVOKED
        if transfer.expires_at <= now:
            return LinkState.EXPIRED
        if transfer.folder_id is None:
            return LinkState.GONE
    if link.max_downloads is not None and link.download_count >= link.max_downloads:
        return LinkState.EXHAUSTED
    return LinkState.ACTIVE


def share_link_target(link: ShareLink) -> Target:
    target = link.file or link.folder or link.transfer
    assert target is not None  # noqa: S101  (a check constraint: exactly one target)
    return target


def share_link_target_name(link: ShareLink) -> str:
    if link.file is not None:
        return link.file.name
    if link.folder is not None:
        return link.folder.name or _("(whole space)")
    assert link.transfer is not None  # noqa: S101
    return link.transfer.subject


def share_link_url(token: str) -> str:
    """The absolute URL a recipient opens."""
    return str(settings.SITE_URL) + reverse("share_link:open", args=[token])


# --- Policy ---------------------------------------------------------------------------------


def share_link_policy_check_may_share(*, actor: User) -> None:
    """Raise ``LinkPolicyError`` when the policy forbids ``actor`` to share outside."""
    policy = SharingPolicy.current()
    if not (actor.is_authenticated and actor.is_active):
        raise LinkPolicyError(_("Sign in to share."))
    if policy.external_suspended_at is not None:
        raise LinkPolicyError(suspension.suspended_message())
    if policy.external_sharing == ExternalSharing.NOBODY:
        raise LinkPolicyError(_("Sharing outside the organisation is turned off on this site."))
    if policy.external_sharing == ExternalSharing.TEAM_MANAGERS and not (
        TeamMembership.objects.filter(user=actor, role=TeamRole.MANAGER).exists()
    ):
        raise LinkPolicyError(
            _("On this site only team managers may share outside the organisation.")
        )


def expiry_default(policy: SharingPolicy, *, now: dt.datetime | None = None) -> dt.datetime:
    return expiry_in_days(policy.link_default_days, now=now)


def expiry_latest(policy: SharingPolicy, *, now: dt.datetime | None = None) -> dt.datetime:
    return expiry_in_days(policy.link_max_days, now=now)


def _expiry_checked(expires_at: dt.datetime | None, policy: SharingPolicy) -> dt.datetime:
    now = timezone.now()
    if expires_at is None:
        return expiry_default(policy, now=now)
    if timezone.is_naive(expires_at):
        raise LinkRuleError(_("The expiry needs a time zone."))
    if expires_at < now + MIN_LIFETIME:
        raise LinkRuleError(_("The expiry must be in the future."))
    if expiry_beyond(expires_at, max_days=policy.link_max_days, now=now):
        raise LinkPolicyError(expiry_beyond_message(policy.link_max_days, now=now))
    return expires_at


def _target_fields(target: Target) -> dict[str, Any]:
    if isinstance(target, File):
        return {"file": target}
    if isinstance(target, Folder):
        return {"folder": target}
    return {"transfer": target}


def _target_audit(target: Target) -> tuple[str, object]:
    if isinstance(target, File):
        return "files.file", target.pk
    if isinstance(target, Folder):
        return "files.folder", target.pk
    return "sharing.transfer", target.pk


def _target_check(*, actor: User, target: Target) -> None:
    """Raise unless ``actor`` may publish ``target``: an item they do not see is "no such
    file" (as an unknown id); one they see only through a share is refused (403) by the
    one sharing rule, ``files.selectors.sharing_refusal``; a transfer is its sender's."""
    if isinstance(target, Transfer):
        if not (
            target.created_by_id == actor.pk
            and target.revoked_at is None
            and target.purged_at is None
        ):
            raise LinkRuleError(_("No such file or folder."))
        return
    visible = (
        files_selectors.file_permission(actor=actor, file=target)
        if isinstance(target, File)
        else files_selectors.folder_permission(actor=actor, folder=target)
    ) >= Permission.VIEW
    if target.deleted_at is not None or target.purged_at is not None or not visible:
        raise LinkRuleError(_("No such file or folder."))
    refusal = files_selectors.sharing_refusal(
        actor=actor, item=target, way=files_selectors.SharingWay.LINK
    )
    if refusal is not None:
        raise LinkRightError(refusal)


def _rule_of(error: LinkRuleError) -> dict[str, str]:
    if isinstance(error, RecipientRefusedError):
        # The precise reason the sender was not shown (an auditor's address).
        return {"rule": error.reason, "recipient": error.recipient}
    return {"rule": error.reason} if isinstance(error, LinkRightError) else {}


def _refusal_record(
    *,
    actor: User,
    target: Target,
    error: LinkRuleError,
    request: HttpRequest | None,
    details: Mapping[str, Any],
) -> None:
    target_type, target_id = _target_audit(target)
    audit.record(
        action=Action.SHARING_LINK_CREATE,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        # The message the person was shown, in no one's language: the console shows it
        # in the auditor's (audit/messages.py).
        details={
            **audit_messages.neutral(str(error), field="reason"),
            **details,
            **_rule_of(error),
        },
        request=_context(request),
    )


def share_link_may_share_check(
    *, actor: User, target: File | Folder, request: HttpRequest | None = None
) -> None:
    """A link form sent although the policy forbids ``actor`` to share outside: raise
    ``LinkPolicyError``, audited as a refused ``sharing.link.create`` (the 403 is decided
    here, not only shown)."""
    try:
        share_link_policy_check_may_share(actor=actor)
    except LinkRuleError as error:
        _refusal_record(actor=actor, target=target, error=error, request=request, details={})
        raise


def share_link_target_check(
    *, actor: User, target: File | Folder, request: HttpRequest | None = None
) -> None:
    """Before showing the form to make a link: raise ``LinkRuleError`` (audited as a
    refused ``sharing.link.create``) when ``actor`` may not publish ``target``."""
    try:
        _target_check(actor=actor, target=target)
    except LinkRuleError as error:
        _refusal_record(actor=actor, target=target, error=error, request=request, details={})
        raise


def share_link_create(
    *,
    actor: User,
    target: Target,
    expires_at: dt.datetime | None = None,
    password: str = "",
    max_downloads: int | None = None,
    recipient_email: str = "",
    email_verification: bool = False,
    notify_owner: bool = True,
    label: str = "",
    request: HttpRequest | None = None,
    view_only: bool = False,
) -> tuple[ShareLink, str]:
    """A new link to ``target`` and its token (the only time the token exists in clear).

    Raises ``LinkRuleError``/``LinkPolicyError`` (audited) when the policy or the rules
    refuse; a target ``actor`` may not view is refused like an unknown one.
    """
    target_type, target_id = _target_audit(target)
    # A sharer deactivated since the request loaded them publishes nothing: a link made
    # after the offboarding ran is one no plan withdrew (``accounts.still_active``).
    guard = still_active.actor_still_active_check(
        actor,
        action=Action.SHARING_LINK_CREATE,
        target_type=target_type,
        target_id=target_id,
        error=LinkRuleError,
        message=_("This account was deactivated: nothing was shared."),
        request=_context(request),
    )
    recipient_email = recipient_email.strip().lower()
    asked = {
        "expires_at": expires_at.isoformat() if expires_at else "",
        "has_password": bool(password),
        "max_downloads": max_downloads,
        "recipient": recipient_email,
        "email_verification": email_verification,
        "view_only": view_only,
    }
    try:
        policy = SharingPolicy.current()
        share_link_policy_check_may_share(actor=actor)
        _target_check(actor=actor, target=target)
        expires_at = _expiry_checked(expires_at, policy)
        if policy.password_required and not password:
            raise LinkPolicyError(_("Links must have a password on this site."))
        if policy.email_verification_required and not email_verification:
            raise LinkPolicyError(
                _("On this site the recipient must confirm their e-mail address with a code.")
            )
        if recipient_email and roles.auditor_with_address(recipient_email):
            # A transfer or personal link to an auditor's address would hand them file
            # content (ARCHITECTURE.md, invariant 4). The sender is not told why.
            raise RecipientRefusedError(
                roles.recipient_refusal_message(recipient_email.strip()),
                reason="auditor",
                recipient=recipient_email.strip(),
            )
        if email_verification and not recipient_email:
            raise LinkRuleError(_("E-mail verification needs the recipient's e-mail address."))
        if recipient_email and not policy.recipient_allowed(recipient_email):
            raise LinkPolicyError(
                _("This site only allows sharing with addresses at: %(domains)s.")
                % {"domains": ", ".join(policy.allowed_domains())}
            )
        if max_downloads is not None and max_downloads < 1:
            raise LinkRuleError(_("The download limit must be at least 1."))
    except LinkRuleError as error:
        _refusal_record(actor=actor, target=target, error=error, request=request, details=asked)
        raise

    token, token_hash = token_new()
    # The account behind the recipient's address, if any: its row is locked with the
    # sharer's and read again, so a link made for a person being deactivated at this
    # instant either commits before her offboarding's plan (which withdraws it) or is
    # refused here (sharing/services/offboarding.py, links_to_leaver_offboarding_plan).
    holder = (
        User.objects.filter(email__iexact=recipient_email).only("pk").first()
        if recipient_email
        else None
    )
    try:
        link = _link_row_create(
            guard,
            holder=holder,
            token_hash=token_hash,
            actor=actor,
            target=target,
            label=label,
            expires_at=expires_at,
            password=password,
            max_downloads=max_downloads,
            recipient_email=recipient_email,
            email_verification=email_verification,
            notify_owner=notify_owner,
            view_only=view_only,
            asked=asked,
            request=request,
        )
    except _RecipientLeft:
        refused = LinkRuleError(recipient_left_message(recipient_email), 409)
        _refusal_record(
            actor=actor,
            target=target,
            error=refused,
            request=request,
            details={**asked, "rule": RECIPIENT_INACTIVE},
        )
        raise refused from None
    except _TeamLeft as left:
        refused = LinkRuleError(team_leave.team_left_meanwhile_message(left.team), 409)
        _refusal_record(
            actor=actor,
            target=target,
            error=refused,
            request=request,
            details={**asked, "rule": team_leave.TEAM_LEFT, "team": left.team},
        )
        raise refused from None
    except _MovedMeanwhile as moved:
        refused = LinkRuleError(moved.message, 409)
        _refusal_record(
            actor=actor,
            target=target,
            error=refused,
            request=request,
            details={**asked, "rule": move_out.MOVED_MEANWHILE},
        )
        raise refused from None
    except _RecipientAddressChanged as changed:
        refused = LinkRuleError(
            recipient_address_changed_message(recipient_email, name=changed.name), 409
        )
        _refusal_record(
            actor=actor,
            target=target,
            error=refused,
            request=request,
            details={**asked, "rule": RECIPIENT_ADDRESS_CHANGED},
        )
        raise refused from None
    return link, token


# The audit's code for a link (or a transfer's link) refused because the account of its
# recipient's address is deactivated: whoever reads that mailbox now is not the person.
RECIPIENT_INACTIVE = "recipient_inactive"


class _RecipientLeft(Exception):
    """Raised inside the link's transaction, so that it rolls back and the refusal is
    recorded after, outside it."""


# The audit's code for a link (or a transfer's link) refused because its address stopped
# being the account's while the link waited for that account's row: the directory changed
# it at that instant (accounts/address_change.py), and the change withdrew what had been
# sent there; made now, the link would outlive it.
RECIPIENT_ADDRESS_CHANGED = "recipient_address_changed"


class _RecipientAddressChanged(Exception):
    """As ``_RecipientLeft``, with the name of the person the address was."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _MovedMeanwhile(Exception):
    """As ``_TeamLeft``: what the link opens was moved, while it was made, into a space
    its maker is not of (``move_out.moved_meanwhile``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _TeamLeft(Exception):
    """As ``_RecipientLeft``: the creator's membership of the item's team ended while
    the link waited for it (``team_leave.team_left_meanwhile``)."""

    def __init__(self, team: str) -> None:
        super().__init__(team)
        self.team = team


def recipient_address_changed_message(email: str, *, name: str) -> str:
    return _(
        "%(email)s is no longer the address of %(name)s: it changed while you were "
        "sending, and nothing was sent. Check their new address with them, then send again."
    ) % {"email": email, "name": name}


def _recipient_still_at_address(*, locked: User | None, email: str) -> None:
    """``locked``: the row, read under its lock, of the account found by ``email`` just
    before. Raise when it is gone or deactivated (``_RecipientLeft``) or holds another
    address now (``_RecipientAddressChanged``)."""
    if locked is None or not locked.is_active:
        raise _RecipientLeft
    if not addresses_same(locked.email, email):
        raise _RecipientAddressChanged(locked.get_full_name())


def recipient_left_message(email: str) -> str:
    return _(
        "%(email)s is the address of a colleague who left (their account is deactivated): "
        "nothing is sent there any more. Send the files to whoever took over their work."
    ) % {"email": email}


def _link_row_create(
    guard: still_active.StillActive,
    *,
    holder: User | None,
    token_hash: str,
    actor: User,
    target: Target,
    label: str,
    expires_at: dt.datetime,
    password: str,
    max_downloads: int | None,
    recipient_email: str,
    email_verification: bool,
    notify_owner: bool,
    view_only: bool,
    asked: dict[str, Any],
    request: HttpRequest | None,
) -> ShareLink:
    with guard.locked_transaction(with_people=[holder] if holder else []) as people:
        if holder is not None:
            _recipient_still_at_address(locked=people.get(holder.pk), email=recipient_email)
        if not isinstance(target, Transfer):
            # Removed from the team at this instant: refused, or withdrawn by the removal
            # (sharing/services/team_leave.py).
            left = team_leave.team_left_meanwhile(actor=actor, item=target)
            if left is not None:
                raise _TeamLeft(left.name)
        link = ShareLink.objects.create(
            token_hash=token_hash,
            created_by=actor,
            label=label.strip()[:200],
            expires_at=expires_at,
            password_hash=make_password(password) if password else "",
            max_downloads=max_downloads,
            recipient_email=recipient_email,
            email_verification=email_verification,
            notify_owner=notify_owner,
            view_only=view_only,
            **_target_fields(target),
        )
        target_type, target_id = _target_audit(target)
        audit.record(
            action=Action.SHARING_LINK_CREATE,
            actor=actor,
            target_type="sharing.link",
            target_id=link.pk,
            details={
                **asked,
                "expires_at": expires_at.isoformat(),
                "target_type": target_type,
                "target_id": target_id,
                "label": link.label,
            },
            request=_context(request),
        )
        if not isinstance(target, Transfer):
            # Moved at this instant into a space she is not of: refused, or withdrawn
            # by the move (sharing/services/move_out.py); read once the chain is held.
            space = move_out.moved_meanwhile(actor=actor, item=target)
            if space is not None:
                raise _MovedMeanwhile(
                    move_out.moved_meanwhile_message(name=target.name, space=space)
                )
    return link


def share_link_shared_email_send(
    *, link: ShareLink, token: str, actor: User, language: str | None = None
) -> None:
    """After commit, e-mail the recipient their link (``link_shared``).

    Sent from the web process (``transaction.on_commit``), never through Celery: the
    token must not travel through the broker. It exists only in this e-mail.
    """
    from sharing.services.emails import email_send

    if not link.recipient_email:
        return
    context = {
        "url": share_link_url(token),
        "sender_name": actor.get_full_name() or actor.email,
        "sender_email": actor.email,
        "expires_at": link.expires_at,
        "has_password": bool(link.password_hash),
        "email_verification": link.email_verification,
    }
    subject = _("%(name)s shared files with you on SecureDrive") % {"name": context["sender_name"]}

    def send() -> None:
        email_send(
            to=link.recipient_email,
            subject=subject,
            template="link_shared",
            context=context,
            language=language,
            reply_to=actor.email,
        )

    transaction.on_commit(send)


# --- Revocation ---------------------------------------------------------------------------


def share_link_revoke(*, actor: User, link: ShareLink, request: HttpRequest | None = None) -> None:
    """Revoke at once: the next request with this link (or a session opened with it)
    is refused. Revoking a revoked link changes nothing and is not an error."""
    guard = still_active.actor_still_active_check(
        actor,
        action=Action.SHARING_LINK_REVOKE,
        target_type="sharing.link",
        target_id=link.pk,
        error=LinkRuleError,
        request=_context(request),
    )
    if not share_link_may_manage(actor=actor, link=link):
        audit.record(
            action=Action.SHARING_LINK_REVOKE,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="sharing.link",
            target_id=link.pk,
            request=_context(request),
        )
        raise LinkRuleError(_("No such link."))
    with guard.locked_transaction():
        changed = ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor
        )
        link.refresh_from_db(fields=["revoked_at", "revoked_by"])
        if changed:
            audit.record(
                action=Action.SHARING_LINK_REVOKE,
                actor=actor,
                target_type="sharing.link",
                target_id=link.pk,
                details={"download_count": link.download_count},
                request=_context(request),
            )


def share_links_live_of_owner(*, owner: User) -> Any:
    """Every live link ``owner`` created (transfer links included): what offboarding
    withdraws, and what its plan lists."""
    return ShareLink.objects.filter(
        created_by=owner, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def share_links_revoke_for_owner(
    *, owner: User, actor: User | None = None, ids: Collection[int] | None = None
) -> int:
    """Offboarding: revoke every live link ``owner`` created (transfer links included),
    or only those of ``ids`` among them (the offboarding plan's).

    One audit event per link, in one transaction; returns how many were revoked.
    """
    now = timezone.now()
    with transaction.atomic():
        live = share_links_live_of_owner(owner=owner)
        if ids is not None:
            live = live.filter(pk__in=list(ids))
        ids = list(live.select_for_update().values_list("pk", flat=True))
        ShareLink.objects.filter(pk__in=ids).update(revoked_at=now, revoked_by=actor)
        for link_id in ids:
            audit.record(
                action=Action.SHARING_LINK_REVOKE,
                actor=actor,
                actor_label="" if actor is not None else "system",
                target_type="sharing.link",
                target_id=link_id,
                details={"reason": "offboarding", "owner": owner.email},
            )
    return len(ids)


# --- The policy page -------------------------------------------------------------------------


def sharing_policy_update(
    *,
    actor: User,
    changes: Mapping[str, Any],
    request: HttpRequest | None = None,
) -> None:
    """Save the policy; audited ``sharing.policy.update`` with before/after values."""
    guard = still_active.actor_still_active_check(
        actor,
        action=Action.SHARING_POLICY_UPDATE,
        target_type="sharing.policy",
        target_id="",
        error=LinkPolicyError,
        request=_context(request),
    )
    with guard.locked_transaction():
        policy = SharingPolicy.current()
        policy = SharingPolicy.objects.select_for_update().get(pk=policy.pk)
        changed = {
            field: {"before": getattr(policy, field), "after": value}
            for field, value in changes.items()
            if getattr(policy, field) != value
        }
        if not changed:
            return
        for field, value in changes.items():
            setattr(policy, field, value)
        policy.save()
        audit.record(
            action=Action.SHARING_POLICY_UPDATE,
            actor=actor,
            target_type="sharing.policy",
            target_id=policy.pk,
            details={"changed": changed},
            request=_context(request),
        )
