"""Celery tasks of the files app: thin, ids only, idempotent (files/lifecycle.py)."""

from __future__ import annotations

from typing import Any

from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery import Task, shared_task
from django.conf import settings

from files import lifecycle
from files.clamd import ClamdError
from files.services import finalize

# Storage hiccups (S3 5xx, a network blip) are worth retrying; bugs are not.
_RETRY_ON = (OSError, ConnectionError)


@shared_task(
    ignore_result=True,
    autoretry_for=_RETRY_ON,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def shredded_blobs_delete() -> int:
    """After a purge commits: delete the blobs whose data keys were destroyed."""
    return lifecycle.shredded_blobs_delete()


@shared_task(ignore_result=True)
def versions_retention_apply() -> int:
    """Beat, hourly: shred versions beyond the retention policy, then delete blobs."""
    shredded = lifecycle.versions_retention_apply()
    lifecycle.shredded_blobs_delete()
    return shredded


@shared_task(ignore_result=True)
def trash_purge_expired() -> int:
    """Beat, hourly: purge what outstayed the trash, and retry any blob left behind."""
    shredded = lifecycle.trash_purge_expired()
    lifecycle.shredded_blobs_delete()
    return shredded


@shared_task(ignore_result=True)
def blobs_scrub() -> int:
    """Beat, every 6 hours: fully verify the least recently checked blobs."""
    return lifecycle.blobs_scrub().checked


@shared_task(
    ignore_result=True,
    autoretry_for=_RETRY_ON,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def version_reencrypt(version_id: str) -> bool:
    """A new data key and blob for one version whose data key may be compromised
    (docs/storage.md, "Full re-encryption")."""
    return lifecycle.version_reencrypt(version_id=version_id)


@shared_task(ignore_result=True)
def uploads_expired_delete() -> int:
    """Beat, hourly: delete abandoned resumable uploads (files/tus.py) past expiry."""
    from files import tus

    return tus.uploads_expired_delete()


# Worth retrying inside the finalize task, with back-off: the scanner or the database
# unreachable for a while (clamd restarting, PostgreSQL restarting). Never a verdict.
_FINALIZE_TRANSIENT = (ClamdError, *finalize.DATABASE_TRANSIENT_ERRORS)


class _FinalizeTask(Task[Any, Any]):
    """Fail closed once the retries or the time are used up: "scan failed", audited.

    Not for the database: a version it could not reach stays waiting, and the sweeper
    takes it up again once its lease has run out ("scan failed" is the scanner's).
    """

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        version_id = kwargs.get("version_id") or (args[0] if args else None)
        if version_id and not isinstance(exc, finalize.DATABASE_TRANSIENT_ERRORS):
            finalize.version_scan_give_up(
                version_id=version_id,
                error=exc,
                run_killed=isinstance(exc, (TimeLimitExceeded, WorkerLostError)),
            )


@shared_task(
    base=_FinalizeTask,
    bind=True,
    ignore_result=True,
    # Explicit, though the settings say the same: without both a killed worker's scan
    # is never redelivered (FIELD-NOTES).
    acks_late=settings.CELERY_TASK_ACKS_LATE,
    reject_on_worker_lost=settings.CELERY_TASK_REJECT_ON_WORKER_LOST,
    autoretry_for=_FINALIZE_TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=settings.SCAN_MAX_RETRIES,
    # No archive or scanner may hang a worker: soft limit first (the run is released
    # and marked "scan failed"), then the pool child is killed.
    soft_time_limit=settings.SCAN_SOFT_TIME_LIMIT_S,
    time_limit=settings.SCAN_TIME_LIMIT_S,
)
def version_finalize(
    self: Task[Any, Any], version_id: str, waited_for_lease: bool = False
) -> str | None:
    """Decrypt, hash, sniff and scan one new version; record its verdict
    (docs/scanning.md). Idempotent: a version with a verdict is left alone.

    Another run's live lease (a redelivery after kill -9, whose dead run's lease has
    not yet run out) is waited for once: then either the lease ran out and this run
    takes over, or its owner is alive and records the verdict itself.
    """
    try:
        return finalize.version_finalize(version_id=version_id)
    except finalize.ScanClaimHeld as held:
        if waited_for_lease:
            return None
        raise self.retry(
            args=(version_id,),
            kwargs={"waited_for_lease": True},
            countdown=held.retry_in_s + 1,
        ) from held


@shared_task(ignore_result=True)
def versions_stuck_requeue() -> int:
    """Beat, every 5 minutes: re-enqueue versions still waiting for a verdict."""
    if not settings.CLAMD_ADDRESS:
        return 0  # no scanner: they wait, loudly (the UI banner)
    stuck = finalize.versions_stuck_select(older_than_minutes=settings.SCAN_STUCK_MINUTES)
    for version_id in stuck:
        version_finalize.delay(version_id)
    return len(stuck)


@shared_task(
    ignore_result=True,
    autoretry_for=_RETRY_ON,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def version_thumbnail_make(version_id: str) -> bool:
    """After a clean verdict: the version's encrypted thumbnail (files/thumbnails.py)."""
    from files import thumbnails

    return thumbnails.version_thumbnail_make(version_id=version_id)
