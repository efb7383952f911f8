"""`make run`'s supervisor: a process that dies is started again and /healthz says so.

Issue #13: under honcho, the worker dying took the web server down with it, silently.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from securedrive.health import HEALTH_RESULTS_FRESH_FOR_S

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def healthz(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            body: dict[str, Any] = json.load(answer)
    except urllib.error.HTTPError as error:  # 503 while something is failing
        body = json.load(error)
    return body


def eventually(condition: Callable[[], Any], *, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


def test_worker_killed_with_sigkill_is_restarted_and_healthz_says_so(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECUREDRIVE_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "securedrive.settings",
            "SECUREDRIVE_PROFILE": "embedded",
            "SECUREDRIVE_DATA_DIR": str(tmp_path / "data"),
            "SECUREDRIVE_BIND": f"127.0.0.1:{port}",
            "SECUREDRIVE_WEB_WORKERS": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"web: {sys.executable} -m gunicorn --config {ROOT}/securedrive/gunicorn.conf.py"
        " securedrive.wsgi\n"
        f"worker: {sys.executable} -m celery --app securedrive worker --concurrency 1"
        " --without-gossip --without-mingle\n"
    )
    log = (tmp_path / "supervisor.log").open("w")
    supervisor = subprocess.Popen(
        [sys.executable, f"{ROOT}/manage.py", "supervise", "--procfile", str(procfile)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    status_file = tmp_path / "data" / "run" / "processes.json"
    try:
        eventually(
            lambda: healthz(port)["checks"]["worker"]["status"] == "ok",
            seconds=120,
            what="the worker reports to /healthz",
        )
        assert healthz(port)["checks"]["processes"] == {"status": "ok", "detail": "all running"}
        # Its own gunicorn control socket, not the one every instance would share.
        assert stat.S_ISSOCK((tmp_path / "data" / "run" / "gunicorn.ctl").stat().st_mode)

        worker_pid = json.loads(status_file.read_text())["processes"]["worker"]["pid"]
        os.kill(worker_pid, signal.SIGKILL)

        def restarted() -> bool:
            worker = json.loads(status_file.read_text())["processes"]["worker"]
            return bool(worker["running"] and worker["pid"] != worker_pid)

        eventually(restarted, seconds=60, what="the worker is started again")

        def restart_reported() -> dict[str, Any] | None:
            processes: dict[str, Any] = healthz(port)["checks"]["processes"]
            return processes if processes["detail"] != "all running" else None

        # /healthz shares a round of checks for a few seconds (securedrive/health.py).
        processes = eventually(
            restart_reported,
            seconds=HEALTH_RESULTS_FRESH_FOR_S + 10,
            what="/healthz reports the restart",
        )
        assert processes["status"] == "ok"
        assert "worker restarted 1x, last killed by SIGKILL" in processes["detail"]
        assert supervisor.poll() is None
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=90)
        log.close()
    output = (tmp_path / "supervisor.log").read_text()
    assert "worker killed by SIGKILL; restarting in 1 s" in output
    assert not status_file.exists()
