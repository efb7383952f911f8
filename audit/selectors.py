from __future__ import annotations

from collections.abc import Iterator

from audit.chain import ChainedFields, ChainReport, chain_verify
from audit.models import AuditEvent


def _chain_rows(batch_size: int) -> Iterator[tuple[ChainedFields, str]]:
    # Streams in batches ordered by sequence: memory stays flat however long the log.
    for event in AuditEvent.objects.order_by("sequence").iterator(chunk_size=batch_size):
        yield event.chained_fields(), event.event_hash


def audit_chain_verify(*, batch_size: int = 2000) -> ChainReport:
    """Recompute the whole chain from the first event."""
    return chain_verify(_chain_rows(batch_size))
