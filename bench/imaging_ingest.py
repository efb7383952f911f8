"""C-STORE ingest of one CT study: SecureDrive's receiver vs Orthanc, same run.

dcmtk's ``storescu`` sends the same study (``tests/dicom_factory.py``, uncompressed,
``--instances`` slices of ``--rows`` x ``--rows``) over one association to:

* **SecureDrive**: the receiver of ``imaging/dimse.py`` in this process, with the scan
  pipeline run inline (Celery eager): each instance is encrypted, filed, scanned by
  clamd, its verdict recorded and its headers indexed *before* its C-STORE response.
  The clock stops when storescu returns, so every instance is scanned and indexed.
* **Orthanc** (Debian ``orthanc``, a fresh temporary storage per run): the clock stops
  when storescu returns (Orthanc writes and indexes each instance before answering).

Runs alternate (SecureDrive, Orthanc, ...), fresh folder / fresh Orthanc each time;
figures are medians. Target (issue #16): SecureDrive within 2x Orthanc's time. Peak RSS
is this process's (receiver + pipeline; the study is generated in a child process) and
Orthanc's (VmHWM). Embedded profile in a temporary folder (SQLite, keyring, storage).

    set -a; . /work/wt/<you>.env; set +a     # or tests/services.sh's env: a clamd
    .venv/bin/python bench/imaging_ingest.py --instances 300

Prints a table, then as its last line one JSON object. Exit status 0 whatever the
figures; 1 if an instance is missing or not scanned; 2 without storescu, Orthanc or clamd.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.imaging_peers import free_port, orthanc_running, storescu  # noqa: E402

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


def django_setup(data_dir: Path, clamd: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "securedrive.settings",
            "SECUREDRIVE_PROFILE": "embedded",
            "SECUREDRIVE_DATA_DIR": str(data_dir),
            "SECUREDRIVE_LOG_LEVEL": "WARNING",
            "SECUREDRIVE_CLAMD_ADDRESS": clamd,
        }
    )
    for name in ("DATABASE_URL", "SECUREDRIVE_REDIS_URL", "SECUREDRIVE_EMAIL_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    from securedrive.celery import app

    app.conf.task_always_eager = True  # the pipeline inline: counted in the time
    call_command("migrate", verbosity=0)


def rss_mib_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clamd", default=os.environ.get("SECUREDRIVE_TEST_CLAMD_ADDRESS", ""))
    args = parser.parse_args()
    if not args.clamd or not shutil.which("storescu") or not shutil.which("Orthanc"):
        print("needs --clamd, dcmtk's storescu and Orthanc", file=sys.stderr)
        return 2

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
        django_setup(root / "data", args.clamd)

        from accounts.models import User
        from files import services
        from files.models import File, ScanStatus
        from imaging.dimse import Receiver, ReceiverConfig, destination_resolve, peers_parse
        from imaging.models import Instance

        owner = User.objects.create_user("bench@hopital.example", "bench password 42 xyz")
        space_root = services.space_root(services.space_personal_get_or_create(user=owner))
        ours: list[float] = []
        theirs: list[float] = []
        orthanc_rss: list[float] = []
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for run in range(args.repeats):
            folder = services.folder_create(actor=owner, parent=space_root, name=f"Run {run}")
            config = ReceiverConfig.from_settings(
                host="127.0.0.1",
                port=free_port(),
                ae_title="SECUREDRIVE",
                peers=peers_parse(["BENCH_CT"]),
                owner_email=owner.email,
                folder_id=folder.pk,
            )
            server = Receiver(config=config, destination=destination_resolve(config)).start(
                block=False
            )
            start = time.perf_counter()
            sent = storescu(port=config.port, files=files, calling_ae="BENCH_CT")
            ours.append(time.perf_counter() - start)
            server.shutdown()
            landed = File.objects.filter(folder__parent=folder) | File.objects.filter(
                folder__parent__parent=folder
            )
            scanned = landed.filter(current_version__scan_status=ScanStatus.AVAILABLE).count()
            indexed = Instance.objects.filter(file__in=landed).count()
            if sent.returncode != 0 or scanned != len(files) or indexed != len(files):
                print(
                    f"SecureDrive run {run}: {scanned} scanned, {indexed} indexed of "
                    f"{len(files)}: {sent.stderr[-500:]}",
                    file=sys.stderr,
                )
                return 1

            with orthanc_running(root / f"orthanc-{run}", modalities={}) as orthanc:
                start = time.perf_counter()
                sent = storescu(
                    port=orthanc.dicom_port,
                    files=files,
                    calling_ae="BENCH_CT",
                    called_ae="ORTHANC",
                )
                theirs.append(time.perf_counter() - start)
                count = len(orthanc.get("/instances"))
                orthanc_rss.append(rss_mib_of(orthanc.process.pid))
            if sent.returncode != 0 or count != len(files):
                print(f"Orthanc run {run}: {count} of {len(files)}", file=sys.stderr)
                return 1
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    ratio = ours_s / theirs_s
    print(f"study: {len(files)} instances, {study_bytes / 1e6:.1f} MB, {args.rows}x{args.rows}")
    print(
        f"SecureDrive (encrypt + file + clamd + index)  {ours_s:6.2f} s  "
        f"({len(files) / ours_s:.0f} instances/s)  runs {[round(t, 2) for t in ours]}"
    )
    print(
        f"Orthanc                                      {theirs_s:6.2f} s  "
        f"({len(files) / theirs_s:.0f} instances/s)  runs {[round(t, 2) for t in theirs]}"
    )
    verdict = "PASS" if ratio <= 2 else "BELOW TARGET"
    print(f"SecureDrive / Orthanc: {ratio:.2f} (target <= 2): {verdict}")
    print(
        f"peak RSS: SecureDrive process {rss_after:.0f} MiB (before the runs "
        f"{rss_before:.0f}); Orthanc {max(orthanc_rss):.0f} MiB"
    )
    print(
        json.dumps(
            {
                "instances": len(files),
                "study_mb": round(study_bytes / 1e6, 1),
                "securedrive_cstore_s": round(ours_s, 3),
                "orthanc_cstore_s": round(theirs_s, 3),
                "securedrive_vs_orthanc_ratio": round(ratio, 2),
                "securedrive_peak_rss_mib": round(rss_after),
                "orthanc_peak_rss_mib": round(max(orthanc_rss)),
                "cpu_count": os.cpu_count(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
