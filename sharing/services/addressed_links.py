"""Links colleagues addressed to a person's e-mail address, withdrawn when that address
stops being hers: she left (accounts/offboarding.py, through
``sharing.services.offboarding.links_to_leaver_offboarding_plan``) or her address
changed (accounts/address_change.py, through ``links_to_former_address_withdraw``).

A transfer (each recipient's own link) or a personal link names its recipient by
address, not by account, and a recipient-bound link e-mails its one-time code there:
whoever reads that mailbox afterwards (a forwarding rule, a shared ward mailbox, an
address given to a namesake or a locum, an administrator who pointed the account at his
own mailbox) must open nothing. Each link is withdrawn (410 "This link was withdrawn"
on its next request, in a browser that had typed the code too; never re-pointed to a
new address, where whoever changed it would receive the codes), one
``sharing.link.revoke`` per link naming the sender, the address, what it gave and why,
and each sender is told after commit, in their own language, which files to send again.
Other recipients of the same transfer keep theirs.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from sharing.models import ShareLink, TransferItem

logger = logging.getLogger(__name__)

LINKS_TO_LEAVER_SUBJECT = gettext_lazy(
    "%(name)s has left: the files you sent to their address were withdrawn"
)
LINKS_TO_FORMER_ADDRESS_SUBJECT = gettext_lazy(
    "%(name)s's address changed: the files you sent to the former one were withdrawn"
)
# The audit's reasons for such a withdrawal (audit/readable.py puts them into words).
RECIPIENT_LEFT = "recipient left"
RECIPIENT_ADDRESS_CHANGED = "recipient address changed"
# How many file names of one transfer an e-mail or a report line lists.
NAMES_LISTED = 20

# Told after commit: (sender_id=, link_ids=) -> whether the e-mail left.
Notice = Callable[..., bool]


def links_to_address_live(*, email: str, exclude_owner: User | None = None) -> Any:
    """Live links colleagues made for ``email`` (personal links and each recipient's
    link of a sent transfer; any letter case): what a person reading that mailbox can
    still open."""
    rows = ShareLink.objects.filter(
        recipient_email__iexact=email.strip(),
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).filter(
        Q(transfer__isnull=True)
        | Q(transfer__revoked_at__isnull=True, transfer__purged_at__isnull=True)
    )
    if exclude_owner is not None:
        rows = rows.exclude(created_by=exclude_owner)
    return rows


def links_to_address_locked(*, email: str, exclude_owner: User | None = None) -> list[ShareLink]:
    """Those links, with what names them, each row locked (``FOR NO KEY UPDATE`` of the
    links only) until the caller's commit, after the person's row (docs/architecture.md,
    "Lock order")."""
    return list(
        links_to_address_live(email=email, exclude_owner=exclude_owner)
        .select_related("created_by", "file", "folder", "transfer")
        .order_by("pk")
        .select_for_update(no_key=True, of=("self",))
    )


def link_names(link: ShareLink) -> tuple[str, list[str]]:
    """What the link gave, as its sender knows it: (the item or the transfer's subject,
    the transfer's file paths as sent)."""
    if link.transfer is not None:
        paths = list(
            TransferItem.objects.filter(transfer=link.transfer)
            .order_by("path", "pk")
            .values_list("path", flat=True)
        )
        return link.transfer.subject, paths
    if link.file is not None:
        return link.file.name, []
    folder = link.folder
    return (folder.name if folder is not None else "") or str(gettext_lazy("(whole space)")), []


def link_names_line(link: ShareLink) -> str:
    """One withdrawn link in a report: the sender, then what it gave."""
    sender = link.created_by
    who = f"{sender.get_full_name() or sender.email} <{sender.email}>"
    name, paths = link_names(link)
    shown = ", ".join(paths[:NAMES_LISTED]) + (" …" if len(paths) > NAMES_LISTED else "")
    return f"{who}: {name}" + (f" ({shown})" if shown else "")


def addressed_links_withdraw(
    *,
    found: list[ShareLink],
    actor: User | None,
    actor_label: str,
    reason: str,
    details: dict[str, Any],
    notice: Notice,
) -> dict[str, int]:
    """Withdraw ``found`` (locked by the caller), one audit event per link with
    ``reason`` and ``details``, and tell each sender after commit with
    ``notice(sender_id=, link_ids=)``. Inside the caller's transaction."""
    now = timezone.now()
    withdrawn = ShareLink.objects.filter(
        pk__in=[link.pk for link in found], revoked_at__isnull=True
    ).update(revoked_at=now, revoked_by=actor)
    by_sender: dict[int, list[int]] = {}
    for link in found:
        name, paths = link_names(link)
        recorded: dict[str, Any] = {
            "reason": reason,
            "owner": link.created_by.email,
            "recipient": link.recipient_email,
            **details,
            "name": name,
        }
        if link.transfer_id is not None:
            recorded |= {"transfer": link.transfer_id, "files": paths[:NAMES_LISTED]}
        audit.record(
            action=Action.SHARING_LINK_REVOKE,
            actor=actor,
            actor_label=actor_label,
            target_type="sharing.link",
            target_id=link.pk,
            details=recorded,
        )
        by_sender.setdefault(link.created_by_id, []).append(link.pk)
    for sender_id, link_ids in by_sender.items():
        transaction.on_commit(
            functools.partial(notice, sender_id=sender_id, link_ids=link_ids), robust=True
        )
    return {"links_withdrawn": withdrawn, "senders_told": len(by_sender)}


def links_to_former_address_withdraw(
    sender: object,
    *,
    user: User,
    former_email: str,
    actor: User | None,
    actor_label: str = "",
    **kwargs: object,
) -> dict[str, int]:
    """Receiver of ``accounts.address_change.user_address_changed``: every live link
    made for ``former_email`` (her own to herself too: the code would go to that
    mailbox) is withdrawn; the audit names the former and the new address, each sender
    is told both. Her row is locked by the caller; then these links."""
    found = links_to_address_locked(email=former_email)
    result = addressed_links_withdraw(
        found=found,
        actor=actor,
        actor_label=actor_label or ("" if actor is not None else "system"),
        reason=RECIPIENT_ADDRESS_CHANGED,
        details={"recipient_new_address": user.email},
        notice=functools.partial(
            links_to_former_address_notice_send,
            person_id=user.pk,
            former_email=former_email,
            new_email=user.email,
        ),
    )
    return {
        "links_to_former_address_withdrawn": result["links_withdrawn"],
        "senders_told_of_address_change": result["senders_told"],
    }


def _withdrawn_items(link_ids: list[int]) -> tuple[list[dict[str, Any]], set[str]]:
    """What an e-mail to the sender lists (never the link itself), and the addresses
    the links had been made for."""
    withdrawn = []
    addresses: set[str] = set()
    for link in (
        ShareLink.objects.filter(pk__in=link_ids)
        .select_related("file", "folder", "transfer")
        .order_by("pk")
    ):
        name, paths = link_names(link)
        addresses.add(link.recipient_email)
        withdrawn.append(
            {
                "is_transfer": link.transfer_id is not None,
                "name": name,
                "files": paths[:NAMES_LISTED],
                "more": max(0, len(paths) - NAMES_LISTED),
            }
        )
    return withdrawn, addresses


def _notice_send(
    *, sender: User, subject: Any, name: str, template: str, context: dict[str, Any]
) -> bool:
    """An internal e-mail to a member of staff, in their language: it names the files
    (they sent them), never the link."""
    from sharing.services.emails import email_send

    language = sender.email_language
    with translation.override(language):
        subject_text = str(subject) % {"name": name}
    try:
        email_send(
            to=sender.email,
            subject=subject_text,
            template=template,
            context={
                "sender_name": sender.get_full_name() or sender.email,
                "organisation": settings.ORGANISATION_NAME,
                **context,
            },
            language=language,
        )
    except OSError:
        logger.warning("withdrawn links notice not sent", exc_info=True)
        return False
    return True


def links_to_leaver_notice_send(*, sender_id: int, leaver_id: int, link_ids: list[int]) -> bool:
    """Tell a colleague which of the files they sent to a leaver's address were
    withdrawn, so that they send them to whoever took over."""
    sender = User.objects.filter(pk=sender_id, is_active=True).first()
    leaver = User.objects.filter(pk=leaver_id).first()
    if sender is None or leaver is None:
        return False
    withdrawn, addresses = _withdrawn_items(link_ids)
    leaver_name = leaver.get_full_name() or leaver.email
    return _notice_send(
        sender=sender,
        subject=LINKS_TO_LEAVER_SUBJECT,
        name=leaver_name,
        template="links_to_leaver_withdrawn",
        context={
            "leaver_name": leaver_name,
            # The address they were sent to (the leaver's own may have changed since:
            # the directory renames some leavers in the request that deactivates them).
            "leaver_email": ", ".join(sorted(addresses)) or leaver.email,
            "withdrawn": withdrawn,
        },
    )


def links_to_former_address_notice_send(
    *, sender_id: int, person_id: int, link_ids: list[int], former_email: str, new_email: str
) -> bool:
    """Tell a colleague which of the files they sent to a person's former address were
    withdrawn, and her new address, so that they send them again. The new address is
    the one saved with the change (it may have changed again since)."""
    sender = User.objects.filter(pk=sender_id, is_active=True).first()
    person = User.objects.filter(pk=person_id).first()
    if sender is None or person is None:
        return False
    withdrawn, _addresses = _withdrawn_items(link_ids)
    person_name = person.get_full_name() or person.email
    return _notice_send(
        sender=sender,
        subject=LINKS_TO_FORMER_ADDRESS_SUBJECT,
        name=person_name,
        template="links_to_former_address_withdrawn",
        context={
            "person_name": person_name,
            "former_email": former_email,
            "new_email": new_email,
            "withdrawn": withdrawn,
        },
    )
