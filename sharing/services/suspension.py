"""Suspending every external link, transfer and file request at once: incident response.

A security officer who suspects a leak (a mailbox compromised, a link posted where it
should not be) must be able to stop everything that leaves the organisation in one
action, without deleting anything they will need to investigate, and to undo it. While
the suspension is on (``SharingPolicy.external_suspended_at``):

* every share link, transfer link and preview answers a neutral "not available" page
  (410), refused and audited like any other refusal (``link_access.link_state_now``
  says ``suspended``); downloads and ZIPs under way stop at their next re-check
  (``files.downloads``, every 5 s), as for a revoked link;
* file requests accept no upload, and uploads under way are cut at their next chunk;
* nobody can make a link, a transfer or a file request
  (``links.share_link_policy_check_may_share``).

Switching it off lets each link work again until its own expiry: nothing was revoked.
Both switches are audited with who and when. docs/sharing-links.md, "Suspending".
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import still_active
from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.context import context_from_request
from sharing.errors import LinkPolicyError
from sharing.models import SharingPolicy

REASON = "external sharing suspended"


def suspended_message() -> str:
    """What someone trying to share outside is told while the suspension is on."""
    return _(
        "The administrators have suspended external links and transfers for now: "
        "nothing can be shared outside the organisation until they lift it."
    )


def external_sharing_suspended() -> bool:
    """Asked again on every request and every stream re-check: one indexed read."""
    return SharingPolicy.objects.filter(pk=1, external_suspended_at__isnull=False).exists()


def external_sharing_suspend(
    *, actor: User, suspend: bool, request: HttpRequest | None = None
) -> bool:
    """Switch the suspension on (``suspend``) or off; returns False when it already was
    so (nothing recorded twice). Audited ``sharing.external.suspend`` / ``.resume``."""
    guard = still_active.actor_still_active_check(
        actor,
        action=Action.SHARING_EXTERNAL_SUSPEND if suspend else Action.SHARING_EXTERNAL_RESUME,
        target_type="sharing.policy",
        target_id="",
        error=LinkPolicyError,
        request=context_from_request(request) if request is not None else None,
    )
    with guard.locked_transaction():
        SharingPolicy.current()
        policy = SharingPolicy.objects.select_for_update().get(pk=1)
        if (policy.external_suspended_at is not None) == suspend:
            return False
        since = policy.external_suspended_at
        now = timezone.now()
        policy.external_suspended_at = now if suspend else None
        policy.external_suspended_by = actor if suspend else None
        policy.save(update_fields=["external_suspended_at", "external_suspended_by", "updated_at"])
        audit.record(
            action=Action.SHARING_EXTERNAL_SUSPEND if suspend else Action.SHARING_EXTERNAL_RESUME,
            actor=actor,
            target_type="sharing.policy",
            target_id=policy.pk,
            details={"since": now.isoformat()}
            if suspend
            else {"suspended_since": since.isoformat() if since else ""},
            request=context_from_request(request) if request is not None else None,
        )
    return True
