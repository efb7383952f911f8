"""Transfers (like WeSend): files sent to named recipients, each with a personal link
(docs/sharing-transfers.md).

The life of a transfer:

1. ``transfer_create``: subject, message and expiry (capped by the sharing policy). A
   folder is made for it in the sender's personal space ("Transfers/<subject> <date>"),
   with the files services, so every rule of the files app applies to it.
2. Files come in two ways: uploaded into that folder through the tus endpoint
   (``folder=<id>``): they belong to the transfer; or picked from the sender's files
   with ``transfer_files_add``, which *references* them (a ``TransferItem`` naming the
   original file and version, no copy: ARCHITECTURE invariant 9). A 5 GB study costs no
   bytes, no CPU and no quota, and every download names the original file.
3. ``transfer_send``: one personal ``ShareLink`` per recipient (``sharing.services.links``), so
   receipts are per recipient, and the ``transfer_received`` e-mail, sent after commit
   from the web process (it carries the token: never through the broker).
4. The sender follows the receipts, revokes one recipient or the whole transfer.
5. At expiry ``transfers_expired_purge`` (beat) revokes what is left and purges the
   folder: the data keys of what was *uploaded into the transfer* are destroyed
   (crypto-shredding), then the blobs. Referenced originals are never touched; while
   the transfer lives, the retention policy keeps their sent versions
   (``FileVersion.held_until``). The owner's own deletion is different: trashing an
   original withdraws it from the transfer (restoring brings it back), purging it
   shreds it for good, recipients included (docs/sharing-transfers.md).

Files not yet scanned may be sent: recipients see them as "being scanned" and cannot
download them until they are clean (the recipient pages go through the same scan rule).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy

from accounts import still_active
from accounts.address_change import addresses_same
from accounts.models import User
from accounts.services import team_memberships_lock
from audit import messages as audit_messages
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext
from audit.models import Outcome
from files import selectors as files_selectors
from files import services as files_services
from files.errors import FileRuleError, NameClashError
from files.lineage import file_path
from files.models import File, FileVersion, Folder
from files.names import name_clean, name_key
from sharing.errors import (
    LinkRuleError,
    RecipientRefusedError,
    TransferNotFound,
    TransferRightError,
    TransferRuleError,
)
from sharing.models import ShareLink, SharingPolicy, Transfer, TransferItem
from sharing.selectors import (
    transfer_files,
    transfer_files_sendable,
    transfer_status,
    transfer_total_bytes,
)
from sharing.services import move_out, suspension
from sharing.services.archives import archive_paths_unique, folder_files_located
from sharing.services.emails import one_line
from sharing.services.policy import (
    expiry_beyond,
    expiry_beyond_message,
    expiry_max_days,
    may_share_outside,
)

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 50
# The sender's folder of transfers, named in their language (a folder name is data: it
# keeps the name it was made with).
TRANSFERS_FOLDER_NAME = pgettext_lazy("folder name", "Transfers")


# --- Policy ------------------------------------------------------------------------------


def expiry_check(expires_at: dt.datetime, *, now: dt.datetime | None = None) -> dt.datetime:
    """In the future and no later than the policy allows."""
    moment = now or timezone.now()
    if expires_at <= moment:
        raise TransferRuleError(_("The expiry must be in the future."))
    max_days = expiry_max_days()
    if expiry_beyond(expires_at, max_days=max_days, now=moment):
        raise TransferRuleError(expiry_beyond_message(max_days, now=moment))
    return expires_at


def recipients_parse(raw: str | list[str], *, policy: SharingPolicy | None = None) -> list[str]:
    """One address per line (or a list): validated, lower-cased, deduplicated, and
    checked against the policy's allowed domains. Raises with every problem at once."""
    policy = policy or SharingPolicy.current()
    lines = raw.splitlines() if isinstance(raw, str) else list(raw)
    found: list[str] = []
    problems: list[str] = []
    for line in lines:
        for part in line.replace(",", " ").replace(";", " ").split():
            email = part.strip().strip("<>").lower()
            if not email:
                continue
            try:
                validate_email(email)
            except ValidationError:
                problems.append(_("“%(email)s” is not an e-mail address.") % {"email": email[:80]})
                continue
            if not policy.recipient_allowed(email):
                problems.append(
                    _("The sharing policy does not allow sending to “%(email)s”.")
                    % {"email": email}
                )
                continue
            if email not in found:
                found.append(email)
    if problems:
        raise TransferRuleError(" ".join(problems))
    if not found:
        raise TransferRuleError(_("Give at least one recipient."))
    if len(found) > MAX_RECIPIENTS:
        raise TransferRuleError(
            _("A transfer goes to at most %(count)s recipients.") % {"count": MAX_RECIPIENTS}
        )
    return found


