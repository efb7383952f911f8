"""Envelope encryption: a file version's data key (DEK), wrapped by a keyring KEK.

The database keeps ``FileVersion.kek_id`` and ``FileVersion.wrapped_data_key``; the KEK
itself lives only in the keyring (``core.keyring``), outside the database and storage,
so neither a database dump nor a storage copy alone reveals a DEK.

The wrapping is ``core.wrapping``'s (AES-256-GCM, version byte, random nonce, tag),
applied to the 32-byte DEK with the file version id as associated data: 61 bytes::

    offset  size  field
    0       1     format version, 0x01
    1       12    nonce, random
    13      32    AES-256-GCM ciphertext of the 32-byte DEK
    45      16    GCM tag

    key = the KEK named by kek_id, AAD = associated_data (the file version id)

Binding to the version means a database attacker cannot copy one version's wrapped
key onto another version row and have the service decrypt (or re-encrypt) a blob under
the wrong identity.
"""

from __future__ import annotations

from core.keyring import Keyring
from core.wrapping import (
    WRAP_FORMAT_VERSION,
    WRAP_NONCE_SIZE,
    WRAP_OVERHEAD,
    WRAP_TAG_SIZE,
    EnvelopeError,
    UnknownKeyEncryptionKeyError,
    WrappedKey,
    WrappedKeyIntegrityError,
    secret_rewrap,
    secret_unwrap,
    secret_wrap,
)
from files.crypto import DATA_KEY_SIZE

WRAPPED_KEY_SIZE = WRAP_OVERHEAD + DATA_KEY_SIZE  # 61
_BOUND_TO = "file version"

__all__ = [
    "WRAPPED_KEY_SIZE",
    "WRAP_FORMAT_VERSION",
    "WRAP_NONCE_SIZE",
    "WRAP_TAG_SIZE",
    "EnvelopeError",
    "UnknownKeyEncryptionKeyError",
    "WrappedKey",
    "WrappedKeyIntegrityError",
    "rewrap_data_key",
    "unwrap_data_key",
    "wrap_data_key",
]


def wrap_data_key(
    keyring: Keyring, data_key: bytes, associated_data: bytes, *, _nonce: bytes | None = None
) -> WrappedKey:
    """Wrap ``data_key`` under the keyring's current KEK, bound to ``associated_data``.

    ``_nonce`` exists only for the deterministic test vector; leave it random.
    """
    if len(data_key) != DATA_KEY_SIZE:
        raise ValueError(f"data key must be {DATA_KEY_SIZE} bytes")
    if not associated_data:
        # Fail closed: an unbound wrapped key could be moved to another version.
        raise ValueError("associated data must identify the file version")
    return secret_wrap(keyring, data_key, associated_data, _nonce=_nonce)


def unwrap_data_key(keyring: Keyring, wrapped_key: WrappedKey, associated_data: bytes) -> bytes:
    """The data key inside ``wrapped_key``, after checking its tag against the AAD."""
    return secret_unwrap(
        keyring, wrapped_key, associated_data, secret_size=DATA_KEY_SIZE, bound_to=_BOUND_TO
    )


def rewrap_data_key(
    keyring: Keyring, wrapped_key: WrappedKey, associated_data: bytes
) -> WrappedKey:
    """``wrapped_key`` re-wrapped under the current KEK, for key rotation (the blob is
    untouched: the data key stays the same). See ``core.wrapping.secret_rewrap``."""
    return secret_rewrap(
        keyring, wrapped_key, associated_data, secret_size=DATA_KEY_SIZE, bound_to=_BOUND_TO
    )
