"""What the bench scripts need alike, defined once: an embedded SecureDrive in a temporary
folder, the check that a bench's database is on loopback, starting and stopping the
processes a bench compares (gunicorn, a Celery worker, a private clamd, py-spy), and their
CPU and memory read from /proc.

The scripts import it as a sibling module: ``python bench/X.py``, from any folder, puts
bench/ first on ``sys.path``. Importing it puts the project root on ``sys.path`` too, so a
script can import the project's modules (Django apps, ``tests.*``) after it; do that
inside functions, or after this import, never before it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Never inherited by an embedded SecureDrive: a bench's data stays in its own folder.
_NOT_INHERITED = (
    "DATABASE_URL",
    "SECUREDRIVE_REDIS_URL",
    "SECUREDRIVE_EMAIL_URL",
    "SECUREDRIVE_STORAGE_DIR",
)


# --- An embedded SecureDrive ------------------------------------------------------------------


def embedded_env(
    data_dir: Path,
    settings: Mapping[str, str] | None = None,
    *,
    inherit: bool,
    log_level: str | None = "WARNING",
) -> dict[str, str]:
    """The environment of an embedded SecureDrive (SQLite, folder broker and storage) whose
    data lives in ``data_dir``: this process's environment without any database, Redis,
    e-mail or storage location, plus ``settings``.

    ``inherit``: keep the caller's other ``SECUREDRIVE_*``/``DJANGO_*`` variables (a bench
    one may tune from the shell, e.g. ``SECUREDRIVE_WEB_THREADS``); False drops them all,
    so that only ``settings`` differ from the product's defaults. ``log_level``: the
    processes' ``SECUREDRIVE_LOG_LEVEL`` (None: the product's own, as ``make run``)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if inherit or not name.startswith(("SECUREDRIVE_", "DJANGO_"))
    }
    for name in _NOT_INHERITED:
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "securedrive.settings",
            "SECUREDRIVE_PROFILE": "embedded",
            "SECUREDRIVE_DATA_DIR": str(data_dir),
        }
    )
    if log_level is not None:
        env["SECUREDRIVE_LOG_LEVEL"] = log_level
    env.update(settings or {})
    return env


def django_setup(env: Mapping[str, str]) -> None:
    """Make ``env`` (see ``embedded_env``) this process's whole environment, set Django up
    and migrate its database."""
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def finalize_timed(version_id: Any) -> float:
    """Seconds ``files.services.version_finalize`` takes on a stored version put back to
    pending (what a worker runs: decrypt, SHA-256, libmagic, clamd, verdict, audit), in
    this process; exits with status 1 unless the verdict is "available"."""
    from files import services
    from files.models import FileVersion, ScanStatus

    FileVersion.objects.filter(pk=version_id).update(
        scan_status=ScanStatus.PENDING, scanned_at=None
    )
    started = time.perf_counter()
    status = services.version_finalize(version_id=version_id)
    elapsed = time.perf_counter() - started
    if status != ScanStatus.AVAILABLE:
        print(f"finalize verdict {status!r}, expected available", file=sys.stderr)
        raise SystemExit(1)
    return elapsed


# --- A database of the bench's own ----------------------------------------------------------


def database_url_check(
    parser: argparse.ArgumentParser, url: str, *, allow_sqlite: bool | None = None
) -> dict[str, Any]:
    """Django's configuration of the database at ``url``; refused through ``parser``
    (exit status 2) unless it is PostgreSQL on loopback: benches never talk to a server
    over the network. ``allow_sqlite``: the bench's ``--allow-sqlite`` (None: it has no
    such option), which accepts SQLite too."""
    import environ

    config: dict[str, Any] = environ.Env.db_url_config(url)
    engine = str(config.get("ENGINE", ""))
    if engine.endswith("sqlite3") and allow_sqlite is not None:
        if not allow_sqlite:
            parser.error(
                "the database URL is SQLite: this bench measures PostgreSQL "
                "(pass --allow-sqlite to run it on SQLite anyway)"
            )
        return config
    if "postgresql" not in engine and "postgis" not in engine:
        parser.error(f"unsupported database engine {engine!r}: PostgreSQL expected")
    host = unquote(str(config.get("HOST", "")))
    if not is_loopback(host):
        parser.error(f"database host {host!r} is not loopback: benches run on loopback only")
    return config


