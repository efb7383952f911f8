"""Offboarding (issue #6, item 7): a leaver's links, transfers and file requests stop at
once, in the deactivation's own transaction (``accounts.offboarding.user_deactivated``).
"""

from __future__ import annotations

from typing import Any

from accounts.models import User


def sharing_revoke_for_leaver(
    sender: object, *, user: User, successor: User | None, actor: User | None, **kwargs: object
) -> dict[str, Any]:
    """Receiver: every external link (transfer links included), transfer and file
    request the leaver created answers 410 from the deactivation's commit on.

    Internal shares the leaver *made* keep following the files (handed to the successor
    or kept for the retention period): "shares" decides that in its own receiver.
    """
    from sharing.services import file_requests, links, transfers

    links_revoked = links.share_links_revoke_for_owner(owner=user, actor=actor)
    transfers_revoked = transfers.transfers_revoke_for_owner(owner=user, actor=actor)
    requests_closed = file_requests.file_requests_close_for_owner(owner=user, actor=actor)
    return {
        "links_revoked": links_revoked,
        "transfers_revoked": transfers_revoked,
        "file_requests_closed": requests_closed,
    }
