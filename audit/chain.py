"""The hash chain: canonical encoding of an event and verification of a sequence.

An event's hash covers the previous event's hash, its own sequence number and the
RFC 8785 (JCS) canonical JSON of everything else it says::

    event_hash = hex(SHA-256(previous_hash ‖ "\n" ‖ decimal(sequence) ‖ "\n" ‖ JCS(body)))

Editing, deleting, inserting or reordering any event therefore changes a hash that
every later event depends on. The chain part (hash and sequence) is a plain prefix so
that PostgreSQL can link an event in the same statement that inserts it (see
``audit/migrations/0003``); the body is encoded here, once. docs/audit.md describes the
encoding so that the chain can be checked without this code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64
ENCODING_VERSION = 1


@dataclass(frozen=True)
class ChainedFields:
    """Everything an event's hash covers."""

    sequence: int
    previous_hash: str
    occurred_at: dt.datetime
    actor_id: str
    actor_label: str
    ip_address: str
    user_agent: str
    action: str
    target_type: str
    target_id: str
    outcome: str
    details: dict[str, Any]


def timestamp_canonical(moment: dt.datetime) -> str:
    """UTC with microseconds, e.g. 2026-11-23T16:45:00.123456Z."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_body(fields: ChainedFields) -> bytes:
    """JCS of everything an event says except its place in the chain."""
    return rfc8785.dumps(
        {
            "v": ENCODING_VERSION,
            "ts": timestamp_canonical(fields.occurred_at),
            "actor_id": fields.actor_id,
            "actor": fields.actor_label,
            "ip": fields.ip_address,
            "ua": fields.user_agent,
            "action": fields.action,
            "target_type": fields.target_type,
            "target_id": fields.target_id,
            "outcome": fields.outcome,
            "details": fields.details,
        }
    )


def chain_hash(*, previous_hash: str, sequence: int, body: bytes) -> str:
    prefix = f"{previous_hash}\n{sequence}\n".encode("ascii")
    return hashlib.sha256(prefix + body).hexdigest()


def event_hash(fields: ChainedFields) -> str:
    return chain_hash(
        previous_hash=fields.previous_hash, sequence=fields.sequence, body=canonical_body(fields)
    )


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    head_sequence: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def chain_verify(
    events: Iterable[tuple[ChainedFields, str]],
    *,
    start_sequence: int = 1,
    start_previous_hash: str = GENESIS_HASH,
) -> ChainReport:
    """Check (fields, stored_hash) pairs given in storage order; stop at the first break.

    Detects: an edited event (its hash no longer matches), a deleted event (a gap in
    sequence numbers), an inserted or reordered event (sequence out of order, or a
    previous-hash link that does not match the event before it).
    """
    expected_sequence = start_sequence
    previous_hash = start_previous_hash
    checked = 0
    for fields, stored_hash in events:
        problem = None
        if fields.sequence != expected_sequence:
            problem = (
                f"expected sequence {expected_sequence}, found {fields.sequence} "
                "(event deleted, inserted or reordered)"
            )
            at = min(fields.sequence, expected_sequence)
        elif fields.previous_hash != previous_hash:
            problem = "previous-hash link does not match the event before it"
            at = fields.sequence
        elif event_hash(fields) != stored_hash:
            problem = "hash does not match the event's content (event altered)"
            at = fields.sequence
        if problem is not None:
            return ChainReport(
                checked, expected_sequence - 1, previous_hash, ChainBreak(at, problem)
            )
        checked += 1
        expected_sequence += 1
        previous_hash = stored_hash
    return ChainReport(checked, expected_sequence - 1, previous_hash, None)
