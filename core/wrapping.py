"""Wrapping a small secret under the keyring's current key-encryption key (KEK).

The database keeps the KEK id and the wrapped bytes; the KEK itself lives only in the
keyring (``core.keyring``), outside the database and storage, so a database dump alone
reveals no wrapped secret. Two kinds of secrets use it: file data keys
(``files.envelope``, 32 bytes) and authenticator-app (TOTP) secrets
(``accounts.totp``, 20 bytes).

``wrapped`` layout, version 1 (29 bytes + the secret)::

    offset  size  field
    0       1     format version, 0x01
    1       12    nonce, random
    13      n     AES-256-GCM ciphertext of the n-byte secret
    13+n    16    GCM tag

    key = the KEK named by kek_id, AAD = associated_data (what the secret belongs to)

Why AES-256-GCM rather than AES key wrap (RFC 3394 / RFC 5649): key wrap has no
associated data, and the point of the AAD is to bind a wrapped secret to its row, so a
database attacker cannot copy one row's wrapped secret onto another row and have the
service use it under the wrong identity. A random 96-bit nonce is safe for up to 2^32
wraps per KEK (NIST SP 800-38D §8.3): one per secret and per rotation, orders of
magnitude below, and each rotation moves wrapping to a new KEK.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.keyring import Keyring, KeyringError

WRAP_FORMAT_VERSION = 1
WRAP_NONCE_SIZE = 12
WRAP_TAG_SIZE = 16
WRAP_OVERHEAD = 1 + WRAP_NONCE_SIZE + WRAP_TAG_SIZE  # 29


class EnvelopeError(Exception):
    """A wrapped secret could not be unwrapped."""


class UnknownKeyEncryptionKeyError(EnvelopeError):
    """The KEK that wrapped this secret is not in the keyring (an operator problem: a
    key was removed from the keyring before what it wrapped was re-wrapped)."""


class WrappedKeyIntegrityError(EnvelopeError):
    """The wrapped secret is malformed, was tampered with, or belongs to another row."""


@dataclass(frozen=True, repr=False)
class WrappedKey:
    kek_id: str
    wrapped: bytes

    def __repr__(self) -> str:
        return f"WrappedKey({self.kek_id!r}, {len(self.wrapped)} bytes)"


def secret_wrap(
    keyring: Keyring, secret: bytes, associated_data: bytes, *, _nonce: bytes | None = None
) -> WrappedKey:
    """Wrap ``secret`` under the keyring's current KEK, bound to ``associated_data``.

    ``_nonce`` exists only for deterministic test vectors; leave it random.
    """
    if not secret:
        raise ValueError("nothing to wrap")
    if not associated_data:
        # Fail closed: an unbound wrapped secret could be moved to another row.
        raise ValueError("associated data must identify what the secret belongs to")
    nonce = secrets.token_bytes(WRAP_NONCE_SIZE) if _nonce is None else _nonce
    if len(nonce) != WRAP_NONCE_SIZE:
        raise ValueError(f"nonce must be {WRAP_NONCE_SIZE} bytes")
    kek = keyring.get(keyring.current_key_id)
    sealed = AESGCM(kek.secret).encrypt(nonce, secret, associated_data)
    return WrappedKey(kek.key_id, bytes([WRAP_FORMAT_VERSION]) + nonce + sealed)


def secret_unwrap(
    keyring: Keyring,
    wrapped_key: WrappedKey,
    associated_data: bytes,
    *,
    secret_size: int,
    bound_to: str = "row",
) -> bytes:
    """The ``secret_size``-byte secret inside ``wrapped_key``, its tag checked against
    the associated data (``bound_to`` names what that is, in error messages)."""
    try:
        kek = keyring.get(wrapped_key.kek_id)
    except KeyringError:
        raise UnknownKeyEncryptionKeyError(
            f"secret was wrapped with key-encryption key {wrapped_key.kek_id!r}, "
            "which is not in the keyring: restore the keyring that holds it"
        ) from None
    wrapped = wrapped_key.wrapped
    expected = WRAP_OVERHEAD + secret_size
    if len(wrapped) != expected or wrapped[0] != WRAP_FORMAT_VERSION:
        raise WrappedKeyIntegrityError(
            f"wrapped secret is not a {expected}-byte version-1 wrapped key"
        )
    nonce, sealed = wrapped[1 : 1 + WRAP_NONCE_SIZE], wrapped[1 + WRAP_NONCE_SIZE :]
    try:
        return AESGCM(kek.secret).decrypt(nonce, sealed, associated_data)
    except InvalidTag:
        raise WrappedKeyIntegrityError(
            f"wrapped secret failed authentication under {wrapped_key.kek_id!r}: "
            f"tampered, or wrapped for another {bound_to}"
        ) from None


def secret_rewrap(
    keyring: Keyring,
    wrapped_key: WrappedKey,
    associated_data: bytes,
    *,
    secret_size: int,
    bound_to: str = "row",
) -> WrappedKey:
    """``wrapped_key`` re-wrapped under the current KEK, for key rotation.

    The old wrapping is always unwrapped first, so rotation also proves every wrapped
    secret is still intact. One already under the current KEK comes back unchanged (the
    same object): callers skip the database write when ``result is wrapped_key``, which
    makes a rotation run safe to repeat.
    """
    secret = secret_unwrap(
        keyring, wrapped_key, associated_data, secret_size=secret_size, bound_to=bound_to
    )
    if wrapped_key.kek_id == keyring.current_key_id:
        return wrapped_key
    return secret_wrap(keyring, secret, associated_data)
