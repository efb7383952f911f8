"""Celery tasks of the files app: thin, ids only, idempotent (files/lifecycle.py)."""

from __future__ import annotations

from celery import shared_task

from files import lifecycle

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
