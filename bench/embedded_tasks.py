"""Small tasks drained per second: the embedded SQLite broker against Redis, same run.

For each broker a real Celery worker is started the way ``make run`` starts it
(``celery --app securedrive worker --concurrency 2``, prefork, acks late, prefetch 1):

* **embedded**: ``sqlite-broker://`` (securedrive/broker.py), a fresh data folder;
* **redis**: a private ``redis-server`` on a free loopback port, AOF on as in
  docker-compose.yml (``appendfsync everysec``), the worker's cache on it too.

``--tasks`` messages of ``securedrive.tasks.worker_heartbeat`` (one cache write: a small
task) are published *before* the worker starts, then the worker is started and the
queue is watched every 5 ms: the rate is counted from the first message taken to the
last one acknowledged, so start-up time is left out. Also reported: the publish rate
(one thread, what a web request pays per task), the worker's CPU seconds over the drain
(main process + pool children, from /proc) and its peak RSS (sum of each process's
VmHWM). Rounds alternate embedded, redis, embedded, ...; figures are medians.
Target (issue #13): embedded ≥ 50 tasks/s on 2 cores.

    .venv/bin/python bench/embedded_tasks.py                 # 1,000 tasks, 3 rounds
    .venv/bin/python bench/embedded_tasks.py --tasks 3000 --rounds 1

Runs from any folder; needs ``redis-server`` on the PATH (or ``--redis-server``).
Prints a table, then as its last line one JSON object of the figures. Exit status 0
whatever the figures; 1 if a run did not drain every message (lost or stuck); 2 if no
redis-server is found.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_support import (
    ROOT,
    celery_worker,
    embedded_env,
    free_port,
    stop,
    tree_cpu_seconds,
    tree_peak_mib,
    wait_for_port,
)

TASK = "securedrive.tasks.worker_heartbeat"
TARGET_PER_S = 50.0


def worker_env(data_dir: Path, redis_url: str) -> dict[str, str]:
    settings = {
        # No database behind these workers: only the broker is under test.
        "SECUREDRIVE_AUDIT_VERIFY_ON_START": "false",
        "PYTHONPATH": str(ROOT),
    }
    if redis_url:
        settings["SECUREDRIVE_REDIS_URL"] = redis_url
    return embedded_env(data_dir, settings, inherit=False)


def celery_app(data_dir: Path, redis_url: str) -> Any:
    """A publisher configured like the project's app, without loading Django."""
    from celery import Celery

    from securedrive import broker

    broker.register()
    app = Celery("bench")
    app.conf.update(
        broker_url=redis_url or "sqlite-broker://",
        broker_transport_options=(
            {"visibility_timeout": 6 * 3600}
            if redis_url
            else {"path": str(data_dir / "broker" / "messages.sqlite3")}
        ),
        task_serializer="json",
        accept_content=["json"],
    )
    return app


def run_once(kind: str, tasks: int, redis_url: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"securedrive-bench-tasks-{kind}-") as folder:
        data_dir = Path(folder)
        app = celery_app(data_dir, redis_url)
        if redis_url:
            import redis

            client = redis.Redis.from_url(redis_url)
            client.flushdb()

            def pending() -> int:
                return int(client.llen("celery")) + int(client.hlen("unacked"))
        else:
            database = data_dir / "broker" / "messages.sqlite3"
            reader: list[sqlite3.Connection] = []

            def pending() -> int:
                if not reader:
                    reader.append(sqlite3.connect(database))
                return int(reader[0].execute("SELECT count(*) FROM message").fetchone()[0])

        started = time.perf_counter()
        with app.producer_or_acquire() as producer:
            for _ in range(tasks):
                app.send_task(TASK, producer=producer)
        publish_s = time.perf_counter() - started
        assert pending() == tasks, f"{kind}: {pending()} messages queued, expected {tasks}"

        log = data_dir / "worker.log"
        worker = celery_worker(
            worker_env(data_dir, redis_url),
            ["--concurrency", "2", "--without-heartbeat"],
            log.open("wb"),
        )
        try:
            deadline = time.monotonic() + 120
            while pending() == tasks:
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind}: the worker took nothing: {log.read_text()}")
                time.sleep(0.005)
            first_taken = time.perf_counter()
            cpu_before = tree_cpu_seconds(worker.pid)
            left = pending()
            deadline = time.monotonic() + max(120.0, tasks / 5)
            while left:
                if worker.poll() is not None or time.monotonic() > deadline:
                    return {"left": float(left)}
                time.sleep(0.005)
                left = pending()
            drain_s = time.perf_counter() - first_taken
            cpu_s = tree_cpu_seconds(worker.pid) - cpu_before
            peak_rss_mib = tree_peak_mib(worker.pid)
        finally:
            stop(worker)
        return {
            "left": 0.0,
            "publish_per_s": tasks / publish_s,
            "drain_per_s": tasks / drain_s,
            "drain_s": drain_s,
            "cpu_s": cpu_s,
            "cpu_ms_per_task": 1000 * cpu_s / tasks,
            "peak_rss_mib": peak_rss_mib,
        }


