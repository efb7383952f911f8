"""README, "Backups (embedded)", followed literally on a running instance: the copy of
the SQLite database taken with the backup API while a writer holds it in WAL mode,
the blobs copied after it, the keyring apart; restored into an empty data folder, the
files read back and the audit log verifies."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STORE = """
from accounts.models import User
from tests.files_helpers import root_of, version_store
owner = User.objects.get(email="chief@hopital.example")
content = b"%PDF-1.4 " * 4000
version = version_store(actor=owner, folder=root_of(owner), name="cr-irm.pdf", content=content)
from audit.checkpoints import checkpoint_write
checkpoint_write(force=True)  # what beat does every 10 minutes
print(version.pk)
"""
READ = """
from files.models import FileVersion
from files.previews import version_plaintext
version = FileVersion.objects.get(pk="{version_id}")
print(version_plaintext(version, limit=1 << 20) == b"%PDF-1.4 " * 4000)
"""


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECUREDRIVE_", "DATABASE_URL", "DJANGO_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "securedrive.settings",
            "SECUREDRIVE_DATA_DIR": str(data_dir),
            "SECUREDRIVE_CLAMD_ADDRESS": "",
            "SECUREDRIVE_ADMIN_EMAIL": "chief@hopital.example",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def readme_backup_lines() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Backups (embedded)", 1)[1].split("## Configuration", 1)[0]
    return section.split("```sh", 1)[1].split("```", 1)[0].strip().splitlines()


def test_an_embedded_backup_taken_while_running_restores_files_and_audit_log(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live"
    env = embedded_env(live)
    booted = manage(env, "bootstrap", "--no-static", "--no-setup-link")
    assert booted.returncode == 0, booted.stderr
    stored = manage(env, "shell", "-c", STORE)
    assert stored.returncode == 0, stored.stderr
    version_id = stored.stdout.strip().splitlines()[-1]

    # The instance is running: a connection holds the database in WAL mode with a
    # write not yet checkpointed into the main file.
    database = live / "db" / "securedrive.sqlite3"
    writer = sqlite3.connect(database)
    assert writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("UPDATE accounts_user SET full_name = 'Claire'")
    writer.commit()
    assert Path(f"{database}-wal").stat().st_size > 0

    # The README's commands, with its folders under tmp_path.
    backup = tmp_path / "backup"
    offline = tmp_path / "offline"
    offline.mkdir()
    lines = readme_backup_lines()
    script = "\n".join(lines).replace("\\\n", "")
    script = script.replace("/srv/backup/securedrive-$(date +%F)", str(backup))
    script = script.replace("/media/offline/securedrive-secrets-$(date +%F)", str(offline / "s"))
    script = script.replace(".venv/bin/python", sys.executable)
    script = re.sub(r"\bvar/", f"{live}/", script)
    ran = subprocess.run(
        ["/bin/sh", "-eu", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    writer.close()
    assert ran.returncode == 0, ran.stderr

    # A new machine: an empty data folder, the three put back.
    restored = tmp_path / "restored"
    (restored / "db").mkdir(parents=True)
    shutil.copy(backup / "securedrive.sqlite3", restored / "db" / "securedrive.sqlite3")
    shutil.copytree(backup / "storage", restored / "storage")
    shutil.copytree(backup / "audit-checkpoints", restored / "audit-checkpoints")
    shutil.copytree(offline / "s", restored / "secrets")
    env = embedded_env(restored)
    read = manage(env, "shell", "-c", READ.format(version_id=version_id))
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip().splitlines()[-1] == "True"
    named = manage(
        env, "shell", "-c", "from accounts.models import User; print(User.objects.get().full_name)"
    )
    assert named.stdout.strip().splitlines()[-1] == "Claire"  # the write still in the WAL
    verified = manage(env, "verify_audit")
    assert verified.returncode == 0, verified.stdout + verified.stderr
