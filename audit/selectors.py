from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from audit.chain import ChainedFields, ChainReport, chain_verify
from audit.models import AuditAlert, AuditEvent, ChainVerification


def _chain_rows(batch_size: int) -> Iterator[tuple[ChainedFields, str]]:
    # Streams in batches ordered by sequence: memory stays flat however long the log.
    for event in AuditEvent.objects.order_by("sequence").iterator(chunk_size=batch_size):
        yield event.chained_fields(), event.event_hash


def audit_chain_verify(*, batch_size: int = 2000) -> ChainReport:
    """Recompute the whole chain from the first event."""
    return chain_verify(_chain_rows(batch_size))


@dataclass(frozen=True)
class EventFilter:
    """What an auditor asks of the log. Empty values mean "any"."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    actor: str = ""
    action: str = ""  # a prefix: "files." or "files.version.download"
    target_type: str = ""
    target_id: str = ""
    outcome: str = ""
    ip_address: str = ""
    up_to_sequence: int | None = None  # pins exports and pages to one head

    def as_details(self) -> dict[str, str]:
        """For the audit event that records the query itself."""
        return {
            name: value.isoformat() if isinstance(value, dt.datetime) else str(value)
            for name, value in vars(self).items()
            if value not in (None, "")
        }


def audit_events_filter(query: EventFilter) -> QuerySet[AuditEvent]:
    """Events matching the query, unordered. Callers are auditors (checked by the view)."""
    events = AuditEvent.objects.all()
    if query.since is not None:
        events = events.filter(occurred_at__gte=query.since)
    if query.until is not None:
        events = events.filter(occurred_at__lt=query.until)
    if query.actor:
        events = events.filter(Q(actor_id=query.actor) | Q(actor_label__iexact=query.actor))
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


def audit_head_sequence() -> int:
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0


def chain_verification_latest() -> ChainVerification | None:
    return ChainVerification.objects.order_by("-verified_at").first()


def audit_alerts_recent(*, limit: int = 200) -> list[AuditAlert]:
    return list(AuditAlert.objects.order_by("-raised_at", "-pk")[:limit])
