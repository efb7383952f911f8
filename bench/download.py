"""Authenticated download through the real view under gunicorn, against nginx sendfile.

What it measures, in one run, on loopback:

* **Throughput.** A 1 GiB file downloaded through SecureDrive's real download view
  (``/files/<id>/download/``) served by gunicorn with the project's own configuration
  (``securedrive/gunicorn.conf.py``: gthread): session cookie, MFA-verified session,
  session policy middleware, access check, audit event, key unwrap, segment-by-segment
  AES-256-GCM decryption and ``StreamingHttpResponse``. The baseline is nginx serving a
  1 GiB plaintext file with ``sendfile on`` from a private configuration. Runs
  alternate (nginx, gunicorn, nginx, ...) after one untimed warm-up each (which also
  checks the SHA-256 of what SecureDrive sent); the figure is the median. Target:
  SecureDrive >= 0.85 x nginx.
* **Memory.** Peak resident memory (``VmHWM``) of the gunicorn worker that served a
  1 GiB download, then of a fresh worker that served a 4 GiB one. Target: the 4 GiB
  peak is no higher than the 1 GiB peak (a 16 MiB tolerance for noise) and under
  150 MiB.

Everything lives in a temporary folder: an embedded-mode SQLite database, the keyring,
the storage folder with the blobs, nginx's document root. The client is the same for
both servers: one raw socket reading into a reused 1 MiB buffer (it never parses or
keeps the body), so the two are measured alike.

    .venv/bin/python bench/download.py                 # ~40 s on 2 vCPUs
    .venv/bin/python bench/download.py --mib 256 --big-mib 1024 --repeats 1   # quick look

Result (2026-11-23, the shared 2-vCPU development VM, Python 3.11.7, gunicorn 27
gthread, nginx 1.22.1; two consecutive default runs, load average 2-4 from other work)::

    path                                                        MB/s       runs (MB/s)  vs nginx
    nginx, static plaintext, sendfile                           3234         3127-3412      1.00
    SecureDrive view under gunicorn (auth, audit, decrypt)      2963         2818-3492      0.92

    gunicorn worker memory (VmHWM)             before    after
    download of 1024 MiB                         104M     110M
    download of 4096 MiB                         104M     110M

    second run: nginx 2607, SecureDrive 2578 MB/s (0.99); 110 / 111 MiB

Reading it: the ratio moves with the machine's load (one run during a parallel test
suite, load ~6, gave 0.71), so compare runs made back to back. Memory: ~104 MiB is
Django and the imports; a download adds ~6 MiB (a reused read buffer, a few 1 MiB
segments in flight), the same for 4 GiB as for 1 GiB.

Since issue #18 the view decrypts up to two segments ahead in a helper thread
(``files/ahead.py``) while the request thread sends, and this script also times, in
the same alternating runs, a bare decrypting server (``bench/decrypt_floor.py``: the
product's decryptor and hand-over on a raw socket, no Django) with and without that
thread (``--no-floor`` leaves them out; ``--native`` adds the same loop in C,
``bench/decrypt_floor_native.c``, built with the system's cc and libcrypto). Each row
prints the server's CPU seconds per GiB, the MB/s that cost allows on one core, and the
client's own CPU per GiB. Latest figures and their reading: bench/README.md, "After,
part 3".

Needs nginx (Debian: ``apt-get install -y nginx``; it is started here, on 127.0.0.1,
with its own configuration and stopped at the end). Prints a table, then as its last
line one JSON object of the figures. Exit status 0 whatever the figures; 1 if a
download came back wrong; 2 if nginx is missing or an argument is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench_support import (
    MIB,
    ROOT,
    Gunicorn,
    Profiler,
    cpu_seconds,
    django_setup,
    embedded_env,
    free_port,
    one_core_mb_per_s,
    process_tree,
    stop,
    wait_for_port,
)

RSS_TOLERANCE_MIB = 16
RSS_LIMIT_MIB = 150
FLOOR_AHEAD = "bare decrypting server, decrypt ahead (no Django)"
FLOOR_ONE = "bare decrypting server, one thread"
NATIVE_ONE = "the same in C, system libcrypto, one thread"
NATIVE_AHEAD = "the same in C, system libcrypto, decrypt ahead"
RATIO_TARGET = 0.85
CPU_TARGET_S_PER_GIB = 0.35  # server user + system CPU seconds per GiB sent (issue #18)


# --- Content ------------------------------------------------------------------------------


def blocks(size: int) -> Iterator[bytes]:
    """Incompressible, distinct 1 MiB blocks (a random block with its index stamped)."""
    base = bytearray(os.urandom(MIB))
    for index in range(size // MIB):
        base[:8] = index.to_bytes(8, "big")
        yield bytes(base)


# --- Processes ----------------------------------------------------------------------------


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, work: Path, www: Path) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        port = free_port()
        config = work / "nginx.conf"
        temp = work / "nginx-temp"
        temp.mkdir()
        config.write_text(
            f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {www};
    }}
}}
"""
        )
        process = subprocess.Popen(
            [binary, "-c", str(config), "-p", str(work)],
            stdout=subprocess.DEVNULL,
            stderr=(work / "nginx-stderr.log").open("wb"),
        )
        wait_for_port(port, process, "nginx")
        return cls(process, port)


