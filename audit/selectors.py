from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Lower, Upper
from django.db.models.lookups import In
from django.utils import timezone

from audit import resolvers
from audit.actions import Action
from audit.chain import ChainedFields, ChainReport, chain_verify
from audit.models import AuditAlert, AuditEvent, ChainVerification, Outcome
from core.ratelimit import address_counted

# Everything an event's hash covers, then the stored hash (see audit/chain.py).
CHAIN_COLUMNS = (*(field.name for field in dataclasses.fields(ChainedFields)), "event_hash")


def chain_rows(
    events: QuerySet[AuditEvent], *, batch_size: int = 2000
) -> Iterator[tuple[ChainedFields, str]]:
    """(fields, stored hash) pairs in sequence order, streamed in batches (flat memory).

    Plain tuples, not model instances: at a million events building the models cost
    more than hashing them."""
    rows = events.order_by("sequence").values_list(*CHAIN_COLUMNS).iterator(chunk_size=batch_size)
    for *values, stored_hash in rows:
        yield ChainedFields(*values), stored_hash


_Events = TypeVar("_Events", bound=QuerySet[AuditEvent])


def events_from_address(events: _Events, address: str) -> _Events:
    """``events`` that came from ``address`` as every per-address limit counts it
    (core.ratelimit.address_counted): an IPv6 address, or its network
    ("2001:db8:7:7::/64"), stands for every address of its /64; an IPv4 address for
    itself and its IPv4-mapped form. Each event keeps its own request's address, written
    as text: a network's events are picked here among those written with a colon, so
    callers bound ``events`` (by time: a quarter-hour, an alert's window)."""
    counted = address_counted(address)
    if ":" in counted:
        candidates = events.filter(ip_address__contains=":")
    else:
        candidates = events.filter(Q(ip_address=counted) | Q(ip_address__endswith=f":{counted}"))
    return events.filter(
        pk__in=[
            pk
            for pk, written in candidates.values_list("pk", "ip_address")
            if address_counted(written) == counted
        ]
    )


def _chain_rows(batch_size: int) -> Iterator[tuple[ChainedFields, str]]:
    return chain_rows(AuditEvent.objects.all(), batch_size=batch_size)


def audit_chain_verify(*, batch_size: int = 2000) -> ChainReport:
    """Recompute the whole chain from the first event, or from the retention anchor
    (authenticated by its signed checkpoint) when old events were purged.

    Raises ``audit.note.NoteError`` when the anchor does not verify."""
    from audit.checkpoints import tree_start

    start = tree_start()
    return chain_verify(
        _chain_rows(batch_size),
        start_sequence=start.size + 1,
        start_previous_hash=start.last_hash,
    )


