"""Offboarding (issue #6, item 7; issue #17, item 3): a leaver's links, transfers and
file requests stop at once, in the deactivation's own transaction, and the shares made
to them are removed. Each part is a step of the offboarding plan
(``accounts.offboarding.offboarding_planned``): the lines the admin previews and the
function that does exactly that, on the rows the plan names.

Outside recipients of a withdrawn transfer are told, after commit, in a neutral notice:
the sender's name and organisation only, never the subject, message or file names (a
subject often names a patient, and an e-mail leaves our control).

What colleagues sent *to* the leaver's address is a third step
(``links_to_leaver_offboarding_plan``): transfers and personal links name a recipient by
address, not by account, so neither her sessions nor her shares cover them. Whoever
keeps reading that mailbox after she left (a forwarding rule, a shared ward mailbox, an
address given to her successor), or her browser still open on a shared ward computer
with the e-mailed code already typed, would otherwise go on opening patient files.
Those links are withdrawn (not suspended: a reactivation does not bring them back, the
sender sends again if the person returns), and each sender is told, in their own
language, which files to send to someone else. The withdrawal itself is the one an
address change makes too (sharing/services/addressed_links.py).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy

from accounts.models import User
from accounts.offboarding import OffboardingStep
from sharing.models import FileRequest, FileRequestUpload, Share, ShareLink, Transfer
from sharing.services import addressed_links
from sharing.services.addressed_links import RECIPIENT_LEFT
from sharing.services.withdrawals import item_name

logger = logging.getLogger(__name__)

TRANSFER_WITHDRAWN_SUBJECT = gettext_lazy("Files sent to you through SecureDrive were withdrawn")


def sharing_offboarding_plan(
    sender: object, *, user: User, successor: User | None, lock: bool = False, **kwargs: object
) -> OffboardingStep:
    """Receiver: every external link (transfer links included), transfer and file
    request the leaver created answers 410 from the deactivation's commit on.

    Internal shares the leaver *made* keep following the files (handed to the successor
    or kept for the retention period); the shares made *to* them are another step.
    """
    from sharing.services import file_requests, links, transfers

    live_links = links.share_links_live_of_owner(owner=user).order_by("pk")
    live_transfers = transfers.transfers_live_of_owner(owner=user).order_by("pk")
    open_requests = file_requests.file_requests_open_of_owner(owner=user).order_by("pk")
    if lock:
        live_links = live_links.select_for_update()
        live_transfers = live_transfers.select_for_update()
        open_requests = open_requests.select_for_update()
    link_rows = list(live_links.values_list("pk", "transfer_id", "recipient_email"))
    transfer_ids = list(live_transfers.values_list("pk", flat=True))
    request_ids = list(open_requests.values_list("pk", flat=True))
    link_ids = [pk for pk, _transfer, _email in link_rows]
    plain_links = [(pk, email) for pk, transfer, email in link_rows if transfer is None]
    told = sorted(
        {email for _pk, transfer, email in link_rows if transfer in transfer_ids and email}
    )

    def apply(actor: User | None) -> dict[str, Any]:
        result = {
            "links_revoked": links.share_links_revoke_for_owner(
                owner=user, actor=actor, ids=link_ids
            ),
            "transfers_revoked": transfers.transfers_revoke_for_owner(
                owner=user, actor=actor, ids=transfer_ids
            ),
            "file_requests_closed": file_requests.file_requests_close_for_owner(
                owner=user, actor=actor, ids=request_ids
            ),
        }
        if told:
            sender_id = user.pk
            transaction.on_commit(
                lambda: transfer_withdrawn_notices_send(sender_id=sender_id, recipients=told),
                robust=True,
            )
        return result

    lines = [
        {
            "key": "links_withdrawn",
            "count": len(plain_links),
            "recipients": sorted({email for _pk, email in plain_links if email}),
            "named": _links_named([pk for pk, _email in plain_links]),
        },
        {
            "key": "transfers_withdrawn",
            "count": len(transfer_ids),
            "recipients": told,
            "named": _named(Transfer.objects.filter(pk__in=transfer_ids), "subject"),
        },
        {
            "key": "file_requests_closed",
            "count": len(request_ids),
            "named": _named(FileRequest.objects.filter(pk__in=request_ids), "title"),
        },
    ]
    return OffboardingStep(name="sharing_revoke_for_leaver", lines=lines, apply=apply)


# What each line names, for the administrator's preview and the report page (never the
# e-mailed report: file names often name a patient, and e-mail leaves the drive). Read
# by id from the rows the plan acts on, in the plan's order.


def _links_named(ids: list[int]) -> list[str]:
    """Each link as "its file or folder → its recipient"."""
    rows = (
        ShareLink.objects.filter(pk__in=ids)
        .select_related("file__space__team", "folder__space__team")
        .order_by("pk")
    )
    return [
        f"{item_name(item)} → {link.recipient_email}" if link.recipient_email else item_name(item)
        for link in rows
        if (item := link.file or link.folder) is not None
    ]


def _named(rows: QuerySet[Any], field: str) -> list[str]:
    return [str(name) for name in rows.order_by("pk").values_list(field, flat=True)]


def _shares_named(ids: list[int]) -> list[str]:
    """Each share made to the leaver as its file or folder, and who shared it."""
    rows = (
        Share.objects.filter(pk__in=ids)
        .select_related("file__space__team", "folder__space__team", "created_by")
        .order_by("pk")
    )
    return [
        f"{item_name(item)} ({share.created_by.get_full_name()})"
        if share.created_by is not None
        else item_name(item)
        for share in rows
        if (item := share.file or share.folder) is not None
    ]


def shares_received_offboarding_plan(
    sender: object, *, user: User, successor: User | None, lock: bool = False, **kwargs: object
) -> OffboardingStep:
    """Receiver: the internal shares made to the leaver are removed."""
    from sharing.services.shares import shares_remove_for_leaver

    rows = Share.objects.filter(user=user).order_by("pk")
    if lock:
        rows = rows.select_for_update()
    ids = list(rows.values_list("pk", flat=True))

    def apply(actor: User | None) -> dict[str, Any]:
        return {"shares_removed": shares_remove_for_leaver(user=user, actor=actor, ids=ids)}

    return OffboardingStep(
        name="shares_remove_for_leaver",
        lines=[{"key": "shares_removed", "count": len(ids), "named": _shares_named(ids)}],
        apply=apply,
    )


def links_to_leaver_offboarding_plan(
    sender: object, *, user: User, successor: User | None, lock: bool = False, **kwargs: object
) -> OffboardingStep:
    """Receiver: every live link colleagues made for the leaver's address (a personal
    link, her link of a transfer) is withdrawn, each sender told with the file names,
    one audit event per link. The report line names each sender and what was withdrawn.

    Lock order: her row is already locked (accounts.offboarding); then these links
    (``FOR NO KEY UPDATE`` of their own rows only). A link being made for her address
    at this instant locks her row too (``share_link_create``), so it either commits
    before this plan (and is withdrawn here) or sees her deactivated and is refused."""
    if lock:
        found = addressed_links.links_to_address_locked(email=user.email, exclude_owner=user)
    else:
        found = list(
            addressed_links.links_to_address_live(email=user.email, exclude_owner=user)
            .select_related("created_by", "file", "folder", "transfer")
            .order_by("pk")
        )
    ids = [link.pk for link in found]
    named = [addressed_links.link_names_line(link) for link in found]

    def apply(actor: User | None) -> dict[str, Any]:
        return addressed_links.addressed_links_withdraw(
            found=found,
            actor=actor,
            actor_label="" if actor is not None else "system",
            reason=RECIPIENT_LEFT,
            details={},
            notice=functools.partial(
                addressed_links.links_to_leaver_notice_send, leaver_id=user.pk
            ),
        )

    lines = (
        [{"key": "links_to_them_withdrawn", "count": len(ids), "withdrawn": named}] if ids else []
    )
    arriving = _uploads_arriving_under(email=user.email)
    if arriving:
        # Said, not done: a file request's link is the credential, not the person who
        # typed an address on its page (anyone may type any), and an upload reads nothing
        # back. Cutting it would lose what a colleague asked for; the report tells its
        # readers, and the request's owner decides what to do with what arrives.
        lines.append(
            {"key": "uploads_arriving_under_address", "count": len(arriving), "withdrawn": arriving}
        )
    return OffboardingStep(name="links_to_leaver_withdraw", lines=lines, apply=apply)


def _uploads_arriving_under(*, email: str) -> list[str]:
    """Uploads still arriving into colleagues' open file requests whose sender typed
    ``email`` as theirs: "request (its owner): file name", for the report."""
    rows = (
        FileRequestUpload.objects.filter(
            uploader_email__iexact=email.strip(),
            completed_at__isnull=True,
            upload__isnull=False,
            request__closed_at__isnull=True,
            request__expires_at__gt=timezone.now(),
        )
        .select_related("request", "request__created_by")
        .order_by("pk")
    )
    named = []
    for row in rows:
        owner = row.request.created_by
        named.append(f"{row.request.title} ({owner.get_full_name() or owner.email}): {row.name}")
    return named


def transfer_withdrawn_notices_send(*, sender_id: int, recipients: list[str]) -> int:
    """The neutral notice to each outside recipient of a withdrawn transfer, in the
    sender's language (we do not know theirs), as the transfer e-mail itself was."""
    from sharing.services.emails import email_send

    sender = User.objects.get(pk=sender_id)
    with translation.override(sender.email_language):
        subject = str(TRANSFER_WITHDRAWN_SUBJECT)
    sent = 0
    for recipient in recipients:
        try:
            email_send(
                to=recipient,
                subject=subject,
                template="transfer_withdrawn",
                context={
                    "sender_name": sender.get_full_name() or sender.email,
                    "organisation": settings.ORGANISATION_NAME,
                },
                language=sender.email_language,
            )
        except OSError:
            # One unreachable mailbox must not stop the others; the offboarding is done.
            logger.warning("transfer withdrawn notice not sent", exc_info=True)
            continue
        sent += 1
    return sent
