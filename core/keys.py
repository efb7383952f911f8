"""The configured keyring (``SECUREDRIVE_KEYRING_FILE``), shared by every app.

The keyring file is re-read when it changes on disk, so that after
``manage.py rotate_keys --new-key`` added a key-encryption key, running web and worker
processes unwrap secrets re-wrapped under it without a restart.
"""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings

from core.keyring import FileKeyring, Keyring, KeyringError, keyring_file_ensure

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
