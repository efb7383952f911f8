"""A hung Redis must not hold the site: the cache gives up within its own timeout.

Redis holds the rate-limit counters and the health probe. A Redis that accepts the
connection and then never answers (a stuck server, a half-open network path) used to
hold every request that touches the cache for the client library's default wait (5 s
in redis-py 8, forever before): link passwords, invitations, the API, /healthz. With
the configured timeout (1 s), a limiter that guards a secret fails closed (503) within
it, and the health probe reports the cache failing. (Password sign-in counts failures
in the database, django-axes, and does not touch Redis: docs/rate-limits.md.)

Each check runs in a process of its own with the settings an operator's environment
gives (``SECUREDRIVE_REDIS_URL`` pointing at the hung server), so what is tested is the
configuration itself, not a test override of it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import time, django
django.setup()
from core.ratelimit import RateLimitUnavailable, rate_limit_check
from securedrive.health import cache_check
started = time.monotonic()
try:
    rate_limit_check(group="accounts.invitation", key="203.0.113.7", rate="30/hour")
    print("counted")
except RateLimitUnavailable:
    print("refused")
print("limiter", round(time.monotonic() - started, 1))
started = time.monotonic()
print("health", cache_check().status)
print("probe", round(time.monotonic() - started, 1))
"""


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A loopback port whose kernel completes the TCP handshake (the listen backlog) but
    whose server never reads or answers: a Redis that hangs."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        server.close()


def test_a_hung_redis_refuses_guessable_secrets_quickly_instead_of_hanging(
    hung_redis: str, tmp_path: Path
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SECUREDRIVE_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="securedrive.settings",
        SECUREDRIVE_DATA_DIR=str(tmp_path),
        SECUREDRIVE_REDIS_URL=hung_redis,
    )
    started = time.monotonic()
    try:
        answer = subprocess.run(
            [sys.executable, "-c", PROBE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still waiting on the hung Redis after {time.monotonic() - started:.0f} s")
    assert answer.returncode == 0, answer.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in answer.stdout.splitlines() if " " in line)
    # The invitation page guards a secret: its limiter fails closed (a 503), never open.
    assert "refused" in answer.stdout.splitlines()
    # Within the configured timeout (1 s), not the client library's default (5 s in
    # redis-py 8, none at all in redis-py 4): every request touching the cache waits it.
    assert float(lines["limiter"]) < 3
    assert lines["health"] == "failing"
    assert float(lines["probe"]) < 3
