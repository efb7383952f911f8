"""/healthz reports each component; a missing scanner shows as disabled, loudly."""

from __future__ import annotations

import datetime as dt
import select
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from audit import checkpoints
from core.ratelimit import rate_parse
from securedrive import health
from securedrive.heartbeat import worker_heartbeat_record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def worker_alive() -> None:
    worker_heartbeat_record()
    checkpoints.audit_log_verify_and_alert()  # as the worker does when it starts


def test_embedded_without_scanner_is_degraded_not_down(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["worker"]["status"] == "ok"
    assert body["checks"]["storage"]["status"] == "ok"
    assert body["checks"]["scanner"]["status"] == "disabled"
    assert response["Cache-Control"].startswith("max-age=0")


def test_configured_scanner_is_checked(client: Client, service_url: Callable[[str], str]) -> None:
    with override_settings(CLAMD_ADDRESS=service_url("clamd")):
        body = client.get("/healthz").json()
    assert body["checks"]["scanner"]["status"] == "ok"
    assert body["status"] == "ok"


def test_unreachable_scanner_makes_health_fail(client: Client) -> None:
    with override_settings(CLAMD_ADDRESS="tcp://127.0.0.1:9"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["scanner"]["status"] == "failing"


def test_s3_storage_is_checked(client: Client, service_url: Callable[[str], str]) -> None:
    endpoint = service_url("s3")
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(Bucket="health-bucket")
    storage: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "health-bucket",
            "endpoint_url": endpoint,
            "access_key": "test",
            "secret_key": "test",
            "region_name": "us-east-1",
        },
    }
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(STORAGES={"default": storage, "staticfiles": static}):
        ok = client.get("/healthz")
    missing = {**storage, "OPTIONS": {**storage["OPTIONS"], "bucket_name": "no-such-bucket"}}
    with override_settings(STORAGES={"default": missing, "staticfiles": static}):
        failing = client.get("/healthz")
    assert ok.json()["checks"]["storage"] == {"status": "ok", "detail": "S3Storage"}
    assert failing.status_code == 503
    assert failing.json()["checks"]["storage"]["status"] == "failing"


def test_health_reveals_no_error_text(client: Client) -> None:
    with override_settings(CLAMD_ADDRESS="tcp://127.0.0.1:9"):
        text = client.get("/healthz").content.decode()
    assert "127.0.0.1" not in text
    assert "Traceback" not in text


def test_silent_worker_makes_health_fail(client: Client) -> None:
    worker_heartbeat_record(timezone.now() - dt.timedelta(minutes=5))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == {
        "status": "failing",
        "detail": "last heartbeat 300 s ago",
    }
    cache.clear()
    health.health_results_forget()  # results are shared for a few seconds
    assert client.get("/healthz").json()["checks"]["worker"]["status"] == "failing"


def test_redis_broker_is_checked(service_url: Callable[[str], str]) -> None:
    assert health.broker_check(service_url("redis")).status == "ok"
    assert health.broker_check("redis://127.0.0.1:9/0").status == "failing"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed


def test_redis_down_answers_503_json_naming_the_failing_components(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #13: with Redis down the heartbeat read raised and /healthz was a 500 page."""
    from securedrive.celery import app as celery_app

    redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    monkeypatch.setattr(celery_app.conf, "broker_url", redis_url)
    redis_cache = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                               "LOCATION": redis_url}}  # fmt: skip
    with override_settings(CACHES=redis_cache):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    checks = response.json()["checks"]
    assert checks["broker"]["status"] == "failing"
    assert checks["cache"] == {"status": "failing", "detail": "ConnectionError"}
    assert checks["worker"] == {
        "status": "failing",
        "detail": "heartbeat unreadable: ConnectionError",
    }
    assert checks["database"]["status"] == "ok"


# --- What the public sees ------------------------------------------------------------


@pytest.mark.parametrize(
    "forwarded_for",
    ["203.0.113.9", "127.0.0.1, 203.0.113.9"],  # the second: a client forging loopback
)
def test_outsider_through_the_proxy_learns_only_the_overall_status(
    client: Client, forwarded_for: str
) -> None:
    """Production: Caddy forwards https://drive.example/healthz from anyone. Which
    component is down (here the scanner), that scanning is off or that the audit log
    failed its verification is for the machine's own probes, not for the Internet."""
    with override_settings(CLAMD_ADDRESS=f"tcp://127.0.0.1:{closed_port()}", TRUSTED_PROXY_COUNT=1):
        response = client.get(
            "/healthz", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR=forwarded_for
        )
        local = client.get("/healthz")  # the container's own healthcheck, no proxy
    assert response.status_code == 503
    assert response.json() == {"status": "failing"}
    assert local.status_code == 503
    assert local.json()["checks"]["scanner"]["status"] == "failing"


def test_a_machine_on_the_network_without_proxy_learns_only_the_overall_status(
    client: Client,
) -> None:
    response = client.get("/healthz", REMOTE_ADDR="10.20.30.40")
    # "degraded" (no scanner in this test profile) unless a check failed on a busy
    # machine; either way, only the word.
    assert response.json() == {"status": "degraded" if response.status_code == 200 else "failing"}


