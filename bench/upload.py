"""Resumable upload through the real tus view under gunicorn, against nginx WebDAV PUT
and the Node reference tus server.

What it measures, in one run, on loopback, storage on the same local disk:

* **SecureDrive**: ``--mib`` MiB uploaded through ``/api/v1/uploads/`` (tus 1.0) served
  by gunicorn with the project's configuration: personal access token, scope check,
  creation with quota check and audit event, then PATCHes of ``--patch-mib`` MiB each
  (each segment sealed once, in the final blob format, written with pwrite into the
  staging file, fsync'ed, offset committed), and on the last one the assembly (a link,
  no copy) and the version row. The clock runs from the POST to the last 204: what a
  client waits for.
* **nginx**: the same bytes sent with one WebDAV ``PUT`` to an nginx (``dav_methods
  PUT``) whose document root is on the same disk.
* **Node**: the same tus upload to ``@tus/server`` + ``@tus/file-store`` (pinned,
  installed with npm into ``var/bench-node-tus/`` on first run; no encryption, no
  auth, no fsync).

Runs alternate (nginx, SecureDrive, Node, ...) after an untimed warm-up of each; the
figures are medians of ``--repeats``. Also: the servers' CPU seconds per GiB, the peak
resident memory (VmHWM) of the gunicorn worker, and, with a clamd, the time and peak
RSS of a real Celery worker (solo pool) running the finalize task on the uploads. The
client streams the same generated blocks to all (nothing held in memory).

    .venv/bin/python bench/upload.py                         # 1 GiB, 64 MiB PATCHes
    .venv/bin/python bench/upload.py --mib 4096 --repeats 1  # memory stays flat?
    .venv/bin/python bench/upload.py --mib 256 --repeats 1 --no-node --no-finalize

Prints a table, then as its last line one JSON object of the figures. Exit status 0
whatever the figures; 1 if an upload came back wrong; 2 if nginx is missing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench_support import (
    MIB,
    ROOT,
    Gunicorn,
    Profiler,
    celery_worker,
    cpu_seconds,
    django_setup,
    embedded_env,
    free_port,
    kernel_threads_cpu_seconds,
    one_core_mb_per_s,
    peak_mib,
    process_tree,
    stop,
    wait_for_port,
)

RATIO_TARGET = 0.85  # against nginx PUT + fsync: the same durability (issue #18)
CPU_TARGET_S_PER_GIB = 0.8  # server user + system CPU seconds per GiB received
NODE_RATIO_TARGET = 1.5
RSS_TARGET_MIB = 150


def nginx_dav_start(work: Path, www: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    temp = www / ".nginx-body"  # the same disk as the document root: a rename, no copy
    temp.mkdir(mode=0o777)
    temp.chmod(0o777)
    config = work / "nginx-dav.conf"
    config.write_text(
        f"""
