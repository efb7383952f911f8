"""``make run``'s process supervisor: start the Procfile's processes, restart what dies.

honcho, used before, stopped every process as soon as one exited: a worker killed by the
kernel's OOM killer took the web server down with it, silently (issue #13). Here a
process that exits is started again after a back-off (1 s, doubling up to 30 s, back to
1 s once it has stayed up a minute), the reason is printed, and the state of every
process is written to ``<data dir>/run/processes.json`` where ``/healthz`` reads it.

One machine, one supervisor: production runs each process in its own container and
lets the orchestrator restart it (docs/production.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:  # health imports this module: no import cycle at load time
    from securedrive.health import Check

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
# A process that stayed up this long is healthy again: its next failure waits 1 s.
STABLE_AFTER_S = 60.0
# On stop, what a process gets between SIGTERM and SIGKILL (gunicorn's graceful_timeout).
STOP_GRACE_S = 35.0
POLL_S = 0.2


def status_file() -> Path:
    return Path(settings.DATA_DIR) / "run" / "processes.json"


def procfile_read(path: Path) -> dict[str, list[str]]:
    """``name: command`` lines, as honcho reads them (comments and blank lines skipped)."""
    processes: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        processes[name.strip()] = shlex.split(command)
    return processes


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Supervised:
    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = BACKOFF_FIRST_S
    restart_at: float = 0.0
    last_exit: str = ""
    last_exit_at: str = ""
    history: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        running = self.process is not None and self.process.poll() is None
        return {
            "running": running,
            "pid": self.process.pid if running and self.process else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "last_exit_at": self.last_exit_at,
        }


class Supervisor:
    def __init__(
        self,
        processes: dict[str, list[str]],
        *,
        cwd: Path,
        out: Any = None,
        then: list[str] | None = None,
        then_after_s: float = 8.0,
    ) -> None:
        self.children = [Supervised(name, command) for name, command in processes.items()]
        self.cwd = cwd
        self.out = out or sys.stderr
        self.stopping = False
        # Run once when the processes have had time to print their start-up banners, so
        # what it prints (the one-time set-up link) is the last thing on the screen.
        self.then = then
        self.then_at = time.monotonic() + then_after_s

    def say(self, message: str) -> None:
        # The same stamp as every log line (core/log_format.py): UTC, named.
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        print(f"{stamp} supervisor: {message}", file=self.out, flush=True)

    def status_write(self) -> None:
        path = status_file()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        state = {
            "supervisor_pid": os.getpid(),
            "written_at": _now(),
            "processes": {child.name: child.as_json() for child in self.children},
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        os.replace(temporary, path)

    def start(self, child: Supervised) -> None:
        child.process = subprocess.Popen(child.command, cwd=self.cwd)  # noqa: S603
        child.started_at = time.monotonic()
        self.say(f"{child.name} started (pid {child.process.pid})")

    def step(self) -> None:
        """Notice exits, start what is due; called every ``POLL_S``."""
        changed = False
        now = time.monotonic()
        for child in self.children:
            if child.process is not None:
                returncode = child.process.poll()
                if returncode is None:
                    if now - child.started_at > STABLE_AFTER_S:
                        child.backoff_s = BACKOFF_FIRST_S
                    continue
                child.process = None
                child.last_exit = exit_reason(returncode)
                child.last_exit_at = _now()
                child.restart_at = now + child.backoff_s
                self.say(f"{child.name} {child.last_exit}; restarting in {child.backoff_s:.0f} s")
                child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
                changed = True
            elif now >= child.restart_at:
                if child.last_exit:
                    child.restarts += 1
                self.start(child)
                changed = True
        if changed:
            self.status_write()
        if self.then and now >= self.then_at:
            command, self.then = self.then, None
            subprocess.run(command, cwd=self.cwd, check=False)  # noqa: S603

    def stop(self) -> None:
        self.stopping = True
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        status_file().unlink(missing_ok=True)
        self.say("stopped")

    def run(self) -> None:
        def request_stop(signum: int, _frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self.status_write()
        try:
            while not self.stopping:
                self.step()
                time.sleep(POLL_S)
        finally:
            self.stop()


# --- Read by /healthz -------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def supervisor_status_check() -> Check:
    """``processes`` on /healthz: failing while a supervised process is down."""
    from securedrive.health import FAILING, OK, Check

    try:
        state = json.loads(status_file().read_text())
    except (FileNotFoundError, ValueError):
        return Check(OK, "not supervised")
    if not _alive(int(state.get("supervisor_pid", 0))):
        return Check(OK, "not supervised")
    down, notes = [], []
    for name, process in sorted(state.get("processes", {}).items()):
        if not process.get("running"):
            down.append(f"{name} down ({process.get('last_exit') or 'starting'})")
        elif process.get("restarts"):
            notes.append(
                f"{name} restarted {process['restarts']}x, last {process['last_exit']} "
                f"at {process['last_exit_at']}"
            )
    if down:
        return Check(FAILING, "; ".join(down + notes))
    return Check(OK, "; ".join(notes) or "all running")
