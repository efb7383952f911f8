"""What older departures left opened to outsiders, found and withdrawn by the operator.

Leaving a team withdraws what the person opened to outsiders on its files
(``sharing.services.team_leave``), and the auditor role what she opened on anyone's
but her own (``sharing.services.auditor_grant``). Departures and grants from before
that code left such links, transfers and file requests standing: refused at each
request (``files.selectors.sharing_refusal``: only the people of a space may open it
outside), yet never marked withdrawn nor audited; a transfer showed its recipient an
empty page, a file request could stay open. ``manage.py withdrawals_backfill`` finds
them (a dry run prints them by person, team and name) and, with ``--apply``, withdraws
each with the very code of a live departure or grant:

* a person no longer a member of a team (removed, left, deactivated): what she opened
  on its files (``team_leave.opened_on_team``), audited with reason
  ``LEFT_THE_TEAM_EARLIER``, the team and her name;
* an auditor: what she opened on content outside her personal space
  (``auditor_grant.opened_beyond_personal``), reason ``BECAME_AUDITOR_EARLIER``.

A person may also hold something on a team's files without ever having been of the
team: a manager moved the file or folder there from another team's space after she
opened it (a move now withdraws it, ``sharing.services.move_out``; older moves did
not). Such an item, one whose file or a folder above it was moved into the team's space
after the link, the file request or the transfer's sending (read from the move's audit
event), is listed apart as moved there, never as "left the team", and withdrawn with
reason ``MOVED_IN_EARLIER``; she is not e-mailed the departure notice.

Both by ``BACKFILL_LABEL`` (no account acts). The recipients of a transfer get the
neutral notice any withdrawn transfer sends; the person is e-mailed her list only on
``notify`` (these stopped working when she left, maybe long ago: the operator chooses,
after the dry run; docs/accounts.md). One transaction per person and team, her row
locked first, then her memberships, read again under the lock: back in the team or no
longer an auditor since the dry run, nothing of hers is withdrawn. Running it again
finds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import still_active
from accounts.models import Team, TeamMembership, User
from accounts.services import team_memberships_lock
from audit.actions import Action
from audit.models import AuditEvent
from files import selectors
from files.models import File, Folder, Space, SpaceKind
from sharing.models import FileRequest, ShareLink, TransferItem
from sharing.services.auditor_grant import opened_beyond_personal
from sharing.services.team_leave import opened_on_team, opened_on_team_withdraw_and_tell
from sharing.services.withdrawals import Opened

# The audit's reasons (audit/readable.py reads them in words): found afterwards.
LEFT_THE_TEAM_EARLIER = "left the team earlier"
BECAME_AUDITOR_EARLIER = "became an auditor earlier"
MOVED_IN_EARLIER = "moved in earlier"

# Who withdraws, in the log: the operator, through this command.
BACKFILL_LABEL = "operator (manage.py withdrawals_backfill)"


@dataclass
class Leftover:
    """What one person still has open to outsiders where she no longer may: on
    ``team``'s files, or (``team`` ``None``) as an auditor, on anything but her own."""

    opened: Opened
    team: Team | None = None
    # Opened elsewhere, then moved into ``team``'s space by an older move: not a departure.
    moved: bool = False

    @property
    def person(self) -> User:
        return self.opened.user


def _team_pairs(*, auditor_ids: set[int]) -> list[tuple[int, int]]:
    """(person, team) for each live link, sent transfer or open file request on a team
    space's content whose creator is not a member of that team (auditors aside), in
    the order of their ids."""
    now = timezone.now()
    members = set(TeamMembership.objects.values_list("user_id", "team_id"))
    found: set[tuple[int, int]] = set()
    links = ShareLink.objects.filter(
        transfer__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    ).filter(Q(file__space__kind=SpaceKind.TEAM) | Q(folder__space__kind=SpaceKind.TEAM))
    for user_id, file_team, folder_team in links.values_list(
        "created_by_id", "file__space__team_id", "folder__space__team_id"
    ):
        found.add((user_id, file_team or folder_team))
    items = TransferItem.objects.filter(
        transfer__sent_at__isnull=False,
        transfer__revoked_at__isnull=True,
        transfer__purged_at__isnull=True,
        transfer__expires_at__gt=now,
        file__space__kind=SpaceKind.TEAM,
    )
    found.update(items.values_list("transfer__created_by_id", "file__space__team_id"))
    requests = FileRequest.objects.filter(
        closed_at__isnull=True, folder__space__kind=SpaceKind.TEAM
    )
    found.update(requests.values_list("created_by_id", "folder__space__team_id"))
    return sorted(
        (user_id, team_id)
        for user_id, team_id in found
        if user_id is not None
        and team_id is not None
        and user_id not in auditor_ids
        and (user_id, team_id) not in members
    )


