"""The keyring: created once with owner-only permissions, never overwritten."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.keyring import FileKeyring, KeyringError, keyring_file_create, keyring_file_ensure


def test_created_keyring_is_private_and_loadable(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "keyring.json"
    created = keyring_file_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = FileKeyring.load(path)
    assert loaded.current_key_id == created.current_key_id
    assert len(loaded.get(loaded.current_key_id).secret) == 32
    assert "secret" not in repr(loaded.get(loaded.current_key_id)).lower()


def test_existing_keyring_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = keyring_file_create(path)
    with pytest.raises(KeyringError, match="refusing to overwrite"):
        keyring_file_create(path)
    again, created = keyring_file_ensure(path)
    assert (again.current_key_id, created) == (first.current_key_id, False)


def test_processes_starting_together_share_one_keyring(tmp_path: Path) -> None:
    """Web, worker and beat start at once on a new machine: they must all end up with
    the same key, or files one of them encrypts are unreadable by the others."""
    path = tmp_path / "secrets" / "keyring.json"
    script = (
        "import sys, time; from pathlib import Path;"
        "from core.keyring import keyring_file_ensure;"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()));"
        "keyring, _ = keyring_file_ensure(Path(sys.argv[1])); print(keyring.current_key_id)"
    )

    start_at = str(time.time() + 1.0)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), start_at],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        for _ in range(8)
    ]
    key_ids = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    assert key_ids == {FileKeyring.load(path).current_key_id}
    assert not list(path.parent.glob("*.partial"))


def test_rotation_keeps_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    first = keyring_file_create(path)
    rotated = first.with_new_current_key()
    rotated.save(path)
    loaded = FileKeyring.load(path)
    assert loaded.current_key_id != first.current_key_id
    assert first.current_key_id in loaded.key_ids()


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"format": "other"}),
        json.dumps({"format": "securedrive-keyring/1", "current": "a", "keys": {"b": "AAAA"}}),
        json.dumps({"format": "securedrive-keyring/1", "current": "a", "keys": {"a": "AAAA"}}),
        json.dumps({"format": "securedrive-keyring/1", "current": "a", "keys": {"a": "%%%"}}),
    ],
)
def test_malformed_keyrings_are_rejected(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(content)
    with pytest.raises(KeyringError):
        FileKeyring.load(path)


def test_operator_creates_a_keyring_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    command = [sys.executable, "-m", "core.keyring", "create", str(path)]
    root = Path(__file__).resolve().parent.parent
    first = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    second = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    assert second.returncode == 1
    assert "refusing to overwrite" in second.stderr


@pytest.mark.django_db
def test_a_lost_keyring_is_not_silently_replaced_while_files_need_it(
    owner: Any, folder_backend: Any, private_keyring: Path
) -> None:
    """Embedded mode. The operator restores the data folder but forgets var/secrets (or
    the keyring is deleted). Starting again must say the keyring is missing and what to
    do, not make a new one: files uploaded under a new keyring would be lost the day the
    old one is restored, and nothing stored before could be read meanwhile."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from core.keys import keyring
    from tests.files_helpers import root_of, version_store

    version_store(actor=owner, folder=root_of(owner), name="echo.pdf", content=b"report")
    private_keyring.unlink()

    with pytest.raises(CommandError, match="restore it from your backup"):
        call_command("bootstrap", no_static=True, stdout=io.StringIO())
    with pytest.raises(KeyringError, match="restore it from your backup"):
        keyring()
    assert not private_keyring.exists()