# --- Audit --------------------------------------------------------------------------------


def _record(
    action: Action,
    *,
    actor: User | None,
    transfer: Transfer,
    outcome: str = Outcome.SUCCESS,
    request: RequestContext | None = None,
    **details: Any,
) -> None:
    audit.record(
        action=action,
        outcome=outcome,
        actor=actor,
        actor_label="" if actor else "system",
        target_type="sharing.transfer",
        target_id=transfer.pk,
        details={"subject": transfer.subject, **details},
        request=request,
    )


def _actor_still_active_check(
    actor: User | None,
    action: Action,
    transfer_id: int | None,
    request: RequestContext | None,
) -> still_active.StillActive:
    """A sender deactivated since the request (or job) loaded them creates, sends or
    changes nothing (``accounts.still_active``): a transfer sent after the offboarding
    would hand patient files to outsiders that no plan withdrew. The change is made in
    the returned guard's ``locked_transaction()``, with the sender's row locked."""
    return still_active.actor_still_active_check(
        actor,
        action=action,
        target_type="sharing.transfer",
        target_id=transfer_id if transfer_id is not None else "",
        error=TransferRuleError,
        message=_("This account was deactivated: nothing was created or sent."),
        request=request,
    )


# --- Creation and content -------------------------------------------------------------------


def _safe_label(text: str, limit: int = 120) -> str:
    kept = "".join(char for char in text[:limit] if char.isprintable() and char not in "/\\")
    return kept.strip(" .")


def _transfers_root(actor: User) -> Folder:
    """The sender's "Transfers" folder at the top of their personal space."""
    root = files_services.space_root(files_services.space_personal_get_or_create(user=actor))
    with translation.override(actor.email_language):
        name = str(TRANSFERS_FOLDER_NAME)
    key = name_key(name)
    existing = Folder.objects.filter(parent=root, name_key=key, deleted_at__isnull=True).first()
    if existing is not None:
        return existing
    try:
        return files_services.folder_create(actor=actor, parent=root, name=name)
    except NameClashError:
        # Made concurrently, or a *file* is called that: fall back to the top folder.
        return (
            Folder.objects.filter(parent=root, name_key=key, deleted_at__isnull=True).first()
            or root
        )


def _transfer_folder_create(actor: User, subject: str) -> Folder:
    parent = _transfers_root(actor)
    day = timezone.localdate().isoformat()
    with translation.override(actor.email_language):
        # A subject no name may hold (a fullwidth solidus U+FF0F, too long in bytes).
        fallback = pgettext("folder name", "Transfer %(day)s") % {"day": day}
    for candidate in (f"{_safe_label(subject)} {day}", fallback):
        try:
            name = name_clean(candidate.strip())
        except FileRuleError:
            continue
        taken = Folder.objects.filter(parent=parent, deleted_at__isnull=True).values_list(
            "name_key", flat=True
        )
        taken_keys = set(taken) | set(
            File.objects.filter(folder=parent, deleted_at__isnull=True).values_list(
                "name_key", flat=True
            )
        )
        number, chosen = 1, name
        while name_key(chosen) in taken_keys:
            number += 1
            chosen = f"{name} ({number})"
        return files_services.folder_create(actor=actor, parent=parent, name=chosen)
    raise TransferRuleError(_("This subject cannot be used as a folder name."))


