"""Streamed exports of the auditor's current filter, and their Ed25519 signatures.

Exports are pinned to a head sequence (``upto``) so that the same query always yields
the same bytes: the signature endpoint streams them a second time to hash them, and an
auditor can re-download and compare. Memory stays flat: rows come from
``QuerySet.iterator(chunk_size)`` and are encoded one at a time.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from audit import checkpoints
from audit.actions import CONTENT_SENT
from audit.chain import timestamp_canonical
from audit.models import AuditEvent
from audit.selectors import DownloadEnd, EventFilter, audit_events_filter, download_ends
from audit.verify_export import FORMAT_V2, signed_message_v2

COLUMNS = [
    "sequence",
    "occurred_at",
    "actor_id",
    "actor",
    "ip_address",
    "user_agent",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "details",
    "event_hash",
    "previous_hash",
    # Not chained: a download's bytes really sent and whether it completed, from its own
    # details or its end event (audit.selectors.download_ends), as the console shows.
    "bytes_sent",
    "completed",
]
CHUNK_SIZE = 2000
# Spreadsheet formula injection (OWASP "CSV Injection"): a cell a user controls that
# starts with one of these would run as a formula when the auditor opens the file.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel opens a CSV without a byte order mark in the Windows code page: "Échographie"
# read "Ã‰chographie". With it, Excel and LibreOffice read UTF-8; csv readers in
# Python take it off with encoding="utf-8-sig".
UTF8_BOM = "\ufeff"


@dataclass
class Tally:
    """The events an export wrote, counted as they are written: the signed statement
    states the number of events of exactly the bytes it hashed."""

    events: int = 0


def _events(
    query: EventFilter, tally: Tally | None
) -> Iterator[tuple[AuditEvent, DownloadEnd | None]]:
    rows = audit_events_filter(query).order_by("sequence").iterator(chunk_size=CHUNK_SIZE)
    while batch := list(itertools.islice(rows, CHUNK_SIZE)):
        ends = download_ends(batch)
        for event in batch:
            if tally is not None:
                tally.events += 1
            yield event, ends.get(event.sequence)


def _sent(event: AuditEvent, end: DownloadEnd | None) -> tuple[str, str]:
    if end is not None:
        return str(end.bytes_sent), "true" if end.completed else "false"
    if event.action not in CONTENT_SENT:
        return "", ""  # a transfer's "bytes" is the size it offers, not what was sent
    details = event.details or {}
    sent, completed = details.get("bytes"), details.get("completed")
    return (
        str(sent) if isinstance(sent, int) and not isinstance(sent, bool) else "",
        ("true" if completed else "false") if isinstance(completed, bool) else "",
    )


def _values(event: AuditEvent, end: DownloadEnd | None) -> list[str]:
    return [
        str(event.sequence),
        timestamp_canonical(event.occurred_at),
        event.actor_id,
        event.actor_label,
        event.ip_address,
        event.user_agent,
        event.action,
        event.target_type,
        event.target_id,
        event.outcome,
        json.dumps(event.details, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        event.event_hash,
        event.previous_hash,
        *_sent(event, end),
    ]


def csv_cell_safe(value: str) -> str:
    """``value`` as a cell a spreadsheet shows as text (also for other apps' CSV)."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def csv_chunks(query: EventFilter, tally: Tally | None = None) -> Iterator[bytes]:
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for event, end in _events(query, tally):
        writer.writerow([csv_cell_safe(value) for value in _values(event, end)])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def jsonl_chunks(query: EventFilter, tally: Tally | None = None) -> Iterator[bytes]:
    for event, end in _events(query, tally):
        record: dict[str, object] = dict(zip(COLUMNS, _values(event, end), strict=True))
        record["details"] = event.details
        record["sequence"] = event.sequence
        yield (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


class ExportCutOff(Exception):
    """The auditor's access ended while the export was under way: the connection is
    aborted, so the file is visibly short, never one that looks complete."""


# As for file downloads (files/downloads.py, ACCESS_RECHECK_SECONDS): an export of the
# whole log (names of people and files) to an auditor deactivated, stripped of the role
# or signed out meanwhile must not run on to its end over a slow line. One query per
# interval, nothing per event.
EXPORT_RECHECK_SECONDS = 5.0


def chunks_while_allowed(
    chunks: Iterator[bytes],
    *,
    refusal: Callable[[], str | None],
    cut_off: Callable[[str], None],
) -> Iterator[bytes]:
    """``chunks``, asking ``refusal`` again at most every ``EXPORT_RECHECK_SECONDS``;
    when it gives a reason, ``cut_off(reason)`` records it and the stream is aborted."""
    due = time.time() + EXPORT_RECHECK_SECONDS
    for chunk in chunks:
        now = time.time()
        if now >= due:
            due = now + EXPORT_RECHECK_SECONDS
            reason = refusal()
            if reason:
                cut_off(reason)
                raise ExportCutOff(f"{reason} during the export")
        yield chunk


FORMATS = {
    "csv": (csv_chunks, "text/csv; charset=utf-8"),
    "jsonl": (jsonl_chunks, "application/x-ndjson"),
}


def signer(user: Any) -> dict[str, str]:
    """Who signs, as the statement names them: the auditor's address and account."""
    return {"made_by": str(getattr(user, "email", "") or user), "made_by_account": str(user.pk)}


def export_signature(
    query: EventFilter, export_format: str, *, made_by: str, made_by_account: str
) -> dict[str, Any]:
    """The signature file of an export: its bytes (streamed again and hashed) and the
    question they answer, signed together with the audit key (audit.verify_export).

    Signing the hash alone let a narrower export (one file, an earlier head) pass for
    the whole answer, and the stated filter be rewritten, under a valid signature.
    """
    if query.up_to_sequence is None:
        raise ValueError("a signed export is pinned to a head (up_to_sequence)")
    chunks, _content_type = FORMATS[export_format]
    digest = hashlib.sha256()
    tally = Tally()
    for chunk in chunks(query, tally):
        digest.update(chunk)
    question = query.as_details()
    question.pop("up_to_sequence", None)
    statement: dict[str, Any] = {
        "log": checkpoints.log_origin(),
        "export_format": export_format,
        "sha256": digest.hexdigest(),
        "filter": question,
        "up_to_sequence": query.up_to_sequence,
        "events": tally.events,
        "made_at": timestamp_canonical(timezone.now()),
        "made_by": made_by,
        "made_by_account": made_by_account,
    }
    signature = checkpoints.signing_key().sign(signed_message_v2(statement))
    return {
        "format": FORMAT_V2,
        "algorithm": "Ed25519",
        "statement": statement,
        "signature": base64.b64encode(signature).decode(),
    }
