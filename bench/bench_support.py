"""What several bench scripts need alike: an embedded SecureDrive in a temporary folder
and a private clamd with production's limits. Imported by the scripts as a sibling
module (``python bench/X.py`` puts bench/ first on the path)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup(data_dir: Path, clamd: str) -> None:
    """An embedded SecureDrive (SQLite, folder storage) in ``data_dir``, migrated, that
    scans with the clamd at ``clamd``; nothing else from the environment."""
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
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("the private clamd did not start")
        time.sleep(0.1)
    return process, f"tcp://127.0.0.1:{port}"
