"""Key-encryption keys (KEKs), kept outside the database and outside storage.

A keyring holds several KEKs by id; one of them is current and wraps new data keys.
This module deliberately imports nothing from Django: an operator creates the keyring
before the production settings agree to start::

    python -m core.keyring create /etc/securedrive/keyring.json

File format (JSON, mode 0600)::

    {"format": "securedrive-keyring/1",
     "current": "kek-20261123-3f9a1c2e",
     "keys": {"kek-20261123-3f9a1c2e": "<base64 of 32 random bytes>"}}

A KMS or Vault transit backend can implement the same ``Keyring`` protocol. It lives
in ``core`` because more than file data keys are wrapped with it (authenticator-app
secrets in ``accounts``; see ``core.wrapping``); ``files.keyring`` still answers to the
command above.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

FORMAT = "securedrive-keyring/1"
KEY_BYTES = 32  # AES-256


class KeyringError(Exception):
    """The keyring is missing, unreadable or malformed."""


@dataclass(frozen=True, repr=False)
class KeyEncryptionKey:
    key_id: str
    secret: bytes

    def __repr__(self) -> str:  # never print key material
        return f"KeyEncryptionKey({self.key_id!r})"


class Keyring(Protocol):
    @property
    def current_key_id(self) -> str: ...

    def key_ids(self) -> list[str]: ...

    def get(self, key_id: str) -> KeyEncryptionKey: ...


def key_id_new(now: dt.datetime | None = None) -> str:
    day = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d")
    return f"kek-{day}-{secrets.token_hex(4)}"


class FileKeyring:
    """Keyring stored as a JSON file readable by the service account only."""

    def __init__(self, current_key_id: str, keys: dict[str, bytes]) -> None:
        if current_key_id not in keys:
            raise KeyringError(f"current key {current_key_id!r} is not in the keyring")
        for key_id, secret in keys.items():
            if len(secret) != KEY_BYTES:
                raise KeyringError(f"key {key_id!r} is not {KEY_BYTES} bytes long")
        self._current_key_id = current_key_id
        self._keys = dict(keys)

    @property
    def current_key_id(self) -> str:
        return self._current_key_id

    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def get(self, key_id: str) -> KeyEncryptionKey:
        try:
            return KeyEncryptionKey(key_id, self._keys[key_id])
        except KeyError:
            raise KeyringError(f"unknown key-encryption key {key_id!r}") from None

    @classmethod
    def load(cls, path: Path) -> FileKeyring:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KeyringError(f"keyring file {path} does not exist") from None
        except (OSError, ValueError) as error:
            raise KeyringError(f"keyring file {path} is unreadable: {error}") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise KeyringError(f"{path} is not a {FORMAT} file")
        try:
            keys = {
                str(key_id): base64.b64decode(encoded, validate=True)
                for key_id, encoded in document["keys"].items()
            }
            return cls(str(document["current"]), keys)
        except (KeyError, AttributeError, TypeError, binascii.Error) as error:
            raise KeyringError(f"{path} is malformed: {error!r}") from None

    def save(self, path: Path, *, exclusive: bool = False) -> None:
        """Write atomically (temp file + rename) with mode 0600. ``exclusive``: only if
        no keyring is there yet (FileExistsError otherwise), even against a concurrent
        writer: two processes starting at once must not each create their own."""
        document = {
            "format": FORMAT,
            "current": self._current_key_id,
            "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self._keys.items()},
        }
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        if not exclusive:
            os.replace(partial, path)
            return
        try:
            os.link(partial, path)  # atomic, and fails if the path exists
        finally:
            partial.unlink()

    def without_key(self, key_id: str) -> FileKeyring:
        """A copy without ``key_id`` (never the current key: it wraps new keys). Only
        ``files.key_retirement.kek_retire`` calls it, once nothing needs the key."""
        if key_id == self._current_key_id:
            raise KeyringError(f"{key_id!r} is the current key: it cannot leave the keyring")
        if key_id not in self._keys:
            raise KeyringError(f"unknown key-encryption key {key_id!r}")
        return FileKeyring(
            self._current_key_id, {k: v for k, v in self._keys.items() if k != key_id}
        )

    def with_new_current_key(self) -> FileKeyring:
        """A copy with one more KEK, made current (old ones stay to unwrap old keys)."""
        key_id = key_id_new()
        return FileKeyring(key_id, {**self._keys, key_id: secrets.token_bytes(KEY_BYTES)})


def keyring_file_create(path: Path) -> FileKeyring:
    """Create a keyring with one fresh KEK. Never overwrites an existing keyring."""
    key_id = key_id_new()
    keyring = FileKeyring(key_id, {key_id: secrets.token_bytes(KEY_BYTES)})
    try:
        keyring.save(path, exclusive=True)
    except FileExistsError:
        raise KeyringError(f"{path} already exists; refusing to overwrite a keyring") from None
    return keyring


def keyring_file_ensure(path: Path) -> tuple[FileKeyring, bool]:
    """Load the keyring, creating it on first run. Returns (keyring, created). When
    another process creates it at the same moment, both end up with that one."""
    if path.exists():
        return FileKeyring.load(path), False
    try:
        return keyring_file_create(path), True
    except KeyringError:
        if not path.exists():
            raise
        return FileKeyring.load(path), False


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "create":
        print("usage: python -m core.keyring create PATH", file=sys.stderr)
        return 2
    path = Path(argv[1])
    try:
        keyring = keyring_file_create(path)
    except KeyringError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"created {path} with key-encryption key {keyring.current_key_id}")
    print(
        "Back it up apart from the database and storage: without it no file can be read "
        "and no authenticator app can sign in."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
