"""Celery tasks of imaging: thin, ids only, idempotent."""

from __future__ import annotations

from celery import shared_task

from imaging import services

_RETRY_ON = (OSError, ConnectionError)


@shared_task(
    ignore_result=True,
    autoretry_for=_RETRY_ON,
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def version_index(version_id: str) -> str | None:
    """Read the DICOM headers of one readable version into the index."""
    return services.version_index(version_id=version_id)


# No automatic retry: a failed run marks the job failed and the sender asks again (a
# retry could not tell a half-made copy from a fresh start; the copy is all or nothing).
@shared_task(ignore_result=True)
def deidentify_job_run(job_id: int) -> str | None:
    """Make the de-identified copy a sender asked for (imaging/deidentify.py)."""
    from imaging import deidentify

    return deidentify.deidentify_job_run(job_id=job_id)