def transfer_create(
    *,
    actor: User,
    subject: str,
    message: str = "",
    expires_at: dt.datetime,
    request: RequestContext | None = None,
) -> Transfer:
    """A draft transfer and its folder; files are added next, then it is sent."""
    guard = _actor_still_active_check(actor, Action.SHARING_TRANSFER_CREATE, None, request)
    if not may_share_outside(actor):
        if suspension.external_sharing_suspended():
            _refuse(actor, Action.SHARING_TRANSFER_CREATE, suspension.REASON, request)
            raise TransferRuleError(suspension.suspended_message())
        _refuse(actor, Action.SHARING_TRANSFER_CREATE, "policy forbids sharing outside", request)
        raise TransferRuleError(_("The sharing policy does not allow you to send files outside."))
    # One line: it names the transfer in pages, e-mail subjects and the ZIP's name.
    subject = one_line(subject)
    if not subject:
        raise TransferRuleError(_("A transfer needs a subject."))
    expiry_check(expires_at)
    with guard.locked_transaction():
        folder = _transfer_folder_create(actor, subject)
        transfer = Transfer.objects.create(
            created_by=actor,
            subject=subject[:200],
            message=message[:5000],
            folder=folder,
            expires_at=expires_at,
        )
        _record(
            Action.SHARING_TRANSFER_CREATE,
            actor=actor,
            transfer=transfer,
            request=request,
            folder=folder.pk,
            expires_at=expires_at.isoformat(),
        )
    return transfer


def _refuse(actor: User, action: Action, reason: str, request: RequestContext | None) -> None:
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="sharing.transfer",
        details={"reason": reason},
        request=request,
    )


def _require_open(transfer: Transfer) -> None:
    status = transfer_status(transfer)
    if status in {"purged", "revoked", "expired"}:
        raise TransferRuleError(_("This transfer has ended."))


def transfer_files_add(*, actor: User, transfer: Transfer, files: list[File]) -> list[File]:
    """Reference files the sender may edit in a draft transfer: no copy, no new blob,
    no quota. What is sent is each file's version current when the transfer is sent."""
    if transfer.created_by_id != actor.pk:
        raise TransferNotFound(str(transfer.pk))
    _require_open(transfer)
    if transfer.sent_at is not None:
        raise TransferRuleError(_("This transfer was already sent: its files cannot change."))
    if transfer.folder is None:
        raise TransferRuleError(_("This transfer has no folder any more."))
    transfer_files_check(actor=actor, transfer=transfer, files=files)
    added: list[File] = []
    if not files:
        return added
    # Recorded outside the transaction a refusal rolls back.
    guard = files_services.actor_still_active_check(
        actor, action=Action.SHARING_TRANSFER_FILES_ADD, target=files[0]
    )
    with guard.locked_transaction():
        for file in files:
            # As the copy it replaces asked: the sender may edit the file (files' rule).
            files_services.require_edit(actor, file, action=Action.SHARING_TRANSFER_FILES_ADD)
            version = file.current_version
            if version is None:
                raise FileRuleError(_("This file has no content to copy."))
            files_services.readable_source(version)
            _item, created = TransferItem.objects.get_or_create(
                transfer=transfer, file=file, defaults={"version": version, "path": file.name}
            )
            if not created:
                continue
            added.append(file)
            _record(
                Action.SHARING_TRANSFER_FILES_ADD,
                actor=actor,
                transfer=transfer,
                file=file.pk,
                name=file.name,
                version=str(version.pk),
                number=version.number,
                path=file_path(file),
                size=version.size,
            )
    return added


def transfer_files_check(*, actor: User, transfer: Transfer, files: list[File]) -> None:
    """Raise ``TransferRightError`` (audited) unless every file is the sender's to send
    outside: the one sharing rule, ``files.selectors.sharing_refusal``."""
    for file in files:
        refusal = files_selectors.sharing_refusal(
            actor=actor, item=file, way=files_selectors.SharingWay.TRANSFER
        )
        if refusal is not None:
            # Nothing is copied: one file not theirs to send refuses the whole request.
            _record(
                Action.SHARING_TRANSFER_FILES_ADD,
                actor=actor,
                transfer=transfer,
                outcome=Outcome.DENIED,
                reason=refusal.value,
                file=file.pk,
            )
            raise TransferRightError(files_selectors.sharing_refusal_message(refusal))


# --- Sending --------------------------------------------------------------------------------


