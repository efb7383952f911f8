"""A folder downloaded as a streaming ZIP64 archive under gunicorn: memory and throughput.

What it measures, in one run, on loopback:

* **Memory.** A folder of two 2.5 GiB files (``--file-mib``) becomes a 5 GiB ZIP64
  archive (``sharing.services.archives``: stored entries, decrypted segment by segment, sized
  up front) streamed by a fresh single-worker gunicorn with the project's own
  configuration (gthread). The figure is the worker's peak resident memory
  (``VmHWM``) after the archive, against its peak after a one-byte probe (imports,
  database, key unwrap) and against a second fresh worker that served the same two
  files as plain single-file downloads. Target: the archive's peak is under 150 MiB
  and within 16 MiB of the plain downloads' peak: constant memory, whatever the size.
* **Throughput.** The same bytes, alternately as the archive and as the two plain
  single-file downloads (``/files/<id>/download/``) through the same worker, after one
  untimed warm-up each; medians. Target: the archive >= 0.85 x plain downloads (the
  ZIP adds a few headers and nothing else: each version's CRC-32 is recorded by the
  finalize task, which the bench mimics; ``--unknown-crc`` leaves it unrecorded, as for
  versions from before, and the warm-up archive then computes and records it).
* **Correctness.** The warm-up archive is saved to disk and opened with Python's
  ``zipfile``: it must be ZIP64 (over 4 GiB), list both entries, have the announced
  ``Content-Length``, and every entry's CRC-32 and SHA-256 must match what was uploaded.

The archive is served by a view the bench adds in front of the project's URLs (a
private URLconf and settings module in the temporary folder): no sharing link is
involved, so what is measured is ``archive_entries_for_folder`` + ``archive_response``
behind the real session, MFA and audit middleware. Everything else is reused: the
embedded SQLite, keyring, blob folder and client of bench/download.py, the gunicorn and
/proc figures of bench/bench_support.py.

    .venv/bin/python bench/zip.py                       # ~6 min on 2 busy vCPUs, 10 GiB of disk
    .venv/bin/python bench/zip.py --file-mib 256 --repeats 1 --no-verify   # quick look

Result: see docs/sharing-archives.md (numbers, machine and load). Prints a table, then
as its last line one JSON object of the figures. Exit status 0 whatever the figures;
1 if a download came back wrong; 2 if an argument is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

from bench_support import MIB, ROOT, Gunicorn, Profiler, cpu_seconds, one_core_mb_per_s, stop
from download import (  # bench/ is no package: download.py is found next to this file
    Download,
    blocks,
    django_prepare,
    download,
    response_head,
)

RSS_LIMIT_MIB = 150
RSS_TOLERANCE_MIB = 16
RATIO_TARGET = 0.85
FOLDER_NAME = "IRM thorax 2026-11"

BENCH_SETTINGS = """\
from securedrive.settings import *  # noqa: F403

ROOT_URLCONF = "bench_zip_urls"
"""

BENCH_URLS = '''\
"""The project's URLs plus one view: a folder the signed-in person may read, as a ZIP."""

from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path

from files import selectors
from securedrive.urls import urlpatterns as project_urlpatterns
from sharing.services.archives import archive_entries_for_folder, archive_response


def folder_zip(request: HttpRequest, folder_id: int) -> StreamingHttpResponse:
    folder = selectors.folder_get_for_actor(actor=request.user, folder_id=folder_id)
    entries, _left_out = archive_entries_for_folder(folder)
    return archive_response(
        request=request, entries=entries, archive_name=folder.name, actor=request.user
    )


