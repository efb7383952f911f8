"""Worker heartbeat, kept in the shared cache (Redis, or a folder in embedded mode)."""

from __future__ import annotations

import datetime as dt

from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_KEY = "worker-heartbeat"
# Beat sends one every 30 s; three missed beats mean no worker is consuming tasks.
HEARTBEAT_STALE_AFTER_S = 90


def worker_heartbeat_record(now: dt.datetime | None = None) -> None:
    moment = now or timezone.now()
    cache.set(HEARTBEAT_KEY, moment.isoformat(), timeout=24 * 3600)


def worker_heartbeat_last_seen() -> dt.datetime | None:
    value = cache.get(HEARTBEAT_KEY)
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
