from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from securedrive.heartbeat import worker_heartbeat_record


@shared_task(ignore_result=True)
def worker_heartbeat() -> None:
    """Run by beat every 30 s: proves a worker is consuming the queue."""
    worker_heartbeat_record()


@worker_ready.connect
def _worker_ready(**kwargs: Any) -> None:
    """Report at once on start, so health turns green without waiting for beat."""
    worker_heartbeat_record()
