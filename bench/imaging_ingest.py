"""C-STORE ingest of one CT study: SecureDrive's receiver vs Orthanc, same run.

This is issue #16's ``bench/imaging.py`` (named ``imaging_ingest.py``: a
``bench/imaging.py`` would shadow the ``imaging`` app for mypy and for imports).

dcmtk's ``storescu`` sends the same study (``tests/dicom_factory.py``, uncompressed,
``--instances`` slices of ``--rows`` x ``--rows``) over one association to:

* **SecureDrive**, as production runs it: the receiver of ``imaging/dimse.py`` in this
  process answers each C-STORE once the instance is encrypted, filed and committed (its
  ``files.file.upload`` audit event included); a real Celery worker (``celery --app
  securedrive worker --concurrency 2``, as the Procfile, a separate process) scans each
  version with clamd, records its verdict (``files.version.scan`` event) and indexes its
  headers, overlapping the next instances. **The clock stops only when every instance
  is scanned clean and indexed** (the bench polls the database), so scanning and
  indexing are counted. ``--pipeline inline`` instead runs them in the receiver before
  each C-STORE response (Celery eager: the serial worst case).
* **Orthanc** (Debian ``orthanc``, a fresh temporary storage per run): the clock stops
  when storescu returns (Orthanc writes and indexes each instance before answering).

After each SecureDrive run the bench checks every invariant it can see: every instance
landed, scanned ``available``, indexed, one upload and one scan audit event per
instance, and no stored blob holds a plaintext byte run of the study (ciphertext only).

Runs alternate (SecureDrive, Orthanc, ...) after one untimed warm-up of SecureDrive;
fresh folder / fresh Orthanc each time; figures are medians with min-max. Target (issue
#16): SecureDrive within 2x Orthanc's time. Also printed: CPU seconds of each side
(SecureDrive: receiver process + worker tree; Orthanc: its process), and peak RSS
(VmHWM). Database: the embedded SQLite by default, or ``--database-url`` a PostgreSQL
server on loopback, where the bench creates a database of its own (refused if it
exists) and drops it at the end.

    set -a; . /work/wt/<you>.env; set +a     # a clamd address
    .venv/bin/python bench/imaging_ingest.py --instances 300 --repeats 3
    .venv/bin/python bench/imaging_ingest.py --database-url \\
        postgres://securedrive:...@127.0.0.1:55432/sd_bench_imaging

Prints a table, then as its last line one JSON object. Exit status 0 whatever the
figures; 1 if an invariant fails (an instance missing, not scanned, not indexed, not
audited, or plaintext found at rest); 2 without storescu, Orthanc or clamd.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench_support import (
    ROOT,
    celery_worker,
    django_setup,
    embedded_env,
    free_port,
    stop,
    tree_cpu_seconds,
    tree_peak_mib,
)

WAIT_LIMIT_S = 900.0

GENERATE = """
import sys
from pathlib import Path
from pydicom.uid import ExplicitVRLittleEndian
sys.path.insert(0, {root!r})
from tests.dicom_factory import ct_study
count, rows, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
third = count // 3
study = ct_study(instances_per_series=(count - 2 * third, third, third),
                 transfer_syntaxes=(ExplicitVRLittleEndian,) * 3, rows=rows, columns=rows)
for instance in study.instances:
    path = out / instance.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(instance.data)
