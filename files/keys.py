"""The configured keyring, and the associated data that binds keys and blobs to a version.

The keyring file is re-read when it changes on disk, so that after
``manage.py rotate_keys --new-key`` added a key-encryption key, running web and worker
processes unwrap data keys re-wrapped under it without a restart.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

from django.conf import settings

from files.crypto import generate_data_key
from files.envelope import WrappedKey, unwrap_data_key, wrap_data_key
from files.keyring import FileKeyring, Keyring, KeyringError, keyring_file_ensure

_lock = threading.Lock()
_cached: tuple[Path, int, int, FileKeyring] | None = None


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
            loaded, _created = keyring_file_ensure(path)
            stat = path.stat()
            _cached = (path, stat.st_mtime_ns, stat.st_ino, loaded)
            return loaded
        if _cached is not None and _cached[:3] == (path, stat.st_mtime_ns, stat.st_ino):
            return _cached[3]
        loaded = FileKeyring.load(path)
        _cached = (path, stat.st_mtime_ns, stat.st_ino, loaded)
        return loaded


def associated_data(version_id: uuid.UUID | str) -> bytes:
    """``file-version:<uuid>``: the associated data of a version's blob and wrapped key."""
    return b"file-version:" + str(uuid.UUID(str(version_id))).encode("ascii")


def data_key_new_wrapped(version_id: uuid.UUID) -> tuple[bytes, WrappedKey]:
    """A fresh data key for a new version, and its wrapping under the current KEK."""
    data_key = generate_data_key()
    return data_key, wrap_data_key(keyring(), data_key, associated_data(version_id))


def data_key_unwrap(*, version_id: uuid.UUID, kek_id: str, wrapped: bytes) -> bytes:
    return unwrap_data_key(
        keyring(), WrappedKey(kek_id, bytes(wrapped)), associated_data(version_id)
    )