@dataclass(frozen=True)
class EventFilter:
    """What an auditor asks of the log. Empty values mean "any"."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    actor: str = ""
    category: str = ""  # audit.actions.Category
    action: str = ""  # a prefix: "files." or "files.version.download"
    target_type: str = ""
    target_id: str = ""
    outcome: str = ""
    ip_address: str = ""
    up_to_sequence: int | None = None  # pins exports and pages to one head
    # A person's data export: what others did that concerns them (see events_about).
    about_email: str = ""
    about_account: str = ""
    # The auditor's questions (audit/questions.py): a file or folder ("file:7",
    # "folder:3", everything under it), "outside" or "failures".
    item: str = ""
    question: str = ""
    # The console's own page views (audit.console.view), left out of the default pages.
    hide_console: bool = False
    # A download's end events (its bytes, whether it completed), shown on the row of
    # the download itself: one access, one row (see download_ends).
    hide_download_ends: bool = False
    # The person's own work in the audit console (searches, exports, reports: every
    # ``audit.*`` action), left out of a data export someone else makes for them
    # (privacy.services.personal_data_export): what an auditor looked at is not for an
    # administrator to read alone.
    hide_audit_work: bool = False

    def as_details(self) -> dict[str, str]:
        """For the audit event that records the query itself."""
        return {
            name: value.isoformat() if isinstance(value, dt.datetime) else str(value)
            for name, value in vars(self).items()
            if value not in (None, "", False)
        }


# How far an event's timestamp may lag behind the events appended before it. record()
# reads the clock before it waits for the chain's lock, so an event can be stamped
# earlier than one appended before it by the length of the transaction holding the lock
# (milliseconds; minutes for a long batch). A day is far beyond that.
CLOCK_ORDER_MARGIN = dt.timedelta(days=1)


def _sequence_bounds(query: EventFilter) -> Q:
    """Sequence bounds implied by a date range, so the page reads only that stretch.

    Without them PostgreSQL walks the log newest first, filtering on the date, and a
    week six months back cost ~140 ms at a million events (bench/audit_query.py): its
    planner cannot know that time and sequence grow together. Every event appended after
    one stamped ``until + margin`` is stamped at or after ``until``; every event before
    one stamped ``since - margin`` is stamped before ``since``. The bounds therefore
    never exclude a matching event; the date conditions stay in the query as well.
    """
    bounds = Q()
    if query.until is not None:
        after = (
            AuditEvent.objects.filter(occurred_at__gte=query.until + CLOCK_ORDER_MARGIN)
            .order_by("occurred_at")
            .values_list("sequence", flat=True)
            .first()
        )
        if after is not None:
            bounds &= Q(sequence__lt=after)
    if query.since is not None:
        before = (
            AuditEvent.objects.filter(occurred_at__lt=query.since - CLOCK_ORDER_MARGIN)
            .order_by("-occurred_at")
            .values_list("sequence", flat=True)
            .first()
        )
        if before is not None:
            bounds &= Q(sequence__gt=before)
    return bounds


def _actor_condition(actor: str) -> Q:
    """An account id, or a label (the e-mail at the time, "system", a link recipient).

    One column per query: ``actor_id = x OR upper(actor_label) = upper(x)`` cannot use
    either index in sequence order, and PostgreSQL then walked the whole log (~0.6 s
    for an occasional person at a million events). Ids are numbers, labels are not.
    """
    if AuditEvent.objects.filter(actor_id=actor).exists():
        return Q(actor_id=actor)
    labels = [actor, *external_labels_of(actor)]
    if len(labels) == 1:
        return Q(actor_label__iexact=actor)
    # One condition on the indexed expression (an OR of several walked the whole log).
    return Q(In(Upper("actor_label"), [label.upper() for label in labels]))


# People outside (a link's recipient, someone uploading through a file request) act as
# "link:<id>" or "request:<id>", their e-mail address in the event's "recipient" detail.
EXTERNAL_LABEL_PREFIXES = ("link:", "request:")


def external_labels_of(email: str) -> list[str]:
    """The labels under which an outside person, known by e-mail, appears in the log:
    an auditor asking what dr.x@clinique.example got finds the links that person used.
    A partial expression index (audit_event_recipient) keeps it fast at any size."""
    if "@" not in email:
        return []
    external = Q()
    for prefix in EXTERNAL_LABEL_PREFIXES:
        external |= Q(actor_label__startswith=prefix)
    return sorted(
        AuditEvent.objects.filter(details__recipient__isnull=False)
        .alias(recipient=Lower(KT("details__recipient")))
        .filter(external, recipient=email.strip().lower())
        .order_by()
        .values_list("actor_label", flat=True)
        .distinct()
    )


def audit_events_filter(query: EventFilter) -> QuerySet[AuditEvent]:
    """Events matching the query, unordered. Callers are auditors (checked by the view)."""
    events = AuditEvent.objects.all()
    if query.since is not None:
        events = events.filter(occurred_at__gte=query.since)
    if query.until is not None:
        events = events.filter(occurred_at__lt=query.until)
    if query.since is not None or query.until is not None:
        events = events.filter(_sequence_bounds(query))
    if query.actor:
        events = events.filter(_actor_condition(query.actor))
    if query.category:
        events = events.filter(
            action__in=[action.value for action in Action if action.category == query.category]
        )
    if query.action:
        events = events.filter(action__startswith=query.action)
    if query.target_type:
        events = events.filter(target_type=query.target_type)
    if query.target_id:
        events = events.filter(target_id=query.target_id)
    if query.outcome:
        events = events.filter(outcome=query.outcome)
    if query.ip_address:
        events = events.filter(ip_address=query.ip_address)
    if query.up_to_sequence is not None:
        events = events.filter(sequence__lte=query.up_to_sequence)
    if query.about_email or query.about_account:
        events = events.filter(_about(email=query.about_email, account=query.about_account))
    if query.item:
        events = events.filter(_item_condition(query.item))
    if query.question == QUESTION_OUTSIDE:
        events = events.filter(action=Action.SHARING_LINK_CREATE, outcome=Outcome.SUCCESS)
    elif query.question == QUESTION_FAILURES:
        events = events.filter(outcome__in=[Outcome.DENIED, Outcome.ERROR])
    if query.hide_console:
        events = events.exclude(action=Action.AUDIT_CONSOLE_VIEW)
    if query.hide_audit_work:
        events = events.exclude(action__startswith="audit.")
    if query.hide_download_ends:
        events = events.exclude(
            Q(action=Action.FILES_VERSION_SENT)
            | Q(action=Action.SHARING_LINK_DOWNLOAD, details__has_key="download")
        )
    return events


@dataclass(frozen=True)
class DownloadEnd:
    bytes_sent: int
    completed: bool


def download_ends(events: list[AuditEvent]) -> dict[int, DownloadEnd]:
    """Per download start event (by sequence), how it ended: the bytes really sent and
    whether the stream completed, from its end event (``files.version.sent``,
    or ``sharing.link.download`` for a link's), joined on the ``download`` id.

    One query for a page or an export batch, by the ends' targets (an index): the
    version itself, or the link a recipient used."""
    starts: dict[str, int] = {}
    targets = Q(pk__in=[])
    for event in events:
        details = event.details or {}
        download = details.get("download")
        if event.action != Action.FILES_VERSION_DOWNLOAD or not isinstance(download, str):
            continue
        starts[download] = event.sequence
        link = details.get("link")
        if isinstance(link, int):
            targets |= Q(target_type="sharing.link", target_id=str(link))
        else:
            targets |= Q(target_type="files.version", target_id=event.target_id)
    if not starts:
        return {}
    rows = (
        AuditEvent.objects.filter(targets)
        .filter(
            action__in=[Action.FILES_VERSION_SENT, Action.SHARING_LINK_DOWNLOAD],
            sequence__gt=min(starts.values()),
        )
        .filter(In(KT("details__download"), list(starts)))
        .order_by("sequence")
        .values_list("details", flat=True)
    )
    ends: dict[int, DownloadEnd] = {}
    for details in rows:
        sequence = starts.get(details.get("download"))
        sent, completed = details.get("bytes"), details.get("completed")
        if sequence is not None and isinstance(sent, int) and isinstance(completed, bool):
            ends[sequence] = DownloadEnd(bytes_sent=sent, completed=completed)
    return ends


QUESTION_OUTSIDE, QUESTION_FAILURES = "outside", "failures"


FILE_DETAIL = KT("details__file")


def _item_condition(item: str) -> Q:
    """Everything that happened to a file, or to a folder and everything under it
    (trash included): the item itself as the target, and every event naming the file in
    its ``file`` detail (a version's download, a download by link), and the same for the
    files derived from them (de-identified copies).

    Read as two index lookups (target, and the partial ``audit_event_file_seq`` on the
    detail) whose sequences the page then reads by the sequence index. One query with
    the two conditions OR-ed made PostgreSQL walk the whole log newest first (580 ms at
    a million events, bench/audit_query.py); each lookup alone takes well under 1 ms.
    """
    kind, _sep, identifier = item.partition(":")
    file_ids: list[str] = [identifier]
    folder_ids: list[str] = []
    if kind == "folder":
        file_ids, folder_ids = resolvers.folder_contents(identifier)
        # What was in the folder and was moved out since: its accesses while it was
        # there are the folder's story (moving a file out must not hide them).
        moved_files, moved_folders = _moved_out(folder_ids)
        file_ids = [*file_ids, *moved_files]
        folder_ids = [*folder_ids, *moved_folders]
    # Copies share the original's content (lineage): their accesses are the original's.
    file_ids = [*file_ids, *resolvers.file_copies(file_ids)]
    # Copies derived from these files (a de-identified study sent outside): their
    # accesses belong to the original's story (files/lineage.py, ``derived_from``).
    file_ids = [*file_ids, *resolvers.derived_files(file_ids)]
    targets = Q(target_type="files.file", target_id__in=file_ids)
    if folder_ids:
        targets |= Q(target_type="files.folder", target_id__in=folder_ids)
    sequences = set(AuditEvent.objects.filter(targets).values_list("sequence", flat=True))
    if file_ids:
        sequences.update(
            AuditEvent.objects.filter(Q(details__file__isnull=False), In(FILE_DETAIL, file_ids))
            .order_by()
            .values_list("sequence", flat=True)
        )
    sequences.update(_sharing_sequences(file_ids, folder_ids, _folders_above(file_ids, folder_ids)))
    return Q(sequence__in=sorted(sequences))


def _folders_above(file_ids: list[str], folder_ids: list[str]) -> list[str]:
    """The folders above these items, now and before a move (the folder a file was moved
    out of, and the folders above it): a link made on one of them gave these items, and
    "who got this file" must show it, not only the downloads through it."""
    moved_from = {
        str(value)
        for value in AuditEvent.objects.filter(
            Q(action__in=[Action.FILES_FILE_MOVE, Action.FILES_FOLDER_MOVE]),
            Q(outcome=Outcome.SUCCESS),
            Q(target_type="files.file", target_id__in=file_ids)
            | Q(target_type="files.folder", target_id__in=folder_ids),
        )
        .order_by()
        .values_list(FROM_FOLDER, flat=True)
        if value
    } - set(folder_ids)
    above = set(resolvers.folders_above(file_ids, folder_ids))
    if moved_from:
        above |= moved_from | set(resolvers.folders_above([], sorted(moved_from)))
    return sorted(above - set(folder_ids))


# How deep moves out of moves out are followed (a folder moved out of a folder moved out).
MOVED_OUT_DEPTH = 8
FROM_FOLDER = KT("details__from_folder")
LINK_TARGET_ID = KT("details__target_id")


def _moved_out(folder_ids: list[str]) -> tuple[list[str], list[str]]:
    """Files and folders moved out of these folders since (and everything under a folder
    moved out), from the move events' ``from_folder``. Moves are a small share of the
    log; the ``action`` index finds them."""
    files: set[str] = set()
    folders: set[str] = set()
    searched: set[str] = set()
    frontier = set(folder_ids)
    for _depth in range(MOVED_OUT_DEPTH):
        if not frontier:
            break
        searched |= frontier
        moves = (
            AuditEvent.objects.filter(
                Q(action__in=[Action.FILES_FILE_MOVE, Action.FILES_FOLDER_MOVE]),
                Q(outcome=Outcome.SUCCESS),
                In(FROM_FOLDER, sorted(frontier)),
            )
            .order_by()
            .values_list("target_type", "target_id")
        )
        found: set[str] = set()
        for target_type, target_id in moves:
            if target_type == "files.file":
                files.add(target_id)
            elif target_type == "files.folder":
                under_files, under_folders = resolvers.folder_contents(target_id)
                files.update(under_files)
                found.update(under_folders or [target_id])
        folders |= found
        frontier = found - searched
    return sorted(files), sorted(folders - set(folder_ids))


def _sharing_sequences(
    file_ids: list[str], folder_ids: list[str], folders_above: list[str]
) -> set[int]:
    """The story of the links and transfers that gave these files and folders: each
    link made on them or on a folder above them, opened (or refused) by its recipient,
    checked, withdrawn; each transfer holding one of the files, sent and withdrawn, and
    its recipients' links. Their downloads and views name the file already (``file``
    detail)."""
    transfer_ids = [
        str(value)
        for value in AuditEvent.objects.filter(
            Q(details__file__isnull=False),
            In(FILE_DETAIL, file_ids),
            Q(action=Action.SHARING_TRANSFER_FILES_ADD, target_type="sharing.transfer"),
        )
        .order_by()
        .values_list("target_id", flat=True)
        .distinct()
    ]
    made_on = Q(pk__in=[])
    if file_ids:
        made_on |= Q(details__target_type="files.file") & Q(In(LINK_TARGET_ID, file_ids))
    if folder_ids or folders_above:
        made_on |= Q(details__target_type="files.folder") & Q(
            In(LINK_TARGET_ID, [*folder_ids, *folders_above])
        )
    if transfer_ids:
        made_on |= Q(details__target_type="sharing.transfer") & Q(In(LINK_TARGET_ID, transfer_ids))
    link_ids = set(
        AuditEvent.objects.filter(made_on, action=Action.SHARING_LINK_CREATE)
        .order_by()
        .values_list("target_id", flat=True)
    )
    sequences: set[int] = set()
    if transfer_ids:
        sent = AuditEvent.objects.filter(
            target_type="sharing.transfer",
            target_id__in=transfer_ids,
            action__in=[Action.SHARING_TRANSFER_SEND, Action.SHARING_TRANSFER_REVOKE],
        ).order_by()
        for sequence, details in sent.values_list("sequence", "details"):
            sequences.add(sequence)
            links = (details or {}).get("links") or []
            link_ids.update(str(link) for link in links if isinstance(link, int))
    link_ids.discard("")
    if link_ids:
        sequences.update(
            AuditEvent.objects.filter(
                target_type="sharing.link",
                target_id__in=sorted(link_ids),
                action__in=[
                    Action.SHARING_LINK_CREATE,
                    Action.SHARING_LINK_ACCESS,
                    Action.SHARING_LINK_VERIFY,
                    Action.SHARING_LINK_REVOKE,
                ],
            )
            .order_by()
            .values_list("sequence", flat=True)
        )
    return sequences


@dataclass(frozen=True)
class LinkUse:
    first_opened_at: dt.datetime
    downloads: int


def links_use(link_ids: list[str]) -> dict[str, LinkUse]:
    """Whether outside recipients opened what they were sent: per link, the first
    successful visit or download and the number of files downloaded (index on the
    target; each file of a ZIP counts, the ZIP's summary does not)."""
    rows = (
        AuditEvent.objects.filter(
            target_type="sharing.link",
            target_id__in=link_ids,
            action__in=[Action.SHARING_LINK_ACCESS, Action.SHARING_LINK_DOWNLOAD],
            outcome=Outcome.SUCCESS,
        )
        .order_by()
        .values("target_id")
        .annotate(
            first=Min("occurred_at"),
            # One per file that left: a ZIP's summary (no ``file``) is not one more.
            downloads=Count(
                "pk",
                filter=Q(action=Action.SHARING_LINK_DOWNLOAD, details__file__isnull=False),
            ),
        )
    )
    return {
        row["target_id"]: LinkUse(first_opened_at=row["first"], downloads=row["downloads"])
        for row in rows
    }


def _about(*, email: str, account: str) -> Q:
    """Events by others about a person: their account is the target, or their e-mail
    address is in a detail the catalogue marks as personal data (audit/actions.py).

    Their own actions are left out (the export lists them apart). Detail fields have no
    index: this reads the whole log, which is fine for a rare, admin-run export.
    """
    about = Q(target_type="accounts.user", target_id=account) if account else Q(pk__in=[])
    address = email.strip().lower()
    if address:
        for action in Action:
            for field in sorted(action.personal_details):
                # A single address (``->>`` text), one of a list (its JSON text), or
                # a person as the log names them, "Name <address>" (directory/scim).
                named = (
                    Q(**{f"details__{field}__iexact": address})
                    | Q(**{f"details__{field}__icontains": f'"{address}"'})
                    | Q(**{f"details__{field}__icontains": f"<{address}>"})
                )
                about |= Q(action=action.value) & named
    events = Q(about)
    if account:
        events &= ~Q(actor_id=account)
    return events


def audit_events_page(
    query: EventFilter, *, before_sequence: int | None, page_size: int = 50
) -> tuple[list[AuditEvent], int | None]:
    """Newest first, keyset-paginated on sequence (no OFFSET: flat cost on deep pages).

    Returns the page and the ``before`` value of the next page, or None at the end.
    """
    events = audit_events_filter(query)
    if before_sequence is not None:
        events = events.filter(sequence__lt=before_sequence)
    page = list(events.order_by("-sequence")[: page_size + 1])
    if len(page) > page_size:
        return page[:page_size], page[page_size - 1].sequence
    return page, None


def team_departures(*, team_id: int, limit: int = 20) -> list[AuditEvent]:
    """The latest files and folders moved out of a team's space (their move events name
    the team as ``left_team``: files.services.common.space_change_details), newest
    first, for the team's managers. Read through a partial index on that detail."""
    return list(
        AuditEvent.objects.filter(
            action__in=[Action.FILES_FILE_MOVE, Action.FILES_FOLDER_MOVE],
            outcome=Outcome.SUCCESS,
            details__left_team__isnull=False,
        )
        .annotate(left_team=KT("details__left_team"))
        .filter(left_team=str(team_id))
        .order_by("-sequence")[:limit]
    )


def audit_head_sequence() -> int:
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0


def chain_verification_latest() -> ChainVerification | None:
    return ChainVerification.objects.order_by("-verified_at").first()


@dataclass(frozen=True)
class VerificationState:
    """The latest verification and whether it is too old to vouch for the log now."""

    latest: ChainVerification | None
    stale_after: dt.timedelta
    stale: bool

    @property
    def covered_up_to(self) -> int:
        return self.latest.head_sequence if self.latest is not None else 0


def verification_state(*, now: dt.datetime | None = None) -> VerificationState:
    """Stale when no verification ran, or when the last one is older than twice its
    interval (AUDIT_VERIFY_INTERVAL_S): one missed run is a late worker, two a stopped
    beat or a stuck verification, which an auditor and the monitoring must see."""
    latest = chain_verification_latest()
    stale_after = dt.timedelta(seconds=2 * settings.AUDIT_VERIFY_INTERVAL_S)
    moment = now or timezone.now()
    stale = latest is None or moment - latest.verified_at > stale_after
    return VerificationState(latest=latest, stale_after=stale_after, stale=stale)


def audit_alerts_recent(*, limit: int = 200) -> list[AuditAlert]:
    return list(AuditAlert.objects.order_by("-raised_at", "-pk")[:limit])


# Renames read for one search, newest first: far more than a site makes in years of
# ordinary use, and a bound on one page's cost whatever happens.
RENAMES_READ_MAX = 20_000


def _folded(text: str) -> str:
    """Accents and capitals aside ("Échographie" and "echographie" are one name), as
    the files' own search compares names."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def renamed_items(text: str) -> dict[str, str]:
    """Files and folders that once had a name holding ``text`` (its last "/" part), by
    item key ("file:7") with that old name: a file renamed since an access (to hide
    it, or by routine) is still found by the name the auditor knows. Read from the
    rename events' ``old_name`` detail (a partial index: renames only)."""
    wanted = _folded(text.rsplit("/", 1)[-1].strip())
    if not wanted:
        return {}
    kinds = {"files.file": "file", "files.folder": "folder"}
    renames = (
        AuditEvent.objects.filter(details__old_name__isnull=False, target_type__in=kinds)
        .order_by("-sequence")
        .values_list("target_type", "target_id", "details__old_name")[:RENAMES_READ_MAX]
    )
    found: dict[str, str] = {}
    for target_type, target_id, old_name in renames:
        key = f"{kinds[target_type]}:{target_id}"
        if isinstance(old_name, str) and key not in found and wanted in _folded(old_name):
            found[key] = old_name
    return found
