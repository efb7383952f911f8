"""The one entry point every app uses to record a security-relevant event."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any, Protocol

from django.db import connections, router, transaction
from django.utils import timezone

from audit import context as request_context
from audit import forwarding
from audit.actions import Action, action_catalogued
from audit.chain import GENESIS_HASH, ChainedFields, canonical_body, event_hash
from audit.models import AuditEvent, Outcome

# Keys whose values must never reach the log, even by mistake.
_SECRET_KEYS = frozenset({"password", "token", "secret", "code", "otp", "key"})


class Actor(Protocol):
    """Anything with a primary key and a readable label (a user, in practice)."""

    @property
    def pk(self) -> Any: ...


def _actor_label(actor: Actor) -> str:
    label = getattr(actor, "email", None) or str(actor)
    return str(label)[:320]


def _storable(value: Any) -> Any:
    """``value`` with every NUL character replaced (U+FFFD): PostgreSQL stores no NUL in
    text or jsonb, and refused input (a file name, a user agent) is recorded as sent,
    so a NUL in it made the refusal itself fail with a 500."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Mapping):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def _details_masked(details: Mapping[str, Any]) -> dict[str, Any]:
    return {
        _storable(key): "***" if key.lower() in _SECRET_KEYS else _storable(value)
        for key, value in details.items()
    }


def record(
    *,
    action: Action,
    outcome: str = Outcome.SUCCESS,
    actor: Actor | None = None,
    actor_label: str = "",
    target_type: str = "",
    target_id: object = "",
    details: Mapping[str, Any] | None = None,
    request: request_context.RequestContext | None = None,
    occurred_at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction if there is one.

    Recording inside the caller's transaction means the event and the change it
    describes commit or roll back together. ``action`` is an entry of the catalogue
    (``audit.actions.Action``); an uncatalogued code is refused, so that every stored
    action has a label and a category. ``details`` must be JSON-safe.
    """
    catalogued = action_catalogued(action)
    if catalogued is None:
        raise ValueError(f"audit action {action!r} is not in the catalogue (audit/actions.py)")
    if outcome not in Outcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    where = request or request_context.current()
    if where.api_token:  # a request authenticated by a personal access token
        token = {"api_token": where.api_token, "api_token_name": where.api_token_name}
        details = {**token, **(details or {})}
    if where.via:  # someone outside, through a capability link (file request)
        details = {"via": where.via, **(details or {})}
    unlinked = ChainedFields(
        sequence=0,  # set below, under the chain's lock
        previous_hash="",
        # Microsecond precision: what the database stores is what was hashed.
        occurred_at=(occurred_at or timezone.now()).astimezone(dt.UTC),
        actor_id="" if actor is None else str(actor.pk),
        actor_label=_storable(_actor_label(actor) if actor is not None else actor_label[:320]),
        ip_address=where.ip_address,
        user_agent=_storable(where.user_agent),
        action=catalogued.value,
        target_type=target_type,
        target_id=_storable(str(target_id)[:100]),
        outcome=str(outcome),
        details=_details_masked(details or {}),
    )
    using = router.db_for_write(AuditEvent)
    if connections[using].vendor == "postgresql":
        event = _append_postgresql(unlinked, using)
    else:
        event = _append_portable(unlinked, using)
    if event.outcome != Outcome.SUCCESS and event.pk is not None:
        request_context.refusal_noted(event.pk)
    # Forward to the SIEM only what commits (runs at once outside a transaction).
    transaction.on_commit(partial(forwarding.event_forward, event), using=using)
    return event


# The audit chain's advisory lock (audit/migrations/0003_append_function.py).
_CHAIN_LOCK = 1589682385


def chain_lock() -> None:
    """Take the audit chain's lock now, in the caller's transaction, as ``record`` would
    (it is taken last, after every row the caller locks: docs/architecture.md, "Lock
    order"). A writer taking it sees, in its next statement, everything committed by
    the writers who held it before, and those after it see what it commits: what must
    not pass unseen between two writers (a move and a link made at that instant,
    sharing/services/move_out.py) is read after it. SQLite serialises writers already
    (``BEGIN IMMEDIATE``)."""
    using = router.db_for_write(AuditEvent)
    if connections[using].vendor != "postgresql":
        return
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])


def _event_from(fields: ChainedFields, *, pk: int | None, event_hash_value: str) -> AuditEvent:
    return AuditEvent(
        pk=pk,
        sequence=fields.sequence,
        previous_hash=fields.previous_hash,
        event_hash=event_hash_value,
        occurred_at=fields.occurred_at,
        actor_id=fields.actor_id,
        actor_label=fields.actor_label,
        ip_address=fields.ip_address,
        user_agent=fields.user_agent,
        action=fields.action,
        target_type=fields.target_type,
        target_id=fields.target_id,
        outcome=fields.outcome,
        details=fields.details,
    )


def _append_postgresql(unlinked: ChainedFields, using: str) -> AuditEvent:
    """One statement (migration audit/0003): lock, read the head, hash, insert.

    Inside the caller's transaction it joins it; outside, it is its own transaction,
    so an event costs one round trip.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT * FROM audit_event_append(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
            [
                canonical_body(unlinked),
                unlinked.occurred_at,
                unlinked.actor_id,
                unlinked.actor_label,
                unlinked.ip_address,
                unlinked.user_agent,
                unlinked.action,
                unlinked.target_type,
                unlinked.target_id,
                unlinked.outcome,
                json.dumps(unlinked.details),
            ],
        )
        pk, sequence, previous_hash, hash_value = cursor.fetchone()
    fields = replace(unlinked, sequence=sequence, previous_hash=previous_hash)
    event = _event_from(fields, pk=pk, event_hash_value=hash_value)
    event._state.adding = False
    event._state.db = using
    return event


def _append_portable(unlinked: ChainedFields, using: str) -> AuditEvent:
    """SQLite (embedded mode): transactions are BEGIN IMMEDIATE (securedrive.config),
    which serialises writers from the head read to the commit."""
    with transaction.atomic(using=using):
        last = (
            AuditEvent.objects.using(using)
            .order_by("-sequence")
            .values_list("sequence", "event_hash")
            .first()
        )
        previous_sequence, previous_hash = last if last is not None else (0, GENESIS_HASH)
        fields = replace(unlinked, sequence=previous_sequence + 1, previous_hash=previous_hash)
        event = _event_from(fields, pk=None, event_hash_value=event_hash(fields))
        event.save(using=using, force_insert=True)
    return event