def _moved_in_since(item: File | Folder, *, space_id: int, since: dt.datetime | None) -> bool:
    """Whether ``item``, or a folder above it, was moved into the space ``space_id``
    after ``since`` (the moves' audit events name the space entered, ``to_space``)."""
    folder_id = item.folder_id if isinstance(item, File) else item.pk
    where = Q(
        target_type="files.folder",
        target_id__in=[str(pk) for pk in selectors.folder_ancestor_ids(folder_id)],
    )
    if isinstance(item, File):
        where |= Q(target_type="files.file", target_id=str(item.pk))
    moves = AuditEvent.objects.filter(
        where,
        action__in=[Action.FILES_FILE_MOVE, Action.FILES_FOLDER_MOVE],
        details__to_space=space_id,
    ).exclude(details__from_space=space_id)  # a move within the space brought nothing in
    if since is not None:
        moves = moves.filter(occurred_at__gte=since)
    return moves.exists()


def moved_in_split(opened: Opened, *, team: Team) -> tuple[Opened, Opened]:
    """``opened`` (on ``team``'s files) in two: what a departure left standing, and what
    an older move brought into the team's space after it was opened elsewhere (a
    transfer only when every file of the team's it holds came so)."""
    left, moved = Opened(user=opened.user), Opened(user=opened.user)
    space = Space.objects.filter(kind=SpaceKind.TEAM, team=team).first()
    if space is None:
        return opened, moved
    for link, name in opened.links:
        item = link.file or link.folder
        came = item is not None and _moved_in_since(item, space_id=space.pk, since=link.created_at)
        (moved if came else left).links.append((link, name))
    for transfer, paths in opened.transfers:
        files = [
            one.file
            for one in TransferItem.objects.filter(
                transfer=transfer, file__space=space
            ).select_related("file")
        ]
        came = bool(files) and all(
            _moved_in_since(file, space_id=space.pk, since=transfer.sent_at) for file in files
        )
        (moved if came else left).transfers.append((transfer, paths))
    for request in opened.requests:
        came = _moved_in_since(request.folder, space_id=space.pk, since=request.created_at)
        (moved if came else left).requests.append(request)
    return left, moved


def leftovers_find() -> Iterator[Leftover]:
    """Every leftover, auditors first, then by person and team; each item once (a
    transfer holding files of two teams she left is listed under the first)."""
    auditors = list(User.objects.filter(is_auditor=True).order_by("pk"))
    seen: set[tuple[str, int]] = set()

    def first_time(kind: str, pk: int) -> bool:
        if (kind, pk) in seen:
            return False
        seen.add((kind, pk))
        return True

    def unseen(opened: Opened) -> Opened:
        opened.links = [pair for pair in opened.links if first_time("link", pair[0].pk)]
        opened.transfers = [pair for pair in opened.transfers if first_time("transfer", pair[0].pk)]
        opened.requests = [one for one in opened.requests if first_time("request", one.pk)]
        return opened

    for auditor in auditors:
        opened = unseen(opened_beyond_personal(auditor))
        if opened:
            yield Leftover(opened=opened)
    pairs = _team_pairs(auditor_ids={auditor.pk for auditor in auditors})
    people = User.objects.in_bulk({user_id for user_id, _team_id in pairs})
    teams = Team.objects.in_bulk({team_id for _user_id, team_id in pairs})
    for user_id, team_id in pairs:
        person, team = people.get(user_id), teams.get(team_id)
        if person is None or team is None:  # gone since the pairs were read
            continue
        opened = unseen(opened_on_team(person, team, lock=False))
        left, moved = moved_in_split(opened, team=team)
        if left:
            yield Leftover(opened=left, team=team)
        if moved:
            yield Leftover(opened=moved, team=team, moved=True)


def leftover_withdraw(leftover: Leftover, *, notify: bool = False) -> Opened | None:
    """Withdraw what ``leftover``'s person still has open there, found again under the
    locks, in one transaction; returns what was withdrawn (``None``: nothing, she is
    back in the team or no longer an auditor, or it was withdrawn meanwhile)."""
    person, team = leftover.person, leftover.team
    with transaction.atomic():
        # Her row first, then her memberships (docs/architecture.md, "Lock order"): a
        # link she makes, a team joined or a role changed at this instant queue here.
        still_active.people_rows_lock([person])
        teams = team_memberships_lock(user=person)
        if team is None:
            if not User.objects.filter(pk=person.pk, is_auditor=True).exists():
                return None
            opened = opened_beyond_personal(person, lock=True)
            if opened:
                opened.withdraw(
                    actor=None, actor_label=BACKFILL_LABEL, why={"reason": BECAME_AUDITOR_EARLIER}
                )
        else:
            if team.pk in teams:
                return None
            left, moved = moved_in_split(opened_on_team(person, team, lock=True), team=team)
            opened = moved if leftover.moved else left
            if opened:
                opened_on_team_withdraw_and_tell(
                    opened,
                    team=team,
                    actor=None,
                    actor_label=BACKFILL_LABEL,
                    why={"reason": MOVED_IN_EARLIER if leftover.moved else LEFT_THE_TEAM_EARLIER},
                    # The departure notice would tell her she left a team she never was of.
                    tell=notify and not leftover.moved,
                )
    return opened or None
