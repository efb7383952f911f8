"""What people opened to outsiders on content moved into a space they are not of ends
with the move.

Only the people of a space may open its files to outsiders
(``files.selectors.sharing_refusal``). When a manager moves a file or folder out of
Cardiologie's space into Urgences' (or into someone's personal space), the links that
Cardiologie's members made to it, their transfers (sent) holding its files and their
file requests into its folders were refused at each request from then on, one
differently from the other (a transfer showing its recipient an empty page, a file
request still open), and never withdrawn, audited or told. In the move's transaction
(``files.signals.content_moved_across_spaces``) each is withdrawn as at a departure
(``sharing.services.withdrawals``), audited with reason ``MOVED_OUT``, the moved item,
both sides and who moved it; each person is told by e-mail in her language. Whoever is
of the destination too (a member of both teams, the owner of the personal space it
enters) keeps hers; what anyone opened elsewhere is untouched. The move's confirmation
names all of it first (``files.signals.content_move_planned``).

A move back does not restore anything withdrawn: each was withdrawn for good, its
recipients read "This link was withdrawn".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import Team, User
from accounts.roles import Withdrawn
from files import selectors
from files.models import File, Folder, Space
from files.selectors import Permission
from files.signals import MOVED_OUT, MoveExposure, MoveLoss, MoveWithdrawals
from sharing.models import FileRequest, ShareLink, TransferItem
from sharing.services.team_leave import withdrawn_items
from sharing.services.withdrawals import ContentScope, Opened, opened_to_outsiders

MOVED_OUT_WITHDRAWN_SUBJECT = gettext_lazy(
    "SecureDrive: what you had opened to outsiders on “%(name)s” was withdrawn"
)


def moved_scope(item: File | Folder) -> ContentScope:
    """What moving ``item`` carries into another space: the file, or the folder with
    every live folder and file below it (trashed ones stay behind, in their space)."""
    if isinstance(item, File):
        return ContentScope(file_ids=frozenset({item.pk}), folder_ids=frozenset())
    below = Folder.objects.filter(
        pk__in=selectors.folder_descendant_ids([item.pk]), deleted_at__isnull=True
    )
    folder_ids = {item.pk, *below.values_list("pk", flat=True)}
    file_ids = File.objects.filter(folder_id__in=folder_ids, deleted_at__isnull=True)
    return ContentScope(
        file_ids=frozenset(file_ids.values_list("pk", flat=True)),
        folder_ids=frozenset(folder_ids),
    )


def _creators(scope: ContentScope) -> list[int]:
    """Who opened anything live to outsiders on ``scope``, by id."""
    now = timezone.now()
    found: set[int] = set()
    found.update(
        ShareLink.objects.filter(
            Q(file_id__in=scope.file_ids) | Q(folder_id__in=scope.folder_ids),
            transfer__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).values_list("created_by_id", flat=True)
    )
    found.update(
        TransferItem.objects.filter(
            file_id__in=scope.file_ids,
            transfer__sent_at__isnull=False,
            transfer__revoked_at__isnull=True,
            transfer__purged_at__isnull=True,
            transfer__expires_at__gt=now,
        ).values_list("transfer__created_by_id", flat=True)
    )
    found.update(
        FileRequest.objects.filter(
            folder_id__in=scope.folder_ids, closed_at__isnull=True
        ).values_list("created_by_id", flat=True)
    )
    return sorted(user_id for user_id in found if user_id is not None)


def opened_on_moved(scope: ContentScope, *, space: Space, lock: bool) -> list[Opened]:
    """What the people who may not open ``space``'s files to outsiders opened on
    ``scope``, still live, person by person (``lock``: in the move's transaction, after
    the moved rows). A draft transfer reaches nobody yet: sending it later leaves out
    what she may no longer send (``sharing.services.transfers``)."""
    found: list[Opened] = []
    for person in User.objects.filter(pk__in=_creators(scope)).order_by("pk"):
        if selectors.space_permission(actor=person, space=space) >= Permission.MANAGE:
            continue  # of the destination too: hers stays
        opened = opened_to_outsiders(person, scope=scope, drafts=False, lock=lock)
        if opened:
            found.append(opened)
    return found


# The audit's rule for a link, a transfer or a file request refused because what it
# opens was moved, while it was being made, into a space its maker is not of.
MOVED_MEANWHILE = "moved_meanwhile"


def moved_meanwhile(*, actor: User, item: File | Folder) -> Space | None:
    """Inside a write opening ``item`` to outsiders, once it holds the audit chain's
    lock (after its own event): the space ``item`` was moved into since it was read,
    when ``actor`` may not open that space's files to outsiders; ``None`` otherwise.
    A move holds the chain's lock before it looks for what to withdraw
    (``files.signals.content_moved_announce``): a write that took the lock after it
    sees it committed here and is refused (its transaction rolled back); one that took
    it before is found and withdrawn by the move."""
    fresh = type(item).objects.filter(pk=item.pk).values_list("space_id", flat=True).first()
    if fresh is None or fresh == item.space_id:
        return None
    space = Space.objects.select_related("team", "owner").get(pk=fresh)
    if selectors.space_permission(actor=actor, space=space) >= Permission.MANAGE:
        return None
    return space


def moved_meanwhile_details(*, names: Sequence[str], space: Space) -> dict[str, Any]:
    """The audit details of a refusal for ``moved_meanwhile``: its rule, what was moved
    and whose space it went to, named as a move's own event names it ("to_team" or
    "to_owner": files.services.common.space_change_details)."""
    where: dict[str, Any] = {}
    if space.team is not None:
        where["to_team"] = space.team.name
    elif space.owner is not None:
        where["to_owner"] = f"{space.owner.get_full_name()} <{space.owner.email}>"
    return {"rule": MOVED_MEANWHILE, "moved": list(names), **where}


def moved_meanwhile_message(*, name: str, space: Space) -> str:
    return _(
        "“%(name)s” was moved to %(place)s while you were sharing it, and you may not open "
        "what is there to people outside: nothing was opened. Ask someone of %(place)s."
    ) % {"name": name, "place": selectors.space_holder_label(space)}


def _mover(actor: User | None) -> str:
    return (actor.get_full_name() or actor.email) if actor is not None else ""


def opened_on_moved_withdraw(
    sender: object,
    *,
    actor: User | None,
    item: File | Folder,
    from_space_id: int,
    file_ids: Sequence[int],
    folder_ids: Sequence[int],
    sides: dict[str, Any],
    **kwargs: object,
) -> MoveWithdrawals:
    """``files.signals.content_moved_across_spaces`` receiver: withdraw, in the move's
    transaction, what those who are not of the destination had opened to outsiders on
    the moved content; each person told after commit. Returns the counts kept in the
    move's audit event, and what each person lost (the API tells whoever moved)."""
    scope = ContentScope(file_ids=frozenset(file_ids), folder_ids=frozenset(folder_ids))
    space = Space.objects.select_related("team", "owner").get(pk=item.space_id)
    moved_by = _mover(actor)
    why = {
        "reason": MOVED_OUT,
        "moved_item": item.name,
        **{key: value for key, value in sides.items() if key != "left_team"},
        **({"moved_by": moved_by} if moved_by else {}),
    }
    counts = {"links_withdrawn": 0, "transfers_withdrawn": 0, "file_requests_closed": 0}
    people: list[str] = []
    losses: list[MoveLoss] = []
    for opened in opened_on_moved(scope, space=space, lock=True):
        losses.append(
            MoveLoss(
                person=opened.user.get_full_name() or opened.user.email,
                withdrawn=tuple(opened.in_words()),
            )
        )
        done = opened.withdraw(
            actor=actor, actor_label="" if actor is not None else "system", why=why
        )
        counts["links_withdrawn"] += done["links"]
        counts["transfers_withdrawn"] += done["transfers"]
        counts["file_requests_closed"] += done["file_requests"]
        # As the log names a person (the privacy export finds her by it).
        people.append(f"{opened.user.get_full_name()} <{opened.user.email}>")
        _tell_after_commit(
            opened,
            item_name=item.name,
            moved_by=moved_by,
            from_space_id=from_space_id,
            to_space_id=space.pk,
        )
    left_team = sides.get("left_team")
    if isinstance(left_team, int):
        _managers_told_after_commit(
            team_id=left_team,
            actor=actor,
            item_name=item.name,
            from_space_id=from_space_id,
            to_space_id=space.pk,
            counts=counts,
            people=[loss.person for loss in losses],
        )
    if not people:
        return MoveWithdrawals(details={})
    return MoveWithdrawals(details={**counts, "withdrawn_from": people}, losses=tuple(losses))