def _items_freeze(transfer: Transfer) -> list[str]:
    """Record what is sent: the files uploaded into the transfer's folder and the files
    picked from the sender's, each with its current version and its path as recipients
    see it. From now on recipients get these versions and nothing else (the folder
    stays an ordinary folder of the sender's, who may still drop files into it by
    mistake). Picked originals are held from the retention policy until expiry.

    A picked file the sender may no longer send outside (they left the team whose space
    holds it) is dropped like a trashed one; returns the names of those dropped."""
    assert transfer.folder is not None  # noqa: S101  (checked by transfer_files)
    located = [
        (path, file, file.current_version)
        for path, file in folder_files_located(transfer.folder, include_folder_name=False)
        if file.current_version is not None
    ]
    in_folder = {file.pk for _path, file, _version in located}
    picked = list(
        TransferItem.objects.filter(
            transfer=transfer, file__deleted_at__isnull=True, file__purged_at__isnull=True
        )
        .exclude(file_id__in=in_folder)
        .select_related("file", "file__current_version", "file__space")
    )
    sendable = {
        file.pk for file in transfer_files_sendable(transfer, [item.file for item in picked])
    }
    withdrawn = sorted(item.file.name for item in picked if item.file_id not in sendable)
    picked = [item for item in picked if item.file_id in sendable]
    # A picked file trashed since, or left with no content: not sent.
    TransferItem.objects.filter(transfer=transfer).exclude(
        pk__in=[item.pk for item in picked if item.file.current_version is not None]
    ).delete()
    located += [
        (item.file.name, item.file, item.file.current_version)
        for item in picked
        if item.file.current_version is not None
    ]
    paths = archive_paths_unique([path for path, _file, _version in located])
    frozen = {item.file_id: item for item in picked}
    fresh = []
    for path, (_old, file, version) in zip(paths, located, strict=True):
        assert version is not None  # noqa: S101  (filtered above)
        item = frozen.get(file.pk)
        if item is None:
            fresh.append(TransferItem(transfer=transfer, file=file, version=version, path=path))
            continue
        item.version, item.path = version, path
        item.save(update_fields=["version", "path"])
    TransferItem.objects.bulk_create(fresh)
    FileVersion.objects.filter(
        pk__in=[version.pk for _path, _file, version in located if version is not None]
    ).filter(Q(held_until__isnull=True) | Q(held_until__lt=transfer.expires_at)).update(
        held_until=transfer.expires_at
    )
    return withdrawn


@dataclass(frozen=True)
class SentLink:
    recipient: str
    link: ShareLink
    token: str


def transfer_send(
    *,
    actor: User,
    transfer: Transfer,
    recipients: list[str],
    password: str = "",
    email_verification: bool = False,
    request: RequestContext | None = None,
    language: str | None = None,
) -> list[SentLink]:
    """One personal link per recipient, then (after commit) the e-mails carrying them.

    All or nothing: a refusal for one recipient sends to nobody (and is audited)."""

    if transfer.created_by_id != actor.pk:
        raise TransferNotFound(str(transfer.pk))
    guard = _actor_still_active_check(actor, Action.SHARING_TRANSFER_SEND, transfer.pk, request)
    try:
        return _send(
            guard,
            actor=actor,
            transfer=transfer,
            recipients=recipients,
            password=password,
            email_verification=email_verification,
            request=request,
            language=language,
        )
    except (TransferRuleError, LinkRuleError) as error:
        if error.recorded:  # the sender was deactivated meanwhile (still_active)
            raise
        # After the rollback, so the refusal stays in the log.
        _record(
            Action.SHARING_TRANSFER_SEND,
            actor=actor,
            transfer=transfer,
            outcome=Outcome.DENIED,
            request=request,
            **audit_messages.neutral(str(error), field="reason"),  # no one's language
            # What the sender was not shown: the recipient an auditor's address.
            **(
                {"rule": error.reason, "recipients": [error.recipient]}
                if isinstance(error, RecipientRefusedError)
                else {}
            ),
            # A file moved out of her reach while the send waited: the rule, the files
            # and where they went, as the link and file request refusals say it.
            **(error.details if isinstance(error, _MovedMeanwhile) else {}),
        )
        if isinstance(error, TransferRuleError):
            raise
        raise TransferRuleError(str(error)) from None


