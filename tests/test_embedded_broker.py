"""The embedded broker (securedrive/broker.py) under load and when a worker dies.

Real worker processes, as ``make run`` starts them, on a private data folder. Issue
#13: on kombu's folder broker, 600 parallel uploads crashed the worker (half-written
message files) and tasks drained at ~2/s.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from securedrive import broker
from tests.helpers import process_stop, threads_join

ROOT = Path(__file__).resolve().parent.parent


def publisher(data_dir: Path) -> Celery:
    broker.register()
    app = Celery("test-publisher")
    app.conf.update(
        broker_url="sqlite-broker://",
        broker_transport_options={"path": str(data_dir / "broker" / "messages.sqlite3")},
        task_serializer="json",
        accept_content=["json"],
    )
    return app


def worker_start(data_dir: Path) -> subprocess.Popen[str]:
    """A worker logging to ``worker.log`` (a pipe nobody reads would block it when full)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECUREDRIVE_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "securedrive.settings",
            "SECUREDRIVE_PROFILE": "embedded",
            # No database behind these workers: only the broker is under test.
            "SECUREDRIVE_AUDIT_VERIFY_ON_START": "false",
            "SECUREDRIVE_DATA_DIR": str(data_dir),
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "securedrive", "worker",
         "--include", "tests.broker_tasks", "--concurrency", "2", "--loglevel", "INFO",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=(data_dir / "worker.log").open("a"),
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def messages_left(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "broker" / "messages.sqlite3") as conn:
        return int(conn.execute("SELECT count(*) FROM message").fetchone()[0])


def wait_for(condition: object, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for worker in started:
        process_stop(worker, timeout_s=60)  # a warm shutdown, as the supervisor asks for one
    output = (tmp_path / "worker.log").read_text()
    assert "Traceback" not in output, output


def test_a_thousand_tasks_from_twenty_publishers_each_run_exactly_once(
    tmp_path: Path, workers: list[subprocess.Popen[str]]
) -> None:
    log = tmp_path / "runs.log"
    app = publisher(tmp_path)
    workers.append(worker_start(tmp_path))

    def publish(first: int) -> None:
        with app.producer_or_acquire() as producer:
            for number in range(first, first + 50):
                app.send_task(
                    "tests.broker_tasks.run_record", args=[number, str(log)], producer=producer
                )

    threads = [threading.Thread(target=publish, args=(50 * n,)) for n in range(20)]
    try:
        for thread in threads:
            thread.start()
    finally:
        threads_join(*threads)

    wait_for(lambda: messages_left(tmp_path) == 0, seconds=120, what="all 1,000 acknowledged")
    runs = Counter(int(line) for line in log.read_text().split())
    assert set(runs) == set(range(1000)), "a task was lost"
    assert max(runs.values()) == 1, "a task ran twice"
    assert workers[0].poll() is None, "the worker died"


def test_a_task_held_by_a_worker_killed_with_sigkill_runs_again_on_the_next_worker(
    tmp_path: Path, workers: list[subprocess.Popen[str]]
) -> None:
    log, release = tmp_path / "runs.log", tmp_path / "release"
    publisher(tmp_path).send_task(
        "tests.broker_tasks.run_until_released", args=[str(log), str(release)]
    )
    first = worker_start(tmp_path)
    workers.append(first)
    wait_for(lambda: log.exists() and "started" in log.read_text(), seconds=60, what="started")

    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool: nothing can ack
    first.wait(timeout=30)
    assert messages_left(tmp_path) == 1, "the message died with its worker"

    workers.append(worker_start(tmp_path))
    wait_for(lambda: log.read_text().count("started") == 2, seconds=60, what="redelivered")
    release.touch()
    wait_for(lambda: messages_left(tmp_path) == 0, seconds=60, what="acknowledged")
    assert log.read_text().count("finished") == 1
