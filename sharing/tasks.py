"""Celery tasks of the sharing app: thin, ids only, idempotent.

Celery autodiscovers only ``<app>.tasks``: tasks of other sharing concepts are imported
here too. Messages never carry a secret (no token, no code): e-mails that do are sent
from the web process after commit.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings


@shared_task(
    ignore_result=True,
    acks_late=settings.CELERY_TASK_ACKS_LATE,
    reject_on_worker_lost=settings.CELERY_TASK_REJECT_ON_WORKER_LOST,
)
def transfers_expired_purge() -> int:
    """Beat, hourly: revoke and crypto-shred every transfer past its expiry."""
    from files import lifecycle
    from sharing.services import transfers

    purged = transfers.transfers_expired_purge()
    if purged:
        lifecycle.shredded_blobs_delete()
    return purged


@shared_task(
    ignore_result=True,
    acks_late=settings.CELERY_TASK_ACKS_LATE,
    reject_on_worker_lost=settings.CELERY_TASK_REJECT_ON_WORKER_LOST,
)
def file_request_reservations_release() -> int:
    """Beat, hourly: give back the room reserved by file-request uploads abandoned
    (their tus session expired without completing), and the places of those left idle
    past ``FILE_REQUEST_UPLOAD_HOLD_SECONDS``."""
    from sharing.services import file_requests

    return file_requests.reservations_abandoned_release()


@shared_task(
    ignore_result=True,
    acks_late=settings.CELERY_TASK_ACKS_LATE,
    reject_on_worker_lost=settings.CELERY_TASK_REJECT_ON_WORKER_LOST,
    autoretry_for=(OSError, ConnectionError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def file_request_uploads_notify(request_id: int, since: str) -> int:
    """E-mail a request's owner the files that arrived since ``since`` (one batch)."""
    from sharing.services import file_requests

    return file_requests.owner_notification_send(request_id=request_id, since=since).files
