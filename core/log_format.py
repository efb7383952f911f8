"""Log lines carry one time zone, named: UTC, whatever the machine's local zone is; and
no capability token.

Web (gunicorn), workers (Celery) and management commands all format through this class,
so lines from several processes interleave in order and say which zone they are in.

External links and file requests carry their token in the path (``/s/<token>/``,
``/r/<token>/``), and paths reach log lines: gunicorn's access line, Django's "Not Found:
/s/<token>/files/9/" for every 4xx, tracebacks. Whoever reads the logs (operators, a
log collector) must not get a working link to patient data, so every line this class
formats has what follows ``/s/`` or ``/r/`` replaced (a mistyped token too).
"""

from __future__ import annotations

import logging
import re
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_TOKEN_IN_PATH = re.compile(r"/([sr])/[^/\s\"'?#&]+")
TOKEN_REDACTED = "[token]"  # noqa: S105  (what replaces one, not one)


def tokens_redacted(text: str) -> str:
    """``text`` with the segment after every ``/s/`` and ``/r/`` replaced."""
    return _TOKEN_IN_PATH.sub(rf"/\1/{TOKEN_REDACTED}", text)


class UTCFormatter(logging.Formatter):
    """``2026-06-12 06:30:00,123 UTC``: ISO date, the zone written out."""

    default_time_format = "%Y-%m-%d %H:%M:%S"
    default_msec_format = "%s,%03d UTC"

    def converter(self, timestamp: float | None) -> time.struct_time:
        return time.gmtime(timestamp)

    def format(self, record: logging.LogRecord) -> str:
        return tokens_redacted(super().format(record))
