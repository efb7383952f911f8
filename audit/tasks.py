"""Beat tasks of the audit log: thin wrappers, idempotent, no arguments but flags."""

from __future__ import annotations

from celery import shared_task

from audit import checkpoints


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def checkpoint_write_due(force: bool = True) -> int | None:
    """Every AUDIT_CHECKPOINT_INTERVAL_S (force) and every N events (not forced)."""
    return checkpoints.checkpoint_write(force=force)


@shared_task(ignore_result=True)
def audit_log_verify_and_alert() -> int:
    """Recompute chain and roots; keep the result; e-mail admins and auditors on failure."""
    return checkpoints.audit_log_verify_and_alert().pk


@shared_task(ignore_result=True)
def alerts_evaluate() -> int:
    """Apply the alert rules to events not yet evaluated (idempotent: a cursor row)."""
    from audit.alerts import alerts_evaluate as evaluate

    return len(evaluate())
