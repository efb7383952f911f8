"""Capability tokens for external links and file requests (ARCHITECTURE invariant 7).

A token is 32 random bytes (256 bits, above the 128 the policy asks) from ``secrets``,
URL-safe base64 without padding: 43 characters. Only its SHA-256 is stored: a leaked
database gives no usable link. Lookups are by hash (an index on a value the attacker
cannot steer), then the stored hash is compared with ``hmac.compare_digest`` anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def token_new() -> tuple[str, str]:
    """A fresh token and its hash: give the first to the recipient, store the second."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def token_well_formed(token: str) -> bool:
    """Shape check before any lookup: anything else is refused without touching the
    database (and audited by the caller as a malformed token)."""
    return bool(TOKEN_PATTERN.fullmatch(token))


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)
