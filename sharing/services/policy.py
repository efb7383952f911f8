"""The sharing policy as the transfer and file-request rules read it (the policy page
and the link rules themselves are in ``sharing.services.links``)."""

from __future__ import annotations

from accounts.models import User
from sharing.errors import LinkPolicyError
from sharing.models import SharingPolicy


def may_share_outside(actor: User) -> bool:
    """The policy's "who may share outside" (links, transfers, file requests), as
    decided by ``sharing.services.links``."""
    from sharing.services import links

    try:
        links.share_link_policy_check_may_share(actor=actor)
    except LinkPolicyError:
        return False
    return True


def expiry_max_days() -> int:
    return int(SharingPolicy.current().link_max_days)


def expiry_default_days() -> int:
    return int(SharingPolicy.current().link_default_days)
