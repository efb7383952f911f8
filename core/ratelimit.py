"""Rate limits that hold exactly: atomic counters no flood of other keys can evict.

Issue #13: on Django's ``FileBasedCache`` (read, add one, write back: not atomic; culls
at 300 entries) 40 parallel wrong passwords on one link got 15 to 19 evaluations for a
limit of 10, and 350 requests from other addresses evicted the link's counter. Here a
hit is one atomic increment of the current window's counter, read together with the
previous window's:

* production (the cache is Redis): ``INCR``, ``EXPIRE`` and ``GET`` in one pipeline;
* embedded: a row of ``<data dir>/ratelimit.sqlite3`` (``RATELIMIT_DATABASE``),
  ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` and a ``SELECT`` inside
  ``BEGIN IMMEDIATE``; rows are deleted only once the window after theirs is over,
  never to make room.

**Sliding, not fixed, windows.** With a counter per fixed window alone, a burst that
straddles a window's end got the limit twice in a row: 40 parallel wrong passwords at a
quarter past got 20 evaluations for a limit of 10 (a CI run, 2026-12-06). The previous
window's hits now still count for the share of it that the last ``window`` seconds
overlap (``previous * (1 - elapsed / window) + current``, the usual sliding-window
estimate): a burst gets the limit once, wherever it falls.

When the counter store cannot be reached, :func:`rate_limit_hit` raises
:class:`RateLimitUnavailable` for a limiter that fails closed (the middleware turns it
into a 503, JSON for the API, a page for browsers), and lets the request through,
logged, for one that fails open. Which limiter does which: docs/rate-limits.md.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class RateLimitUnavailable(Exception):
    """The counter store is down and this limiter fails closed."""


def rate_parse(rate: str) -> tuple[int, int]:
    """``"10/15m"`` → (10, 900): at most 10 hits per 15-minute window."""
    count, _, period = rate.partition("/")
    digits = "".join(char for char in period if char.isdigit())
    unit = period[len(digits) :] or "s"
    return int(count), int(digits or 1) * _UNITS[unit[0]]


class _SqliteCounters:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        if getattr(self._local, "pid", None) != os.getpid():  # never across fork()
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS counter "
                "(key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)"
            )
            self._local.conn, self._local.pid = conn, os.getpid()
        conn_: sqlite3.Connection = self._local.conn
        return conn_

    def increment(self, key: str, previous_key: str, window_s: int) -> tuple[int, int]:
        conn = self._connection()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if random.random() < 0.01:  # noqa: S311  (housekeeping, not security)
                conn.execute("DELETE FROM counter WHERE expires_at < ?", (now,))
            (count,) = conn.execute(
                "INSERT INTO counter (key, count, expires_at) VALUES (?, 1, ?) "
                "ON CONFLICT (key) DO UPDATE SET count = count + 1 RETURNING count",
                (key, now + 2 * window_s),  # still read as "previous" in the next window
            ).fetchone()
            previous = conn.execute(
                "SELECT count FROM counter WHERE key = ?", (previous_key,)
            ).fetchone()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return int(count), int(previous[0]) if previous else 0


_sqlite_stores: dict[Path, _SqliteCounters] = {}


def _increment(key: str, previous_key: str, window_s: int) -> tuple[int, int]:
    """(this window's count, this hit included; the previous window's count)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        client: Any = cache._cache.get_client(key, write=True)
        full_key = cache.make_and_validate_key(key)
        pipeline = client.pipeline()
        pipeline.incr(full_key)
        # Kept through the next window too, where it is read as the previous one.
        pipeline.expire(full_key, 2 * window_s + 60)
        pipeline.get(cache.make_and_validate_key(previous_key))
        count, _, previous = pipeline.execute()
        return int(count), int(previous or 0)
    path = Path(settings.RATELIMIT_DATABASE)
    if path not in _sqlite_stores:
        _sqlite_stores[path] = _SqliteCounters(path)
    return _sqlite_stores[path].increment(key, previous_key, window_s)


def rate_limit_hit(*, group: str, key: str, rate: str, fail_open: bool = False) -> bool:
    """Count one hit for ``key`` in ``group``; True when it is over the limit."""
    limit, window_s = rate_parse(rate)
    window, elapsed = divmod(time.time(), window_s)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # addresses, e-mails: not stored
    prefix = f"rl:{group}:{digest}:"
    try:
        count, previous = _increment(
            f"{prefix}{int(window)}", f"{prefix}{int(window) - 1}", window_s
        )
    except Exception as error:
        if fail_open:
            logger.warning("rate limit %s not counted (store unreachable): %r", group, error)
            return False
        logger.error("rate limit %s unavailable, refusing: %r", group, error)
        raise RateLimitUnavailable(group) from error
    # The last window_s seconds: this window so far, and the share of the previous one
    # they still cover (see the module's docstring).
    return previous * (1 - elapsed / window_s) + count > limit


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 while a fail-closed limiter cannot count: JSON for the API, a page otherwise."""
    from django.utils.translation import gettext as _

    message = _(
        "This service is temporarily unavailable: attempts cannot be counted right now. "
        "Try again in a few minutes."
    )
    wants_json = request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")
    if wants_json:
        response: HttpResponse = JsonResponse({"detail": message}, status=503)
    else:
        response = render(request, "ratelimit_unavailable.html", {"message": message}, status=503)
    response["Retry-After"] = "60"
    return response
