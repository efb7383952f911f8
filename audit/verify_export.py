"""Offline check of a signed audit export. Needs Python and ``cryptography`` only.

    python -m audit.verify_export export.csv export.csv.sig --public-key key.pub

The ``.sig`` file is JSON: the export's SHA-256 and an Ed25519 signature over the
bytes ``securedrive-audit-export:v1:<sha256 hex>``; ``key.pub`` is the PEM public key
the console publishes (/audit/keys/securedrive-audit.pem). Exit status 0 means authentic.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def signed_message(sha256_hex: str) -> bytes:
    return f"securedrive-audit-export:v1:{sha256_hex}".encode("ascii")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def export_verify(export: Path, signature_file: Path, public_key_pem: bytes) -> str:
    key = load_pem_public_key(public_key_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    document = json.loads(signature_file.read_text(encoding="utf-8"))
    actual = file_sha256(export)
    if document.get("sha256") != actual:
        raise ValueError("the export's SHA-256 does not match the signature file")
    try:
        key.verify(base64.b64decode(document["signature"], validate=True), signed_message(actual))
    except InvalidSignature as error:
        raise ValueError("the signature is not valid for this key") from error
    return f"OK: {export.name} (sha256 {actual}) signed by SecureDrive"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit.verify_export", description=__doc__)
    parser.add_argument("export")
    parser.add_argument("signature")
    parser.add_argument("--public-key", required=True)
    arguments = parser.parse_args(argv)
    try:
        message = export_verify(
            Path(arguments.export),
            Path(arguments.signature),
            Path(arguments.public_key).read_bytes(),
        )
    except (ValueError, KeyError, OSError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
