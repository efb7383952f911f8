"""Rate limits that hold exactly: atomic counters no flood of other keys can evict.

Issue #13: on Django's ``FileBasedCache`` (read, add one, write back: not atomic; culls
at 300 entries) 40 parallel wrong passwords on one link got 15 to 19 evaluations for a
limit of 10, and 350 requests from other addresses evicted the link's counter.

**Any window-length span.** A limit "10 per 15 minutes" holds for every 15 minutes, not
for each quarter-hour on the clock. Each key keeps the times of its last ``limit`` hits,
newest first; a hit is let through when the ``limit``-th hit before it is at least a
window old (or there is none), and is recorded either way. So no span of a window's
length ever holds more than ``limit`` hits let through, and a flood keeps its sender
refused until it slows under the rate. Fixed windows let a burst straddling a
quarter-hour through twice (20 evaluations for a limit of 10, a CI run on 2026-12-06);
the two-window weighted estimate that followed still let a patient guesser through 19
times in 15 minutes (10 at a window's end, then one every 90 s). The wait a refused
client is told (:attr:`Verdict.retry_after`) is exact: the moment the ``limit - 1``-th
hit before the refused one is a window old.

* production (the cache is Redis): a list per key, two ``LINDEX``, ``LPUSH``, ``LTRIM``
  and ``PEXPIRE`` in one ``MULTI``/``EXEC`` transaction;
* embedded: rows of ``<data dir>/ratelimit.sqlite3`` (``RATELIMIT_DATABASE``), read,
  inserted and trimmed inside ``BEGIN IMMEDIATE``; rows are deleted only once a window
  old or beyond the last ``limit``, never to make room.

Times are each process's clock (``time.time``): replicas must keep NTP time (a skew of
*s* seconds between two replicas lets their hits be counted over a window *s* shorter).

When the counter store cannot be reached, :func:`rate_limit_hit` raises
:class:`RateLimitUnavailable` for a limiter that fails closed (the middleware turns it
into a 503, JSON for the API, a page for browsers), and lets the request through,
logged, for one that fails open. Which limiter does which: docs/rate-limits.md.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Verdict:
    limited: bool
    retry_after: float = 0.0  # seconds until a hit would be let through (when limited)


def _verdict(now: float, window_s: int, limit_th: float | None, next_th: float | None) -> Verdict:
    """``limit_th``: the time of the ``limit``-th hit before this one; ``next_th``: of the
    ``limit - 1``-th (``None`` when there are fewer; ``now`` itself for a limit of 1)."""
    if limit_th is None or limit_th <= now - window_s:
        return Verdict(False)
    # The next hit is let through once this one's predecessor ``limit - 1`` back is a
    # window old. Never less than 0: clocks between processes may differ slightly.
    return Verdict(True, max(0.0, (next_th if next_th is not None else now) + window_s - now))


class _SqliteCounters:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        if getattr(self._local, "pid", None) != os.getpid():  # never across fork()
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("DROP TABLE IF EXISTS counter")  # the windowed counts, before
            conn.execute(
                "CREATE TABLE IF NOT EXISTS hit "
                "(key TEXT NOT NULL, at REAL NOT NULL, expires_at REAL NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS hit_key ON hit (key)")
            conn.execute("CREATE INDEX IF NOT EXISTS hit_expires_at ON hit (expires_at)")
            self._local.conn, self._local.pid = conn, os.getpid()
        conn_: sqlite3.Connection = self._local.conn
        return conn_

    def hit(self, key: str, limit: int, window_s: int) -> Verdict:
        conn = self._connection()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if random.random() < 0.01:  # noqa: S311  (housekeeping, not security)
                conn.execute("DELETE FROM hit WHERE expires_at < ?", (now,))
            # rowid grows with each insert: newest first, whatever the clock did.
            before = [
                at
                for (at,) in conn.execute(
                    "SELECT at FROM hit WHERE key = ? ORDER BY rowid DESC LIMIT ?", (key, limit)
                )
            ]
            conn.execute(
                "INSERT INTO hit (key, at, expires_at) VALUES (?, ?, ?)",
                (key, now, now + window_s),
            )
            if len(before) >= limit:
                conn.execute(
                    "DELETE FROM hit WHERE key = ? AND rowid NOT IN "
                    "(SELECT rowid FROM hit WHERE key = ? ORDER BY rowid DESC LIMIT ?)",
                    (key, key, limit),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return _verdict(
            now,
            window_s,
            before[limit - 1] if len(before) >= limit else None,
            before[limit - 2] if limit >= 2 and len(before) >= limit - 1 else None,
        )

    def peek(self, key: str, limit: int, window_s: int) -> Verdict:
        now = time.time()
        before = [
            at
            for (at,) in self._connection().execute(
                "SELECT at FROM hit WHERE key = ? ORDER BY rowid DESC LIMIT ?", (key, limit)
            )
        ]
        return _verdict(
            now,
            window_s,
            before[limit - 1] if len(before) >= limit else None,
            before[limit - 2] if limit >= 2 and len(before) >= limit - 1 else None,
        )


_sqlite_stores: dict[Path, _SqliteCounters] = {}


def _hit(key: str, limit: int, window_s: int) -> Verdict:
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        now = time.time()
        client: Any = cache._cache.get_client(key, write=True)
        full_key = cache.make_and_validate_key(key)
        pipeline = client.pipeline(transaction=True)  # MULTI … EXEC: no hit in between
        pipeline.lindex(full_key, limit - 1)
        pipeline.lindex(full_key, limit - 2 if limit >= 2 else 0)
        pipeline.lpush(full_key, repr(now))
        pipeline.ltrim(full_key, 0, limit - 1)
        pipeline.pexpire(full_key, window_s * 1000 + 60_000)
        limit_th, next_th, *_ = pipeline.execute()
        return _redis_verdict(now, window_s, limit, limit_th, next_th)
    return _sqlite_store().hit(key, limit, window_s)


def _peek(key: str, limit: int, window_s: int) -> Verdict:
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        now = time.time()
        client: Any = cache._cache.get_client(key, write=True)  # the primary: counts are there
        full_key = cache.make_and_validate_key(key)
        pipeline = client.pipeline(transaction=True)
        pipeline.lindex(full_key, limit - 1)
        pipeline.lindex(full_key, limit - 2 if limit >= 2 else 0)
        limit_th, next_th = pipeline.execute()
        return _redis_verdict(now, window_s, limit, limit_th, next_th)
    return _sqlite_store().peek(key, limit, window_s)


def _redis_verdict(now: float, window_s: int, limit: int, limit_th: Any, next_th: Any) -> Verdict:
    """The verdict from the list's limit-th and (limit-1)-th newest hits, as read."""
    return _verdict(
        now,
        window_s,
        float(limit_th) if limit_th is not None else None,
        float(next_th) if limit >= 2 and next_th is not None else None,
    )


