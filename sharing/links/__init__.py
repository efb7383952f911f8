"""External links (issue #6 items 2 and 5): the owner's side in ``services``, the
recipient's in ``access``. The names other modules rely on are re-exported here."""

from sharing.links.services import (
    LinkPolicyError,
    LinkRuleError,
    LinkState,
    share_link_create,
    share_link_policy_check_may_share,
    share_link_revoke,
    share_link_state,
    share_link_url,
    share_links_revoke_for_owner,
)

__all__ = [
    "LinkPolicyError",
    "LinkRuleError",
    "LinkState",
    "share_link_create",
    "share_link_policy_check_may_share",
    "share_link_revoke",
    "share_link_state",
    "share_link_url",
    "share_links_revoke_for_owner",
]
