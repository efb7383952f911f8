"""Crash safety of the finalize task with real processes: a real ``celery worker`` on
the test Redis, the test PostgreSQL database and the test clamd, killed with SIGKILL in
the middle of a scan.

The scan is slowed down by SECUREDRIVE_SCAN_SEGMENT_DELAY_S (a test-only pause between
decrypted segments, zero everywhere else) so that "mid-scan" is a window of seconds.
Two ways to die (FIELD-NOTES):

- the pool child is killed: with ``acks_late`` and ``reject_on_worker_lost`` the worker
  requeues the message at once and runs it again;
- the whole worker is killed: the message stays unacknowledged in Redis until its
  visibility timeout (2 s here, hours in production), then a second worker takes it.

Either way the redelivered run claims the version from the dead run (files/services/
finalize.py) and exactly one verdict is recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from celery import Celery
from django.db import connection
from django.test.utils import override_settings
from kombu import Queue

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files.models import FileVersion, ScanStatus
from tests.conftest import missing_service
from tests.files_helpers import content_of, root_of, version_store

ROOT = Path(__file__).resolve().parent.parent
SEGMENT = 64 * 1024
SEGMENTS = 40
DELAY_S = 0.1  # 40 segments: a scan takes ~4 s

pytestmark = pytest.mark.django_db(transaction=True)


class Workers:
    """Real workers consuming one private queue of one private Redis database."""

    def __init__(self, service_url: Callable[[str], str]) -> None:
        service_url("clamd")
        if connection.vendor != "postgresql":
            missing_service("a worker process needs the PostgreSQL test database")
        redis = urlsplit(service_url("redis"))
        # Database 13 of the test Redis: unacked messages (and their restoration after
        # the short visibility timeout) are per database, so no other test is touched.
        self.broker_url = urlunsplit((redis.scheme, redis.netloc, "/13", "", ""))
        self.queue = f"scan-crash-{uuid.uuid4().hex[:8]}"
        database = urlsplit(os.environ["SECUREDRIVE_TEST_DATABASE_URL"])
        test_database = str(connection.settings_dict["NAME"])
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings_scan_worker",
            "SECUREDRIVE_TEST_DATABASE_URL": urlunsplit(
                (database.scheme, database.netloc, "/" + test_database, "", "")
            ),
            "SCAN_WORKER_BROKER_URL": self.broker_url,
            "SCAN_WORKER_VISIBILITY_TIMEOUT_S": "2",
            "SECUREDRIVE_SCAN_SEGMENT_DELAY_S": str(DELAY_S),
        }
        self.processes: list[subprocess.Popen[str]] = []
        self.sender = Celery("scan-crash-test", broker=self.broker_url)
        self.sender.conf.update(task_serializer="json", accept_content=["json"])

    def start(self) -> subprocess.Popen[str]:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "--app", "securedrive", "worker",
             "--queues", self.queue, "--concurrency", "1", "--pool", "prefork",
             "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip
        self.processes.append(worker)
        return worker

    def send_finalize(self, version: FileVersion) -> None:
        self.sender.send_task(
            "files.tasks.version_finalize", args=[str(version.pk)], queue=self.queue
        )

    def stop_all(self) -> list[str]:
        outputs = []
        for worker in self.processes:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
            try:
                output, _ = worker.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                output, _ = worker.communicate()
            outputs.append(output)
        with self.sender.connection_for_write() as conn:
            Queue(self.queue).bind(conn.default_channel).delete()
        return outputs


@pytest.fixture
def workers(service_url: Callable[[str], str]) -> Iterator[Workers]:
    running = Workers(service_url)
    yield running
    running.stop_all()


# How long a scan step may take: seconds here, minutes on a loaded shared machine. A
# deadline, not a pause: wait_for polls and returns as soon as the step is done.
SCAN_TIMEOUT_S = 120


def wait_for(
    condition: Callable[[], bool], *, what: str, timeout_s: float = SCAN_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def status_of(version: FileVersion) -> str:
    return FileVersion.objects.values_list("scan_status", flat=True).get(pk=version.pk)


def pool_children(worker: subprocess.Popen[str]) -> list[int]:
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def stored_version(owner: User) -> FileVersion:
    # The upload's own eager finalize finds no scanner in this (test) process and leaves
    # the version pending: only the real workers scan it.
    with override_settings(FILES_SEGMENT_SIZE=SEGMENT):
        return version_store(
            actor=owner,
            folder=root_of(owner),
            name="coronarographie.dcm",
            content=content_of(SEGMENT * SEGMENTS),
            clean=False,
        )


def scan_verdicts(version: FileVersion) -> list[str]:
    return [
        event.details["status"]
        for event in AuditEvent.objects.filter(
            action=Action.FILES_VERSION_SCAN, target_id=str(version.pk)
        )
    ]


def test_a_scan_whose_pool_process_is_killed_is_redelivered_and_completes(
    workers: Workers, owner: User
) -> None:
    version = stored_version(owner)
    assert status_of(version) == ScanStatus.PENDING
    worker = workers.start()
    workers.send_finalize(version)
    wait_for(lambda: status_of(version) == ScanStatus.SCANNING, what="scanning")
    time.sleep(1.0)  # well inside the ~4 s scan
    [child] = pool_children(worker)
    os.kill(child, signal.SIGKILL)

    wait_for(lambda: status_of(version) == ScanStatus.AVAILABLE, what="available")
    [output] = workers.stop_all()
    assert "signal 9 (SIGKILL)" in output  # the first run really died
    assert output.count("files.tasks.version_finalize") >= 2  # and ran again
    assert scan_verdicts(version) == ["available"]


def test_a_scan_whose_whole_worker_is_killed_is_completed_by_a_second_worker(
    workers: Workers, owner: User
) -> None:
    version = stored_version(owner)
    first = workers.start()
    workers.send_finalize(version)
    wait_for(lambda: status_of(version) == ScanStatus.SCANNING, what="scanning")
    time.sleep(1.0)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool child, no goodbye
    first.wait(timeout=10)
    assert status_of(version) == ScanStatus.SCANNING  # the dead run's claim is left over

    workers.start()  # restores the unacked message once its visibility timeout passed
    wait_for(lambda: status_of(version) == ScanStatus.AVAILABLE, what="available")
    assert scan_verdicts(version) == ["available"]
