"""1,000 parallel uploads on ``make run``: every file ends scanned, none lost, nothing down.

The check of issue #13 ("1,000 parallel uploads from 20 clients all end scanned, none
lost, nothing crashes"), run the way an operator runs the product:

* a fresh data folder (``SECUREDRIVE_DATA_DIR``) in a new folder under the temporary
  directory, mode 0755 as a web server's user would need;
* ``manage.py bootstrap --no-setup-link``, then ``manage.py supervise --procfile Procfile``:
  the real gunicorn web server and Celery worker (with beat) of ``make run``, on the
  embedded profile (SQLite, the SQLite broker, folder storage), scanning with the clamd
  given by ``--clamd`` (without one files stay pending by design, so it is required);
* one person and a personal access token (``write`` for the uploads, ``read`` for the
  final listing), made with ``manage.py shell -c`` against the same data folder;
* ``--uploads`` files (a few KiB each with distinct content, one in 50 of 1-4 MiB, two
  EICAR test files) sent by ``--clients`` threads at once over tus 1.0
  (``/api/v1/uploads/``): half with creation-with-upload (one POST), half with POST then
  PATCH (the bigger ones in 700 KiB PATCHes, so segments straddle requests);
* then a bounded wait (``--wait``) until every file has a verdict, read from the SQLite
  database opened read-only; then one listing through the API (``/api/v1/files/``).

Reported: uploads accepted and refused, HTTP answers by status, files available /
quarantined / pending, time to all uploaded and to all scanned, verdicts per second,
processes restarted (``<data dir>/run/processes.json``), errors in the processes' logs,
the web server's and the worker's CPU seconds (main + children, /proc) and peak RSS
(sum of VmHWM), ``/healthz`` at the end. Each accepted upload is checked against its
version: same name, same SHA-256 (recorded by the scan), one verdict event
(``files.version.scan``), the same status in the API listing; the space must hold
exactly the bytes sent and no reservation left.

    .venv/bin/python bench/embedded_uploads.py --clamd tcp://127.0.0.1:53310
    .venv/bin/python bench/embedded_uploads.py --uploads 200 --clients 5 --keep
    .venv/bin/python bench/embedded_uploads.py --kill-worker-after 20   # kill -9 mid-run

Runs from any folder. Prints a table, then as its last line one JSON object of the
figures. Exit status 0 when every upload was accepted and ended with its verdict (the
EICAR files quarantined, the others available) and no process died (but the one
``--kill-worker-after`` killed, restarted once); 1 if an upload was refused, lost or
stuck, a verdict is wrong or doubled, the API or the quota disagrees, or a process
died; 2 if no clamd answers.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from bench_support import (
    ROOT,
    embedded_env,
    free_port,
    process_tree,
    tree_cpu_seconds,
    tree_peak_mib,
)

KIB, MIB = 1024, 1024 * 1024
PATCH_BYTES = 700 * KIB  # not a multiple of the 1 MiB segment: carries between PATCHes
BIG_EVERY = 50
# Assembled at run time so that the repository never holds the EICAR string itself.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
WAITING = ("pending", "scanning")
ACCOUNT_SNIPPET = """
from accounts import tokens
from accounts.models import User
user = User.objects.create_user("bench-uploads@hopital.example", None, full_name="Bench")
_token, plaintext = tokens.token_create(
    actor=user, name="bench uploads", scopes=["read", "write"], expires_in_days=1
)
print("BENCH", user.pk, plaintext)
"""


def clamd_answers(address: str) -> bool:
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(b"zPING\0")
            return connection.recv(16).startswith(b"PONG")
    except (OSError, ValueError):
        return False


def product_env(data_dir: Path, port: int, clamd: str) -> dict[str, str]:
    """The environment of ``make run`` with only the data folder, port and clamd set."""
    return embedded_env(
        data_dir,
        {
            "SECUREDRIVE_BIND": f"127.0.0.1:{port}",
            "SECUREDRIVE_SITE_URL": f"http://127.0.0.1:{port}",
            "SECUREDRIVE_CLAMD_ADDRESS": clamd,
        },
        inherit=False,
        log_level=None,
    )


# --- Processes (/proc) ----------------------------------------------------------------------


def tree_kill(pid: int) -> None:
    for each in process_tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(each, signal.SIGKILL)


def processes_read(data_dir: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((data_dir / "run" / "processes.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}
    processes: dict[str, Any] = state.get("processes", {})
    return processes


# --- Uploads ---------------------------------------------------------------------------------


@dataclass
class Upload:
    index: int
    name: str
    body: bytes
    eicar: bool = False
    with_creation_body: bool = False
    sha256: str = ""
    accepted: bool = False
    error: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.body).hexdigest()


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)

    def count(self, status: str) -> None:
        with self.lock:
            self.statuses[status] += 1


def uploads_plan(count: int, seed: int) -> list[Upload]:
    chance = random.Random(seed)  # noqa: S311  (test data, reproducible)
    eicar_at = {count // 3, (2 * count) // 3} if count >= 3 else set()
    plan = []
    for index in range(count):
        if index in eicar_at:
            upload = Upload(index, f"eicar-{index:04d}.com", EICAR, eicar=True)
        else:
            size = (
                chance.randint(MIB, 4 * MIB)
                if index % BIG_EVERY == 7
                else chance.randint(1 * KIB, 8 * KIB)
            )
            head = f"bench upload {index} of {count}\n".encode()
            body = head + chance.randbytes(max(0, size - len(head)))
            upload = Upload(index, f"bench-{index:04d}.bin", body)
        upload.with_creation_body = index % 2 == 0
        plan.append(upload)
    return plan


def tus_send(session: requests.Session, base: str, upload: Upload, tally: Tally) -> None:
    """One upload as a tus client sends it; no retry, so every error shows."""
    started = time.perf_counter()
    length = len(upload.body)
    metadata = "filename " + base64.b64encode(upload.name.encode()).decode()
    headers = {"Upload-Length": str(length), "Upload-Metadata": metadata}
    try:
        if upload.with_creation_body:
            answer = session.post(
                f"{base}/api/v1/uploads/",
                data=upload.body,
                headers={**headers, "Content-Type": "application/offset+octet-stream"},
                timeout=300,
            )
            tally.count(f"POST {answer.status_code}")
            if answer.status_code != 201 or answer.headers.get("Upload-Offset") != str(length):
                upload.error = f"POST {answer.status_code} {answer.text[:120]}"
                return
        else:
            answer = session.post(f"{base}/api/v1/uploads/", headers=headers, timeout=300)
            tally.count(f"POST {answer.status_code}")
            if answer.status_code != 201:
                upload.error = f"POST {answer.status_code} {answer.text[:120]}"
                return
            location = answer.headers["Location"]
            if location.startswith("/"):
                location = base + location
            offset = 0
            while offset < length:
                chunk = upload.body[offset : offset + PATCH_BYTES]
                answer = session.patch(
                    location,
                    data=chunk,
                    headers={
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                    timeout=300,
                )
                tally.count(f"PATCH {answer.status_code}")
                if answer.status_code != 204:
                    upload.error = f"PATCH {answer.status_code} {answer.text[:120]}"
                    return
                offset = int(answer.headers["Upload-Offset"])
        upload.accepted = True
    except requests.RequestException as error:
        tally.count(f"connection error ({type(error).__name__})")
        upload.error = f"{type(error).__name__}: {error}"
    finally:
        upload.seconds = time.perf_counter() - started


# --- The database, read-only -----------------------------------------------------------------


def database_open(data_dir: Path) -> sqlite3.Connection:
    path = data_dir / "db" / "securedrive.sqlite3"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    connection.execute("PRAGMA query_only = 1")
    return connection


def status_counts(connection: sqlite3.Connection, user_id: int) -> dict[str, int]:
    rows = connection.execute(
        "SELECT v.scan_status, count(*) FROM files_fileversion v "
        "JOIN files_file f ON f.id = v.file_id WHERE f.created_by_id = ? "
        "GROUP BY v.scan_status",
        (user_id,),
    ).fetchall()
    return {str(status): int(count) for status, count in rows}


def versions_by_name(
    connection: sqlite3.Connection, user_id: int
) -> dict[str, list[tuple[Any, ...]]]:
    rows = connection.execute(
        "SELECT f.name, v.id, v.scan_status, v.sha256, v.scanned_at FROM files_fileversion v "
        "JOIN files_file f ON f.id = v.file_id WHERE f.created_by_id = ?",
        (user_id,),
    ).fetchall()
    found: dict[str, list[tuple[Any, ...]]] = collections.defaultdict(list)
    for name, *rest in rows:
        found[name].append(tuple(rest))
    return found


def verdict_events(connection: sqlite3.Connection) -> collections.Counter[str]:
    rows = connection.execute(
        "SELECT target_id FROM audit_auditevent WHERE action = 'files.version.scan'"
    ).fetchall()
    return collections.Counter(str(target).replace("-", "") for (target,) in rows)


def api_listing(base: str, token: str) -> dict[str, Any]:
    """What an integrator sees: the personal space (its reservations must be back to
    zero) and its root folder's files with their current version, in one listing."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    spaces = requests.get(f"{base}/api/v1/files/spaces/", headers=headers, timeout=60)
    spaces.raise_for_status()
    personal = next(space for space in spaces.json() if space["kind"] == "personal")
    folder = requests.get(
        f"{base}/api/v1/files/folders/{personal['root_folder']}/", headers=headers, timeout=120
    )
    folder.raise_for_status()
    return {
        "seconds": time.perf_counter() - started,
        "used_bytes": personal["used_bytes"],
        "reserved_bytes": personal["reserved_bytes"],
        "files": {item["name"]: item["current_version"] or {} for item in folder.json()["files"]},
    }