"""


def bench_env(data_dir: Path, clamd: str, database_url: str) -> dict[str, str]:
    settings = {"SECUREDRIVE_CLAMD_ADDRESS": clamd, "PYTHONPATH": str(ROOT)}
    if database_url:
        settings["DATABASE_URL"] = database_url
    return embedded_env(data_dir, settings, inherit=False)


def pg_database(url: str, *, create: bool) -> None:
    """Create (refusing an existing one) or drop the bench's own database."""
    import psycopg

    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "::1", "localhost"):
        raise SystemExit("--database-url must be a loopback server")
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit("--database-url: a plain database name, please")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        if create:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
            if exists:
                raise SystemExit(f"database {name!r} exists: the bench makes its own")
            connection.execute(f'CREATE DATABASE "{name}"')
        else:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipeline", choices=("worker", "inline"), default="worker")
    parser.add_argument("--database-url", default="", help="PostgreSQL on loopback")
    parser.add_argument("--clamd", default=os.environ.get("SECUREDRIVE_TEST_CLAMD_ADDRESS", ""))
    args = parser.parse_args()
    if not args.clamd or not shutil.which("storescu") or not shutil.which("Orthanc"):
        print("needs --clamd, dcmtk's storescu and Orthanc", file=sys.stderr)
        return 2
    if args.database_url:
        pg_database(args.database_url, create=True)
    worker: subprocess.Popen[bytes] | None = None
    results: dict[str, Any] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="securedrive-bench-imaging-") as scratch:
            root = Path(scratch)
            study_dir = root / "study"
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    GENERATE.format(root=str(ROOT)),
                    str(args.instances),
                    str(args.rows),
                    str(study_dir),
                ],
                check=True,
            )
            files = sorted(study_dir.rglob("*.dcm"))
            study_bytes = sum(path.stat().st_size for path in files)
            env = bench_env(root / "data", args.clamd, args.database_url)
            django_setup(env)
            from securedrive.celery import app

            app.conf.task_always_eager = args.pipeline == "inline"
            if args.pipeline == "worker":
                worker = celery_worker(
                    env, ["--concurrency", "2"], (root / "worker.log").open("wb")
                )
            bench = Bench(args, files, root, worker)
            if bench.run(files[:20]) is None:  # warm-up: imports, worker pool, clamd
                return 1
            results = bench.alternate()
    finally:
        if worker is not None:
            stop(worker)
        if args.database_url:
            from django.db import connections

            connections.close_all()
            pg_database(args.database_url, create=False)
    if results is None:
        return 1
    return report(args, files, study_bytes, results)


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        files: list[Path],
        root: Path,
        worker: subprocess.Popen[bytes] | None,
    ) -> None:
        from accounts.models import User
        from files import services

        self.args, self.files, self.root, self.worker = args, files, root, worker
        self.owner = User.objects.create_user("bench@hopital.example", "bench password 42 xyz")
        self.space_root = services.space_root(
            services.space_personal_get_or_create(user=self.owner)
        )
        self.runs = 0
        # A few plaintext byte runs of the study, looked for in the storage afterwards.
        self.needles = [path.read_bytes()[132:164] for path in files[:: max(1, len(files) // 8)]]

    def run(self, files: list[Path]) -> dict[str, float] | None:
        """One SecureDrive run; its figures, or None if an invariant failed."""
        from audit.actions import Action
        from audit.models import AuditEvent
        from files import services
        from files.models import File, FileVersion, ScanStatus
        from imaging.dimse import Receiver, ReceiverConfig, destination_resolve, peers_parse
        from imaging.models import Instance
        from tests.imaging_peers import storescu

        self.runs += 1
        expected = len(files)
        folder = services.folder_create(
            actor=self.owner, parent=self.space_root, name=f"Run {self.runs}"
        )
        config = ReceiverConfig.from_settings(
            host="127.0.0.1",
            port=free_port(),
            ae_title="SECUREDRIVE",
            peers=peers_parse(["BENCH_CT"]),
            owner_email=self.owner.email,
            folder_id=folder.pk,
        )
        server = Receiver(config=config, destination=destination_resolve(config)).start(block=False)
        landed = File.objects.filter(folder__parent__parent=folder)
        versions = FileVersion.objects.filter(file__in=landed)
        receiver_before = self_cpu_s()
        worker_before = tree_cpu_seconds(self.worker.pid) if self.worker else 0.0
        start = time.perf_counter()
        sent = storescu(port=config.port, files=files, calling_ae="BENCH_CT")
        answered = time.perf_counter() - start
        server.shutdown()
        # The clock runs on until every instance is scanned and indexed.
        deadline = time.monotonic() + WAIT_LIMIT_S
        while True:
            scanned = versions.filter(scan_status=ScanStatus.AVAILABLE).count()
            indexed = Instance.objects.filter(file__in=landed).count()
            judged_otherwise = versions.exclude(
                scan_status__in=(ScanStatus.AVAILABLE, ScanStatus.PENDING, ScanStatus.SCANNING)
            ).count()
            if (scanned == indexed == expected) or judged_otherwise:
                break
            if time.monotonic() > deadline or sent.returncode != 0:
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        receiver_cpu = self_cpu_s() - receiver_before
        worker_cpu = (tree_cpu_seconds(self.worker.pid) if self.worker else 0.0) - worker_before
        file_ids = [str(pk) for pk in landed.values_list("pk", flat=True)]
        version_ids = [str(pk) for pk in versions.values_list("pk", flat=True)]
        uploads = AuditEvent.objects.filter(
            action=Action.FILES_FILE_UPLOAD, target_id__in=file_ids
        ).count()
        scans = AuditEvent.objects.filter(
            action=Action.FILES_VERSION_SCAN, target_id__in=version_ids, outcome="success"
        ).count()
        problems = []
        if sent.returncode != 0:
            problems.append(f"storescu failed: {sent.stderr[-300:]}")
        if not scanned == indexed == expected:
            problems.append(f"{scanned} scanned, {indexed} indexed of {expected}")
        if not uploads == scans == expected:
            problems.append(f"{uploads} upload and {scans} scan audit events for {expected}")
        plaintext = self.plaintext_at_rest()
        if plaintext:
            problems.append(f"plaintext of the study found in {plaintext}")
        if problems:
            print(f"SecureDrive run {self.runs}: " + "; ".join(problems), file=sys.stderr)
            return None
        return {
            "s": elapsed,
            "answered_s": answered,
            "cpu_s": receiver_cpu + worker_cpu,
            "receiver_cpu_s": receiver_cpu,
            "worker_cpu_s": worker_cpu,
        }

    def plaintext_at_rest(self) -> str:
        from django.conf import settings

        for path in Path(settings.STORAGE_DIR).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if any(needle in data for needle in self.needles):
                    return str(path)
        return ""

    def orthanc(self, run: int) -> dict[str, float] | None:
        from tests.imaging_peers import orthanc_running, storescu

        with orthanc_running(self.root / f"orthanc-{run}", modalities={}) as orthanc:
            pid = orthanc.process.pid
            cpu_before = tree_cpu_seconds(pid)
            start = time.perf_counter()
            sent = storescu(
                port=orthanc.dicom_port,
                files=self.files,
                calling_ae="BENCH_CT",
                called_ae="ORTHANC",
            )
            elapsed = time.perf_counter() - start
            cpu = tree_cpu_seconds(pid) - cpu_before
            count = len(orthanc.get("/instances"))
            rss = tree_peak_mib(pid)
        shutil.rmtree(self.root / f"orthanc-{run}", ignore_errors=True)
        if sent.returncode != 0 or count != len(self.files):
            print(f"Orthanc run {run}: {count} of {len(self.files)}", file=sys.stderr)
            return None
        return {"s": elapsed, "cpu_s": cpu, "rss_mib": rss}

    def alternate(self) -> dict[str, Any] | None:
        ours: list[dict[str, float]] = []
        theirs: list[dict[str, float]] = []
        for run in range(self.args.repeats):
            mine = self.run(self.files)
            other = self.orthanc(run)
            if mine is None or other is None:
                return None
            ours.append(mine)
            theirs.append(other)
        receiver_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        worker_rss = tree_peak_mib(self.worker.pid) if self.worker else 0.0
        return {
            "ours": ours,
            "theirs": theirs,
            "receiver_rss_mib": receiver_rss,
            "worker_rss_mib": worker_rss,
        }


def report(
    args: argparse.Namespace, files: list[Path], study_bytes: int, results: dict[str, Any]
) -> int:
    ours = [run["s"] for run in results["ours"]]
    answered = [run["answered_s"] for run in results["ours"]]
    ours_cpu = [run["cpu_s"] for run in results["ours"]]
    theirs = [run["s"] for run in results["theirs"]]
    theirs_cpu = [run["cpu_s"] for run in results["theirs"]]
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    ratio = ours_s / theirs_s
    ratios = [mine / other for mine, other in zip(ours, theirs, strict=True)]
    cpu_ratio = statistics.median(ours_cpu) / statistics.median(theirs_cpu)
    database = "PostgreSQL" if args.database_url else "SQLite (embedded)"
    count = len(files)
    print(
        f"study: {count} instances, {study_bytes / 1e6:.1f} MB, {args.rows}x{args.rows}; "
        f"pipeline {args.pipeline}; database {database}; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':46}{'median s':>9}{'min-max':>13}{'inst/s':>8}{'CPU s':>8}")
    print(
        f"{'SecureDrive, until all scanned + indexed':46}{ours_s:9.2f}{span(ours):>13}"
        f"{count / ours_s:8.0f}{statistics.median(ours_cpu):8.2f}"
    )
    receiver_cpu = statistics.median(run["receiver_cpu_s"] for run in results["ours"])
    worker_cpu = statistics.median(run["worker_cpu_s"] for run in results["ours"])
    print(
        f"{'  storescu had its last answer after':46}{statistics.median(answered):9.2f}"
        f"{'':29}receiver {receiver_cpu:.2f} + worker {worker_cpu:.2f}"
    )
    print(
        f"{'Orthanc, storescu returned':46}{theirs_s:9.2f}{span(theirs):>13}"
        f"{count / theirs_s:8.0f}{statistics.median(theirs_cpu):8.2f}"
    )
    verdict = "PASS" if ratio <= 2 else "BELOW TARGET"
    print(
        f"SecureDrive / Orthanc: {ratio:.2f} (per run {[round(r, 2) for r in ratios]}; "
        f"target <= 2): {verdict}; CPU seconds ratio {cpu_ratio:.2f}"
    )
    print(
        f"peak RSS: receiver process {results['receiver_rss_mib']:.0f} MiB, worker (main + "
        f"pool) {results['worker_rss_mib']:.0f} MiB; Orthanc "
        f"{max(run['rss_mib'] for run in results['theirs']):.0f} MiB"
    )
    print(
        json.dumps(
            {
                "instances": count,
                "study_mb": round(study_bytes / 1e6, 1),
                "pipeline": args.pipeline,
                "database": "postgresql" if args.database_url else "sqlite",
                "securedrive_ingest_s": round(ours_s, 3),
                "securedrive_answered_s": round(statistics.median(answered), 3),
                "orthanc_cstore_s": round(theirs_s, 3),
                "securedrive_vs_orthanc_ratio": round(ratio, 2),
                "target_max_ratio": 2,
                "runs_securedrive_s": [round(value, 3) for value in ours],
                "runs_orthanc_s": [round(value, 3) for value in theirs],
                "securedrive_cpu_s": round(statistics.median(ours_cpu), 2),
                "securedrive_receiver_cpu_s": round(receiver_cpu, 2),
                "securedrive_worker_cpu_s": round(worker_cpu, 2),
                "orthanc_cpu_s": round(statistics.median(theirs_cpu), 2),
                "cpu_s_ratio": round(cpu_ratio, 2),
                "securedrive_receiver_peak_rss_mib": round(results["receiver_rss_mib"]),
                "securedrive_worker_peak_rss_mib": round(results["worker_rss_mib"]),
                "orthanc_peak_rss_mib": round(max(run["rss_mib"] for run in results["theirs"])),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "cpu_count": os.cpu_count(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
