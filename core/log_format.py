"""Log lines carry one time zone, named: UTC, whatever the machine's local zone is; and
no capability token.

Web (gunicorn), workers (Celery) and management commands all format through this class,
so lines from several processes interleave in order and say which zone they are in.

External links and file requests carry their token in the path (``/s/<token>/``,
``/r/<token>/``), as do invitations, set-up links and account links to the identity
provider, and paths reach log lines: gunicorn's access line, Django's "Not Found:
/s/<token>/files/9/" for every 4xx, tracebacks. Whoever reads the logs (operators, a
log collector) must not get a working link to patient data, so every line this class
formats has those segments replaced (a mistyped token too).
"""

from __future__ import annotations

import logging
import re
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_SEGMENT = r"[^/\s\"'?#&]+"
# Paths whose next segment is a capability: share links, file requests, invitations
# (whoever has one creates the account) and account links to the identity provider.
# The set-up link (/accounts/setup/<uid>/<token>/) chooses an account's password, the
# first administrator's included: both of its segments go.
_TOKEN_IN_PATH = re.compile(
    rf"/(s|r|accounts/invitation|sso/account-link)/{_SEGMENT}"
    rf"|/(accounts/setup)/{_SEGMENT}/{_SEGMENT}"
)
TOKEN_REDACTED = "[token]"  # noqa: S105  (what replaces one, not one)


def tokens_redacted(text: str) -> str:
    """``text`` with the capability segments of those paths replaced."""
    return _TOKEN_IN_PATH.sub(
        lambda match: f"/{match.group(1) or match.group(2)}/{TOKEN_REDACTED}", text
    )


class UTCFormatter(logging.Formatter):
    """``2026-06-12 06:30:00,123 UTC``: ISO date, the zone written out."""

    default_time_format = "%Y-%m-%d %H:%M:%S"
    default_msec_format = "%s,%03d UTC"

    def converter(self, timestamp: float | None) -> time.struct_time:
        return time.gmtime(timestamp)

    def format(self, record: logging.LogRecord) -> str:
        return tokens_redacted(super().format(record))