def when(stored: str) -> float:
    return dt.datetime.fromisoformat(stored).replace(tzinfo=dt.UTC).timestamp()


# --- The run ---------------------------------------------------------------------------------


def run_checked(command: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"{what} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def wait_until_up(base: str, data_dir: Path, supervisor: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if supervisor.poll() is not None:
            raise SystemExit(f"the supervisor exited ({supervisor.returncode})")
        processes = processes_read(data_dir)
        running = processes and all(p.get("running") for p in processes.values())
        try:
            up = requests.get(f"{base}/healthz", timeout=5).status_code == 200
        except requests.RequestException:
            up = False
        if running and up:
            return
        time.sleep(0.5)
    raise SystemExit("web server and worker not up within 120 s (see the log with --keep)")


def log_problems(log: Path, offset: int) -> tuple[collections.Counter[str], list[str]]:
    """Worrying lines the processes wrote after ``offset`` (start-up's 503s from /healthz,
    while the worker's first heartbeat is awaited, are left out)."""
    kinds: collections.Counter[str] = collections.Counter()
    first: list[str] = []
    markers = {
        "Traceback": "traceback",
        '" 500 ': "HTTP 500",
        "database is locked": "database is locked",
        "CRITICAL": "CRITICAL",
        " ERROR": "ERROR",
        "WARNING": "WARNING",
    }
    with log.open("rb") as file:
        file.seek(offset)
        text = file.read().decode(errors="replace")
    for line in text.splitlines():
        for marker, kind in markers.items():
            if marker in line:
                kinds[kind] += 1
                if kind != "WARNING" and len(first) < 8:
                    first.append(line[:200])
                break
    return kinds, first


def uploads_send(
    plan: list[Upload], clients: int, base: str, token: str, watch: Any
) -> tuple[Tally, float]:
    """Every upload of ``plan`` from ``clients`` threads started together; ``watch`` is
    called every half second meanwhile. Returns the HTTP answers and the wall time."""
    tally = Tally()
    sessions = threading.local()
    barrier = threading.Barrier(clients)

    def send(upload: Upload) -> None:
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
            sessions.session.headers.update(
                {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
            )
            barrier.wait()  # every client starts together
        tus_send(sessions.session, base, upload, tally)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(send, upload) for upload in plan]
        while not all(future.done() for future in futures):
            watch()
            time.sleep(0.5)
        for future in futures:
            future.result()
    return tally, time.perf_counter() - started


def measure(
    args: argparse.Namespace,
    plan: list[Upload],
    base: str,
    data_dir: Path,
    token: str,
    user_id: int,
    log: Path,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Send the uploads, wait for the verdicts, check each one; (figures, problems)."""
    log_offset = log.stat().st_size
    pids = {name: p["pid"] for name, p in processes_read(data_dir).items()}
    cpu_before = {name: tree_cpu_seconds(pid, reaped=True) for name, pid in pids.items()}
    database = database_open(data_dir)
    backlog = [0]

    def waiting() -> int:
        counts = status_counts(database, user_id)
        count = sum(counts.get(status, 0) for status in WAITING)
        backlog[0] = max(backlog[0], count)
        return count

    started_at = time.time()
    if args.kill_worker_after:
        killer = threading.Timer(args.kill_worker_after, tree_kill, (pids["worker"],))
        killer.daemon = True
        killer.start()
    tally, uploaded_s = uploads_send(plan, args.clients, base, token, waiting)
    deadline = time.monotonic() + args.wait
    while waiting() and time.monotonic() < deadline:
        time.sleep(0.2)
    scanned_s = time.time() - started_at
    # After --kill-worker-after the restarted worker is measured from its start.
    now_pids = {name: p["pid"] for name, p in processes_read(data_dir).items() if p["pid"]}
    cpu_s = {
        name: tree_cpu_seconds(pid, reaped=True) - (cpu_before[name] if pid == pids[name] else 0.0)
        for name, pid in now_pids.items()
    }
    peak_rss = {name: tree_peak_mib(pid) for name, pid in now_pids.items()}
    try:
        health_status = requests.get(f"{base}/healthz", timeout=10).status_code
    except requests.RequestException:
        health_status = 0
    processes = processes_read(data_dir)
    listing = api_listing(base, token)
    found = versions_by_name(database, user_id)
    events = verdict_events(database)
    final = status_counts(database, user_id)
    database.close()
    broker = sqlite3.connect(f"file:{data_dir / 'broker' / 'messages.sqlite3'}?mode=ro", uri=True)
    (messages_left,) = broker.execute("SELECT count(*) FROM message").fetchone()
    broker.close()

    accepted = [upload for upload in plan if upload.accepted]
    problems: dict[str, list[str]] = collections.defaultdict(list)
    problems["refused"] = [f"{u.name}: {u.error}" for u in plan if not u.accepted]
    scanned_times = []
    for upload in accepted:
        versions = found.get(upload.name, [])
        if len(versions) != 1:
            problems["lost"].append(f"{upload.name}: {len(versions)} versions")
            continue
        version_id, status, sha256, scanned_at = versions[0]
        if status in WAITING:
            problems["stuck"].append(f"{upload.name}: {status}")
            continue
        scanned_times.append(when(scanned_at))
        expected = "quarantined" if upload.eicar else "available"
        if status != expected or sha256 != upload.sha256:
            same = "same" if sha256 == upload.sha256 else "different"
            problems["wrong"].append(f"{upload.name}: {status}, {same} SHA-256")
        shown = listing["files"].get(upload.name, {})
        if shown.get("scan_status") != status or shown.get("sha256") != sha256:
            problems["API"].append(f"{upload.name}: API {shown.get('scan_status')}, db {status}")
        verdicts = events[str(version_id).replace("-", "")]
        if verdicts != 1:
            problems["doubled"].append(f"{upload.name}: {verdicts} verdict events")
    bytes_accepted = sum(len(upload.body) for upload in accepted)
    if listing["reserved_bytes"] or listing["used_bytes"] != bytes_accepted:
        problems["space"].append(
            f"used {listing['used_bytes']} (sent {bytes_accepted}), "
            f"reserved {listing['reserved_bytes']}"
        )
    for name, process in processes.items():
        expected_restarts = 1 if name == "worker" and args.kill_worker_after else 0
        if process.get("restarts") != expected_restarts or not process.get("running"):
            problems["processes"].append(f"{name}: {json.dumps(process)}")
    log_kinds, problems["log"] = log_problems(log, log_offset)

    uploads_done_at = started_at + uploaded_s
    after = [moment for moment in scanned_times if moment > uploads_done_at]
    after_s = max(after) - uploads_done_at if after else 0.0
    window_s = max(scanned_times) - min(scanned_times) if len(scanned_times) > 1 else 0.0
    others = sum(v for k, v in final.items() if k not in ("available", "quarantined", *WAITING))
    figures: dict[str, Any] = {
        "uploads": len(plan),
        "clients": args.clients,
        "cpu_count": os.cpu_count(),
        "uploads_accepted": len(accepted),
        "uploads_refused": len(plan) - len(accepted),
        "bytes_accepted": bytes_accepted,
        "http_answers": dict(sorted(tally.statuses.items())),
        "http_errors": {
            k: v for k, v in sorted(tally.statuses.items()) if not k.endswith((" 201", " 204"))
        },
        "files_available": final.get("available", 0),
        "files_quarantined": final.get("quarantined", 0),
        "files_pending": final.get("pending", 0) + final.get("scanning", 0),
        "files_other_status": others,
        "files_lost": len(problems["lost"]),
        "verdicts_wrong": len(problems["wrong"]),
        "verdicts_doubled": len(problems["doubled"]),
        "all_uploaded_s": round(uploaded_s, 2),
        "uploads_per_s": round(len(accepted) / uploaded_s, 1),
        "all_scanned_s": None if problems["stuck"] else round(scanned_s, 2),
        "backlog_peak": backlog[0],
        "verdicts_per_s": round(len(scanned_times) / window_s, 1) if window_s else None,
        "verdicts_after_uploads": len(after),
        "verdicts_after_uploads_s": round(after_s, 2),
        "verdicts_per_s_after_uploads": round(len(after) / after_s, 1) if after_s else None,
        "api_listing_files": len(listing["files"]),
        "api_listing_s": round(listing["seconds"], 3),
        "api_disagrees": len(problems["API"]),
        "space_used_bytes": listing["used_bytes"],
        "space_reserved_bytes": listing["reserved_bytes"],
        "broker_messages_left": messages_left,
        "processes_restarted": {n: p.get("restarts", 0) for n, p in processes.items()},
        "web_cpu_s": round(cpu_s["web"], 2),
        "worker_cpu_s": round(cpu_s["worker"], 2),
        "web_peak_rss_mib": round(peak_rss["web"]),
        "worker_peak_rss_mib": round(peak_rss["worker"]),
        "log_lines": dict(sorted(log_kinds.items())),
        "healthz_status": health_status,
        "wait_s": args.wait,
        "worker_killed_after_s": args.kill_worker_after or None,
        "started_at": dt.datetime.fromtimestamp(started_at, dt.UTC).isoformat(timespec="seconds"),
    }
    return figures, {kind: items for kind, items in problems.items() if items}


def table_print(figures: dict[str, Any], problems: dict[str, list[str]]) -> None:
    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{key}: {value}" for key, value in counts.items()) or "none"

    f = figures
    scanned = f"{f['all_scanned_s']:.1f}" if f["all_scanned_s"] else f"NOT in {f['wait_s']:.0f}"
    per_s = f"{f['verdicts_per_s']}" if f["verdicts_per_s"] else "-"
    drained = (
        f"{f['verdicts_per_s_after_uploads']} ({f['verdicts_after_uploads']} in "
        f"{f['verdicts_after_uploads_s']:.1f} s)"
    )
    rows = [
        ("uploads sent / accepted", f"{f['uploads']} / {f['uploads_accepted']}"),
        ("clients (threads, one token, 127.0.0.1)", f"{f['clients']}"),
        ("bytes accepted, MiB", f"{f['bytes_accepted'] / MIB:.1f}"),
        ("HTTP answers", listed(f["http_answers"])),
        ("HTTP errors", listed(f["http_errors"])),
        ("files available / quarantined", f"{f['files_available']} / {f['files_quarantined']}"),
        ("files pending / other status", f"{f['files_pending']} / {f['files_other_status']}"),
        ("lost / wrong verdict / doubled verdict",
         f"{f['files_lost']} / {f['verdicts_wrong']} / {f['verdicts_doubled']}"),
        ("time to all uploaded, s", f"{f['all_uploaded_s']:.1f}"),
        ("uploads/s", f"{f['uploads_per_s']}"),
        ("time to all scanned, s", scanned),
        ("backlog peak (pending + scanning)", f"{f['backlog_peak']}"),
        ("verdicts/s, first to last verdict", per_s),
        ("verdicts/s after the last upload", drained),
        ("API listing: files / s / disagreeing",
         f"{f['api_listing_files']} / {f['api_listing_s']:.2f} / {f['api_disagrees']}"),
        ("API space: used MiB / reserved bytes",
         f"{f['space_used_bytes'] / MIB:.1f} / {f['space_reserved_bytes']}"),
        ("broker messages left", f"{f['broker_messages_left']}"),
        ("processes restarted", listed(f["processes_restarted"])),
        ("web: CPU s / peak RSS MiB", f"{f['web_cpu_s']:.1f} / {f['web_peak_rss_mib']}"),
        ("worker: CPU s / peak RSS MiB", f"{f['worker_cpu_s']:.1f} / {f['worker_peak_rss_mib']}"),
        ("log lines after start-up", listed(f["log_lines"])),
        ("/healthz", f"{f['healthz_status']}"),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    print(f"embedded_uploads: {f['uploads']} tus uploads on make run's processes")
    for label, value in rows:
        print(f"{label:{width}}  {value}")
    for kind, items in problems.items():
        for item in items[:5]:
            print(f"  {kind}: {item}")
        if len(items) > 5:
            print(f"  {kind}: ... {len(items) - 5} more")
    verdict = "PASS (none lost, none stuck, no process down)" if f["passed"] else "FAIL"
    print(f"verdict: {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--clamd",
        default=os.environ.get("SECUREDRIVE_TEST_CLAMD_ADDRESS", "tcp://127.0.0.1:53310"),
        help="clamd address (tcp://host:port); required: without it files stay pending",
    )
    parser.add_argument("--wait", type=float, default=300.0, help="seconds for the verdicts")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--kill-worker-after",
        type=float,
        default=0.0,
        help="SIGKILL the worker (main and pool) this many seconds after the uploads start; "
        "the supervisor must restart it and every file must still end with one verdict",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder and log")
    args = parser.parse_args()
    args.clients = max(1, min(args.clients, args.uploads))
    if not clamd_answers(args.clamd):
        print(f"no clamd answers at {args.clamd}: pass --clamd tcp://HOST:PORT", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="securedrive-bench-uploads-"))
    work.chmod(0o755)  # a web server's user could enter, as under make run
    data_dir = work / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = product_env(data_dir, port, args.clamd)
    python = str(ROOT / ".venv" / "bin" / "python")
    log = work / "supervise.log"

    run_checked([python, "manage.py", "bootstrap", "--no-setup-link"], env, "bootstrap")
    shell = run_checked([python, "manage.py", "shell", "-c", ACCOUNT_SNIPPET], env, "token")
    _, user_id, token = next(
        line for line in shell.splitlines() if line.startswith("BENCH ")
    ).split()

    plan = uploads_plan(args.uploads, args.seed)
    supervisor = subprocess.Popen(
        [python, "manage.py", "supervise", "--procfile", str(ROOT / "Procfile")],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    figures: dict[str, Any] = {}
    try:
        wait_until_up(base, data_dir, supervisor)
        figures, problems = measure(args, plan, base, data_dir, token, int(user_id), log)
        if supervisor.poll() is not None:
            problems["supervisor"] = [f"exited ({supervisor.returncode})"]
        figures["passed"] = not any(problems.values())
        table_print(figures, problems)
    finally:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
            try:
                supervisor.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(supervisor.pid, signal.SIGKILL)
                supervisor.wait()
        if args.keep or not figures:
            print(f"data folder and log kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
