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
from collections.abc import Iterator

from audit import checkpoints
from audit.chain import timestamp_canonical
from audit.models import AuditEvent
from audit.selectors import DownloadEnd, EventFilter, audit_events_filter, download_ends
from audit.verify_export import signed_message

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


def _events(query: EventFilter) -> Iterator[tuple[AuditEvent, DownloadEnd | None]]:
    rows = audit_events_filter(query).order_by("sequence").iterator(chunk_size=CHUNK_SIZE)
    while batch := list(itertools.islice(rows, CHUNK_SIZE)):
        ends = download_ends(batch)
        for event in batch:
            yield event, ends.get(event.sequence)


def _sent(event: AuditEvent, end: DownloadEnd | None) -> tuple[str, str]:
    if end is not None:
        return str(end.bytes_sent), "true" if end.completed else "false"
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


def csv_chunks(query: EventFilter) -> Iterator[bytes]:
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for event, end in _events(query):
        writer.writerow([csv_cell_safe(value) for value in _values(event, end)])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def jsonl_chunks(query: EventFilter) -> Iterator[bytes]:
    for event, end in _events(query):
        record: dict[str, object] = dict(zip(COLUMNS, _values(event, end), strict=True))
        record["details"] = event.details
        record["sequence"] = event.sequence
        yield (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


FORMATS = {
    "csv": (csv_chunks, "text/csv; charset=utf-8"),
    "jsonl": (jsonl_chunks, "application/x-ndjson"),
}


def export_signature(query: EventFilter, export_format: str) -> dict[str, str]:
    """Hash the export's bytes (streamed again) and sign them with the audit key."""
    chunks, _content_type = FORMATS[export_format]
    digest = hashlib.sha256()
    for chunk in chunks(query):
        digest.update(chunk)
    sha256_hex = digest.hexdigest()
    signature = checkpoints.signing_key().sign(signed_message(sha256_hex))
    return {
        "format": "securedrive-audit-export-signature/v1",
        "sha256": sha256_hex,
        "algorithm": "Ed25519",
        "signature": base64.b64encode(signature).decode(),
        "up_to_sequence": str(query.up_to_sequence or ""),
    }