def redis_start(binary: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port, server, "redis-server", timeout_s=10)
    return server, f"redis://127.0.0.1:{port}/0"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "")
    args = parser.parse_args()
    if not args.redis_server:
        print("no redis-server: install it or pass --redis-server PATH", file=sys.stderr)
        return 2

    results: dict[str, list[dict[str, float]]] = {"embedded": [], "redis": []}
    with tempfile.TemporaryDirectory(prefix="securedrive-bench-redis-") as redis_dir:
        server, redis_url = redis_start(args.redis_server, Path(redis_dir))
        try:
            for _round in range(args.rounds):
                for kind in ("embedded", "redis"):
                    results[kind].append(
                        run_once(kind, args.tasks, redis_url if kind == "redis" else "")
                    )
        finally:
            stop(server)

    lost = {kind: max(run["left"] for run in runs) for kind, runs in results.items()}
    if any(lost.values()):
        print(f"messages left undrained: {lost}", file=sys.stderr)

    def median(kind: str, name: str) -> float:
        values = [run[name] for run in results[kind] if name in run]
        return round(statistics.median(values), 2) if values else 0.0

    names: list[tuple[str, str, Callable[[float], str]]] = [
        ("drain_per_s", "drained, tasks/s", lambda v: f"{v:,.0f}"),
        ("publish_per_s", "published (1 thread), tasks/s", lambda v: f"{v:,.0f}"),
        ("cpu_s", "worker CPU over the drain, s", lambda v: f"{v:.2f}"),
        ("cpu_ms_per_task", "worker CPU per task, ms", lambda v: f"{v:.2f}"),
        ("peak_rss_mib", "worker peak RSS (sum of VmHWM), MiB", lambda v: f"{v:.0f}"),
    ]
    print(f"{args.tasks} tasks x {args.rounds} rounds, worker --concurrency 2, medians")
    print(f"{'':40} {'embedded':>10} {'redis':>10}")
    for name, label, shown in names:
        print(
            f"{label:40} {shown(median('embedded', name)):>10} {shown(median('redis', name)):>10}"
        )
    embedded_rate = median("embedded", "drain_per_s")
    redis_rate = median("redis", "drain_per_s")
    verdict = "PASS" if embedded_rate >= TARGET_PER_S else "BELOW TARGET"
    print(f"target: embedded >= {TARGET_PER_S:.0f} tasks/s: {verdict}")
    figures: dict[str, Any] = {
        "tasks": args.tasks,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "worker_concurrency": 2,
        "target_embedded_tasks_per_s": TARGET_PER_S,
        "embedded_vs_redis_ratio": round(embedded_rate / redis_rate, 3) if redis_rate else None,
        "messages_left_embedded": int(lost["embedded"]),
        "messages_left_redis": int(lost["redis"]),
    }
    for kind in ("embedded", "redis"):
        figures[f"{kind}_drain_tasks_per_s"] = median(kind, "drain_per_s")
        figures[f"{kind}_publish_tasks_per_s"] = median(kind, "publish_per_s")
        figures[f"{kind}_worker_cpu_s"] = median(kind, "cpu_s")
        figures[f"{kind}_worker_cpu_ms_per_task"] = median(kind, "cpu_ms_per_task")
        figures[f"{kind}_worker_peak_rss_mib"] = median(kind, "peak_rss_mib")
    print(json.dumps(figures))
    return 1 if any(lost.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