urlpatterns = [path("bench/zip/<int:folder_id>/", folder_zip), *project_urlpatterns]
'''


# --- Client -------------------------------------------------------------------------------


def save(port: int, path: str, cookie: str, target: Path) -> Download:
    """GET ``path`` into ``target`` (for zipfile to open afterwards)."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Cookie: {cookie}\r\nUser-Agent: securedrive-bench\r\n\r\n"
    )
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as connection, target.open("wb") as out:
        status, length, body_start = response_head(connection, request)
        out.write(body_start)
        received = len(body_start)
        buffer = bytearray(MIB)
        view = memoryview(buffer)
        while received < length:
            count = connection.recv_into(view)
            if not count:
                break
            out.write(view[:count])
            received += count
    return Download(status, length, received, time.perf_counter() - started)


def archive_check(target: Path, expected: dict[str, tuple[int, str]]) -> str:
    """'' if ``target`` is the right ZIP64 archive, else what is wrong with it."""
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
        if names != sorted(expected):
            return f"entries {names}, expected {sorted(expected)}"
        for info in archive.infolist():
            size, sha256 = expected[info.filename]
            if info.file_size != size or info.compress_type != zipfile.ZIP_STORED:
                return f"{info.filename}: {info.file_size} bytes, method {info.compress_type}"
            digest, crc = hashlib.sha256(), 0
            with archive.open(info) as entry:  # zipfile checks the CRC-32 at the end
                while block := entry.read(MIB):
                    digest.update(block)
                    crc = zlib.crc32(block, crc)
            if digest.hexdigest() != sha256 or crc != info.CRC:
                return f"{info.filename}: content differs from what was uploaded"
    with target.open("rb") as raw:
        raw.seek(-200, os.SEEK_END)
        zip64 = b"PK\x06\x06" in raw.read()
    if target.stat().st_size > 0xFFFFFFFF and not zip64:
        return "over 4 GiB without a ZIP64 end of central directory record"
    return ""


# --- SecureDrive side ---------------------------------------------------------------------


def folder_prepare(
    file_size: int, *, known_crc: bool
) -> tuple[int, dict[str, tuple[int, str]], list[int]]:
    """A folder with two files of ``file_size`` for the bench's person (Django is set up).

    Returns (folder id, {path in the archive: (size, sha256)}, file ids).
    """
    from accounts.models import User
    from files import services
    from files.models import ScanStatus
    from files.uploads import BlobIngest

    user = User.objects.get(email="bench@hopital.example")
    space = services.space_personal_get_or_create(user=user)
    space.quota_bytes = 1 << 50
    space.save(update_fields=["quota_bytes"])
    folder = services.folder_create(actor=user, parent=services.space_root(space), name=FOLDER_NAME)
    expected: dict[str, tuple[int, str]] = {}
    file_ids = []
    for name in ("série-1.dcm", "série-2.dcm"):
        ingest = BlobIngest(max_bytes=file_size)
        crc = 0
        for block in blocks(file_size):
            ingest.write(block)
            crc = zlib.crc32(block, crc)
        sealed = ingest.finish()
        version = services.file_upload(actor=user, folder=folder, name=name, sealed=sealed)
        services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
        if known_crc:
            # What the finalize task records while it scans (files/services/finalize.py).
            version.plaintext_crc32 = crc
            version.save(update_fields=["plaintext_crc32"])
        expected[f"{FOLDER_NAME}/{name}"] = (file_size, sealed.sha256)
        file_ids.append(version.file_id)
    return folder.pk, expected, file_ids


def plain_downloads(port: int, cookie: str, file_ids: list[int]) -> Download:
    """The two files one after the other, as one measurement of the same bytes."""
    runs = [download(port, f"/files/{file_id}/download/", cookie) for file_id in file_ids]
    return Download(
        status=max(run.status for run in runs),
        length=sum(run.length for run in runs),
        received=sum(run.received for run in runs),
        seconds=sum(run.seconds for run in runs),
    )


def fresh_worker_peak(
    work: Path, env: dict[str, str], cookie: str, probe_path: str, fetch: list[str]
) -> tuple[float, float, list[Download]]:
    """(peak after a one-byte probe, peak after ``fetch``) of a new single worker."""
    web = Gunicorn.start(work, env, workers=1)
    try:
        probe = download(web.port, probe_path, cookie, first_byte=True)
        if probe.status != 206:
            raise SystemExit(f"the one-byte probe answered {probe.status}")
        before = web.worker_peak_mib()
        runs = [download(web.port, path, cookie) for path in fetch]
        return before, web.worker_peak_mib(), runs
    finally:
        stop(web.process)


# --- Main ---------------------------------------------------------------------------------


def spread(rates: list[float]) -> str:
    ordered = sorted(rates)
    return f"{ordered[0]:.0f}-{ordered[-1]:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file-mib", type=int, default=2560, help="size of each of 2 files")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each path")
    parser.add_argument("--no-verify", action="store_true", help="skip saving + zipfile check")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--unknown-crc",
        action="store_true",
        help="versions without a recorded CRC-32 (from before finalize recorded it): the "
        "warm-up archive computes and records them, the timed ones reuse them",
    )
    parser.add_argument(
        "--py-spy", metavar="FILE", help="sample the worker during the timed archive runs"
    )
    args = parser.parse_args(argv)
    if args.file_mib < 16 or args.repeats < 1:
        parser.error("need --file-mib >= 16 and --repeats >= 1")

    work = Path(tempfile.mkdtemp(prefix="securedrive-bench-zip-"))
    started = time.monotonic()
    try:
        size = args.file_mib * MIB
        print(f"zip: preparing 2 x {args.file_mib} MiB in {work} ...", flush=True)
        env, cookie, _none = django_prepare(work / "data", [])
        folder_id, expected, file_ids = folder_prepare(size, known_crc=not args.unknown_crc)
        (work / "bench_zip_settings.py").write_text(BENCH_SETTINGS)
        (work / "bench_zip_urls.py").write_text(BENCH_URLS)
        env = {
            **env,
            "DJANGO_SETTINGS_MODULE": "bench_zip_settings",
            "PYTHONPATH": os.pathsep.join([str(work), str(ROOT)]),
        }
        zip_path = f"/bench/zip/{folder_id}/"
        probe_path = f"/files/{file_ids[0]}/download/"

        # Correctness and warm-up: the archive saved and checked by zipfile.
        web = Gunicorn.start(work, env, workers=1)
        try:
            if args.no_verify:
                warm = download(web.port, zip_path, cookie)
                problem = ""
            else:
                target = work / "archive.zip"
                warm = save(web.port, zip_path, cookie, target)
                problem = archive_check(target, expected)
                target.unlink()
            if warm.status != 200 or warm.received != warm.length or problem:
                print(f"the archive came back wrong: {warm} {problem}", file=sys.stderr)
                return 1
            archive_bytes = warm.length
            warm_plain = plain_downloads(web.port, cookie, file_ids)
            if warm_plain.received != 2 * size:
                print("a plain download came back short", file=sys.stderr)
                return 1

            zip_runs: list[Download] = []
            plain_runs: list[Download] = []
            zip_cpu: list[float] = []
            plain_cpu: list[float] = []
            (worker,) = web.workers()
            for _ in range(args.repeats):
                before = cpu_seconds([worker])
                plain_runs.append(plain_downloads(web.port, cookie, file_ids))
                plain_cpu.append(cpu_seconds([worker]) - before)
                profiler = Profiler(worker, f"{args.py_spy}.{_}") if args.py_spy else None
                before = cpu_seconds([worker])
                zip_runs.append(download(web.port, zip_path, cookie))
                zip_cpu.append(cpu_seconds([worker]) - before)
                if profiler is not None:
                    profiler.stop()
            if any(run.received != archive_bytes for run in zip_runs) or any(
                run.received != 2 * size for run in plain_runs
            ):
                print("a timed download came back short", file=sys.stderr)
                return 1
        finally:
            stop(web.process)

        # Memory: one fresh worker for the archive, one for the same bytes as files.
        zip_before, zip_peak, zip_memory_runs = fresh_worker_peak(
            work, env, cookie, probe_path, [zip_path]
        )
        plain_before, plain_peak, plain_memory_runs = fresh_worker_peak(
            work, env, cookie, probe_path, [f"/files/{file_id}/download/" for file_id in file_ids]
        )
        if zip_memory_runs[0].received != archive_bytes or any(
            run.received != size for run in plain_memory_runs
        ):
            print("a memory run came back short", file=sys.stderr)
            return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    # Same bytes of content in both: the archive's few hundred bytes of headers are not
    # counted as extra "work" (MB/s of file content).
    content = 2 * size
    zip_rates = [content / run.seconds / 1e6 for run in zip_runs]
    plain_rates = [content / run.seconds / 1e6 for run in plain_runs]
    zip_rate, plain_rate = statistics.median(zip_rates), statistics.median(plain_rates)
    ratio = zip_rate / plain_rate
    # CPU seconds the worker spent per GiB of content: unlike MB/s, barely moved by
    # other work on the machine.
    gib = content / 2**30
    zip_cpu_per_gib = statistics.median(zip_cpu) / gib
    plain_cpu_per_gib = statistics.median(plain_cpu) / gib
    memory_ok = zip_peak < RSS_LIMIT_MIB and zip_peak <= plain_peak + RSS_TOLERANCE_MIB
    load = os.getloadavg()[0]

    print()
    layout = "ZIP64" if archive_bytes > 0xFFFFFFFF else "plain ZIP (under 4 GiB)"
    print(f"archive: {archive_bytes} bytes ({archive_bytes / 2**30:.2f} GiB), 2 entries, {layout}")
    heading = f"path (the same {content // MIB} MiB of content)"
    print(f"{heading:<58} {'MB/s':>7} {'runs':>13} {'CPU s/GiB (min-max)':>22}")
    print("-" * 91)
    print(
        f"{'2 plain single-file downloads (decrypt, Range-capable)':<58} {plain_rate:>7.0f} "
        f"{spread(plain_rates):>13} {plain_cpu_per_gib:>10.2f} "
        f"({min(plain_cpu) / gib:.2f}-{max(plain_cpu) / gib:.2f})"
    )
    print(
        f"{'1 streaming ZIP of the folder (decrypt, CRC known)':<58} {zip_rate:>7.0f} "
        f"{spread(zip_rates):>13} {zip_cpu_per_gib:>10.2f} "
        f"({min(zip_cpu) / gib:.2f}-{max(zip_cpu) / gib:.2f})"
    )
    print(
        "1 core (the MB/s each one's CPU cost allows on one core, the other being busy "
        f"with the client): plain {one_core_mb_per_s(plain_cpu_per_gib):.0f}, "
        f"ZIP {one_core_mb_per_s(zip_cpu_per_gib):.0f}"
    )
    print()
    print(f"{'gunicorn worker memory (VmHWM)':<44} {'probe':>8} {'after':>8}")
    print("-" * 62)
    print(f"{'ZIP of the folder':<44} {zip_before:>7.0f}M {zip_peak:>7.0f}M")
    print(f"{'the same files as plain downloads':<44} {plain_before:>7.0f}M {plain_peak:>7.0f}M")
    print()
    verdict = "PASS" if ratio >= RATIO_TARGET else "BELOW TARGET"
    print(f"target ZIP >= {RATIO_TARGET} x plain downloads: {verdict} ({ratio:.2f})")
    verdict = "PASS" if memory_ok else "BELOW TARGET"
    print(
        f"target ZIP peak < {RSS_LIMIT_MIB} MiB and <= plain peak + {RSS_TOLERANCE_MIB} MiB: "
        f"{verdict} ({zip_peak:.0f} vs {plain_peak:.0f} MiB)"
    )
    print(f"{os.cpu_count()} CPU(s), load average {load:.1f}, {time.monotonic() - started:.0f} s")
    figures = {
        "file_mib": args.file_mib,
        "archive_bytes": archive_bytes,
        "archive_verified_by_zipfile": not args.no_verify,
        "zip_mb_per_s": round(zip_rate),
        "plain_mb_per_s": round(plain_rate),
        "zip_vs_plain_ratio": round(ratio, 3),
        "zip_runs_mb_per_s": [round(rate) for rate in zip_rates],
        "plain_runs_mb_per_s": [round(rate) for rate in plain_rates],
        "zip_worker_cpu_s_per_gib": round(zip_cpu_per_gib, 3),
        "plain_worker_cpu_s_per_gib": round(plain_cpu_per_gib, 3),
        "zip_one_core_mb_per_s": round(one_core_mb_per_s(zip_cpu_per_gib)),
        "plain_one_core_mb_per_s": round(one_core_mb_per_s(plain_cpu_per_gib)),
        "archive_zip64": archive_bytes > 0xFFFFFFFF,
        "worker_peak_rss_mib_zip": round(zip_peak, 1),
        "worker_peak_rss_mib_plain": round(plain_peak, 1),
        "worker_rss_after_probe_mib_zip": round(zip_before, 1),
        "worker_rss_after_probe_mib_plain": round(plain_before, 1),
        "target_ratio": RATIO_TARGET,
        "target_ratio_met": ratio >= RATIO_TARGET,
        "target_memory_met": memory_ok,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(load, 2),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
