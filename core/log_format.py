"""Log lines carry one time zone, named: UTC, whatever the machine's local zone is.

Web (gunicorn), workers (Celery) and management commands all format through this class,
so lines from several processes interleave in order and say which zone they are in.
"""

from __future__ import annotations

import logging
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class UTCFormatter(logging.Formatter):
    """``2026-06-12 06:30:00,123 UTC``: ISO date, the zone written out."""

    default_time_format = "%Y-%m-%d %H:%M:%S"
    default_msec_format = "%s,%03d UTC"

    def converter(self, timestamp: float | None) -> time.struct_time:
        return time.gmtime(timestamp)
