"""What follows a change of a person's e-mail address, whoever made it.

A transfer, a personal link and an invitation name their recipient by address, not by
account, and a recipient-bound link e-mails its one-time code to the address it was
made for. When a person's address changes, her *former* mailbox may be given to someone
else (a namesake, a locum), or the change may be an administrator pointing the account
at a mailbox he reads. So, in the transaction that saves the new address:

* every live link colleagues made for the former address is withdrawn (its recipient
  gets 410 "This link was withdrawn"), each sender told in their own language which
  files to send again, one ``sharing.link.revoke`` per link (the sharing app's receiver
  of ``user_address_changed``: sharing/services/addressed_links.py);
* pending invitations to the former address are revoked: one would open a new account,
  with its teams, to whoever reads that mailbox now that no account holds it;
* pending links to the identity provider, all e-mailed to an address no longer hers,
  are revoked (sso's receiver: sso/account_link.py). A set-up link dies by itself: its
  token hashes the account's address (accounts.services.SetupLinkTokenGenerator).

Nothing is re-pointed to the new address: whoever changed the address could otherwise
receive the codes (the account takeover accounts/credential_approvals.py guards).
A change of letter case only ("Alice@…" to "alice@…") is the same mailbox: nothing.

Every path that changes ``User.email`` calls ``user_address_change_apply``. Today there
is one: the directory (SCIM PUT, PATCH, and the POST that brings a removed account back,
directory/scim/users.py); the administration pages cannot edit an address. When the
same directory request deactivates the person, her offboarding runs first, under the
former address (accounts/offboarding.py), and leaves nothing live for this to withdraw.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from accounts import invitations
from accounts.models import User

# Sent inside the transaction that saved the new address, the person's row locked, with
# user= (her new address saved), former_email=, actor= (None for the directory) and
# actor_label=. Receivers return a JSON-safe dict of what they withdrew.
user_address_changed = Signal()

# The audit's reason for what an address change revoked (audit/readable.py).
ADDRESS_CHANGED = "address changed"


def addresses_same(first: str, second: str) -> bool:
    """The same mailbox: addresses are compared without regard to letter case, as every
    lookup of an account or a link by address does (``email__iexact``)."""
    return first.strip().casefold() == second.strip().casefold()


def user_address_change_apply(
    *, user: User, former_email: str, actor: User | None, actor_label: str = ""
) -> dict[str, Any]:
    """Withdraw what was addressed to ``former_email`` now that ``user`` holds another
    address. Call in the transaction that saved the new address (``user.email``).

    Lock order (docs/architecture.md): the person's row first, ``FOR NO KEY UPDATE``
    (taken again here: a no-op when the caller holds it), then the invitations and
    links, then the audit chain. A link being made for the former address at this
    instant locks her row too (``share_link_create``): it either commits first and is
    withdrawn here, or waits and is then made for an address no account holds, as any
    link made after the change would be."""
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    if addresses_same(former_email, user.email):
        return {}
    invitation_ids = list(
        invitations.invitations_pending_to_address(email=former_email)
        .select_for_update()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    summary: dict[str, Any] = {
        "invitations_to_former_address_revoked": invitations.invitations_revoke_to_address(
            ids=invitation_ids,
            actor=actor,
            actor_label=actor_label,
            reason=ADDRESS_CHANGED,
        )
    }
    for _receiver, result in user_address_changed.send(
        sender=User, user=user, former_email=former_email, actor=actor, actor_label=actor_label
    ):
        if isinstance(result, dict):
            summary.update(result)
    return summary