@dataclass
class Floor:
    """A bare decrypting server (bench/decrypt_floor.py, or the C one with ``--native``)
    serving the floor blob: the per-byte work alone, for comparison."""

    process: subprocess.Popen[bytes]
    port: int
    label: str

    @classmethod
    def start(cls, command: Callable[[int], list[str]], label: str, work: Path) -> Floor:
        port = free_port()
        process = subprocess.Popen(
            command(port),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(work / "floor.log").open("ab"),
        )
        wait_for_port(port, process, label)
        return cls(process, port, label)


def floor_blob(work: Path, size: int) -> tuple[Path, bytes, bytes, bytes, str]:
    """A file of ``size`` encrypted like a stored version, under a fresh key: (blob,
    data key, associated data, the AES key derived for it (the C server's), SHA-256)."""
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from files import crypto

    data_key, associated = os.urandom(crypto.DATA_KEY_SIZE), b"bench-floor"
    encryptor = crypto.BlobEncryptor(data_key, associated)
    blob = work / "floor.blob"
    digest = hashlib.sha256()
    with blob.open("wb") as out:
        out.write(encryptor.header())
        for block in blocks(size):
            digest.update(block)
            for sealed in encryptor.update(block):
                out.write(sealed)
        out.write(encryptor.finalize())
    salt = encryptor.header()[11 : 11 + crypto.SALT_SIZE]  # magic 6, version 1, size 4
    derived = HKDF(
        algorithm=SHA256(), length=32, salt=salt, info=crypto.HKDF_INFO_PREFIX + associated
    ).derive(data_key)
    return blob, data_key, associated, derived, digest.hexdigest()


