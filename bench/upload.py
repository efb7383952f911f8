"""Resumable upload through the real tus view under gunicorn, against nginx WebDAV PUT.

What it measures, in one run, on loopback, storage on the same local disk:

* **SecureDrive**: a 1 GiB file uploaded through ``/api/v1/uploads/`` (tus 1.0) served
  by gunicorn with the project's configuration: personal access token, scope check,
  creation with quota check and audit event, then PATCHes of ``--patch-mib`` MiB each
  (encrypted record by record into chunk objects, fsync'ed, offset committed), and on
  the last one the assembly of the version's blob (decrypt, SHA-256, libmagic,
  re-encrypt under the version's data key) and the version row. The clock runs from
  the POST to the last 204: what a client waits for.
* **nginx**: the same bytes sent with one WebDAV ``PUT`` to an nginx (``dav_methods
  PUT``) whose document root is on the same disk.

Runs alternate (nginx, SecureDrive, ...); the figure is the median of ``--repeats``.
Also the peak resident memory (VmHWM) of the gunicorn worker. The client streams the
same generated blocks to both (nothing held in memory).

    .venv/bin/python bench/upload.py                    # 1 GiB, 32 MiB PATCHes
    .venv/bin/python bench/upload.py --mib 256 --repeats 1   # quick look

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from download import MIB, ROOT, Gunicorn, blocks, free_port, stop, wait_for_port

RATIO_TARGET = 0.6


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


def counted(size: int, digest: hashlib._Hash | None = None) -> Iterator[bytes]:
    for block in blocks(size):
        if digest is not None:
            digest.update(block)
        yield block


def nginx_put(port: int, size: int, name: str) -> float:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(
        "PUT",
        f"/{name}",
        body=counted(size),
        headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    if response.status not in {201, 204}:
        raise SystemExit(f"nginx PUT answered {response.status}")
    return time.perf_counter() - started


def tus_upload(port: int, token: str, size: int, patch: int, name: str) -> tuple[float, str]:
    digest = hashlib.sha256()
    source = counted(size, digest)
    auth = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    filename = base64.b64encode(name.encode()).decode()
    connection.request(
        "POST",
        "/api/v1/uploads/",
        headers={**auth, "Upload-Length": str(size), "Upload-Metadata": f"filename {filename}"},
    )
    response = connection.getresponse()
    response.read()
    if response.status != 201:
        raise SystemExit(f"tus creation answered {response.status}")
    path = "/api/v1/uploads/" + response.getheader("Location", "").rstrip("/").rsplit("/", 1)[1]
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
            path + "/",
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
            raise SystemExit(f"tus PATCH answered {response.status}")
        offset += length
    connection.close()
    return time.perf_counter() - started, digest.hexdigest()


def django_prepare(data_dir: Path) -> tuple[dict[str, str], str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "securedrive.settings",
        "SECUREDRIVE_PROFILE": "embedded",
        "SECUREDRIVE_DATA_DIR": str(data_dir),
        "SECUREDRIVE_LOG_LEVEL": "WARNING",
        "SECUREDRIVE_FILES_PERSONAL_QUOTA_BYTES": str(1024 * 2**30),
    }
    for name in ("DATABASE_URL", "SECUREDRIVE_REDIS_URL", "SECUREDRIVE_EMAIL_URL"):
        env.pop(name, None)
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from accounts import tokens
    from accounts.models import AccountPolicy, User

    call_command("migrate", verbosity=0)
    AccountPolicy.objects.update_or_create(pk=1, defaults={"login_notification": False})
    user = User.objects.create_user("bench@hopital.example", None, full_name="Bench")
    _token, plaintext = tokens.token_create(
        actor=user, name="bench", scopes=["write"], expires_in_days=1
    )
    return env, plaintext


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--patch-mib", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not 16 <= args.patch_mib <= 64:
        print("--patch-mib must be 16..64", file=sys.stderr)
        return 2
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        print("nginx is not installed (Debian: apt-get install -y nginx)", file=sys.stderr)
        return 2
    size = args.mib * MIB
    work = Path(tempfile.mkdtemp(prefix="sd-bench-upload-", dir=ROOT / "var"))
    work.chmod(0o755)
    www = work / "www"
    www.mkdir()
    www.chmod(0o777)  # nginx's worker runs as an unprivileged user
    processes: list[subprocess.Popen[bytes]] = []
    try:
        env, token = django_prepare(work / "data")
        from files.models import FileVersion

        nginx, nginx_port = nginx_dav_start(work, www)
        processes.append(nginx)
        gunicorn = Gunicorn.start(work, env, workers=1)
        processes.append(gunicorn.process)
        nginx_runs: list[float] = []
        tus_runs: list[float] = []
        for run in range(args.repeats):
            nginx_runs.append(nginx_put(nginx_port, size, f"put-{run}.bin"))
            (www / f"put-{run}.bin").unlink()
            seconds, sha256 = tus_upload(
                gunicorn.port, token, size, args.patch_mib * MIB, f"tus-{run}.bin"
            )
            version = FileVersion.objects.get(file__name=f"tus-{run}.bin")
            if version.sha256 != sha256 or version.size != size:
                print("the uploaded version does not match what was sent", file=sys.stderr)
                return 1
            tus_runs.append(seconds)
        peak = gunicorn.worker_peak_mib()
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)

    nginx_rate = size / statistics.median(nginx_runs) / 1e6
    tus_rate = size / statistics.median(tus_runs) / 1e6
    ratio = tus_rate / nginx_rate
    print(f"{'path':<60}{'MB/s':>8}{'vs nginx':>10}")
    print(f"{'nginx WebDAV PUT to disk':<60}{nginx_rate:>8.0f}{1:>10.2f}")
    label = f"SecureDrive tus, {args.patch_mib} MiB PATCHes (auth, audit, encrypt)"
    print(f"{label:<60}{tus_rate:>8.0f}{ratio:>10.2f}")
    print(f"gunicorn worker peak RSS (VmHWM): {peak:.0f} MiB")
    print(
        json.dumps(
            {
                "size_mib": args.mib,
                "patch_mib": args.patch_mib,
                "repeats": args.repeats,
                "nginx_webdav_put_mb_s": round(nginx_rate, 1),
                "securedrive_tus_mb_s": round(tus_rate, 1),
                "ratio_vs_nginx": round(ratio, 3),
                "ratio_target": RATIO_TARGET,
                "ratio_met": ratio >= RATIO_TARGET,
                "worker_peak_rss_mib": round(peak, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
