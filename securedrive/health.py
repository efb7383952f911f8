"""Health of the components SecureDrive depends on, for /healthz and the UI banner.

/healthz is public (load balancers and Docker probe it without signing in), and a round
of checks costs a database query, a Redis round trip, a clamd PING and two S3 requests,
each with a 2-3 s timeout when the component is slow. So a round's results are shared by
every probe of the process for HEALTH_RESULTS_FRESH_FOR_S (one thread computes, the
others wait for it, or take the previous answer while it is refreshed), and a client
outside the machine and its private networks is limited to HEALTH_REMOTE_RATE
(docs/rate-limits.md).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.files.storage import FileSystemStorage, storages
from django.core.signals import setting_changed
from django.db import connection
from django.dispatch import receiver
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from audit import floods
from audit import services as audit
from audit.actions import Action
from audit.context import client_ip
from audit.models import Outcome
from audit.selectors import verification_state
from core.ratelimit import address_counted, rate_limit_check
from files.clamd import ClamdClient
from securedrive.celery import app as celery_app
from securedrive.heartbeat import (
    HEARTBEAT_STALE_AFTER_S,
    worker_heartbeat_last_seen,
)

logger = logging.getLogger(__name__)

OK, DISABLED, WARNING, FAILING = "ok", "disabled", "warning", "failing"

# How long a round of checks answers every probe of the process. Docker probes every
# 30 s and load balancers every 5-30 s: 5 s keeps each of them seeing a fresh round,
# while a flood costs at most one round per process every 5 s.
HEALTH_RESULTS_FRESH_FOR_S = 5.0
# While a round is under way, an earlier one younger than this answers instead of
# waiting; an older one (a process nobody probed for a while) is never passed off.
HEALTH_PREVIOUS_ANSWER_MAX_S = 60.0
# Per address, for clients outside the machine and its private networks (a monitoring
# service on the Internet probes once a minute or so); beyond it, 429.
HEALTH_REMOTE_RATE = "30/m"


@dataclass(frozen=True)
class Check:
    status: str
    detail: str = ""


def database_check() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Check(OK, connection.vendor)
    except Exception as error:  # a health probe reports, it does not raise
        logger.warning("health: database failing: %r", error)
        return Check(FAILING, type(error).__name__)


def broker_check(url: str | None = None) -> Check:
    try:
        with celery_app.connection_for_write(url) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            transport = conn.transport_cls
        return Check(OK, str(transport))
    except Exception as error:
        logger.warning("health: broker failing: %r", error)
        return Check(FAILING, type(error).__name__)


def cache_check() -> Check:
    """The shared cache (Redis in production) holds heartbeats and rate-limit counters."""
    try:
        cache.set("health-probe", "ok", timeout=60)
        if cache.get("health-probe") != "ok":
            return Check(FAILING, "a value written could not be read back")
        return Check(OK, type(caches["default"]).__name__)
    except Exception as error:
        logger.warning("health: cache failing: %r", error)
        return Check(FAILING, type(error).__name__)


def worker_check() -> Check:
    """A worker is alive if its beat-driven heartbeat is recent."""
    try:
        last_seen = worker_heartbeat_last_seen()
    except Exception as error:  # the heartbeat lives in the cache, which may be down
        logger.warning("health: worker heartbeat unreadable: %r", error)
        return Check(FAILING, f"heartbeat unreadable: {type(error).__name__}")
    if last_seen is None:
        return Check(FAILING, "no worker has reported yet")
    age_s = (timezone.now() - last_seen).total_seconds()
    if age_s > HEARTBEAT_STALE_AFTER_S:
        return Check(FAILING, f"last heartbeat {int(age_s)} s ago")
    return Check(OK, f"last heartbeat {int(age_s)} s ago")


def storage_check() -> Check:
    storage = storages["default"]
    try:
        if isinstance(storage, FileSystemStorage):
            location = Path(storage.location)
            location.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not os.access(location, os.W_OK):
                raise PermissionError("storage folder is not writable")
        else:
            # S3: the bucket must exist and be reachable with our credentials. Asked with
            # one attempt and short timeouts, not the storage's own client: its boto3
            # defaults held a probe for minutes against a MinIO that never answered.
            s3: Any = storage
            import boto3
            from botocore.config import Config

            probe = boto3.client(
                "s3",
                endpoint_url=s3.endpoint_url or None,
                region_name=s3.region_name or None,
                aws_access_key_id=s3.access_key or None,
                aws_secret_access_key=s3.secret_key or None,
                config=Config(
                    connect_timeout=2,
                    read_timeout=3,
                    retries={"max_attempts": 1},
                    s3={"addressing_style": s3.addressing_style or "auto"},
                ),
            )
            probe.head_bucket(Bucket=s3.bucket_name)
        return Check(OK, type(storage).__name__)
    except Exception as error:
        logger.warning("health: storage failing: %r", error)
        return Check(FAILING, type(error).__name__)


def scanner_check() -> Check:
    """Disabled when no clamd is configured: uploads then stay pending, never clean."""
    address = settings.CLAMD_ADDRESS
    if not address:
        return Check(DISABLED, "no ClamAV configured: uploads stay pending until scanned")
    client = ClamdClient(address, timeout_s=2)
    if client.ping():
        return Check(OK, "clamd")
    return Check(FAILING, "clamd does not answer")


def audit_verification_check() -> Check:
    """A warning, not an outage: files stay available while the audit log's verification
    is late, but the monitoring must say so (issue #14: never "not verified yet")."""
    try:
        state = verification_state()
    except Exception as error:
        logger.warning("health: audit verification unreadable: %r", error)
        return Check(WARNING, type(error).__name__)
    if state.latest is None:
        return Check(WARNING, "audit log not verified since start-up")
    age_s = int((timezone.now() - state.latest.verified_at).total_seconds())
    if not state.latest.intact:
        return Check(WARNING, f"audit log verification failed {age_s} s ago")
    if state.stale:
        return Check(WARNING, f"last audit log verification {age_s} s ago (stale)")
    return Check(OK, f"last audit log verification {age_s} s ago")


def audit_checkpoints_check() -> Check:
    """Where signed checkpoints go (docs/audit.md): a warning when they cannot be
    written, since the log is then no longer anchored outside the database, though
    files stay available."""
    from audit import checkpoints

    try:
        if settings.AUDIT_CHECKPOINT_S3_BUCKET:
            problems = checkpoints.checkpoint_bucket_problems(
                client=checkpoints.checkpoint_bucket_client(probe=True)
            )
            if problems:
                logger.warning("health: audit checkpoint bucket: %s", "; ".join(problems))
                return Check(WARNING, "checkpoint bucket unusable")
            return Check(OK, "object-locked bucket")
        folder = Path(settings.AUDIT_CHECKPOINT_DIR)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            return Check(WARNING, "checkpoint folder is not writable")
        return Check(OK, "folder")
    except Exception as error:
        logger.warning("health: audit checkpoints failing: %r", error)
        return Check(WARNING, type(error).__name__)


def processes_check() -> Check:
    """Under ``make run``'s supervisor: which process died, and whether it came back."""
    from securedrive.supervisor import supervisor_status_check

    return supervisor_status_check()


CHECKS: dict[str, Callable[[], Check]] = {
    "database": database_check,
    "broker": broker_check,
    "cache": cache_check,
    "worker": worker_check,
    "storage": storage_check,
    "scanner": scanner_check,
    "processes": processes_check,
    "audit_verification": audit_verification_check,
    "audit_checkpoints": audit_checkpoints_check,
}


def check_run(name: str) -> Check:
    """One component's check, never raising: a probe that crashes would answer a 500
    page instead of naming the component that is down (issue #13: Redis down)."""
    try:
        return CHECKS[name]()
    except Exception as error:
        logger.warning("health: %s check crashed: %r", name, error)
        return Check(FAILING, type(error).__name__)


@dataclass(frozen=True)
class _Round:
    checks: dict[str, Check]
    computed_at: float  # time.time(): a clock tests can move, like the heartbeat's


_last_round: _Round | None = None
_round_lock = threading.Lock()


def _younger_than(last: _Round | None, seconds: float) -> bool:
    if last is None:
        return False
    age_s = time.time() - last.computed_at
    return 0 <= age_s < seconds  # a clock set back: not fresh


def health_results() -> dict[str, Check]:
    """Every component's check, computed at most once per HEALTH_RESULTS_FRESH_FOR_S
    by this process. While one thread runs a round, the others take the previous answer
    if it is younger than HEALTH_PREVIOUS_ANSWER_MAX_S, and otherwise wait for the round:
    a component that hangs until its timeout then holds one thread, not every probe."""
    global _last_round
    last = _last_round
    if last is not None and _younger_than(last, HEALTH_RESULTS_FRESH_FOR_S):
        return last.checks
    if last is not None and _younger_than(last, HEALTH_PREVIOUS_ANSWER_MAX_S):
        if not _round_lock.acquire(blocking=False):
            return last.checks  # a round is under way: the previous answer meanwhile
    else:
        _round_lock.acquire()
    try:
        done = _last_round  # perhaps computed while this thread waited
        if done is not None and _younger_than(done, HEALTH_RESULTS_FRESH_FOR_S):
            return done.checks
        checks = {name: check_run(name) for name in CHECKS}
        _last_round = _Round(checks, time.time())
        return checks
    finally:
        _round_lock.release()


def health_results_forget() -> None:
    global _last_round
    _last_round = None


@receiver(setting_changed)
def _settings_changed(**kwargs: Any) -> None:
    """A round answers for the settings it ran under (a test pointing CLAMD_ADDRESS
    elsewhere must see that scanner, not the previous one's answer)."""
    health_results_forget()


def _probe_from_inside(address: str) -> bool:
    """The machine itself (Docker's healthcheck, an operator's curl) or its private
    networks (a load balancer, another container): never rate limited."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


def _remote_probe_refusal(request: HttpRequest) -> JsonResponse | None:
    """429 past HEALTH_REMOTE_RATE for a client outside; fails open: /healthz must still
    answer (and say so) when Redis, which holds the counters, is down."""
    address = client_ip(request)
    if _probe_from_inside(address):
        return None
    counted = address_counted(address)  # an IPv6 client's /64 is one client
    verdict = rate_limit_check(
        group="healthz", key=counted, rate=HEALTH_REMOTE_RATE, fail_open=True
    )
    if not verdict.limited:
        return None
    retry_after = max(1, math.ceil(verdict.retry_after))
    # Recorded once per address and window, then counted (audit/floods.py): a flood
    # shows in the log without one event per refused probe.
    floods.rate_limited_record(
        endpoint="healthz",
        source=counted,
        ip_address=address,
        actor_label="anonymous",
        record=lambda flood: audit.record(
            action=Action.RATELIMIT_HEALTHZ,
            outcome=Outcome.DENIED,
            actor_label="anonymous",
            details={
                "limit": "healthz",
                "rate": HEALTH_REMOTE_RATE,
                "retry_after": retry_after,
                **flood,
            },
        ),
    )
    response = JsonResponse({"detail": "Too many health probes from this address."}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def details_allowed(request: HttpRequest) -> bool:
    """Only a probe from the machine itself (the container's healthcheck, an operator's
    `curl` on the host, `make run`) reads each component. From anywhere else, through
    the proxy included, /healthz says only ok, degraded or failing: which component is
    down, that the scanner is off or that the audit log failed its verification would
    tell an outsider, or someone tampering, when to act. The address is the one the
    audit log records (trusted proxies only), so a forged X-Forwarded-For gets nothing."""
    try:
        return ipaddress.ip_address(client_ip(request)).is_loopback
    except ValueError:
        return False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """JSON status of each component. 503 when a component SecureDrive needs is failing.

    A disabled scanner is reported but is not an outage: uploads queue as pending; nor is
    a late audit log verification (a warning).
    Details are kept to class names, and shown to local probes only (details_allowed).
    Every check is guarded: whatever is down, the answer is this JSON, never a 500.
    Results are shared for a few seconds and outsiders are rate limited (module text).
    """
    refusal = _remote_probe_refusal(request)
    if refusal is not None:
        return refusal
    checks = health_results()
    failing = [name for name, check in checks.items() if check.status == FAILING]
    degraded = any(check.status in (DISABLED, WARNING) for check in checks.values())
    status = "failing" if failing else ("degraded" if degraded else "ok")
    answer: dict[str, Any] = {"status": status}
    if details_allowed(request):
        answer["profile"] = settings.PROFILE
        answer["checks"] = {
            name: {"status": check.status, "detail": check.detail} for name, check in checks.items()
        }
    return JsonResponse(answer, status=503 if failing else 200)