def opened_on_moved_planned(
    sender: object, *, items: Iterable[File | Folder], destination: Folder, **kwargs: object
) -> list[MoveLoss]:
    """``files.signals.content_move_planned`` receiver: the dry run of
    ``opened_on_moved_withdraw`` for the move's confirmation. Nothing is locked."""
    scopes = [moved_scope(item) for item in items]
    scope = ContentScope(
        file_ids=frozenset().union(*(one.file_ids for one in scopes)),
        folder_ids=frozenset().union(*(one.folder_ids for one in scopes)),
    )
    return [
        MoveLoss(
            person=opened.user.get_full_name() or opened.user.email,
            withdrawn=tuple(opened.in_words()),
        )
        for opened in opened_on_moved(scope, space=destination.space, lock=False)
    ]


def _tell_after_commit(
    opened: Opened, *, item_name: str, moved_by: str, from_space_id: int, to_space_id: int
) -> None:
    user_id, withdrawn = opened.user.pk, opened.in_words()
    transaction.on_commit(
        lambda: moved_out_withdrawn_notice_send(
            user_id=user_id,
            item_name=item_name,
            moved_by=moved_by,
            from_space_id=from_space_id,
            to_space_id=to_space_id,
            withdrawn=withdrawn,
        ),
        robust=True,
    )


