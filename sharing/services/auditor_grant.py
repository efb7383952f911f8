"""What a person opened to outsiders on colleagues' files ends when she becomes an auditor.

An auditor reads the audit log, never file content (ARCHITECTURE.md, invariant 4): the
role is granted only to someone in no team and with nothing shared with her
(``accounts.roles.auditor_content_access``). What she *created* while she was in a team
was left behind: links to the team's files, transfers sending them, file requests
bringing outsiders' files into the team's folders. Nobody could see or withdraw them any
more (her pages list only what she may still read, and only she may withdraw her own),
and each answered its recipients in its own way. At the grant, in its transaction
(``accounts.roles.auditor_grant_planned``), each of them is withdrawn:

* a link to a file or folder outside her personal space is revoked: its recipient reads
  "This link was withdrawn" (410);
* a transfer holding any file outside her personal space is revoked, every recipient's
  link with it, and its recipients get the neutral notice offboarding sends (the
  sender's name and organisation, never the files nor her role);
* a file request into a folder outside her personal space is closed: the uploader reads
  the closed request's page (410), and uploads under way are cut at their next chunk.

Each is audited (``sharing.link.revoke``, ``sharing.transfer.revoke``,
``sharing.request.close``) with its names, her name and the reason ``became an
auditor``, by whoever approved the role (the operator for the first auditor). What she
opened on her own personal space follows the rule for that space, which stays hers
(``files.selectors.content_withheld_by_role``): such links and transfers stay live,
and a file request into it holds the grant back until she closes it herself
(``sharing.services.shares.shares_received_in_words``).

Since leaving a team withdraws what she opened on its files
(``sharing.services.team_leave``), the grant finds only what an older departure left
standing; both find and withdraw through ``sharing.services.withdrawals``.
"""

from __future__ import annotations

from accounts.models import User
from accounts.roles import BECAME_AUDITOR, AuditorGrantStep
from files.models import Space, SpaceKind
from sharing.services.withdrawals import Opened, SpaceScope, opened_to_outsiders


def personal_space_id(user: User) -> int | None:
    return (
        Space.objects.filter(kind=SpaceKind.PERSONAL, owner=user)
        .values_list("pk", flat=True)
        .first()
    )


def transfer_items_beyond_personal(transfer_id: int, personal_id: int | None) -> list[str]:
    """The paths (as sent) of the transfer's files that lie outside its sender's
    personal space: what an auditor no longer reads."""
    return SpaceScope.all_but(personal_id).transfer_paths(transfer_id)


def opened_beyond_personal(user: User, *, lock: bool = False) -> Opened:
    """The links, transfers (drafts too) and file requests ``user`` made on content
    outside her personal space, still live: what an auditor may not keep open. Found
    at the grant and by the operator's backfill of older grants
    (``sharing.services.withdrawals_backfill``)."""
    return opened_to_outsiders(user, scope=SpaceScope.all_but(personal_space_id(user)), lock=lock)


def auditor_grant_plan(
    sender: object, *, user: User, lock: bool = False, **kwargs: object
) -> AuditorGrantStep:
    """Receiver of ``accounts.roles.auditor_grant_planned``: the links, transfers and
    file requests ``user`` made on content outside her personal space, and their
    withdrawal (``sharing.services.withdrawals``). Lock order: her row is locked by the
    grant; then these rows."""
    opened = opened_beyond_personal(user, lock=lock)

    def apply(actor: User | None) -> dict[str, int]:
        return opened.withdraw(
            actor=actor,
            actor_label="" if actor is not None else "operator",
            why={"reason": BECAME_AUDITOR},
        )

    return AuditorGrantStep(withdrawn=opened.in_words(), apply=apply)
