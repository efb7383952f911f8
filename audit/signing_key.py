"""The Ed25519 key that signs audit checkpoints and exports. No Django needed, so an
operator creates it before the production settings agree to start::

    python -m audit.signing_key create /etc/securedrive/audit_signing_key.pem

Kept apart from the database and the checkpoints it signs; never overwritten (a new
key would leave every earlier checkpoint verifiable only with the old public key).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)


def signing_key_file_create(path: Path) -> bool:
    """Write a new PKCS#8 PEM key with mode 0600. False if the file already exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False  # never overwrite; a concurrent creator's key is as good
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(pem)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "create":
        print("usage: python -m audit.signing_key create PATH", file=sys.stderr)
        return 2
    path = Path(argv[1])
    if not signing_key_file_create(path):
        print(f"error: {path} already exists; refusing to overwrite a signing key", file=sys.stderr)
        return 1
    print(f"created {path}; publish its public key with the audit console's verifier key")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