def moved_out_withdrawn_notice_send(
    *,
    user_id: int,
    item_name: str,
    moved_by: str,
    from_space_id: int,
    to_space_id: int,
    withdrawn: list[Withdrawn],
) -> bool:
    """Tell the person, in her language, what the move of ``item_name`` withdrew. Runs
    after commit; nothing for an account deactivated meanwhile (offboarding tells its
    own)."""
    from sharing.services.emails import email_send

    person = User.objects.filter(pk=user_id, is_active=True).first()
    if person is None or not withdrawn:
        return False
    spaces = Space.objects.select_related("team", "owner").in_bulk([from_space_id, to_space_id])
    language = person.email_language
    with translation.override(language):
        subject = str(MOVED_OUT_WITHDRAWN_SUBJECT) % {"name": item_name}
        sides = {
            "from_place": selectors.space_holder_label(spaces[from_space_id])
            if from_space_id in spaces
            else "",
            "to_place": selectors.space_holder_label(spaces[to_space_id])
            if to_space_id in spaces
            else "",
        }
        moved = (
            _("%(person)s moved “%(name)s” out of %(from)s into %(to)s.")
            if moved_by
            else _("“%(name)s” was moved out of %(from)s into %(to)s.")
        ) % {
            "person": moved_by,
            "name": item_name,
            "from": sides["from_place"],
            "to": sides["to_place"],
        }
    email_send(
        to=person.email,
        subject=subject,
        template="moved_out_withdrawn",
        context={
            "person_name": person.get_full_name() or person.email,
            "moved": moved,
            "to_place": sides["to_place"],
            "withdrawn": withdrawn_items(withdrawn),
        },
        language=language,
    )
    return True


# --- The team's other managers are told -----------------------------------------------


MOVED_OUT_OF_TEAM_SUBJECT = gettext_lazy("SecureDrive: “%(name)s” was moved out of %(team)s")
# How many moved items' names one notice lists (as the withdrawal notices list files).
ITEMS_LISTED = 20


@dataclass
class _Departure:
    """What one transaction moved out of one team's space into one place."""

    team_id: int
    from_space_id: int
    to_space_id: int
    item_names: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    people: list[str] = field(default_factory=list)


@dataclass
class _TeamDeparturesNotice:
    """The moves out of teams' spaces made in one transaction, told once it commits:
    a selection of thirty files moved at once is one e-mail to each manager, not
    thirty (``files.views.bulk`` moves them in one transaction)."""

    mover_id: int | None
    moved_by: str
    departures: dict[tuple[int, int], _Departure] = field(default_factory=dict)
    sent: bool = False

    def __call__(self) -> None:
        self.sent = True
        for departure in self.departures.values():
            moved_out_of_team_managers_notice_send(
                team_id=departure.team_id,
                mover_id=self.mover_id,
                moved_by=self.moved_by,
                item_names=departure.item_names,
                from_space_id=departure.from_space_id,
                to_space_id=departure.to_space_id,
                counts=dict(departure.counts),
                people=departure.people,
            )


def _team_departures_notice_pending(actor: User | None) -> _TeamDeparturesNotice | None:
    """This transaction's notice, registered on commit by its first move out of a team
    and not sent yet: Django drops it with the rest of the transaction's callbacks at a
    rollback, so a move undone is never told."""
    mover_id = actor.pk if actor is not None else None
    for _savepoints, callback, _robust in transaction.get_connection().run_on_commit:
        if (
            isinstance(callback, _TeamDeparturesNotice)
            and callback.mover_id == mover_id
            and not callback.sent
        ):
            return callback
    return None


def _managers_told_after_commit(
    *,
    team_id: int,
    actor: User | None,
    item_name: str,
    from_space_id: int,
    to_space_id: int,
    counts: dict[str, int],
    people: list[str],
) -> None:
    """Content left a team's space (only a manager may move it out,
    ``files.selectors.move_destination_check``): the team's other managers answer for
    what the team holds, patient files among it, and must not learn of it weeks later
    from the team page. Each is e-mailed after commit, in her language: who moved what
    where, and how much the move withdrew from people outside and from whom; no other
    file name (the withdrawn items' names go to their makers only)."""
    pending = _team_departures_notice_pending(actor)
    notice = pending or _TeamDeparturesNotice(
        mover_id=actor.pk if actor is not None else None, moved_by=_mover(actor)
    )
    departure = notice.departures.setdefault(
        (team_id, to_space_id),
        _Departure(team_id=team_id, from_space_id=from_space_id, to_space_id=to_space_id),
    )
    departure.item_names.append(item_name)
    departure.counts.update(counts)
    departure.people.extend(person for person in people if person not in departure.people)
    if pending is None:
        # Registered once filled: outside a transaction on_commit runs it at once.
        transaction.on_commit(notice, robust=True)


