"""Faults an operator will meet, injected into a private stack while files are scanned.

The test starts its OWN PostgreSQL, Redis and clamd on free ports in a temporary folder
(never the shared test services), migrates the database, and runs a real
``celery worker --beat --concurrency 2`` on them, as the Procfile does
(tests/settings_faults.py: a 4-second scan lease, a sweep every 2 seconds). Each story
stores new versions (tests/faults_seed.py), breaks one service in the middle of their
scan, and checks what the people relying on it need:

- every file ends with exactly one verdict event, well within 5 minutes;
- no file is ever "available" before that verdict (nothing is served unscanned);
- the worker is still running and still scans new uploads.

Scans are slowed by the test-only SECUREDRIVE_SCAN_SEGMENT_DELAY_S (40 segments at
0.1 s: about 4 seconds) so that "in the middle of a scan" is a window of seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import missing_service

ROOT = Path(__file__).resolve().parent.parent
CLAMAV_SIGNATURES = ROOT / "tests" / "clamav"
# The promise is 5 minutes; the stack does it in seconds, or in a minute or two on a
# loaded machine (a deadline, not a pause: verdicts are polled).
VERDICT_TIMEOUT_S = 240

pytestmark = [pytest.mark.xdist_group("faults")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def program(name: str, *candidates: str) -> str:
    for candidate in (shutil.which(name), *candidates):
        if candidate and Path(candidate).exists():
            return candidate
    missing_service(f"{name} is not installed")
    raise AssertionError("unreachable")


class Stack:
    """Private PostgreSQL, Redis, clamd and a worker, each stoppable on its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not binaries:
            missing_service("PostgreSQL (initdb) is not installed")
        self.pg_bin = binaries[-1].parent
        self.redis_server = program("redis-server")
        self.clamd_program = program("clamd", "/usr/sbin/clamd")
        self.pg_port, self.redis_port, self.clamd_port = free_port(), free_port(), free_port()
        self.database_url = f"postgres://securedrive@127.0.0.1:{self.pg_port}/securedrive"
        self.redis: subprocess.Popen[bytes] | None = None
        self.clamd: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[str] | None = None
        self.seeder: subprocess.Popen[str] | None = None
        self.worker_logs: list[Path] = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings_faults",
            "SECUREDRIVE_DATA_DIR": str(folder / "data"),
            "FAULTS_DATABASE_URL": self.database_url,
            "FAULTS_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "FAULTS_CLAMD_ADDRESS": f"tcp://127.0.0.1:{self.clamd_port}",
            "SECUREDRIVE_SCAN_SEGMENT_DELAY_S": "0.1",
        }

    # --- PostgreSQL ---------------------------------------------------------------------

    def postgres_init(self) -> None:
        data, run = self.folder / "pg", self.folder / "pg-run"  # data; socket and log
        for owned in (data, run):
            owned.mkdir()
            if self.as_postgres:
                shutil.chown(owned, "postgres")
        subprocess.run(
            [*self.as_postgres, str(self.pg_bin / "initdb"), "-D", str(data), "-U",
             "securedrive", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.postgres("start")
        with psycopg.connect(
            f"postgresql://securedrive@127.0.0.1:{self.pg_port}/postgres", autocommit=True
        ) as admin:
            admin.execute("CREATE DATABASE securedrive")

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=ROOT, env=self.env, check=True,
        )  # fmt: skip

    def seeder_start(self) -> None:
        self.seeder = subprocess.Popen(
            [sys.executable, "-m", "tests.faults_seed"],
            cwd=ROOT, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def seeder_wait_ready(self) -> None:
        """Once the database is migrated: the seeder makes its uploader."""
        assert self.seeder is not None
        assert self.seeder.stdin is not None
        assert self.seeder.stdout is not None
        self.seeder.stdin.write("migrated\n")
        self.seeder.stdin.flush()
        assert self.seeder.stdout.readline().strip() == "ready"

    def postgres(self, action: str) -> None:
        # Durability traded for speed: this cluster only holds the test's data.
        options = (
            f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -k {self.folder / 'pg-run'} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(
            [*self.as_postgres, str(self.pg_bin / "pg_ctl"), "-D", str(self.folder / "pg"),
             "-l", str(self.folder / "pg-run" / "server.log"), "-m", "fast", "-w",
             "-o", options, action],
            check=True, capture_output=True,
        )  # fmt: skip

    def sql(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://")) as db:
            return db.execute(query, params).fetchall()

    # --- Redis and clamd ----------------------------------------------------------------

    def redis_start(self) -> None:
        self.redis = subprocess.Popen(
            [self.redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--dir", str(self.folder), "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: port_open(self.redis_port), timeout_s=60, what="Redis up")

    def redis_stop(self) -> None:
        assert self.redis is not None
        self.redis.terminate()  # a clean shutdown: the append-only file keeps the queue
        self.redis.wait(timeout=15)

    def clamd_start(self) -> None:
        signatures = self.folder / "clamav-db"
        if not signatures.exists():
            signatures.mkdir()
            for ndb in CLAMAV_SIGNATURES.glob("*.ndb"):
                shutil.copy(ndb, signatures)
            (self.folder / "clamd.conf").write_text(
                f"TCPSocket {self.clamd_port}\nTCPAddr 127.0.0.1\n"
                f"DatabaseDirectory {signatures}\nForeground yes\n"
                "StreamMaxLength 64M\nMaxFileSize 64M\nMaxScanSize 256M\n"
            )
        self.clamd = subprocess.Popen(
            [self.clamd_program, f"--config-file={self.folder / 'clamd.conf'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: port_open(self.clamd_port), timeout_s=60, what="clamd up")

    def clamd_stop(self) -> None:
        assert self.clamd is not None
        self.clamd.kill()
        self.clamd.wait(timeout=15)

    # --- The worker ---------------------------------------------------------------------

    def worker_start(self, *, wait: bool = True) -> None:
        log = self.folder / f"worker-{len(self.worker_logs)}.log"
        self.worker_logs.append(log)
        with log.open("w") as output:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "--app", "securedrive", "worker", "--beat",
                 "--schedule", str(self.folder / f"beat-{len(self.worker_logs)}"),
                 "--concurrency", "2", "--loglevel", "INFO", "--without-gossip",
                 "--without-mingle"],
                cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT, text=True,
                start_new_session=True,
            )  # fmt: skip
        if wait:
            self.worker_wait_ready()

    def worker_wait_ready(self) -> None:
        log = self.worker_logs[-1]
        wait_for(lambda: "ready." in log.read_text(), timeout_s=90, what="the worker ready")

    def worker_kill(self) -> None:
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)  # the worker, its pool and its beat
        self.worker.wait(timeout=15)

    def worker_running(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def worker_log(self) -> str:
        return self.worker_logs[-1].read_text() if self.worker_logs else ""

    # --- Files --------------------------------------------------------------------------

    def upload(self, name: str, *, segments: int = 40) -> str:
        """A new version, pending, its finalize task on its way to the worker."""
        assert self.seeder is not None
        assert self.seeder.stdin is not None
        assert self.seeder.stdout is not None
        self.seeder.stdin.write(f"{name} {segments}\n")
        self.seeder.stdin.flush()
        return str(self.seeder.stdout.readline().strip())

    def status(self, version_id: str) -> str:
        [(status,)] = self.sql(
            "SELECT scan_status FROM files_fileversion WHERE id = %s", version_id
        )
        return str(status)

    def verdicts(self, version_id: str) -> list[str]:
        return [
            str(status)
            for (status,) in self.sql(
                "SELECT details->>'status' FROM audit_auditevent"
                " WHERE action = 'files.version.scan' AND target_id = %s ORDER BY sequence",
                version_id,
            )
        ]

    def wait_scanning(self, version_id: str) -> None:
        wait_for(lambda: self.status(version_id) == "scanning", timeout_s=60, what="scanning")
        time.sleep(1.0)  # well inside the ~4 s scan

    def wait_judged(self, version_ids: list[str]) -> dict[str, str]:
        """Poll until every version has a final status; fail if one is ever available
        before its verdict event exists (what a download would then have served)."""
        final: dict[str, str] = {}

        def judged() -> bool:
            for version_id in version_ids:
                with contextlib.suppress(psycopg.OperationalError):  # PostgreSQL restarting
                    status = self.status(version_id)
                    if status == "available":
                        assert self.verdicts(version_id), f"{version_id} served unscanned"
                    if status not in ("pending", "scanning"):
                        final[version_id] = status
            return len(final) == len(version_ids)

        wait_for(judged, timeout_s=VERDICT_TIMEOUT_S, what=f"verdicts for {version_ids}")
        return final

    def stop_all(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, signal.SIGTERM)
        for process in (self.worker, self.seeder, self.redis, self.clamd):
            if process is not None and process.poll() is None:
                if process is not self.worker:
                    process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        with contextlib.suppress(subprocess.CalledProcessError):
            self.postgres("stop")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    folder = Path(tempfile.mkdtemp(prefix="securedrive-faults-"))
    folder.chmod(0o755)  # the postgres account reaches its data folder through it
    running = Stack(folder)
    try:
        running.redis_start()
        running.clamd_start()
        # The worker and the seeder start up while the database is made.
        running.worker_start(wait=False)
        running.seeder_start()
        running.postgres_init()
        running.migrate()
        running.seeder_wait_ready()
        running.worker_wait_ready()
        yield running
    finally:
        running.stop_all()
        shutil.rmtree(folder, ignore_errors=True)


def assert_one_verdict_each(stack: Stack, version_ids: list[str], status: str) -> None:
    assert stack.wait_judged(version_ids) == dict.fromkeys(version_ids, status)
    for version_id in version_ids:
        assert stack.verdicts(version_id) == [status]


def assert_worker_still_scanning(stack: Stack) -> None:
    assert stack.worker_running(), stack.worker_log()[-3000:]
    after = stack.upload("after-the-fault.dcm", segments=1)
    assert_one_verdict_each(stack, [after], "available")


def redis_restarting_in_the_middle_of_a_scan_leaves_the_worker_running(stack: Stack) -> None:
    version = stack.upload("redis-restart.dcm")
    stack.wait_scanning(version)
    stack.redis_stop()
    time.sleep(1.0)
    stack.redis_start()

    assert_one_verdict_each(stack, [version], "available")
    assert "Unrecoverable error" not in stack.worker_log()
    assert_worker_still_scanning(stack)


def a_worker_killed_in_the_middle_of_a_scan_is_taken_over_within_its_lease(
    stack: Stack,
) -> None:
    version, queued = stack.upload("kill-9.dcm"), stack.upload("queued-behind.dcm")
    stack.wait_scanning(version)
    stack.worker_kill()
    assert stack.status(version) == "scanning"  # the dead run's claim is left over

    stack.worker_start()  # what systemd or compose does; Redis keeps the message unacked
    started = time.monotonic()
    assert_one_verdict_each(stack, [version, queued], "available")
    # The lease (4 s) and the sweeper (every 2 s) bring it back, not Redis's visibility
    # timeout (an hour here, 6 hours in production): within the 5 minutes promised, which
    # a loaded machine keeps, where it did not always keep 60 s.
    assert time.monotonic() - started < 300
    assert_worker_still_scanning(stack)


def postgresql_restarting_in_the_middle_of_a_scan_is_retried_not_scan_failed(
    stack: Stack,
) -> None:
    version = stack.upload("postgres-restart.dcm")
    stack.wait_scanning(version)
    stack.postgres("restart")

    assert_one_verdict_each(stack, [version], "available")
    assert_worker_still_scanning(stack)


def clamd_stopping_in_the_middle_of_a_scan_keeps_files_waiting_until_it_is_back(
    stack: Stack,
) -> None:
    version = stack.upload("clamd-restart.dcm")
    stack.wait_scanning(version)
    stack.clamd_stop()
    waiting = stack.upload("while-clamd-is-down.dcm", segments=1)
    time.sleep(3.0)
    assert stack.status(version) in ("pending", "scanning")
    assert stack.status(waiting) in ("pending", "scanning")
    stack.clamd_start()

    assert_one_verdict_each(stack, [version, waiting], "available")
    assert_worker_still_scanning(stack)


FAULTS = [
    redis_restarting_in_the_middle_of_a_scan_leaves_the_worker_running,
    a_worker_killed_in_the_middle_of_a_scan_is_taken_over_within_its_lease,
    postgresql_restarting_in_the_middle_of_a_scan_is_retried_not_scan_failed,
    clamd_stopping_in_the_middle_of_a_scan_keeps_files_waiting_until_it_is_back,
]


def test_each_fault_in_the_middle_of_a_scan_ends_in_one_verdict_and_a_running_worker(
    stack: Stack, subtests: pytest.Subtests
) -> None:
    """One test item, one stack: the four stories share the ~30 s it takes to start
    and migrate it, whichever xdist worker runs them (``xdist_group`` is not honoured
    by pytest-xdist 3.8 on pytest 9.2, pytest-dev/pytest-xdist#1386). Each story is a
    subtest, reported on its own, and leaves the stack running for the next."""
    for fault in FAULTS:
        with subtests.test(fault.__name__.replace("_", " ")):
            fault(stack)
