"""`make run`'s worker: a real Celery process on the embedded SQLite broker, with beat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.core.cache.backends.filebased import FileBasedCache

from securedrive.heartbeat import HEARTBEAT_KEY

ROOT = Path(__file__).resolve().parent.parent


def test_embedded_worker_consumes_beat_tasks_without_any_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECUREDRIVE_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "securedrive.settings",
            "SECUREDRIVE_PROFILE": "embedded",
            "SECUREDRIVE_DATA_DIR": str(tmp_path),
            "SECUREDRIVE_WORKER_HEARTBEAT_S": "1",
        }
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "securedrive", "worker", "--beat",
         "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    cache = FileBasedCache(str(tmp_path / "cache"), {})

    def heartbeat_after(previous: object) -> object:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert worker.poll() is None, "the worker exited early"
            value = cache.get(HEARTBEAT_KEY)
            if value is not None and value != previous:
                return value
            time.sleep(0.2)
        raise AssertionError("no new heartbeat from the worker within 60 s")

    try:
        at_start = heartbeat_after(None)  # sent when the worker is ready
        heartbeat_after(at_start)  # sent by beat through the SQLite broker
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert "sqlite-broker://" in output
    assert "securedrive.tasks.worker_heartbeat" in output
    # Messages went through the broker's file, not through memory.
    assert (tmp_path / "broker" / "messages.sqlite3").is_file()
