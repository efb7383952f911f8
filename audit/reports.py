"""An investigation report (issue #14, item 4): one question's events, in words, with
what makes them evidence: the signed CSV and JSON Lines exports of exactly those events
(their SHA-256 and Ed25519 signature printed on the report, so that the paper and the
files vouch for each other), the chain's verification result and the signed checkpoint
that covers them. Print-ready HTML (the browser prints it to PDF): no PDF library and
no headless browser on the server.

The question is the console's filter (a file or folder and everything under it, a
person, a date range), pinned to the head it was read at, exactly as the question
pages' exports are: the report's rows, the CSV's and the JSON Lines' are one list.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from audit import checkpoints, exports, resolvers
from audit.actions import Action
from audit.models import ChainVerification, Outcome
from audit.note import NoteError
from audit.readable import Readable, readable_events
from audit.selectors import EventFilter, audit_events_filter, chain_verification_latest
from audit.verify_export import statement_canonical

# Rows printed in words; the signed exports always hold every event. A report longer
# than this is a case for the exports and a spreadsheet, not for paper.
REPORT_ROWS_MAX = 2000
DOWNLOAD_ACTIONS = frozenset({Action.FILES_VERSION_DOWNLOAD, Action.SHARING_LINK_DOWNLOAD})


@dataclass(frozen=True)
class Totals:
    events: int
    downloads: int
    downloads_completed: int
    bytes_sent: int
    people: list[str]  # who acted, with an account
    outside: list[str]  # outside recipients (e-mail addresses)
    refused: int


@dataclass(frozen=True)
class CoveringCheckpoint:
    tree_size: int
    root_hash: str  # base64, as in the checkpoint's text
    signature_valid: bool


@dataclass(frozen=True)
class SignedExport:
    export_format: str
    sha256: str
    # The signed statement (the export's hash and the question it answers) as the
    # canonical JSON the signature covers, printed whole so that the paper alone can
    # be checked: Ed25519 over audit.verify_export.signed_message_v2.
    statement: str
    signature: str  # base64


@dataclass(frozen=True)
class Report:
    query: EventFilter
    generated_at: dt.datetime
    item: resolvers.Item | None
    person: resolvers.Person | None
    rows: list[Readable]
    truncated: bool
    totals: Totals
    last_sequence: int
    verification: ChainVerification | None
    verification_covers: bool
    checkpoint: CoveringCheckpoint | None
    exports: list[SignedExport] = field(default_factory=list)


def _totals(rows: list[Readable], *, events: int) -> Totals:
    downloads = [
        row
        for row in rows
        if row.event.action in DOWNLOAD_ACTIONS and row.event.outcome == Outcome.SUCCESS
    ]
    people = sorted({row.who for row in rows if row.event.actor_id})
    outside = sorted({row.who for row in rows if row.outside and "@" in row.who})
    return Totals(
        events=events,
        downloads=len(downloads),
        downloads_completed=sum(1 for row in downloads if row.completed is True),
        bytes_sent=sum(row.bytes_sent or 0 for row in downloads),
        people=people,
        outside=outside,
        refused=sum(1 for row in rows if row.event.outcome != Outcome.SUCCESS),
    )


def _covering_checkpoint(last_sequence: int) -> CoveringCheckpoint | None:
    """The first signed checkpoint whose tree holds every event of the report."""
    if last_sequence <= 0:
        return None
    store = checkpoints.checkpoint_store()
    size = next((size for size in store.sizes() if size >= last_sequence), None)
    if size is None:
        return None
    try:
        checkpoint = checkpoints.checkpoint_open_trusted(store, size)
    except NoteError:
        return CoveringCheckpoint(tree_size=size, root_hash="", signature_valid=False)
    return CoveringCheckpoint(
        tree_size=size,
        root_hash=base64.b64encode(checkpoint.root_hash).decode(),
        signature_valid=True,
    )


def _person(query: EventFilter) -> resolvers.Person | None:
    if not query.actor:
        return None
    if query.actor.isdigit():
        return resolvers.people([query.actor]).get(query.actor)
    exact = [
        match
        for match in resolvers.people_search(query.actor, limit=5)
        if match.email.lower() == query.actor.lower()
    ]
    return exact[0] if exact else None


def report_build(query: EventFilter, *, signer: dict[str, str]) -> Report:
    """The report of ``query`` (pinned: ``up_to_sequence`` set by the caller), its
    exports signed in the name of ``signer`` (audit.exports.signer)."""
    events = audit_events_filter(query)
    count = events.count()
    page = list(events.order_by("sequence")[:REPORT_ROWS_MAX])
    last_sequence = events.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    rows = readable_events(page)
    item = None
    if query.item:
        kind, _sep, identifier = query.item.partition(":")
        item = resolvers.items(kind, [identifier]).get(identifier)
    verification = chain_verification_latest()
    return Report(
        query=query,
        generated_at=timezone.now(),
        item=item,
        person=_person(query),
        rows=rows,
        truncated=count > len(rows),
        totals=_totals(rows, events=count),
        last_sequence=last_sequence,
        verification=verification,
        verification_covers=verification is not None
        and verification.intact
        and verification.head_sequence >= last_sequence,
        checkpoint=_covering_checkpoint(last_sequence),
        exports=[_signed(query, export_format, signer) for export_format in exports.FORMATS],
    )


def _signed(query: EventFilter, export_format: str, signer: dict[str, str]) -> SignedExport:
    document = exports.export_signature(query, export_format, **signer)
    return SignedExport(
        export_format=export_format,
        sha256=document["statement"]["sha256"],
        statement=statement_canonical(document["statement"]).decode("utf-8"),
        signature=document["signature"],
    )