def native_floor_build(work: Path) -> str | None:
    """bench/decrypt_floor_native.c compiled against the system's libcrypto, or None
    (with the reason printed) when there is no C compiler or no OpenSSL headers."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        print("--native: no C compiler (apt-get install -y gcc libssl-dev)", file=sys.stderr)
        return None
    binary = work / "decrypt_floor_native"
    built = subprocess.run(
        [
            compiler,
            "-O2",
            "-o",
            str(binary),
            str(ROOT / "bench" / "decrypt_floor_native.c"),
            "-lcrypto",
            "-lpthread",
        ],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        print(f"--native: build failed (libssl-dev?): {built.stderr.strip()}", file=sys.stderr)
        return None
    return str(binary)


def aes_gcm_rates() -> dict[str, float]:
    """AES-256-GCM decryption, MB/s of 1 MiB segments: Python's cryptography (the
    product's) and the system's ``openssl speed`` (the C floor's), when present."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    cipher, nonce = AESGCM(bytes(32)), bytes(12)
    sealed = cipher.encrypt(nonce, os.urandom(MIB), None)
    started = time.process_time()
    for _ in range(512):
        cipher.decrypt(nonce, sealed, None)
    rates = {"cryptography": 512 * MIB / (time.process_time() - started) / 1e6}
    openssl = shutil.which("openssl")
    if openssl:
        speed = subprocess.run(
            [openssl, "speed", "-seconds", "1", "-bytes", str(MIB), "-evp", "aes-256-gcm"],
            capture_output=True,
            text=True,
        )
        for line in speed.stdout.splitlines():
            if line.startswith("AES-256-GCM"):
                rates["system_openssl"] = float(line.split()[-1].rstrip("k")) * 1000 / 1e6
    return rates


# --- Client -------------------------------------------------------------------------------


@dataclass
class Download:
    status: int
    length: int
    received: int
    seconds: float
    sha256: str = ""
    client_cpu: float = 0.0  # the client thread's user + system CPU seconds

    @property
    def mb_per_s(self) -> float:
        return self.received / self.seconds / 1e6


def response_head(connection: socket.socket, request: str) -> tuple[int, int, bytes]:
    """Send ``request``, read the response's head: (status, Content-Length, the first
    bytes of the body that came with it)."""
    connection.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(65536)
        if not chunk:
            raise SystemExit("server closed the connection before the headers")
        head += chunk
    header_block, _, body_start = head.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return status, int(headers.get("content-length", "0")), body_start


def download(
    port: int, path: str, cookie: str = "", *, digest: bool = False, first_byte: bool = False
) -> Download:
    """GET over one socket, reading into a reused 1 MiB buffer."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    if cookie:
        request += f"Cookie: {cookie}\r\n"
    if first_byte:
        request += "Range: bytes=0-0\r\n"
    request += "User-Agent: securedrive-bench\r\n\r\n"
    buffer = bytearray(MIB)
    view = memoryview(buffer)
    hasher = hashlib.sha256() if digest else None
    started, cpu_started = time.perf_counter(), time.thread_time()
    with socket.create_connection(("127.0.0.1", port)) as connection:
        status, length, body_start = response_head(connection, request)
        received = len(body_start)
        if hasher is not None:
            hasher.update(body_start)
        while received < length:
            count = connection.recv_into(view)
            if not count:
                break
            if hasher is not None:
                hasher.update(view[:count])
            received += count
    seconds, client_cpu = time.perf_counter() - started, time.thread_time() - cpu_started
    return Download(
        status, length, received, seconds, hasher.hexdigest() if hasher else "", client_cpu
    )


# --- SecureDrive side ---------------------------------------------------------------------


def django_prepare(
    data_dir: Path, sizes: list[int]
) -> tuple[dict[str, str], str, dict[int, tuple[int, str]]]:
    """Migrate a fresh embedded database, make a signed-in person and their files.

    Returns (environment for gunicorn, session cookie, {size: (file id, sha256)}).
    """
    env = embedded_env(data_dir, inherit=True)
    django_setup(env)
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts.models import AccountPolicy, User
    from accounts.totp import AuthenticatorApp
    from files import services
    from files.models import ScanStatus
    from files.uploads import BlobIngest

    AccountPolicy.objects.update_or_create(pk=1, defaults={"login_notification": False})
    user = User.objects.create_user("bench@hopital.example", None, full_name="Bench")
    device = AuthenticatorApp.objects.create(user=user, name="bench", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    from django.conf import settings

    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
    root = services.space_root(services.space_personal_get_or_create(user=user))
    files: dict[int, tuple[int, str]] = {}
    for size in sizes:
        ingest = BlobIngest(max_bytes=size)
        for block in blocks(size):
            ingest.write(block)
        sealed = ingest.finish()
        version = services.file_upload(
            actor=user, folder=root, name=f"bench-{size // MIB}-mib.bin", sealed=sealed
        )
        services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
        files[size] = (version.file_id, sealed.sha256)
    return env, cookie, files


# --- Main ---------------------------------------------------------------------------------


def spread(runs: list[Download]) -> str:
    rates = sorted(run.mb_per_s for run in runs)
    return f"{rates[0]:.0f}-{rates[-1]:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="throughput file size (MiB)")
    parser.add_argument("--big-mib", type=int, default=4096, help="large file for memory (MiB)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per server")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--py-spy", metavar="FILE", help="sample the worker during the timed runs (py-spy)"
    )
    parser.add_argument(
        "--server",
        choices=["gunicorn", "granian"],
        default="gunicorn",
        help="WSGI server for SecureDrive (granian: evaluation only, issue #18)",
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="leave out the bare decrypting server (bench/decrypt_floor.py)",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="also the same loop in C against the system's libcrypto (needs cc, libssl-dev)",
    )
    args = parser.parse_args(argv)
    Gunicorn.server = args.server
    if args.mib < 128 or args.big_mib < args.mib or args.repeats < 1:
        # Below ~128 MiB a fast server's CPU time is a few clock ticks (10 ms each), or
        # none: its CPU-s/GiB would be noise, or a division by zero.
        parser.error("need --mib >= 128, --big-mib >= --mib, --repeats >= 1")
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        print("nginx is not installed (Debian: apt-get install -y nginx)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="securedrive-bench-download-"))
    work.chmod(0o755)  # nginx's worker runs as an unprivileged user
    processes: list[subprocess.Popen[bytes]] = []
    nginx_cpu: list[float] = []
    web_cpu: list[float] = []
    floors: list[Floor] = []
    floor_runs: dict[str, list[Download]] = {}
    floor_cpu: dict[str, list[float]] = {}
    started = time.monotonic()
    try:
        size, big = args.mib * MIB, args.big_mib * MIB
        print(f"download: preparing {args.mib} MiB and {args.big_mib} MiB files in {work} ...")
        env, cookie, files = django_prepare(work / "data", [size, big])
        www = work / "www"
        www.mkdir(mode=0o755)
        digest = hashlib.sha256()
        with (www / "plain.bin").open("wb") as plain:
            for block in blocks(size):
                plain.write(block)
                digest.update(block)
        (www / "plain.bin").chmod(0o644)

        nginx = Nginx.start(work, www)
        processes.append(nginx.process)
        web = Gunicorn.start(work, env, workers=1)
        processes.append(web.process)
        file_id, expected_sha256 = files[size]
        url = f"/files/{file_id}/download/"
        if not args.no_floor or args.native:
            blob, data_key, associated, derived, floor_sha256 = floor_blob(work, size)
            python_floor = [sys.executable, str(ROOT / "bench" / "decrypt_floor.py")]
            python_args = [str(blob), data_key.hex(), associated.decode()]
            commands: list[tuple[str, Callable[[int], list[str]]]] = []
            if not args.no_floor:
                commands += [
                    (FLOOR_AHEAD, lambda port: [*python_floor, str(port), *python_args]),
                    (
                        FLOOR_ONE,
                        lambda port: [*python_floor, str(port), *python_args, "--one-thread"],
                    ),
                ]
            native = native_floor_build(work) if args.native else None
            if native is not None:
                commands += [
                    (NATIVE_ONE, lambda port: [native, str(port), str(blob), derived.hex()]),
                    (
                        NATIVE_AHEAD,
                        lambda port: [native, str(port), str(blob), derived.hex(), "ahead"],
                    ),
                ]
            for label, command in commands:
                floor = Floor.start(command, label, work)
                processes.append(floor.process)
                floors.append(floor)
                warm = download(floor.port, "/", digest=True)
                if warm.sha256 != floor_sha256:
                    print(f"{label} sent a wrong body", file=sys.stderr)
                    return 1
                floor_runs[label], floor_cpu[label] = [], []

        # Warm-up (page cache, imports, connections), checking both answers are right.
        warm_nginx = download(nginx.port, "/plain.bin", digest=True)
        warm_web = download(web.port, url, cookie, digest=True)
        if warm_nginx.sha256 != digest.hexdigest() or warm_nginx.received != size:
            print("nginx did not send the plaintext file", file=sys.stderr)
            return 1
        if warm_web.status != 200 or warm_web.sha256 != expected_sha256:
            print(f"SecureDrive sent a wrong body (status {warm_web.status})", file=sys.stderr)
            return 1

        nginx_runs: list[Download] = []
        web_runs: list[Download] = []
        nginx_pids, web_pids = process_tree(nginx.process.pid), process_tree(web.process.pid)
        profiler = Profiler(web.workers()[0], args.py_spy) if args.py_spy else None
        for _ in range(args.repeats):
            before = cpu_seconds(nginx_pids)
            nginx_runs.append(download(nginx.port, "/plain.bin"))
            nginx_cpu.append(cpu_seconds(nginx_pids) - before)
            before = cpu_seconds(web_pids)
            web_runs.append(download(web.port, url, cookie))
            web_cpu.append(cpu_seconds(web_pids) - before)
            for floor in floors:
                before = cpu_seconds([floor.process.pid])
                floor_runs[floor.label].append(download(floor.port, "/"))
                floor_cpu[floor.label].append(cpu_seconds([floor.process.pid]) - before)
        if profiler is not None:
            profiler.stop()
        timed = web_runs + nginx_runs + [run for runs in floor_runs.values() for run in runs]
        if any(run.received != size or run.status not in {200} for run in timed):
            print("a timed download came back short", file=sys.stderr)
            return 1
        stop(web.process)

        # Memory: a fresh single-worker gunicorn per size, so each peak is its own.
        peaks: dict[int, float] = {}
        baseline: dict[int, float] = {}
        for measured in (size, big):
            fresh = Gunicorn.start(work, env, workers=1)
            processes.append(fresh.process)
            file_id, _sha256 = files[measured]
            # One byte first: imports, database connection, key unwrap, first decrypt.
            probe = download(fresh.port, f"/files/{file_id}/download/", cookie, first_byte=True)
            if probe.status != 206:
                print(f"the one-byte probe answered {probe.status}", file=sys.stderr)
                return 1
            baseline[measured] = fresh.worker_peak_mib()
            run = download(fresh.port, f"/files/{file_id}/download/", cookie)
            if run.received != measured:
                print("the memory run came back short", file=sys.stderr)
                return 1
            peaks[measured] = fresh.worker_peak_mib()
            stop(fresh.process)
    finally:
        for process in processes:
            stop(process, signal.SIGQUIT if process is processes[0] else signal.SIGTERM)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    nginx_rate = statistics.median(run.mb_per_s for run in nginx_runs)
    web_rate = statistics.median(run.mb_per_s for run in web_runs)
    ratio = web_rate / nginx_rate
    small_peak, big_peak = peaks[size], peaks[big]
    memory_ok = big_peak <= small_peak + RSS_TOLERANCE_MIB and big_peak < RSS_LIMIT_MIB
    load = os.getloadavg()[0]

    gib = size / 2**30
    nginx_cpu_gib = statistics.median(nginx_cpu) / gib
    web_cpu_gib = statistics.median(web_cpu) / gib
    ratios = sorted(w.mb_per_s / n.mb_per_s for w, n in zip(web_runs, nginx_runs, strict=True))
    rows = [
        ("nginx, static plaintext, sendfile", nginx_runs, nginx_cpu),
        ("SecureDrive view under gunicorn (auth, audit, decrypt)", web_runs, web_cpu),
        *((label, floor_runs[label], floor_cpu[label]) for label in floor_runs),
    ]
    print()
    print(
        f"{'path':<56} {'MB/s':>7} {'runs (MB/s)':>17} {'vs nginx':>9} {'CPU s/GiB':>17} "
        f"{'1 core':>7} {'client':>7}"
    )
    print("-" * 125)
    for label, runs, cpu in rows:
        rate = statistics.median(run.mb_per_s for run in runs)
        median_cpu = statistics.median(cpu) / gib
        client = statistics.median(run.client_cpu for run in runs) / gib
        print(
            f"{label:<56} {rate:>7.0f} {spread(runs):>17} {rate / nginx_rate:>9.2f} "
            f"{median_cpu:>5.2f} ({min(cpu) / gib:.2f}-{max(cpu) / gib:.2f}) "
            f"{one_core_mb_per_s(median_cpu):>7.0f} {client:>7.2f}"
        )
    print(f"pairwise SecureDrive / nginx ratios: {ratios[0]:.2f}-{ratios[-1]:.2f}")
    print(
        "1 core: the MB/s that server's CPU cost allows on one core, the other being busy "
        "with the client (1 GiB / CPU s per GiB); client: the client's CPU s/GiB "
        f"(with {os.cpu_count()} cores, no server can go past "
        f"{os.cpu_count()} GiB / (its CPU s/GiB + the client's))"
    )
    aes = aes_gcm_rates()
    print(
        "AES-256-GCM, 1 MiB segments, one core: "
        + ", ".join(f"{name} {rate:.0f} MB/s" for name, rate in aes.items())
    )
    print()
    print(f"{'gunicorn worker memory (VmHWM)':<40} {'before':>8} {'after':>8}")
    print("-" * 58)
    for measured in (size, big):
        label = f"download of {measured // MIB} MiB"
        print(f"{label:<40} {baseline[measured]:>7.0f}M {peaks[measured]:>7.0f}M")
    print()
    verdict = "PASS" if ratio >= RATIO_TARGET else "BELOW TARGET"
    print(f"target >= {RATIO_TARGET} x nginx throughput: {verdict} ({ratio:.2f})")
    verdict = "PASS" if web_cpu_gib <= CPU_TARGET_S_PER_GIB else "BELOW TARGET"
    print(f"target <= {CPU_TARGET_S_PER_GIB} server CPU s/GiB: {verdict} ({web_cpu_gib:.2f})")
    verdict = "PASS" if memory_ok else "BELOW TARGET"
    print(
        f"target 4 GiB peak <= 1 GiB peak and < {RSS_LIMIT_MIB} MiB: {verdict} "
        f"({big_peak:.0f} vs {small_peak:.0f} MiB)"
    )
    print(f"{os.cpu_count()} CPU(s), load average {load:.1f}, {time.monotonic() - started:.0f} s")
    figures = {
        "file_mib": args.mib,
        "big_file_mib": args.big_mib,
        "nginx_mb_per_s": round(nginx_rate),
        "securedrive_mb_per_s": round(web_rate),
        "securedrive_vs_nginx_ratio": round(ratio, 3),
        "nginx_runs_mb_per_s": [round(r.mb_per_s) for r in nginx_runs],
        "securedrive_runs_mb_per_s": [round(r.mb_per_s) for r in web_runs],
        "ratio_runs": [round(r, 3) for r in ratios],
        "nginx_cpu_s_per_gib": round(nginx_cpu_gib, 3),
        "securedrive_cpu_s_per_gib": round(web_cpu_gib, 3),
        "securedrive_cpu_s_per_gib_runs": [round(c / gib, 3) for c in web_cpu],
        "nginx_one_core_mb_per_s": round(one_core_mb_per_s(nginx_cpu_gib)),
        "client_cpu_s_per_gib": {
            label: round(statistics.median(run.client_cpu for run in runs) / gib, 3)
            for label, runs, _cpu in rows
        },
        "securedrive_one_core_mb_per_s": round(one_core_mb_per_s(web_cpu_gib)),
        "floors": {
            label: {
                "mb_per_s": round(statistics.median(run.mb_per_s for run in runs)),
                "vs_nginx_ratio": round(
                    statistics.median(run.mb_per_s for run in runs) / nginx_rate, 3
                ),
                "securedrive_vs_this_ratio": round(
                    web_rate / statistics.median(run.mb_per_s for run in runs), 3
                ),
                "cpu_s_per_gib": round(statistics.median(cpu) / gib, 3),
            }
            for label, runs, cpu in rows[2:]
        },
        "aes_256_gcm_mb_per_s": {name: round(rate) for name, rate in aes.items()},
        "target_cpu_s_per_gib": CPU_TARGET_S_PER_GIB,
        "target_cpu_met": web_cpu_gib <= CPU_TARGET_S_PER_GIB,
        "worker_peak_rss_mib_small": round(small_peak, 1),
        "worker_peak_rss_mib_big": round(big_peak, 1),
        "worker_rss_before_mib_small": round(baseline[size], 1),
        "worker_rss_before_mib_big": round(baseline[big], 1),
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
