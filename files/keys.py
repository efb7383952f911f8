"""The associated data that binds data keys and blobs to a version, and the data keys
themselves. The keyring is ``core.keys.keyring`` (authenticator-app secrets use it too).
"""

from __future__ import annotations

import uuid

from core.keys import keyring
from files.crypto import generate_data_key
from files.envelope import WrappedKey, unwrap_data_key, wrap_data_key

__all__ = ["associated_data", "data_key_new_wrapped", "data_key_unwrap", "keyring"]


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
