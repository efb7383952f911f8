"""Beat tasks of the audit log: thin wrappers, idempotent, no arguments but flags."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from audit import checkpoints


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def checkpoint_write_due(force: bool = True) -> int | None:
    """Every AUDIT_CHECKPOINT_INTERVAL_S (force) and every N events (not forced).

    A new checkpoint is verified at once: the integrity page then speaks of the signed
    head an auditor can download, not of one signed up to an hour before."""
    size = checkpoints.checkpoint_write(force=force)
    if size is not None:
        audit_log_verify_and_alert.delay()
    return size


@shared_task(ignore_result=True)
def audit_log_verify_and_alert(full: bool = False) -> int:
    """Recompute chain and roots (from the last verified checkpoint unless ``full``);
    keep the result; e-mail admins and auditors on failure."""
    return checkpoints.audit_log_verify_and_alert(full=full).pk


@worker_ready.connect
def _verify_on_start(**kwargs: Any) -> None:
    """The first verification runs as soon as a worker consumes the queue, not an
    interval later: the console never says "not verified yet" for long after start-up."""
    if settings.AUDIT_VERIFY_ON_START:
        audit_log_verify_and_alert.delay()


@shared_task(ignore_result=True)
def audit_retention_purge() -> int:
    """Delete events past AUDIT_RETENTION_DAYS up to a signed checkpoint (idempotent)."""
    from audit.retention import RetentionRefused
    from audit.retention import audit_retention_purge as purge

    try:
        anchor = purge()
    except RetentionRefused:
        return 0  # recorded as an audit event; the verification task alerts
    return anchor.events_purged if anchor else 0


@shared_task(ignore_result=True)
def alerts_evaluate() -> int:
    """Apply the alert rules to events not yet evaluated (idempotent: a cursor row)."""
    from audit.alerts import alerts_evaluate as evaluate

    return len(evaluate())


@shared_task(ignore_result=True)
def refusal_floods_close() -> int:
    """Record how many requests each rate limit refused in the windows that have ended
    (audit/floods.py; idempotent: each window's row is claimed under lock)."""
    from audit.floods import refusal_floods_close as close

    return close()
