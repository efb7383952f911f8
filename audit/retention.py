"""Audit retention: delete events older than the retention period, up to a signed
checkpoint, and keep the rest of the log verifiable.

The purge never cuts at an arbitrary event. It picks the newest signed checkpoint whose
events are all older than the cut-off, checks the whole log first (a tampered log is
evidence, never purged), records a retention anchor (the checkpoint note, the Merkle
frontier at that size, the last event's chain hash and its inclusion proof, and its own
signed statement of the cut, which nobody without the signing key can forge) and deletes
the events up to the checkpoint, all in one transaction with its own audit event. The
verifier then starts from the anchor, which it authenticates with the log's public key
(``checkpoints.retention_anchor_check``); everything after it is checked as before.

On PostgreSQL the delete goes through ``audit_event_purge`` (migration audit/0007), the
only DELETE the append-only trigger lets through. CNIL recommends keeping access logs 6
to 12 months; health-data hosting contracts commonly ask for years: the default is 6
years (AUDIT_RETENTION_DAYS).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from audit import checkpoints, merkle
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome, RetentionAnchor
from audit.services import Actor


class RetentionRefused(RuntimeError):
    """The purge would destroy evidence (the log does not verify) or cannot anchor."""


def retention_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    return (now or timezone.now()) - dt.timedelta(days=settings.AUDIT_RETENTION_DAYS)


def retention_boundary(
    *, cutoff: dt.datetime, store: checkpoints.CheckpointStore | None = None
) -> int:
    """The newest checkpoint size at which every event is older than ``cutoff``, or 0.

    The newest event always stays: appends link to it.
    """
    store = store or checkpoints.checkpoint_store()
    start = checkpoints.retention_anchor_latest()
    floor = start.tree_size if start else 0
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    if not head:
        return 0
    # Reads forward from the anchor until the first young event: as many rows as will go.
    first_young = (
        AuditEvent.objects.filter(sequence__gt=floor, occurred_at__gte=cutoff)
        .order_by("sequence")
        .values_list("sequence", flat=True)
        .first()
    )
    limit = min(head - 1, (first_young or head + 1) - 1)
    candidates = [size for size in store.sizes() if floor < size <= limit]
    return candidates[-1] if candidates else 0


def _anchor_fields(
    store: checkpoints.CheckpointStore, boundary: int
) -> tuple[checkpoints.TreeStart, list[bytes], str]:
    """Frontier, last event's inclusion proof and the signed note at ``boundary``."""
    start = checkpoints.tree_start()
    builder = merkle.tree_builder_from_frontier(start.size, start.frontier)
    for leaf in checkpoints.event_leaf_hashes(tree_size=boundary, after=start.size):
        builder.append(leaf)
    if builder.size != boundary:
        raise RetentionRefused(f"events up to {boundary} are not all there")
    frontier = builder.frontier()
    # The last event's proof needs the leaves of the smallest full subtree only (or
    # those after the previous anchor, when that subtree reaches into the purged part).
    base_size = boundary - (boundary & -boundary)
    base_frontier = frontier[:-1]
    if base_size < start.size:
        base_size, base_frontier = start.size, start.frontier
    tree = merkle.PrunedLeaves(
        base_size=base_size,
        frontier=base_frontier,
        leaves=list(checkpoints.event_leaf_hashes(tree_size=boundary, after=base_size)),
    )
    note = store.read(boundary)
    checkpoint = checkpoints.checkpoint_open_trusted(store, boundary)
    if tree.root() != checkpoint.root_hash:
        raise RetentionRefused(f"the log does not match its signed checkpoint at {boundary}")
    last_hash = AuditEvent.objects.values_list("event_hash", flat=True).get(sequence=boundary)
    start_after = checkpoints.TreeStart(boundary, frontier, last_hash)
    return start_after, tree.inclusion_proof(boundary - 1), note


def _events_delete(boundary: int) -> int:
    using = router.db_for_write(AuditEvent)
    with connections[using].cursor() as cursor:
        if connections[using].vendor == "postgresql":
            cursor.execute("SELECT audit_event_purge(%s)", [boundary])
            return int(cursor.fetchone()[0])
        # SQLite (embedded mode) has no trigger; the ORM refuses deletes (AppendOnlyError).
        cursor.execute("DELETE FROM audit_auditevent WHERE sequence <= %s", [boundary])
        return int(cursor.rowcount)


def audit_retention_purge(
    *,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
    store: checkpoints.CheckpointStore | None = None,
) -> RetentionAnchor | None:
    """Purge events older than AUDIT_RETENTION_DAYS up to a signed checkpoint.

    Returns the new anchor, or None when nothing is due. Raises RetentionRefused when
    the log does not verify: it is then kept whole and the failure is recorded.
    """
    store = store or checkpoints.checkpoint_store()
    moment = now or timezone.now()
    cutoff = retention_cutoff(moment)
    boundary = retention_boundary(cutoff=cutoff, store=store)
    if not boundary:
        return None
    report = checkpoints.audit_log_verify(store=store)
    if not report.intact:
        audit.record(
            action=Action.AUDIT_RETENTION_PURGE,
            outcome=Outcome.ERROR,
            actor=actor,
            actor_label="" if actor else "system",
            details={"refused": report.problem, "up_to_sequence": boundary},
        )
        raise RetentionRefused(f"the audit log does not verify: {report.problem}")
    after, last_event_proof, note = _anchor_fields(store, boundary)
    with transaction.atomic(using=router.db_for_write(AuditEvent)):
        anchor = RetentionAnchor.objects.create(
            tree_size=boundary,
            root_hash=checkpoints.checkpoint_open_trusted(store, boundary).root_hash.hex(),
            last_event_hash=after.last_hash,
            frontier=[value.hex() for value in after.frontier],
            last_event_proof=[value.hex() for value in last_event_proof],
            checkpoint_note=note,
            purged_before=cutoff,
            created_at=moment,
            purge_statement=checkpoints.purge_statement_sign(
                tree_size=boundary, last_event_hash=after.last_hash, purged_before=cutoff
            ),
        )
        # Recorded before the delete: the purge's own event is the log's new head.
        audit.record(
            action=Action.AUDIT_RETENTION_PURGE,
            actor=actor,
            actor_label="" if actor else "system",
            target_type="audit.anchor",
            target_id=boundary,
            details={
                "up_to_sequence": boundary,
                "purged_before": cutoff.isoformat(),
                "retention_days": settings.AUDIT_RETENTION_DAYS,
            },
        )
        anchor.events_purged = _events_delete(boundary)
        anchor.save(update_fields=["events_purged"])
    return anchor