worker_processes 1;
daemon off;
pid {work}/nginx-dav.pid;
error_log {work}/nginx-dav-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp};
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        client_max_body_size 0;
        client_body_buffer_size 1m;
        location / {{ dav_methods PUT; }}
    }}
}}
"""
    )
    process = subprocess.Popen(
        [binary, "-c", str(config), "-p", str(work)],
        stdout=subprocess.DEVNULL,
        stderr=(work / "nginx-dav-stderr.log").open("wb"),
    )
    wait_for_port(port, process, "nginx")
    return process, port


def counted(size: int, base: bytes) -> Iterator[bytes]:
    """The upload's content: ``base`` (one random MiB) with each block's index stamped,
    the same bytes every time it is called with the same ``base``. Every client sends
    it without hashing it: the SHA-256 the check needs is computed before the clock
    starts (``content_sha256``), so no client spends CPU the others do not."""
    block = bytearray(base)
    for index in range(size // MIB):
        block[:8] = index.to_bytes(8, "big")
        yield bytes(block)


def content_sha256(size: int, base: bytes) -> str:
    digest = hashlib.sha256()
    for block in counted(size, base):
        digest.update(block)
    return digest.hexdigest()


def thread_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def nginx_put(port: int, size: int, name: str, base: bytes) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(
        "PUT",
        f"/{name}",
        body=counted(size, base),
        headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status not in {201, 204}:
        raise SystemExit(f"nginx PUT answered {response.status}")
    return time.perf_counter() - started


def tus_upload(
    port: int,
    headers: dict[str, str],
    size: int,
    patch: int,
    name: str,
    creation: str = "/api/v1/uploads/",
) -> tuple[float, str, str]:
    """Upload ``size`` bytes with tus 1.0; returns (seconds, SHA-256 sent, upload path)."""
    base = os.urandom(MIB)
    sha256 = content_sha256(size, base)  # before the clock starts
    source = counted(size, base)
    auth = {**headers, "Tus-Resumable": "1.0.0"}
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    filename = base64.b64encode(name.encode()).decode()
    connection.request(
        "POST",
        creation,
        headers={**auth, "Upload-Length": str(size), "Upload-Metadata": f"filename {filename}"},
    )
    response = connection.getresponse()
    response.read()
    if response.status != 201:
        raise SystemExit(f"tus creation at {creation} answered {response.status}")
    path = urlsplit(response.getheader("Location", "")).path
    offset = 0
    while offset < size:
        length = min(patch, size - offset)

        def body(length: int = length) -> Iterator[bytes]:
            sent = 0
            while sent < length:
                block = next(source)
                sent += len(block)
                yield block

        connection.request(
            "PATCH",
            path,
            body=body(),
            headers={
                **auth,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(length),
            },
        )
        response = connection.getresponse()
        response.read()
        if response.status != 204:
            raise SystemExit(f"tus PATCH to {path} answered {response.status}")
        offset += length
    connection.close()
    return time.perf_counter() - started, sha256, path


# --- Node reference: @tus/server with @tus/file-store (no encryption) ---------------------

# Pinned; installed with the machine's npm into var/ the first time the bench runs.
NODE_PACKAGES = {"@tus/server": "2.4.5", "@tus/file-store": "2.1.1"}
NODE_DIR = ROOT / "var" / "bench-node-tus"
NODE_SERVER = """\
import http from "node:http";
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const [port, directory] = process.argv.slice(2);
const tus = new Server({ path: "/files", datastore: new FileStore({ directory }) });
http.createServer((req, res) => tus.handle(req, res)).listen(Number(port), "127.0.0.1");
"""


def node_reference_install() -> Path | None:
    """The Node reference server script, installing the pinned packages if needed;
    None when node or npm is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    NODE_DIR.mkdir(parents=True, exist_ok=True)

    def installed() -> bool:
        for name, version in NODE_PACKAGES.items():
            manifest = NODE_DIR / "node_modules" / name / "package.json"
            if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
                return False
        return True

    if not installed():
        package = {"private": True, "type": "module", "dependencies": NODE_PACKAGES}
        (NODE_DIR / "package.json").write_text(json.dumps(package, indent=2) + "\n")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact"],
            cwd=NODE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    script = NODE_DIR / "server.mjs"
    script.write_text(NODE_SERVER)
    return script


