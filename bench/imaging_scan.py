"""Issue #16's scan figures: a study ZIP member by member vs clamd, and worker RSS.

Everything runs against a PRIVATE clamd the bench starts (free loopback port, its own
temporary folder, the repository's signatures from tests/clamav, production-like
limits: StreamMaxLength, MaxScanSize and MaxFileSize 4000M), never the shared one.

1. **Study ZIP** (``--zip-mib``, default 3000 MiB; ~2 MiB DICOM-like members, stored
   as radiology exports are, so about 1,500 members for 3 GB): SecureDrive's
   ``version_finalize`` on the encrypted ZIP (key unwrap, authenticated decryption,
   SHA-256, libmagic, each member sent to clamd as a stream of its own, verdict and
   audit event) against clamd on the plaintext ZIP, both ``INSTREAM`` (the ZIP sent
   over the socket, as SecureDrive does) and ``SCAN <path>`` (clamd reads the file
   itself). Target: finalize within 1.5x clamd. Runs alternate; medians, min-max.
2. **Worker peak RSS** from 1 GB to 5 GB: finalize of a ``--small-mib`` (1 GiB) ZIP and
   the study ZIP, and of a 1 GiB and a ``--big-mib`` (5 GiB) single file under the
   site's ``windowed`` policy (the 5 GiB file needs two windows: clamd takes 4000M at
   most), then the 5 GiB file again under ``block``: its verdict and the plain-words
   reason the owner sees are printed. Each finalize runs in a fresh worker-like child
   process (Django set up, nothing else), whose VmHWM is printed with its CPU seconds.

The plaintext ZIP exists on disk only because clamd's ``SCAN`` needs it (a bench
artefact, in the temporary folder); SecureDrive's side reads only ciphertext. Every
temporary file is removed at exit.

    .venv/bin/python bench/imaging_scan.py                      # 3000 MiB ZIP, 5 GiB file
    .venv/bin/python bench/imaging_scan.py --zip-mib 64 --small-mib 32 --big-mib 48 \\
        --window-mib 40 --repeats 1                             # a quick look

Prints a table, then as its last line one JSON object of the figures. Exit status 0
whatever the figures; 1 if a verdict is not the expected one; 2 if clamd is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench_support import MIB, ROOT, clamd_start, cpu_seconds, django_setup, embedded_env

MEMBER_MIB = 2
# clamd's answer when it could not scan the plaintext ZIP (ClamAV 1.4 stops at 2 GiB).
REFUSED: dict[str, str] = {}
# Verdicts other than the expected one (printed, then exit status 1).
WRONG: dict[str, dict[str, Any]] = {}

# One finalize in a fresh process, as a worker's pool child would run it.
CHILD = """
import json, os, resource, sys, time
from pathlib import Path
import django
django.setup()
def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from files import services
from files.models import FileVersion
before = hwm()
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu0 = usage.ru_utime + usage.ru_stime
start = time.perf_counter()
status = services.version_finalize(version_id=sys.argv[1])
elapsed = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
version = FileVersion.objects.get(pk=sys.argv[1])
print(json.dumps({
    "status": status, "s": elapsed, "cpu_s": usage.ru_utime + usage.ru_stime - cpu0,
    "hwm_setup_mib": before, "hwm_mib": hwm(),
    "explanation": [str(line) for line in version.scan_explanation],
    "note": version.scan_note,
}))
"""


def random_pool() -> bytes:
    return os.urandom(64 * MIB)


def chunks_of(pool: bytes, total: int, seed: int) -> Any:
    """``total`` bytes of incompressible content, 1 MiB at a time, no plaintext on disk."""
    offset = (seed * 7919 * 4096) % (len(pool) - MIB)
    sent = 0
    while sent < total:
        size = min(MIB, total - sent)
        yield pool[offset : offset + size]
        offset = (offset + 4096 * 13) % (len(pool) - MIB)
        sent += size


def study_zip_write(path: Path, mib: int, pool: bytes) -> int:
    """A stored study ZIP of ~2 MiB DICOM-like members; returns the member count.
    Past 2 GiB Python's zipfile gives the later entries ZIP64 fields (as many export
    tools do past 4 GiB); SecureDrive unpacks those itself (files/archives.py)."""
    members = max(1, mib // MEMBER_MIB)
    member_size = mib * MIB // members
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(members):
            info = zipfile.ZipInfo(f"ETUDE/SERIE{index % 4}/IM{index:05d}.dcm")
            with archive.open(info, "w", force_zip64=False) as member:
                member.write(b"\0" * 128 + b"DICM")
                for chunk in chunks_of(pool, member_size - 132, index):
                    member.write(chunk)
    return members


class Site:
    """The embedded SecureDrive of the bench (parent side: uploads, policy, resets)."""

    def __init__(self, data_dir: Path, clamd: str, *, window_mib: int) -> None:
        self.env = embedded_env(
            data_dir,
            {
                "SECUREDRIVE_CLAMD_ADDRESS": clamd,
                "SECUREDRIVE_SCAN_SIGNATURE_DIR": str(ROOT / "tests" / "clamav"),
                "SECUREDRIVE_SCAN_MAX_BYTES": str(window_mib * MIB),
                "SECUREDRIVE_FILES_PERSONAL_QUOTA_BYTES": str(100 * 2**30),
                "SECUREDRIVE_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
                "PYTHONPATH": str(ROOT),
            },
            inherit=False,
        )
        django_setup(self.env)
        from accounts.models import User
        from files import services

        self.user = User.objects.create_user("bench@hopital.example", None, full_name="Bench")
        self.root = services.space_root(services.space_personal_get_or_create(user=self.user))

    def upload(self, name: str, chunks: Any, size: int) -> str:
        from files import services
        from files.uploads import BlobIngest

        ingest = BlobIngest(max_bytes=size, size_hint=size)
        for chunk in chunks:
            ingest.write(chunk)
        version = services.file_upload(
            actor=self.user, folder=self.root, name=name, sealed=ingest.finish()
        )
        return str(version.pk)

    def policy(self, choice: str) -> None:
        from files.models import ScanPolicyChoice
        from files.scan_policy import site_scan_policy_set

        site_scan_policy_set(actor=self.user, policy=ScanPolicyChoice(choice))

    def finalize(self, version_id: str) -> dict[str, Any]:
        from files.models import FileVersion, ScanStatus

        FileVersion.objects.filter(pk=version_id).update(
            scan_status=ScanStatus.PENDING, scanned_at=None, scan_lease_until=None
        )
        done = subprocess.run(
            [sys.executable, "-c", CHILD, version_id],
            env=self.env,
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"finalize child failed: {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def clamd_instream(address: str, path: Path) -> float:
    from files.clamd import ClamdClient

    client = ClamdClient(address, timeout_s=1800)
    started = time.perf_counter()
    with path.open("rb") as source:
        result = client.instream(iter(lambda: source.read(MIB), b""))
    elapsed = time.perf_counter() - started
    if result.verdict.value != "clean":
        REFUSED["instream"] = f"{result.verdict.value}: {result.detail}"
    return elapsed


def clamd_scan(port: int, path: Path) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=1800) as sock:
        sock.sendall(b"zSCAN " + str(path).encode() + b"\0")
        reply = b""
        while not reply.endswith(b"\0"):
            data = sock.recv(4096)
            if not data:
                break
            reply += data
    elapsed = time.perf_counter() - started
    if not reply.rstrip(b"\0").endswith(b"OK"):
        REFUSED["scan"] = reply.rstrip(b"\0").decode(errors="replace").rpartition(": ")[2]
    return elapsed


def med(values: list[float]) -> float:
    return statistics.median(values)


def span(values: list[float]) -> str:
    return f"{min(values):.1f}-{max(values):.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--zip-mib", type=int, default=3000)
    parser.add_argument("--small-mib", type=int, default=1024, help="0: skip the 1 GiB runs")
    parser.add_argument("--big-mib", type=int, default=5120, help="0: skip the 5 GiB file")
    parser.add_argument(
        "--window-mib",
        type=int,
        default=4000,
        help="SECUREDRIVE_SCAN_MAX_BYTES: lower it for small runs that still need windows",
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not (shutil.which("clamd") or Path("/usr/sbin/clamd").exists()):
        print("clamd is not installed", file=sys.stderr)
        return 2

    figures: dict[str, Any] = {}
    load_at_start = os.getloadavg()[0]
    rows: list[tuple[str, float, str, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="securedrive-bench-imaging-scan-") as scratch:
        folder = Path(scratch)
        clamd, address = clamd_start(folder)
        port = int(address.rsplit(":", 1)[1])
        try:
            site = Site(folder / "data", address, window_mib=args.window_mib)
            pool = random_pool()
            zip_path = folder / "etude.zip"
            members = study_zip_write(zip_path, args.zip_mib, pool)
            zip_size = zip_path.stat().st_size
            with zip_path.open("rb") as source:
                study = site.upload("etude.zip", iter(lambda: source.read(MIB), b""), zip_size)
            gib = zip_size / 2**30

            # 1. member by member vs clamd on the plaintext ZIP, alternating.
            ours: list[dict[str, Any]] = []
            instream: list[float] = []
            scan: list[float] = []
            clamd_cpu: dict[str, list[float]] = {"instream": [], "scan": [], "finalize": []}
            for _run in range(args.repeats):
                for kind in ("instream", "scan", "finalize"):
                    cpu_before = cpu_seconds([clamd.pid])
                    if kind == "instream":
                        instream.append(clamd_instream(address, zip_path))
                    elif kind == "scan":
                        scan.append(clamd_scan(port, zip_path))
                    else:
                        result = site.finalize(study)
                        if result["status"] != "available":
                            print(f"study ZIP verdict {result}", file=sys.stderr)
                            return 1
                        ours.append(result)
                    clamd_cpu[kind].append(cpu_seconds([clamd.pid]) - cpu_before)
            ours_s = [run["s"] for run in ours]
            ratio = med(ours_s) / med(instream)
            ratio_scan = med(ours_s) / med(scan)
            ours_cpu_worker = med([run["cpu_s"] for run in ours])
            ours_cpu = ours_cpu_worker + med(clamd_cpu["finalize"])
            figures.update(
                zip_mib=args.zip_mib,
                zip_members=members,
                finalize_zip_s=round(med(ours_s), 2),
                clamd_instream_zip_s=round(med(instream), 2),
                clamd_scan_zip_s=round(med(scan), 2),
                finalize_vs_clamd_instream_ratio=round(ratio, 2),
                finalize_vs_clamd_scan_ratio=round(ratio_scan, 2),
                target_max_ratio=1.5,
                runs_finalize_zip_s=[round(value, 2) for value in ours_s],
                runs_clamd_instream_zip_s=[round(value, 2) for value in instream],
                runs_clamd_scan_zip_s=[round(value, 2) for value in scan],
                finalize_zip_cpu_s_per_gib=round(ours_cpu / gib, 2),
                finalize_zip_worker_cpu_s_per_gib=round(ours_cpu_worker / gib, 2),
                finalize_zip_clamd_cpu_s_per_gib=round(med(clamd_cpu["finalize"]) / gib, 2),
                clamd_instream_zip_cpu_s_per_gib=round(med(clamd_cpu["instream"]) / gib, 2),
                clamd_scan_zip_cpu_s_per_gib=round(med(clamd_cpu["scan"]) / gib, 2),
            )
            rows += [
                (
                    "clamd INSTREAM, plaintext ZIP",
                    med(instream),
                    span(instream),
                    zip_size,
                    med(clamd_cpu["instream"]),
                    0,
                ),
                (
                    "clamd SCAN <path>, plaintext ZIP",
                    med(scan),
                    span(scan),
                    zip_size,
                    med(clamd_cpu["scan"]),
                    0,
                ),
                (
                    f"finalize, {members} members one by one",
                    med(ours_s),
                    span(ours_s),
                    zip_size,
                    ours_cpu,
                    max(run["hwm_mib"] for run in ours),
                ),
            ]
            zip_path.unlink()

            # 2. worker peak RSS from 1 GB to 5 GB.
            rss: dict[str, Any] = {f"zip_{args.zip_mib}_mib": max(r["hwm_mib"] for r in ours)}
            setup_mib = max(run["hwm_setup_mib"] for run in ours)
            if args.small_mib:
                small_zip = folder / "petite.zip"
                study_zip_write(small_zip, args.small_mib, pool)
                small_size = small_zip.stat().st_size
                with small_zip.open("rb") as source:
                    small = site.upload(
                        "petite.zip", iter(lambda: source.read(MIB), b""), small_size
                    )
                small_zip.unlink()
                result = site.finalize(small)
                if result["status"] != "available":
                    print(f"small ZIP verdict {result}", file=sys.stderr)
                    return 1
                rss[f"zip_{args.small_mib}_mib"] = result["hwm_mib"]
                rows.append(
                    (
                        f"finalize, {args.small_mib} MiB ZIP",
                        result["s"],
                        "",
                        small_size,
                        result["cpu_s"],
                        result["hwm_mib"],
                    )
                )
            site.policy("windowed")
            singles = [size for size in (args.small_mib, args.big_mib) if size]
            single_ids = {}
            for size_mib in singles:
                single_ids[size_mib] = site.upload(
                    f"volume-{size_mib}.raw",
                    chunks_of(pool, size_mib * MIB, size_mib),
                    size_mib * MIB,
                )
                result = site.finalize(single_ids[size_mib])
                if result["status"] != "available":
                    # Printed with the figures, exit status 1 at the end: ClamAV 1.4
                    # refuses a window past 2 GiB (MaxFileSize) and the file is blocked.
                    WRONG[f"{size_mib} MiB file, windowed"] = result
                rss[f"single_{size_mib}_mib_windowed"] = result["hwm_mib"]
                rows.append(
                    (
                        f"finalize, {size_mib} MiB single file, windowed",
                        result["s"],
                        "",
                        size_mib * MIB,
                        result["cpu_s"],
                        result["hwm_mib"],
                    )
                )
                figures[f"single_{size_mib}_mib_windowed_s"] = round(result["s"], 2)
                figures[f"single_{size_mib}_mib_windowed_notes"] = result["explanation"]
            blocked: dict[str, Any] = {}
            if args.big_mib:
                site.policy("block")
                blocked = site.finalize(single_ids[args.big_mib])
                if blocked["status"] != "blocked":
                    print(f"{args.big_mib} MiB file, block policy: {blocked}", file=sys.stderr)
                    return 1
                rss[f"single_{args.big_mib}_mib_blocked"] = blocked["hwm_mib"]
                figures["big_blocked_verdict"] = blocked["status"]
                figures["big_blocked_reason"] = blocked["explanation"]
        finally:
            clamd.kill()
            clamd.wait(timeout=15)

    print(
        f"{'path':<46}{'median s':>9}{'min-max':>12}{'MB/s':>7}{'CPU s/GiB':>10}{'VmHWM MiB':>10}"
    )
    for label, seconds, runs, size, cpu, hwm in rows:
        print(
            f"{label:<46}{seconds:9.1f}{runs:>12}{size / seconds / 1e6:7.0f}"
            f"{cpu / (size / 2**30):10.2f}{f'{hwm:.0f}' if hwm else '':>10}"
        )
    verdict = "PASS" if ratio <= 1.5 else "BELOW TARGET"
    for kind, answer in REFUSED.items():
        verdict = "no same-run ratio"
        print(f"clamd {kind.upper()} could NOT scan the plaintext ZIP: {answer}")
    print(
        f"member by member / clamd INSTREAM: {ratio:.2f}; / clamd SCAN: {ratio_scan:.2f} "
        f"(target <= 1.5): {verdict}"
    )
    print(
        "ZIP CPU s/GiB: finalize worker "
        f"{figures['finalize_zip_worker_cpu_s_per_gib']} + clamd "
        f"{figures['finalize_zip_clamd_cpu_s_per_gib']}; clamd alone on the plaintext ZIP: "
        f"INSTREAM {figures['clamd_instream_zip_cpu_s_per_gib']}, "
        f"SCAN {figures['clamd_scan_zip_cpu_s_per_gib']}; load average "
        f"{load_at_start:.1f} at start, {os.getloadavg()[0]:.1f} at end (2 cores)"
    )
    print(
        "worker VmHWM (MiB) per job: "
        + ", ".join(f"{key} {value:.0f}" for key, value in rss.items())
        + f" (after Django setup alone: {setup_mib:.0f})"
    )
    if blocked:
        print(
            f"{args.big_mib} MiB file under 'block': {blocked['status']}: "
            + " ".join(blocked["explanation"])
        )
    figures.update(
        clamd_refused=REFUSED,
        worker_peak_rss_mib={key: round(value) for key, value in rss.items()},
        worker_rss_after_setup_mib=round(setup_mib),
        load_average_1m=round(os.getloadavg()[0], 2),
        load_average_1m_at_start=round(load_at_start, 2),
        cpu_count=os.cpu_count(),
    )
    for label, result in WRONG.items():
        print(
            f"UNEXPECTED VERDICT, {label}: {result['status']}: " + " ".join(result["explanation"])
        )
        print(f"  scan note: {json.dumps(result['note'])}")
    figures["unexpected_verdicts"] = {label: r["status"] for label, r in WRONG.items()}
    print(json.dumps(figures))
    return 1 if WRONG else 0


if __name__ == "__main__":
    sys.exit(main())
