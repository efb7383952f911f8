"""The one entry point every app uses to record a security-relevant event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

from django.db import connections, router, transaction
from django.utils import timezone

from audit import context as request_context
from audit.chain import GENESIS_HASH, ChainedFields, event_hash
from audit.models import AuditEvent, Outcome

# Arbitrary constant naming the PostgreSQL advisory lock that serialises chain writers.
_CHAIN_LOCK_KEY = 0x5EC0_A0D1

# Keys whose values must never reach the log, even by mistake.
_SECRET_KEYS = frozenset({"password", "token", "secret", "code", "otp", "key"})


class Actor(Protocol):
    """Anything with a primary key and a readable label (a user, in practice)."""

    @property
    def pk(self) -> Any: ...


def _actor_label(actor: Actor) -> str:
    label = getattr(actor, "email", None) or str(actor)
    return str(label)[:320]


def _details_masked(details: Mapping[str, Any]) -> dict[str, Any]:
    return {key: "***" if key.lower() in _SECRET_KEYS else value for key, value in details.items()}


def record(
    *,
    action: str,
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
    describes commit or roll back together. ``action`` is a dotted name such as
    ``accounts.login`` or ``files.version.download``; ``details`` must be JSON-safe.
    """
    if outcome not in Outcome.values:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    where = request or request_context.current()
    using = router.db_for_write(AuditEvent)
    with transaction.atomic(using=using):
        previous_sequence, previous_hash = _chain_head_locked(using)
        fields = ChainedFields(
            sequence=previous_sequence + 1,
            previous_hash=previous_hash,
            # Truncated to microseconds: what the database stores is what was hashed.
            occurred_at=(occurred_at or timezone.now()).astimezone(dt.UTC),
            actor_id="" if actor is None else str(actor.pk),
            actor_label=_actor_label(actor) if actor is not None else actor_label[:320],
            ip_address=where.ip_address,
            user_agent=where.user_agent,
            action=action,
            target_type=target_type,
            target_id=str(target_id)[:100],
            outcome=str(outcome),
            details=_details_masked(details or {}),
        )
        event = AuditEvent(
            sequence=fields.sequence,
            previous_hash=fields.previous_hash,
            event_hash=event_hash(fields),
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
        event.save(using=using, force_insert=True)
    return event


def _chain_head_locked(using: str) -> tuple[int, str]:
    """Take the chain's write lock and return (sequence, hash) of the last event.

    PostgreSQL: a transaction-scoped advisory lock, released at commit, so concurrent
    writers take turns and each sees the previous writer's committed event (no fork,
    no gap). SQLite: transactions are BEGIN IMMEDIATE (see securedrive.config), which
    already serialises writers.
    """
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    last = (
        AuditEvent.objects.using(using)
        .order_by("-sequence")
        .values_list("sequence", "event_hash")
        .first()
    )
    return last if last is not None else (0, GENESIS_HASH)