def is_loopback(host: str) -> bool:
    """Whether a database host is this machine: a loopback address, ``localhost``, or a
    Unix socket (no host, or a path)."""
    if host in ("", "localhost") or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- Processes ----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 (for a server the bench starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[Any], what: str, *, timeout_s: float = 30.0
) -> None:
    """Return once ``process`` accepts connections on 127.0.0.1:``port``; exit the bench
    (the process killed) if it exits first or is not listening within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                message = f"{what} did not start (see the logs in the temporary folder)"
                raise SystemExit(message) from None
            time.sleep(0.05)


def stop(
    process: subprocess.Popen[Any], sig: int = signal.SIGTERM, *, timeout_s: float = 30.0
) -> None:
    """Send ``sig`` to a process still running and reap it; SIGKILL after ``timeout_s``."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Gunicorn:
    """SecureDrive's web server as production runs it (``securedrive/gunicorn.conf.py``:
    gthread) on a free loopback port, its log in the bench's folder."""

    process: subprocess.Popen[bytes]
    port: int

    #: "gunicorn" (the product's server) or "granian" (its WSGI mode, evaluated for
    #: issue #18 with ``bench/download.py --server granian``; granian must be importable).
    server = "gunicorn"

    @classmethod
    def start(cls, work: Path, env: dict[str, str], *, workers: int | None = None) -> Gunicorn:
        port = free_port()
        run_env = dict(env)
        if workers is not None:
            run_env["SECUREDRIVE_WEB_WORKERS"] = str(workers)
        command = [
            str(Path(sys.executable).parent / "gunicorn"),
            "--config",
            str(ROOT / "securedrive" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "/dev/null",
            "securedrive.wsgi:application",
        ]
        if cls.server == "granian":
            command = [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                run_env.get("SECUREDRIVE_WEB_WORKERS", "2"),
                "--blocking-threads",
                run_env.get("SECUREDRIVE_WEB_THREADS", "8"),
                "--no-ws",
                "securedrive.wsgi:application",
            ]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=run_env,
            stdout=subprocess.DEVNULL,
            stderr=(work / "gunicorn.log").open("ab"),
        )
        wait_for_port(port, process, "gunicorn")
        return cls(process, port)

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def worker_peak_mib(self) -> float:
        """The highest VmHWM among the workers (the one that served the request)."""
        return max(peak_mib(pid) for pid in self.workers())


def celery_worker(
    env: Mapping[str, str], options: list[str], stderr: IO[bytes]
) -> subprocess.Popen[bytes]:
    """A Celery worker of the project's app (``celery --app securedrive worker``, as the
    Procfile starts it) with ``options`` (pool, concurrency, ...), from the project root,
    logging warnings and worse to ``stderr``. Gossip and mingle are off: one worker."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "--app",
            "securedrive",
            "worker",
            *options,
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def clamd_start(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A clamd of the bench's own on a free loopback port, with the repository's test
    signatures and production's limits (docker-compose.yml); its process and address.
    Exits with status 2 when clamd is not installed."""
    program = shutil.which("clamd") or "/usr/sbin/clamd"
    if not Path(program).exists():
        raise SystemExit(2)
    database = folder / "clamav-db"
    database.mkdir()
    for signatures in (ROOT / "tests" / "clamav").glob("*.ndb"):
        shutil.copy(signatures, database)
    port = free_port()
    (folder / "clamd.conf").write_text(
        f"TCPSocket {port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {database}\n"
        f"TemporaryDirectory {folder}\nForeground yes\nStreamMaxLength 4000M\n"
        "MaxFileSize 4000M\nMaxScanSize 4000M\nMaxScanTime 600000\nAlertExceedsMax yes\n"
        # No cache of clean results: it is keyed by the content's hash, so a run that
        # scans the same content twice (a whole ZIP, then its members; repeated runs)
        # would time cache hits.
        "MaxThreads 2\nDisableCache yes\n"
    )
    process = subprocess.Popen(
        [program, f"--config-file={folder / 'clamd.conf'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, process, "the private clamd", timeout_s=60)
    return process, f"tcp://127.0.0.1:{port}"


class Profiler:
    """py-spy sampling one process (``--py-spy FILE``): collapsed stacks of its threads,
    sampled without pausing it (``--native`` pauses it at every sample and distorted the
    figures), for the breakdown in bench/README.md. Install with ``pip install py-spy``."""

    def __init__(self, pid: int, output: str) -> None:
        binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.process = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "100",
                "--threads",
                "--nonblocking",
                "--output",
                output,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # attached before the timed runs start

    def stop(self) -> None:
        stop(self.process, signal.SIGINT, timeout_s=60)


# --- CPU and memory, from /proc ----------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` first, then its live descendants (a server's master and workers, a Celery
    worker's pool), found through every thread's ``children`` file."""
    pids, pending = [pid], [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            pids.extend(children)
            pending.extend(children)
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes (all their threads) have used so far
    (/proc/<pid>/stat fields 14-15), those gone meanwhile left out: a figure that, unlike
    wall time, other work on a shared machine barely inflates."""
    return _cpu_ticks(pids, reaped=False) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """``cpu_seconds`` of ``pid`` and its live descendants (``process_tree``). ``reaped``:
    add what the children ``pid`` has reaped used (fields 16-17), so that pool processes
    replaced meanwhile still count."""
    return _cpu_ticks(process_tree(pid), reaped=reaped) / os.sysconf("SC_CLK_TCK")


PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread


def kernel_threads_cpu_seconds() -> float:
    """User + system CPU time of every kernel thread so far (kworkers writing dirty
    pages back, ksoftirqd, the journal): work a server's writes cause that no process of
    its own pays for. nginx's PUT leaves its pages to the flusher threads; a server that
    starts writeback itself (``sync_file_range``) pays it in its own figure. Other work on
    the machine lands here too: read it on a quiet machine only."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[6]) & PF_KTHREAD:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pids: list[int], *, reaped: bool) -> int:
    ticks = 0
    for index, pid in enumerate(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
        if reaped and index == 0:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks


def peak_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def tree_peak_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of ``pid`` and each live descendant, summed, in
    MiB: what a worker and its pool held at most (each at its own moment)."""
    total = 0.0
    for each in process_tree(pid):
        try:
            total += peak_mib(each)
        except (OSError, RuntimeError):
            continue  # gone meanwhile, or a zombie
    return total


def one_core_mb_per_s(cpu_s_per_gib: float) -> float:
    """What a server costing ``cpu_s_per_gib`` can send with one core to itself."""
    return 2**30 / cpu_s_per_gib / 1e6 if cpu_s_per_gib else float("inf")