def moved_out_of_team_managers_notice_send(
    *,
    team_id: int,
    mover_id: int | None,
    moved_by: str,
    item_names: list[str],
    from_space_id: int,
    to_space_id: int,
    counts: dict[str, int],
    people: list[str],
) -> int:
    """Tell each active manager of the team left but the mover, in her language, that
    ``item_names`` left the team's space. Runs after commit; returns how many were
    told."""
    from sharing.services.emails import email_send

    team = Team.objects.filter(pk=team_id).first()
    if team is None or not item_names:
        return 0
    managers = [manager for manager in selectors.team_managers(team) if manager.pk != mover_id]
    spaces = Space.objects.select_related("team", "owner").in_bulk([from_space_id, to_space_id])
    team_url = f"{settings.SITE_URL}{reverse('accounts:team', args=[team.slug])}"
    count = len(item_names)
    told = 0
    for manager in managers:
        language = manager.email_language
        with translation.override(language):
            places = {
                "from": selectors.space_holder_label(spaces[from_space_id])
                if from_space_id in spaces
                else team.name,
                "to": selectors.space_holder_label(spaces[to_space_id])
                if to_space_id in spaces
                else "",
            }
            if count == 1:
                subject = str(MOVED_OUT_OF_TEAM_SUBJECT) % {
                    "name": item_names[0],
                    "team": team.name,
                }
                moved = (
                    _("%(person)s moved “%(name)s” out of %(from)s into %(to)s.")
                    if moved_by
                    else _("“%(name)s” was moved out of %(from)s into %(to)s.")
                ) % {"person": moved_by, "name": item_names[0], **places}
            else:
                subject = ngettext(
                    "SecureDrive: %(count)d item was moved out of %(team)s",
                    "SecureDrive: %(count)d items were moved out of %(team)s",
                    count,
                ) % {"count": count, "team": team.name}
                moved = (
                    ngettext(
                        "%(person)s moved %(count)d item out of %(from)s into %(to)s:",
                        "%(person)s moved %(count)d items out of %(from)s into %(to)s:",
                        count,
                    )
                    if moved_by
                    else ngettext(
                        "%(count)d item was moved out of %(from)s into %(to)s:",
                        "%(count)d items were moved out of %(from)s into %(to)s:",
                        count,
                    )
                ) % {"person": moved_by, "count": count, **places}
        email_send(
            to=manager.email,
            subject=subject,
            template="moved_out_of_team",
            context={
                "person_name": manager.get_full_name() or manager.email,
                "moved": moved,
                "items": item_names[:ITEMS_LISTED] if count > 1 else [],
                "more": max(0, count - ITEMS_LISTED),
                "team_name": team.name,
                "links_withdrawn": counts.get("links_withdrawn", 0),
                "transfers_withdrawn": counts.get("transfers_withdrawn", 0),
                "file_requests_closed": counts.get("file_requests_closed", 0),
                "people": people,
                "team_url": team_url,
            },
            language=language,
        )
        told += 1
    return told


# --- Moving into a folder that links reach ----------------------------------------------


def links_reaching_destination_planned(
    sender: object, *, items: Sequence[File | Folder], destination: Folder, **kwargs: object
) -> list[MoveExposure]:
    """``files.signals.content_move_exposes`` receiver: the live links to
    ``destination`` or a folder above it that do not already reach every moved item
    where it is now (moving within a linked folder opens nothing new), for the move's
    confirmation and the copy's (``files.views.team_exit``). Nothing is locked."""
    from sharing.selectors import folder_links_reaching

    reaching = folder_links_reaching(folder=destination)
    if not reaching:
        return []
    above_each = [
        set(selectors.folder_ancestor_ids(item.folder_id if isinstance(item, File) else item.pk))
        for item in items
    ]
    opening = [
        link for link in reaching if any(link.folder_id not in above for above in above_each)
    ]
    if not opening:
        return []
    makers: list[str] = []
    for link in opening:
        name = link.created_by.get_full_name() or link.created_by.email
        if name not in makers:
            makers.append(name)
    until = max(link.expires_at for link in opening)
    return [MoveExposure(count=len(opening), makers=tuple(makers), until=until)]
