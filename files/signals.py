"""What a move of content into another space tells the apps above files.

A link, a transfer or a file request opened to outsiders on a file or folder stands on
its creator's right to open it there: only the people of its space may
(``files.selectors.sharing_refusal``). Moving it into another space (out of a team's
into another team's or someone's personal space) ends that right for whoever is not of
the destination, and what they had opened would be refused at each request, never
withdrawn, audited or told. files does not import sharing (the dependency goes the
other way), hence these signals: sharing withdraws them in the move's transaction
(``sharing.services.move_out``) and names them before the move is confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.dispatch import Signal

from accounts.models import User
from accounts.roles import Withdrawn
from audit import services as audit_services
from files.models import File, Folder

# The audit's reason for each link, transfer and file request withdrawn because what it
# opened was moved into a space its creator is not of (audit/readable.py reads it, with
# the move's ``from_*``/``to_*`` sides and ``moved_by``, in words).
MOVED_OUT = "moved out"

# Sent inside a move's transaction once the moved rows carry the destination's space,
# with actor= (who moves), item= (the moved file or folder, in its new place),
# from_space_id=, file_ids= and folder_ids= (the live files and folders that changed
# space) and sides= (the move's ``from_*``/``to_*`` audit details). Each receiver
# returns a JSON-safe dict, kept in the move's audit event, or a ``MoveWithdrawals``
# (that dict, and what it withdrew person by person, for whoever moved: the API says it).
content_moved_across_spaces = Signal()

# Sent with items= and destination= before a move (nothing locked, nothing changed);
# each receiver returns a list of ``MoveLoss``: the dry run of its
# ``content_moved_across_spaces`` counterpart, named on the move's confirmation.
content_move_planned = Signal()


# Sent with items= and destination= before a move or a copy (nothing locked, nothing
# changed), within a space too; each receiver returns a list of ``MoveExposure``: what would show
# the moved items to people outside once they are in ``destination``.
content_move_exposes = Signal()


@dataclass(frozen=True)
class MoveExposure:
    """External links to the destination or a folder above it, which do not reach the
    moved items where they are now: after the move, whoever holds one opens them
    (a link to a folder shows the files added later too). ``makers``: who made them;
    ``until``: when the last of them expires (at the latest: one may be withdrawn or
    used up before). A copy into ``destination`` asks the same question."""

    count: int
    makers: tuple[str, ...]
    until: datetime | None = None


def move_exposures(*, items: Sequence[File | Folder], destination: Folder) -> list[MoveExposure]:
    """What moving ``items`` into ``destination`` would open to people outside; what
    copying them there would, too (the copy shows where the links show it, and a copy
    within what the links already show opens nothing new)."""
    exposures: list[MoveExposure] = []
    for _receiver, result in content_move_exposes.send(
        sender=Folder, items=list(items), destination=destination
    ):
        found: list[object] = list(result or [])
        exposures.extend(one for one in found if isinstance(one, MoveExposure))
    return exposures


@dataclass(frozen=True)
class MoveLoss:
    """What one person loses at a move: ``withdrawn``, what she had opened to outsiders
    on the moved content, she who is not of the destination space."""

    person: str
    withdrawn: tuple[Withdrawn, ...]


@dataclass(frozen=True)
class MoveWithdrawals:
    """What a move withdrew: ``details`` for the move's audit event (JSON-safe), and
    ``losses``, person by person, for whoever moved (``[]``: nothing)."""

    details: dict[str, Any]
    losses: tuple[MoveLoss, ...] = ()


def move_losses(*, items: Sequence[File | Folder], destination: Folder) -> list[MoveLoss]:
    """What moving ``items`` into ``destination`` would withdraw, person by person
    (``[]`` for a move within a space)."""
    crossing = [item for item in items if item.space_id != destination.space_id]
    if not crossing:
        return []
    losses: list[MoveLoss] = []
    for _receiver, result in content_move_planned.send(
        sender=Folder, items=crossing, destination=destination
    ):
        losses.extend(loss for loss in result or [] if isinstance(loss, MoveLoss))
    return losses


def content_moved_announce(
    *,
    actor: User | None,
    item: File | Folder,
    from_space_id: int,
    file_ids: Sequence[int],
    folder_ids: Sequence[int],
    sides: dict[str, Any],
) -> MoveWithdrawals:
    """Inside the move's transaction: let the receivers end what the move ends; their
    results, merged: the details for the move's audit event, and each person's loss."""
    # The audit chain's lock first (taken last, as every write of the move's would):
    # a link, a transfer or a file request made on the moved content at this instant
    # either committed before and is found below, or records its event after the move
    # commits and finds the content moved (sharing.services.move_out.moved_meanwhile).
    audit_services.chain_lock()
    details: dict[str, Any] = {}
    losses: list[MoveLoss] = []
    for _receiver, result in content_moved_across_spaces.send(
        sender=type(item),
        actor=actor,
        item=item,
        from_space_id=from_space_id,
        file_ids=list(file_ids),
        folder_ids=list(folder_ids),
        sides=sides,
    ):
        if isinstance(result, MoveWithdrawals):
            details.update(result.details)
            losses.extend(result.losses)
        elif isinstance(result, dict):
            details.update(result)
    return MoveWithdrawals(details=details, losses=tuple(losses))