class _MovedMeanwhile(TransferRuleError):
    """A file of the transfer was moved, while it was being sent, into a space its
    sender is not of (``move_out.moved_meanwhile``): nothing is sent (409), and the
    refusal is recorded with ``details`` (the rule, the files, where they went)."""

    status_code = 409

    def __init__(self, message: str, *, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


def _send(
    guard: still_active.StillActive,
    *,
    actor: User,
    transfer: Transfer,
    recipients: list[str],
    password: str,
    email_verification: bool,
    request: RequestContext | None,
    language: str | None,
) -> list[SentLink]:
    from sharing.services import links

    policy = SharingPolicy.current()
    if policy.external_suspended_at is not None:
        raise TransferRuleError(suspension.suspended_message())
    if not may_share_outside(actor):
        raise TransferRuleError(_("The sharing policy does not allow you to send files outside."))
    recipients = recipients_parse(recipients, policy=policy)
    if policy.password_required and not password:
        raise TransferRuleError(_("The sharing policy requires a password."))
    email_verification = email_verification or policy.transfer_verification_required()
    sent: list[SentLink] = []
    # The accounts behind the recipients' addresses are locked with the sender's, in one
    # statement (ascending id): each link below locks its recipient's row again, and two
    # colleagues sending to each other at once must not wait for each other crosswise.
    # A recipient whose account is deactivated (she left) refuses the whole send, and so
    # does one whose address the directory changed while this send waited for her row
    # (the change withdrew what had been sent there; accounts/address_change.py).
    addresses = Q()
    for email in recipients:
        addresses |= Q(email__iexact=email)
    holders = list(User.objects.filter(addresses).only("pk", "email"))
    with guard.locked_transaction(with_people=holders) as people:
        for holder in holders:
            locked = people.get(holder.pk)
            if locked is not None and not addresses_same(locked.email, holder.email):
                raise TransferRuleError(
                    links.recipient_address_changed_message(
                        holder.email, name=locked.get_full_name()
                    ),
                    409,
                )
        # Her memberships next (sharing/services/team_leave.py): removed from a team at
        # this instant, the send waits for the removal and leaves that team's files out
        # (below), or commits first and is withdrawn by it; never sent after it unseen.
        team_memberships_lock(user=actor)
        transfer = (
            Transfer.objects.select_for_update(of=("self",))
            .select_related("folder")
            .get(pk=transfer.pk)
        )
        _require_open(transfer)
        if transfer.sent_at is not None:
            raise TransferRuleError(_("This transfer was already sent."))
        files = transfer_files(transfer)
        if not files:
            raise TransferRuleError(_("Add at least one file before sending."))
        withdrawn = _items_freeze(transfer)
        # Picked files no longer the sender's to send (a team left): not sent.
        dropped: dict[str, Any] = {"withdrawn": withdrawn} if withdrawn else {}
        for email in recipients:
            link, token = links.share_link_create(
                actor=actor,
                target=transfer,
                expires_at=transfer.expires_at,
                password=password,
                recipient_email=email,
                email_verification=email_verification,
                notify_owner=True,
                label=f"{transfer.subject} → {email}"[:200],
                request=None,
            )
            sent.append(SentLink(recipient=email, link=link, token=token))
        transfer.sent_at = timezone.now()
        transfer.save(update_fields=["sent_at"])
        _record(
            Action.SHARING_TRANSFER_SEND,
            actor=actor,
            transfer=transfer,
            request=request,
            recipients=recipients,
            links=[item.link.pk for item in sent],
            files=len(files),
            bytes=transfer_total_bytes(files),
            has_password=bool(password),
            email_verification=email_verification,
            **dropped,
        )
        # A file moved at this instant into a space she is not of: nothing is sent, or
        # the move withdraws the transfer (sharing/services/move_out.py); read once the
        # chain is held (by the events above).
        moved = [
            (file, space)
            for file in files
            if (space := move_out.moved_meanwhile(actor=actor, item=file)) is not None
        ]
        if moved:
            first, space = moved[0]
            raise _MovedMeanwhile(
                move_out.moved_meanwhile_message(name=first.name, space=space),
                details=move_out.moved_meanwhile_details(
                    names=[file.name for file, _space in moved], space=space
                ),
            )
        mails = [(item.recipient, links.share_link_url(item.token)) for item in sent]
        chosen_language = language or translation.get_language()
        transfer_id = transfer.pk
        # The tokens stay in this process: e-mailed after commit, never via the broker.
        transaction.on_commit(
            lambda: transfer_received_emails_send(
                transfer_id=transfer_id,
                mails=mails,
                has_password=bool(password),
                email_verification=email_verification,
                language=chosen_language,
            ),
            robust=True,
        )
    return sent


def transfer_received_emails_send(
    *,
    transfer_id: int,
    mails: list[tuple[str, str]],
    has_password: bool,
    email_verification: bool,
    language: str | None,
) -> int:
    """The ``transfer_received`` e-mail to each recipient, with their personal link."""
    from sharing.services.emails import email_send

    transfer = Transfer.objects.select_related("created_by").get(pk=transfer_id)
    files = transfer_files(transfer)
    sender = transfer.created_by
    sent = 0
    for recipient, url in mails:
        context = {
            "transfer": transfer,
            "sender_name": sender.get_full_name() or sender.email,
            "sender_email": sender.email,
            "files": files,
            "total_bytes": transfer_total_bytes(files),
            "url": url,
            "recipient": recipient,
            "organisation": settings.ORGANISATION_NAME,
            "has_password": has_password,
            "email_verification": email_verification,
        }
        with translation.override(language):
            # Never the transfer's subject: it often names a patient (issue #15).
            subject = _("%(sender)s sent you files through SecureDrive") % {
                "sender": context["sender_name"]
            }
        try:
            email_send(
                to=recipient,
                subject=subject,
                template="transfer_received",
                context=context,
                language=language,
                reply_to=sender.email,
            )
            sent += 1
        except Exception:
            # One bad address must not stop the others; the sender sees "never opened".
            logger.exception("transfer %s: e-mail to a recipient failed", transfer_id)
    return sent


# --- Revocation and purge ---------------------------------------------------------------------


def transfer_recipient_revoke(
    *, actor: User, transfer: Transfer, link: ShareLink, request: RequestContext | None = None
) -> None:
    """Cut one recipient's link (the others keep theirs)."""
    from sharing.services import links

    if transfer.created_by_id != actor.pk or link.transfer_id != transfer.pk:
        raise TransferNotFound(str(transfer.pk))
    guard = _actor_still_active_check(actor, Action.SHARING_TRANSFER_REVOKE, transfer.pk, request)
    with guard.locked_transaction():
        if link.revoked_at is None:
            links.share_link_revoke(actor=actor, link=link)
        _record(
            Action.SHARING_TRANSFER_REVOKE,
            actor=actor,
            transfer=transfer,
            request=request,
            recipient=link.recipient_email,
            link=link.pk,
        )


def _links_revoke(transfer: Transfer, actor: User | None, now: dt.datetime) -> int:
    return ShareLink.objects.filter(transfer=transfer, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor
    )


def transfer_revoke(
    *, actor: User, transfer: Transfer, request: RequestContext | None = None
) -> int:
    """End the whole transfer now: every recipient's link answers 410 from this commit.
    Its files are purged at expiry (or now with ``transfer_purge``)."""
    from sharing.services import links

    if transfer.created_by_id != actor.pk:
        raise TransferNotFound(str(transfer.pk))
    guard = _actor_still_active_check(actor, Action.SHARING_TRANSFER_REVOKE, transfer.pk, request)
    with guard.locked_transaction():
        transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if transfer.revoked_at is not None:
            return 0
        live = list(ShareLink.objects.filter(transfer=transfer, revoked_at__isnull=True))
        for link in live:
            links.share_link_revoke(actor=actor, link=link)
        transfer.revoked_at = timezone.now()
        transfer.save(update_fields=["revoked_at"])
        _record(
            Action.SHARING_TRANSFER_REVOKE,
            actor=actor,
            transfer=transfer,
            request=request,
            links_revoked=len(live),
        )
    return len(live)


def transfers_live_of_owner(*, owner: User) -> Any:
    """The transfers offboarding withdraws: not yet revoked nor purged."""
    return Transfer.objects.filter(
        created_by=owner, revoked_at__isnull=True, purged_at__isnull=True
    )


def transfers_revoke_for_owner(
    *, owner: User, actor: User | None = None, ids: Collection[int] | None = None
) -> int:
    """Offboarding: every transfer the leaver sent stops at once (inside the caller's
    transaction), or only those of ``ids`` among them (the offboarding plan's). Returns
    how many transfers were revoked."""
    now = timezone.now()
    count = 0
    live = transfers_live_of_owner(owner=owner)
    if ids is not None:
        live = live.filter(pk__in=list(ids))
    for transfer in live.select_for_update():
        links_revoked = _links_revoke(transfer, actor, now)
        transfer.revoked_at = now
        transfer.save(update_fields=["revoked_at"])
        _record(
            Action.SHARING_TRANSFER_REVOKE,
            actor=actor,
            transfer=transfer,
            reason="offboarding",
            links_revoked=links_revoked,
        )
        count += 1
    return count


def _folder_purge(folder: Folder) -> int:
    """Crypto-shred the transfer's folder with the files services (system actor)."""
    folder = Folder.objects.get(pk=folder.pk)
    if folder.purged_at is not None:
        return 0
    if folder.deleted_at is None:
        files_services.folder_delete(actor=None, folder=folder)
        folder = Folder.objects.get(pk=folder.pk)
    top = folder
    # Trashed together with a parent: purge just this subtree, as its own top.
    return files_services.folder_purge(actor=None, folder=top)


def _holds_release(transfer: Transfer) -> int:
    """The transfer's references end: each sent version is held only as long as another
    live transfer still references it. The originals themselves are not touched.
    Returns how many referenced versions (outside the transfer's own folder) there were."""
    items = TransferItem.objects.filter(transfer=transfer)
    if transfer.folder_id is not None:
        items = items.exclude(
            file__folder_id__in=[
                transfer.folder_id,
                *files_selectors.folder_descendant_ids([transfer.folder_id]),
            ]
        )
    version_ids = list(items.values_list("version_id", flat=True))
    for version_id in version_ids:
        still = (
            TransferItem.objects.filter(version_id=version_id, transfer__purged_at__isnull=True)
            .exclude(transfer=transfer)
            .aggregate(until=Max("transfer__expires_at"))["until"]
        )
        FileVersion.objects.filter(pk=version_id).update(held_until=still)
    return len(version_ids)


def transfer_purge(
    *, transfer_id: int, actor: User | None = None, request: RequestContext | None = None
) -> bool:
    """Revoke every link and crypto-shred the transfer's files; idempotent.

    ``actor`` None: the expiry task. Returns False when there was nothing left to do.
    """
    guard = _actor_still_active_check(actor, Action.SHARING_TRANSFER_PURGE, transfer_id, request)
    with guard.locked_transaction():
        transfer = (
            Transfer.objects.select_for_update(of=("self",))
            .select_related("folder")
            .filter(pk=transfer_id)
            .first()
        )
        if transfer is None or transfer.purged_at is not None:
            return False
        if actor is not None and transfer.created_by_id != actor.pk:
            raise TransferNotFound(str(transfer_id))
        now = timezone.now()
        links_revoked = _links_revoke(transfer, actor, now)
        shredded = 0
        if transfer.folder is not None:
            shredded = _folder_purge(transfer.folder)
        released = _holds_release(transfer)
        transfer.purged_at = now
        if transfer.revoked_at is None and actor is not None:
            transfer.revoked_at = now
        transfer.save(update_fields=["purged_at", "revoked_at"])
        _record(
            Action.SHARING_TRANSFER_PURGE,
            actor=actor,
            transfer=transfer,
            request=request,
            reason="expired" if actor is None else "sender",
            links_revoked=links_revoked,
            versions_shredded=shredded,
            originals_released=released,
        )
    return True


def transfers_expired_purge(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Beat: purge every transfer past its expiry. Each in its own transaction, so one
    failure does not hold the others back; running twice is harmless."""
    moment = now or timezone.now()
    due = list(
        Transfer.objects.filter(expires_at__lte=moment, purged_at__isnull=True)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    purged = 0
    for transfer_id in due:
        try:
            purged += int(transfer_purge(transfer_id=transfer_id))
        except Exception:
            logger.exception("transfer %s: purge failed; the next run retries", transfer_id)
    return purged