# --- Audit checkpoints ---------------------------------------------------------------


def test_a_checkpoint_bucket_without_object_lock_shows_as_a_warning(
    client: Client, service_url: Callable[[str], str]
) -> None:
    from tests.checkpoint_buckets import checkpoint_bucket_env

    assert client.get("/healthz").json()["checks"]["audit_checkpoints"] == {
        "status": "ok",
        "detail": "folder",
    }
    for locked, expected in ((True, "ok"), (False, "warning")):
        variables = checkpoint_bucket_env(service_url("s3"), locked=locked)
        names = {name.removeprefix("SECUREDRIVE_"): value for name, value in variables.items()}
        with override_settings(**names):
            response = client.get("/healthz")
        assert response.json()["checks"]["audit_checkpoints"]["status"] == expected
    # A warning, not a failure: it alone never turns the answer into a 503.
    checks = response.json()["checks"]
    failing = [name for name, check in checks.items() if check["status"] == "failing"]
    assert response.status_code == (503 if failing else 200)
    assert response.json()["status"] == ("failing" if failing else "degraded")


def test_a_hung_minio_answers_the_probe_within_seconds() -> None:
    """MinIO accepting connections but never answering (overloaded, a stuck disk):
    boto3's defaults (60 s reads, several attempts) would hold a gunicorn thread for
    minutes on every probe, and the compose healthcheck probes every 30 s."""
    import time

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)  # connections complete in the kernel; nobody ever reads them
    try:
        endpoint = f"http://127.0.0.1:{hung.getsockname()[1]}"
        with override_settings(
            AUDIT_CHECKPOINT_S3_BUCKET="audit-checkpoints",
            AUDIT_CHECKPOINT_S3_ENDPOINT_URL=endpoint,
            AUDIT_CHECKPOINT_S3_REGION="us-east-1",
            AUDIT_CHECKPOINT_S3_ACCESS_KEY_ID="test",
            AUDIT_CHECKPOINT_S3_SECRET_ACCESS_KEY="test",
        ):
            started = time.monotonic()
            check = health.audit_checkpoints_check()
            elapsed = time.monotonic() - started
        storage: dict[str, Any] = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "blobs",
                "endpoint_url": endpoint,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
            },
        }
        static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
        with override_settings(STORAGES={"default": storage, "staticfiles": static}):
            started = time.monotonic()
            storage_check = health.storage_check()
            storage_elapsed = time.monotonic() - started
    finally:
        hung.close()
    assert check.status == "warning"
    assert elapsed < 15, elapsed
    assert storage_check.status == "failing"
    assert storage_elapsed < 15, storage_elapsed


# --- A probe is cheap: shared results, a limit for outsiders -------------------------


class CountingRelay(socketserver.ThreadingTCPServer):
    """A TCP relay in front of the real clamd that counts the connections made to it:
    each scanner check is one connection (a PING)."""

    daemon_threads = False
    block_on_close = True  # server_close() joins every relaying thread
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.connections = 0
        self.counted = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Relay)

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.server_address[1]}"


class _Relay(socketserver.BaseRequestHandler):
    server: CountingRelay

    def handle(self) -> None:
        with self.server.counted:
            self.server.connections += 1
        with socket.create_connection(self.server.upstream, timeout=5) as upstream:
            peers = {self.request: upstream, upstream: self.request}
            while True:
                readable, _, _ = select.select(list(peers), [], [], 5)
                if not readable:
                    return
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    peers[source].sendall(data)


@pytest.fixture
def counted_clamd(service_url: Callable[[str], str]) -> Iterator[CountingRelay]:
    host, _, port = service_url("clamd").removeprefix("tcp://").rpartition(":")
    relay = CountingRelay((host, int(port)))
    serving = threading.Thread(target=relay.serve_forever)
    serving.start()
    try:
        yield relay
    finally:
        relay.shutdown()
        serving.join()
        relay.server_close()


