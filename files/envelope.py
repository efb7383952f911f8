"""Envelope encryption: a file version's data key (DEK), wrapped by a keyring KEK.

The database keeps ``WrappedKey.kek_id`` and ``WrappedKey.wrapped``; the KEK itself
lives only in the keyring (``files.keyring``), outside the database and storage, so
neither a database dump nor a storage copy alone reveals a DEK.

``wrapped`` layout, version 1 (61 bytes)::

    offset  size  field
    0       1     format version, 0x01
    1       12    nonce, random
    13      32    AES-256-GCM ciphertext of the 32-byte DEK
    45      16    GCM tag

    key = the KEK named by kek_id, AAD = associated_data (the file version id)

Why AES-256-GCM rather than AES key wrap (RFC 3394 / RFC 5649): key wrap has no
associated data, and the point of the AAD is to bind a wrapped key to its version, so
a database attacker cannot copy one version's wrapped key onto another version row and
have the service decrypt (or re-encrypt) a blob under the wrong identity. GCM is also
what the blobs use, and what KMS and Vault transit offer. A random 96-bit nonce is safe
for up to 2^32 wraps per KEK (NIST SP 800-38D §8.3): one per file version and per
rotation, orders of magnitude below, and each rotation moves wrapping to a new KEK.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from files.crypto import DATA_KEY_SIZE
from files.keyring import Keyring, KeyringError

WRAP_FORMAT_VERSION = 1
WRAP_NONCE_SIZE = 12
WRAP_TAG_SIZE = 16
WRAPPED_KEY_SIZE = 1 + WRAP_NONCE_SIZE + DATA_KEY_SIZE + WRAP_TAG_SIZE  # 61


class EnvelopeError(Exception):
    """A data key could not be unwrapped."""


class UnknownKeyEncryptionKeyError(EnvelopeError):
    """The KEK that wrapped this data key is not in the keyring (an operator problem:
    a key was removed from the keyring before its data keys were re-wrapped)."""


class WrappedKeyIntegrityError(EnvelopeError):
    """The wrapped key is malformed, was tampered with, or belongs to another version."""


@dataclass(frozen=True)
class WrappedKey:
    kek_id: str
    wrapped: bytes


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
    nonce = secrets.token_bytes(WRAP_NONCE_SIZE) if _nonce is None else _nonce
    if len(nonce) != WRAP_NONCE_SIZE:
        raise ValueError(f"nonce must be {WRAP_NONCE_SIZE} bytes")
    kek = keyring.get(keyring.current_key_id)
    sealed = AESGCM(kek.secret).encrypt(nonce, data_key, associated_data)
    return WrappedKey(kek.key_id, bytes([WRAP_FORMAT_VERSION]) + nonce + sealed)


def unwrap_data_key(keyring: Keyring, wrapped_key: WrappedKey, associated_data: bytes) -> bytes:
    """The data key inside ``wrapped_key``, after checking its tag against the AAD."""
    try:
        kek = keyring.get(wrapped_key.kek_id)
    except KeyringError:
        raise UnknownKeyEncryptionKeyError(
            f"data key was wrapped with key-encryption key {wrapped_key.kek_id!r}, "
            "which is not in the keyring: restore the keyring that holds it"
        ) from None
    wrapped = wrapped_key.wrapped
    if len(wrapped) != WRAPPED_KEY_SIZE or wrapped[0] != WRAP_FORMAT_VERSION:
        raise WrappedKeyIntegrityError(
            f"wrapped data key is not a {WRAPPED_KEY_SIZE}-byte version-1 wrapped key"
        )
    nonce, sealed = wrapped[1 : 1 + WRAP_NONCE_SIZE], wrapped[1 + WRAP_NONCE_SIZE :]
    try:
        return AESGCM(kek.secret).decrypt(nonce, sealed, associated_data)
    except InvalidTag:
        raise WrappedKeyIntegrityError(
            f"wrapped data key failed authentication under {wrapped_key.kek_id!r}: "
            "tampered, or wrapped for another file version"
        ) from None


def rewrap_data_key(
    keyring: Keyring, wrapped_key: WrappedKey, associated_data: bytes
) -> WrappedKey:
    """``wrapped_key`` re-wrapped under the current KEK, for key rotation.

    The blob is untouched: the data key stays the same. The old wrapping is always
    unwrapped first, so rotation also proves every wrapped key is still intact. A key
    already under the current KEK comes back unchanged (the same object), which makes
    a rotation run safe to repeat: callers can skip the database write when
    ``result is wrapped_key``.
    """
    data_key = unwrap_data_key(keyring, wrapped_key, associated_data)
    if wrapped_key.kek_id == keyring.current_key_id:
        return wrapped_key
    return wrap_data_key(keyring, data_key, associated_data)
