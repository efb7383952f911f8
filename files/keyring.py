"""Moved to ``core.keyring`` (authenticator-app secrets are wrapped with it too).

Kept so that ``python -m files.keyring create PATH``, in deployment scripts written
before the move, and older imports keep working.
"""

from __future__ import annotations

import sys

from core.keyring import (
    FORMAT,
    KEY_BYTES,
    FileKeyring,
    KeyEncryptionKey,
    Keyring,
    KeyringError,
    key_id_new,
    keyring_file_create,
    keyring_file_ensure,
    main,
)

__all__ = [
    "FORMAT",
    "KEY_BYTES",
    "FileKeyring",
    "KeyEncryptionKey",
    "Keyring",
    "KeyringError",
    "key_id_new",
    "keyring_file_create",
    "keyring_file_ensure",
    "main",
]

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