def _sqlite_store() -> _SqliteCounters:
    path = Path(settings.RATELIMIT_DATABASE)
    if path not in _sqlite_stores:
        _sqlite_stores[path] = _SqliteCounters(path)
    return _sqlite_stores[path]


# Every IPv6 customer gets at least a /64 from their provider (RFC 6177): 2^64 addresses
# to take a new one for each request. A per-address limit counts that network as one
# address, or it limits nothing (a scanner of link tokens, a guesser, a flood of audit
# events). A /64 is one site (a home, a hospital's network segment) as an IPv4 address
# behind its NAT is.
IPV6_CLIENT_PREFIX = 64


def address_counted(address: str) -> str:
    """What a per-address limit counts for ``address`` (``audit.context.client_ip``):
    an IPv4 address itself, an IPv6 address's /64 network ("2001:db8:7:7::/64"), an
    IPv4-mapped IPv6 address as the IPv4 address. Anything else ("unknown") as given."""
    try:
        parsed = ipaddress.ip_address(address.partition("%")[0])  # no zone index
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed)


def rate_limit_check(*, group: str, key: str, rate: str, fail_open: bool = False) -> Verdict:
    """Count one hit for ``key`` in ``group``: limited or not, and for how long."""
    limit, window_s = rate_parse(rate)
    if limit < 1:  # "0/m": nothing goes through (as before), and nothing to count
        return Verdict(True, float(window_s))
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # addresses, e-mails: not stored
    try:
        return _hit(f"rl:{group}:{digest}", limit, window_s)
    except Exception as error:
        if fail_open:
            logger.warning("rate limit %s not counted (store unreachable): %r", group, error)
            return Verdict(False)
        logger.error("rate limit %s unavailable, refusing: %r", group, error)
        raise RateLimitUnavailable(group) from error


def rate_limit_peek(*, group: str, key: str, rate: str, fail_open: bool = False) -> Verdict:
    """Whether a hit for ``key`` in ``group`` would be limited now, without counting one.

    For a limit that counts only refused requests (a wrong callback, an unknown link):
    peeked before the request is evaluated, counted with :func:`rate_limit_hit` once it
    is refused (and when the peek refuses it: a flood stays refused until it slows). A
    crowd behind one address whose requests succeed is never counted. Parallel requests
    may all pass the peek before their refusals are counted, a few over the limit, as
    with django-axes (docs/rate-limits.md)."""
    limit, window_s = rate_parse(rate)
    if limit < 1:
        return Verdict(True, float(window_s))
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    try:
        return _peek(f"rl:{group}:{digest}", limit, window_s)
    except Exception as error:
        if fail_open:
            logger.warning("rate limit %s not checked (store unreachable): %r", group, error)
            return Verdict(False)
        logger.error("rate limit %s unavailable, refusing: %r", group, error)
        raise RateLimitUnavailable(group) from error


def rate_limit_hit(*, group: str, key: str, rate: str, fail_open: bool = False) -> bool:
    """Count one hit for ``key`` in ``group``; True when it is over the limit."""
    return rate_limit_check(group=group, key=key, rate=rate, fail_open=fail_open).limited


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
