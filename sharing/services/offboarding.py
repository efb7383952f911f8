"""Offboarding (issue #6, item 7; issue #17, item 3): a leaver's links, transfers and
file requests stop at once, in the deactivation's own transaction, and the shares made
to them are removed. Each part is a step of the offboarding plan
(``accounts.offboarding.offboarding_planned``): the lines the admin previews and the
function that does exactly that, on the rows the plan names.

Outside recipients of a withdrawn transfer are told, after commit, in a neutral notice:
the sender's name and organisation only, never the subject, message or file names (a
subject often names a patient, and an e-mail leaves our control).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_lazy

from accounts.models import User
from accounts.offboarding import OffboardingStep
from sharing.models import Share

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
        },
        {"key": "transfers_withdrawn", "count": len(transfer_ids), "recipients": told},
        {"key": "file_requests_closed", "count": len(request_ids)},
    ]
    return OffboardingStep(name="sharing_revoke_for_leaver", lines=lines, apply=apply)


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
        lines=[{"key": "shares_removed", "count": len(ids)}],
        apply=apply,
    )


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