def node_reference_start(script: Path, directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    directory.mkdir()
    process = subprocess.Popen(
        [str(shutil.which("node")), str(script), str(port), str(directory)],
        cwd=NODE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=(directory.parent / "node.log").open("ab"),
    )
    wait_for_port(port, process, "node @tus/server")
    return process, port


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(MIB):
            digest.update(block)
    return digest.hexdigest()


# --- Finalize on a real Celery worker -----------------------------------------------------


def celery_finalize(work: Path, env: dict[str, str], version_ids: list[str]) -> tuple[float, float]:
    """Start one Celery worker (solo pool: the task runs in the process measured) on the
    embedded broker, where the uploads queued their finalize tasks; wait for every
    verdict. Returns (seconds, worker peak RSS in MiB)."""
    from files.models import FileVersion, ScanStatus

    started = time.perf_counter()
    process = celery_worker(
        env, ["--pool", "solo", "--without-heartbeat"], (work / "celery.log").open("ab")
    )
    waiting = (ScanStatus.PENDING, ScanStatus.SCANNING)
    try:
        deadline = time.monotonic() + 1800
        while FileVersion.objects.filter(pk__in=version_ids, scan_status__in=waiting).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the Celery worker did not finalize the uploads (celery.log)")
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        return seconds, peak_mib(process.pid)
    finally:
        stop(process)


def version_sha256(version: Any) -> str:
    """SHA-256 of the stored version's plaintext (the finalize task records it; the
    bench checks the blob itself, outside the timed part)."""
    from files.crypto import BlobDecryptor
    from files.keys import associated_data, data_key_unwrap
    from files.storage import blob_store

    data_key = data_key_unwrap(
        version_id=version.pk, kek_id=version.kek_id, wrapped=bytes(version.wrapped_data_key)
    )
    reader = blob_store().reader(version.blob_key, span=(0, version.ciphertext_size))
    digest = hashlib.sha256()
    try:
        decryptor = BlobDecryptor(
            data_key, associated_data(version.pk), reader.read_at, version.ciphertext_size
        )
        for plaintext in decryptor.decrypt_all():
            digest.update(plaintext)
    finally:
        reader.close()
    return digest.hexdigest()


def django_prepare(data_dir: Path, extra: dict[str, str]) -> tuple[dict[str, str], str]:
    env = embedded_env(
        data_dir,
        {**extra, "SECUREDRIVE_FILES_PERSONAL_QUOTA_BYTES": str(1024 * 2**30)},
        inherit=True,
    )
    django_setup(env)
    from accounts import tokens
    from accounts.models import AccountPolicy, User

    AccountPolicy.objects.update_or_create(pk=1, defaults={"login_notification": False})
    user = User.objects.create_user("bench@hopital.example", None, full_name="Bench")
    _token, plaintext = tokens.token_create(
        actor=user, name="bench", scopes=["write"], expires_in_days=1
    )
    return env, plaintext


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=1024)
    # The product's own uploader sends 64 MiB PATCHes (static/securedrive/dropzone.js,
    # CHUNK_SIZE): the default measures what a clinician's browser does.
    parser.add_argument("--patch-mib", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--py-spy", metavar="FILE", help="sample the gunicorn worker during the timed runs"
    )
    parser.add_argument(
        "--node", action=argparse.BooleanOptionalAction, default=True, help="Node reference"
    )
    parser.add_argument(
        "--finalize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="finalize the uploads on a real Celery worker and report its peak RSS",
    )
    parser.add_argument(
        "--clamd",
        default=os.environ.get("SECUREDRIVE_TEST_CLAMD_ADDRESS", ""),
        help="clamd for the finalize worker (default: the test clamd, if any)",
    )
    parser.add_argument(
        "--scan-max-mib",
        type=int,
        default=60,
        help="SECUREDRIVE_SCAN_MAX_BYTES for the worker: keep it under clamd's "
        "StreamMaxLength (the test clamd: 64M); larger files are decrypted and hashed "
        "but not streamed to clamd",
    )
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    # 64 is the product's; 1 shows what a PATCH costs apart from its bytes, and the
    # file's whole size (one PATCH, tus-js-client's default) what the streaming costs.
    if not 1 <= args.patch_mib <= max(64, args.mib):
        print("--patch-mib must be 1..max(64, --mib)", file=sys.stderr)
        return 2
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        print("nginx is not installed (Debian: apt-get install -y nginx)", file=sys.stderr)
        return 2
    node_script = node_reference_install() if args.node else None
    if args.node and node_script is None:
        print("node/npm are not installed: no Node reference", file=sys.stderr)
    size = args.mib * MIB
    work = Path(tempfile.mkdtemp(prefix="sd-bench-upload-", dir=ROOT / "var"))
    work.chmod(0o755)
    www = work / "www"
    www.mkdir()
    www.chmod(0o777)  # nginx's worker runs as an unprivileged user
    processes: list[subprocess.Popen[bytes]] = []
    extra = {}
    if args.finalize and args.clamd:
        extra = {
            "SECUREDRIVE_CLAMD_ADDRESS": args.clamd,
            "SECUREDRIVE_SCAN_MAX_BYTES": str(args.scan_max_mib * MIB),
            "SECUREDRIVE_SCAN_OVERSIZE_POLICY": "allow",
        }
    node_runs: list[float] = []
    node_peak = 0.0
    cpu: dict[str, list[float]] = {}
    kernel: dict[str, list[float]] = {}
    finalize_seconds, celery_peak = 0.0, 0.0
    try:
        env, token = django_prepare(work / "data", extra)
        from files.models import FileVersion

        nginx, nginx_port = nginx_dav_start(work, www)
        processes.append(nginx)
        gunicorn = Gunicorn.start(work, env, workers=1)
        processes.append(gunicorn.process)
        node: subprocess.Popen[bytes] | None = None
        if node_script is not None:
            node, node_port = node_reference_start(node_script, work / "node-files")
            processes.append(node)
        bearer = {"Authorization": f"Bearer {token}"}
        nginx_runs: list[float] = []
        nginx_durable_runs: list[float] = []
        tus_runs: list[float] = []
        version_ids: list[str] = []
        # Warm-up, untimed: the first request of a worker imports and connects.
        nginx_put(nginx_port, MIB, "warm-up.bin", os.urandom(MIB))
        tus_upload(gunicorn.port, bearer, MIB, MIB, "warm-up.bin")
        if node is not None:
            tus_upload(node_port, {}, MIB, MIB, "warm-up.bin", "/files")
        cpu = {"nginx": [], "securedrive": [], "node": []}
        kernel = {"nginx": [], "securedrive": [], "node": []}
        profiler = Profiler(gunicorn.workers()[0], args.py_spy) if args.py_spy else None
        for run in range(args.repeats):
            nginx_workers = process_tree(nginx.pid)
            before = cpu_seconds(nginx_workers)
            kernel_before = kernel_threads_cpu_seconds()
            nginx_runs.append(nginx_put(nginx_port, size, f"put-{run}.bin", os.urandom(MIB)))
            # nginx answers before its bytes are on disk; SecureDrive fsyncs before it
            # moves the offset. The same durability for nginx: fsync the file after,
            # and count the CPU that fsync costs (in this thread) as nginx's.
            started = time.perf_counter()
            fsync_cpu = thread_cpu_seconds()
            descriptor = os.open(www / f"put-{run}.bin", os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            fsync_cpu = thread_cpu_seconds() - fsync_cpu
            nginx_durable_runs.append(nginx_runs[-1] + time.perf_counter() - started)
            cpu["nginx"].append(cpu_seconds(nginx_workers) - before + fsync_cpu)
            kernel["nginx"].append(kernel_threads_cpu_seconds() - kernel_before)
            (www / f"put-{run}.bin").unlink()
            web_workers = process_tree(gunicorn.process.pid)
            before = cpu_seconds(web_workers)
            kernel_before = kernel_threads_cpu_seconds()
            seconds, sha256, _path = tus_upload(
                gunicorn.port, bearer, size, args.patch_mib * MIB, f"tus-{run}.bin"
            )
            cpu["securedrive"].append(cpu_seconds(web_workers) - before)
            kernel["securedrive"].append(kernel_threads_cpu_seconds() - kernel_before)
            version = FileVersion.objects.get(file__name=f"tus-{run}.bin")
            if version_sha256(version) != sha256 or version.size != size:
                print("the uploaded version does not match what was sent", file=sys.stderr)
                return 1
            version_ids.append(str(version.pk))
            if not args.finalize:
                blob = work / "data" / "storage" / version.blob_key
                blob.unlink(missing_ok=True)  # keep the disk from filling up
            tus_runs.append(seconds)
            if node is not None:
                before = cpu_seconds([node.pid])
                kernel_before = kernel_threads_cpu_seconds()
                seconds, sha256, path = tus_upload(
                    node_port, {}, size, args.patch_mib * MIB, f"node-{run}.bin", "/files"
                )
                cpu["node"].append(cpu_seconds([node.pid]) - before)
                kernel["node"].append(kernel_threads_cpu_seconds() - kernel_before)
                stored = work / "node-files" / path.rsplit("/", 1)[1]
                if file_sha256(stored) != sha256:
                    print("the Node reference stored something else", file=sys.stderr)
                    return 1
                stored.unlink()
                node_runs.append(seconds)
        if profiler is not None:
            profiler.stop()
        peak = gunicorn.worker_peak_mib()
        if node is not None:
            node_peak = peak_mib(node.pid)
        if args.finalize and args.clamd:
            finalize_seconds, celery_peak = celery_finalize(work, env, version_ids)
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)

    gib = size / 2**30

    def rate(runs: list[float]) -> tuple[float, str]:
        rates = sorted(size / seconds / 1e6 for seconds in runs)
        return statistics.median(rates), f"{rates[0]:.0f}-{rates[-1]:.0f}"

    def cpu_figure(name: str) -> tuple[float, str]:
        runs = sorted(value / gib for value in cpu[name])
        return statistics.median(runs), f"{runs[0]:.2f}-{runs[-1]:.2f}"

    nginx_rate, nginx_spread = rate(nginx_runs)
    durable_rate, durable_spread = rate(nginx_durable_runs)
    tus_rate, tus_spread = rate(tus_runs)
    ratio = tus_rate / durable_rate
    pairs = sorted(d / t for t, d in zip(tus_runs, nginx_durable_runs, strict=True))
    nginx_cpu, nginx_cpu_spread = cpu_figure("nginx")
    tus_cpu, tus_cpu_spread = cpu_figure("securedrive")
    print(f"{'path':<64}{'MB/s':>7}{'runs':>12}{'vs fsync':>9}{'CPU s/GiB':>22}")
    print("-" * 114)
    print(
        f"{'nginx WebDAV PUT to disk':<64}{nginx_rate:>7.0f}{nginx_spread:>12}"
        f"{nginx_rate / durable_rate:>9.2f}"
    )
    label = "nginx WebDAV PUT, then fsync of the file (durable, as tus commits)"
    print(
        f"{label:<64}{durable_rate:>7.0f}{durable_spread:>12}{1:>9.2f}"
        f"{nginx_cpu:>10.2f} ({nginx_cpu_spread})"
    )
    label = f"SecureDrive tus, {args.patch_mib} MiB PATCHes (auth, audit, encrypt)"
    print(
        f"{label:<64}{tus_rate:>7.0f}{tus_spread:>12}{ratio:>9.2f}"
        f"{tus_cpu:>10.2f} ({tus_cpu_spread})"
    )
    figures: dict[str, Any] = {
        "size_mib": args.mib,
        "patch_mib": args.patch_mib,
        "repeats": args.repeats,
        "nginx_webdav_put_mb_s": round(nginx_rate, 1),
        "nginx_webdav_put_fsync_mb_s": round(durable_rate, 1),
        "securedrive_tus_mb_s": round(tus_rate, 1),
        "ratio_vs_nginx": round(tus_rate / nginx_rate, 3),
        "ratio_vs_nginx_fsync": round(ratio, 3),
        "ratio_vs_nginx_fsync_runs": [round(value, 3) for value in pairs],
        "ratio_target": RATIO_TARGET,
        "ratio_met": ratio >= RATIO_TARGET,
        "worker_peak_rss_mib": round(peak, 1),
        "rss_target_mib": RSS_TARGET_MIB,
    }
    if node_runs:
        node_rate, node_spread = rate(node_runs)
        node_ratio = tus_rate / node_rate
        node_cpu, node_cpu_spread = cpu_figure("node")
        label = f"Node @tus/server + @tus/file-store, {args.patch_mib} MiB (no encryption)"
        print(
            f"{label:<64}{node_rate:>7.0f}{node_spread:>12}{node_rate / durable_rate:>9.2f}"
            f"{node_cpu:>10.2f} ({node_cpu_spread})"
        )
        print(f"SecureDrive / Node: {node_ratio:.2f} (target >= {NODE_RATIO_TARGET})")
        figures.update(
            node_tus_mb_s=round(node_rate, 1),
            ratio_vs_node=round(node_ratio, 3),
            node_ratio_target=NODE_RATIO_TARGET,
            node_ratio_met=node_ratio >= NODE_RATIO_TARGET,
            node_peak_rss_mib=round(node_peak, 1),
        )
    verdict = "PASS" if ratio >= RATIO_TARGET else "BELOW TARGET"
    print(f"SecureDrive / (nginx PUT + fsync): {ratio:.2f} (target >= {RATIO_TARGET}): {verdict}")
    cpu_per_gib = {name: statistics.median(runs) / gib for name, runs in cpu.items() if runs}
    figures["server_cpu_s_per_gib"] = {name: round(v, 3) for name, v in cpu_per_gib.items()}
    one_core = {name: one_core_mb_per_s(value) for name, value in cpu_per_gib.items()}
    print(
        "1 core (the MB/s each server's CPU cost allows on one core, the other being busy "
        "with the client): " + ", ".join(f"{name} {rate:.0f}" for name, rate in one_core.items())
    )
    figures["one_core_mb_per_s"] = {name: round(rate) for name, rate in one_core.items()}
    verdict = "PASS" if tus_cpu <= CPU_TARGET_S_PER_GIB else "BELOW TARGET"
    print(f"target <= {CPU_TARGET_S_PER_GIB} server CPU s/GiB: {verdict} ({tus_cpu:.2f})")
    figures["cpu_target_s_per_gib"] = CPU_TARGET_S_PER_GIB
    figures["cpu_met"] = tus_cpu <= CPU_TARGET_S_PER_GIB
    kernel_per_gib = {name: statistics.median(runs) / gib for name, runs in kernel.items() if runs}
    print(
        "kernel threads (writeback, softirq; the whole machine's, so read it on a quiet "
        "one), CPU s/GiB during each server's runs: "
        + ", ".join(f"{name} {value:.2f}" for name, value in kernel_per_gib.items())
        + "; server + kernel threads: "
        + ", ".join(
            f"{name} {cpu_per_gib[name] + value:.2f}" for name, value in kernel_per_gib.items()
        )
    )
    figures["kernel_threads_cpu_s_per_gib"] = {
        name: round(value, 3) for name, value in kernel_per_gib.items()
    }
    print(f"gunicorn worker peak RSS (VmHWM): {peak:.0f} MiB")
    if celery_peak:
        count = len(tus_runs)
        print(
            f"Celery worker finalizing {count} x {args.mib} MiB: {finalize_seconds:.1f} s, "
            f"peak RSS (VmHWM) {celery_peak:.0f} MiB"
        )
        figures.update(
            finalize_seconds=round(finalize_seconds, 2),
            finalize_count=count,
            celery_worker_peak_rss_mib=round(celery_peak, 1),
            scan_max_mib=args.scan_max_mib,
        )
    figures["rss_met"] = max(peak, celery_peak) < RSS_TARGET_MIB
    load = os.getloadavg()[0]
    figures.update(cpu_count=os.cpu_count(), load_average_1m=round(load, 2))
    print(f"{os.cpu_count()} CPU(s), load average {load_before:.1f} before, {load:.1f} after")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
