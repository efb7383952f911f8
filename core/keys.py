"""The configured keyring (``SECUREDRIVE_KEYRING_FILE``), shared by every app.

The keyring file is re-read when it changes on disk, so that after
``manage.py rotate_keys --new-key`` added a key-encryption key, running web and worker
processes unwrap secrets re-wrapped under it without a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings

from core.keyring import FileKeyring, Keyring, KeyringError, keyring_file_ensure

_lock = threading.Lock()
_cached: tuple[Path, int, int, FileKeyring] | None = None
# Apps that store wrapped keys register, from their AppConfig.ready, a function naming
# the KEKs their rows use: a keyring file missing while rows name a KEK is lost, not new.
_kek_users: list[Callable[[], set[str]]] = []


def kek_users_register(kek_ids_in_use: Callable[[], set[str]]) -> None:
    if kek_ids_in_use not in _kek_users:
        _kek_users.append(kek_ids_in_use)


def kek_ids_in_use() -> set[str]:
    """Every KEK that some stored row still needs, whatever the app."""
    in_use: set[str] = set()
    for kek_ids in _kek_users:
        in_use |= kek_ids()
    return in_use


@dataclass(frozen=True)
class KeyUse:
    """What still needs one KEK, in the words the operator who would remove it reads
    (``manage.py rotate_keys --remove-key``)."""

    what: str  # "file data key(s)", "recovery codes"
    count: int
    people: frozenset[int] = frozenset()  # whose they are, when they are people's
    remedy: str = ""  # what makes it stop needing the key
    # The people can replace it themselves (new recovery codes): ``--force`` may end it,
    # and tells them. What only the key can open (a file's data key) is never forced.
    forgettable: bool = False


class KekDependent(Protocol):
    """Stored data that needs a KEK; each app registers its own from AppConfig.ready."""

    def uses(self, key_id: str) -> KeyUse | None: ...

    def forget(self, key_id: str, *, actor_label: str) -> int:
        """End what needs ``key_id`` (only when ``uses`` said ``forgettable``), in the
        caller's transaction, audited, telling the people; returns how many."""
        ...


_kek_dependents: list[KekDependent] = []


def kek_dependents_register(dependent: KekDependent) -> None:
    if dependent not in _kek_dependents:
        _kek_dependents.append(dependent)


def kek_uses(key_id: str) -> list[tuple[KekDependent, KeyUse]]:
    """What still needs ``key_id``: empty when it can leave the keyring."""
    found = []
    for dependent in _kek_dependents:
        use = dependent.uses(key_id)
        if use is not None and use.count:
            found.append((dependent, use))
    return found


def keyring_missing_refuse(path: Path) -> None:
    """Raise KeyringError when stored keys are wrapped under KEKs a missing keyring held.

    Embedded mode creates a keyring on first run. Creating one again because the file
    is gone (a data folder restored without var/secrets, a deleted file) would leave
    every stored file unreadable, and new uploads wrapped under the new keyring would be
    lost the day the old one is restored: say so instead.
    """
    from django.db import DatabaseError

    in_use: set[str] = set()
    for kek_ids_in_use in _kek_users:
        try:
            in_use |= kek_ids_in_use()
        except DatabaseError:  # tables not migrated yet: a fresh installation
            continue
    if in_use:
        raise KeyringError(
            f"keyring file {path} is missing, but stored data keys are wrapped under "
            f"{', '.join(sorted(in_use))}: restore it from your backup "
            "(a new keyring could not read them)"
        )


def keyring_file_ensure_fresh(path: Path) -> tuple[FileKeyring, bool]:
    """``keyring_file_ensure``, refusing to create one that replaces a lost keyring."""
    if not path.exists():
        keyring_missing_refuse(path)
    return keyring_file_ensure(path)


def keyring() -> Keyring:
    """The keyring named by ``SECUREDRIVE_KEYRING_FILE``.

    Embedded mode creates it on first use (``manage.py bootstrap`` normally has);
    production settings refuse to start without one, so there it always exists.
    """
    global _cached
    path = Path(settings.KEYRING_FILE)
    with _lock:
        try:
            stat = path.stat()
        except FileNotFoundError:
            if settings.PRODUCTION:
                raise KeyringError(f"keyring file {path} does not exist") from None
            loaded, _created = keyring_file_ensure_fresh(path)
            stat = path.stat()
            _cached = (path, stat.st_mtime_ns, stat.st_ino, loaded)
            return loaded
        if _cached is not None and _cached[:3] == (path, stat.st_mtime_ns, stat.st_ino):
            return _cached[3]
        loaded = FileKeyring.load(path)
        _cached = (path, stat.st_mtime_ns, stat.st_ino, loaded)
        return loaded