def test_a_burst_of_probes_runs_the_checks_once(counted_clamd: CountingRelay) -> None:
    """Twenty probes at once (a load balancer's nodes, a monitoring loop, someone on the
    Internet): one round of checks answers them all, instead of twenty PINGs to clamd,
    twenty S3 requests and twenty held gunicorn threads when a component is slow."""
    from django.db import connection

    probes = 20
    start = threading.Barrier(probes)
    answers: list[dict[str, Any]] = []

    def probe() -> None:
        try:
            start.wait(timeout=30)
            answers.append(Client().get("/healthz").json())
        finally:
            connection.close()  # this thread's own database connection

    # The clock stands still: the probes arrive at once, however long a loaded machine
    # takes to run twenty requests (it took over the 5 s a round stays fresh).
    with (
        override_settings(CLAMD_ADDRESS=counted_clamd.address),
        time_machine.travel(timezone.now(), tick=False),
    ):
        threads = [threading.Thread(target=probe) for _ in range(probes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert len(answers) == probes
    assert all(answer["checks"]["scanner"]["status"] == "ok" for answer in answers)
    assert counted_clamd.connections == 1


def test_a_result_is_shared_for_seconds_only(counted_clamd: CountingRelay) -> None:
    """A component that fails shows within seconds: results are reused for a few
    seconds, then checked again."""
    with override_settings(CLAMD_ADDRESS=counted_clamd.address):
        # The second probe comes in the same instant, however slow the machine.
        with time_machine.travel(timezone.now(), tick=False):
            first = Client().get("/healthz")
            again = Client().get("/healthz")
        assert counted_clamd.connections == 1
        worker_heartbeat_record(timezone.now() - dt.timedelta(minutes=5))
        later = timezone.now() + dt.timedelta(seconds=health.HEALTH_RESULTS_FRESH_FOR_S + 1)
        with time_machine.travel(later, tick=False):
            stale = Client().get("/healthz")
    assert first.json()["checks"]["worker"]["status"] == "ok"
    assert again.json() == first.json()
    assert stale.status_code == 503
    assert stale.json()["checks"]["worker"]["status"] == "failing"
    assert counted_clamd.connections == 2


@pytest.mark.parametrize("previous_answer_usable", [True, False])
def test_a_hung_component_holds_one_probe_not_all(
    counted_clamd: CountingRelay, previous_answer_usable: bool
) -> None:
    """clamd stops answering: while one probe waits for its timeout, the others get the
    previous answer at once instead of each holding a gunicorn thread. An answer older
    than HEALTH_PREVIOUS_ANSWER_MAX_S is never passed off: they wait for the round."""
    import time

    from django.db import connection

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)  # connections complete in the kernel; nobody answers
    try:
        with override_settings(CLAMD_ADDRESS=counted_clamd.address):
            assert Client().get("/healthz").json()["checks"]["scanner"]["status"] == "ok"
            counted_clamd.upstream = hung.getsockname()
            idle_s = (
                health.HEALTH_RESULTS_FRESH_FOR_S
                if previous_answer_usable
                else health.HEALTH_PREVIOUS_ANSWER_MAX_S
            ) + 1
            later = timezone.now() + dt.timedelta(seconds=idle_s)
            with time_machine.travel(later, tick=True):
                worker_heartbeat_record()
                slow: list[int] = []

                def waiting_probe() -> None:
                    try:
                        slow.append(Client().get("/healthz").status_code)
                    finally:
                        connection.close()

                refreshing = threading.Thread(target=waiting_probe)
                refreshing.start()
                try:
                    deadline = time.monotonic() + 60
                    while counted_clamd.connections < 2:  # the refresh reached the hung clamd
                        assert time.monotonic() < deadline, "the refresh never reached clamd"
                        time.sleep(0.01)
                    started = time.monotonic()
                    meanwhile = Client().get("/healthz")
                    elapsed = time.monotonic() - started
                finally:
                    refreshing.join(timeout=30)
    finally:
        hung.close()
    assert slow == [503]  # the refresh itself found clamd silent
    assert counted_clamd.connections == 2  # one round for both probes
    if previous_answer_usable:
        assert meanwhile.status_code == 200
        assert meanwhile.json()["checks"]["scanner"]["status"] == "ok"  # the previous one
        assert elapsed < 1.5, elapsed
    else:
        assert meanwhile.status_code == 503  # the round it waited for
        assert meanwhile.json()["checks"]["scanner"]["status"] == "failing"


def test_an_outsider_flooding_healthz_is_refused_but_local_probes_are_not(
    client: Client,
) -> None:
    """From the Internet, past HEALTH_REMOTE_RATE a minute, /healthz answers 429 with
    the wait; the container's own healthcheck and a load balancer on the private
    network keep their answers. The refusal is recorded once, not per request."""
    from audit.actions import Action
    from audit.models import AuditEvent

    limit, _ = rate_parse(health.HEALTH_REMOTE_RATE)
    # Public addresses: the documentation ranges (203.0.113.0/24...) count as private.
    answers = [client.get("/healthz", REMOTE_ADDR="80.10.20.30") for _ in range(limit + 10)]
    assert all(answer.status_code in (200, 503) for answer in answers[:limit])
    refused = answers[limit:]
    assert {answer.status_code for answer in refused} == {429}
    assert 1 <= int(refused[0]["Retry-After"]) <= 60
    assert "checks" not in refused[0].json()
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.10", "172.18.0.4", "::ffff:10.0.0.5"):
        for _ in range(limit + 5):
            answer = client.get("/healthz", REMOTE_ADDR=address)
        assert answer.status_code in (200, 503), address
    assert client.get("/healthz", REMOTE_ADDR="2a01:cb00::1").status_code in (200, 503)
    events = AuditEvent.objects.filter(action=Action.RATELIMIT_HEALTHZ)
    assert events.count() == 1
    assert events.get().outcome == "denied"
