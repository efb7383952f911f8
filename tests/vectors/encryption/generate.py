"""Writes the encryption test vectors next to this file, deterministically.

    .venv/bin/python tests/vectors/encryption/generate.py           # (re)write
    .venv/bin/python tests/vectors/encryption/generate.py --check   # exit 1 if stale

Fixed keys, salt, nonce prefix and wrap nonce go through the modules' test-only
keyword arguments (``_salt``, ``_nonce_prefix``, ``_nonce``); production code never
passes them. Segments are 64 bytes so that every boundary case stays a few hundred
bytes. Intermediate values (derived key, header, per-segment nonces and offsets) are
included so that an independent implementation can see where it diverges. The format
is described in docs/encryption-format.md ("Test vectors").
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parent
BASE_DIR = VECTORS_DIR.parent.parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from cryptography.hazmat.primitives.hashes import SHA256  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: E402

from core.keyring import FileKeyring  # noqa: E402
from files.crypto import (  # noqa: E402
    HEADER_SIZE,
    HKDF_INFO_PREFIX,
    TAG_SIZE,
    BlobEncryptor,
    segment_count,
    segment_offset,
)
from files.envelope import wrap_data_key  # noqa: E402

SEGMENT_SIZE = 64
DATA_KEY = bytes(range(0x00, 0x20))
SALT = bytes(range(0x20, 0x40))
NONCE_PREFIX = bytes.fromhex("a0a1a2a3a4a5a6")
ASSOCIATED_DATA = b"file-version:7d3c0c52-3b4e-4c1e-9f5a-2b8e6d1a0f42"
OTHER_ASSOCIATED_DATA = b"file-version:0b9d2f7e-6a41-4f3c-8e27-5c1d9a3b7e60"
KEK_ID = "kek-20261123-00000001"
KEK = bytes(range(0x40, 0x60))
WRAP_NONCE = bytes.fromhex("b0b1b2b3b4b5b6b7b8b9babb")
BLOB_CASES = (
    ("blob-empty", 0, "empty plaintext: one empty, final segment (tag only)"),
    ("blob-1-byte", 1, "1 byte: one final segment"),
    ("blob-63-bytes", 63, "segment size - 1: one short final segment"),
    ("blob-64-bytes", 64, "exactly one segment: one full final segment, no empty segment after it"),
    ("blob-65-bytes", 65, "segment size + 1: a full segment, then a 1-byte final segment"),
    ("blob-200-bytes", 200, "several segments: three full, then an 8-byte final segment"),
)


def plaintext_of(size: int) -> bytes:
    """Recognisable, non-repeating-per-segment bytes: byte i is (i * 7 + 3) mod 256."""
    return bytes((index * 7 + 3) % 256 for index in range(size))


def blob_vector(description: str, size: int) -> dict[str, Any]:
    plaintext = plaintext_of(size)
    encryptor = BlobEncryptor(
        DATA_KEY, ASSOCIATED_DATA, SEGMENT_SIZE, _salt=SALT, _nonce_prefix=NONCE_PREFIX
    )
    sealed_segments = [*encryptor.update(plaintext), encryptor.finalize()]
    header = encryptor.header()
    count = segment_count(size, SEGMENT_SIZE)
    assert len(sealed_segments) == count
    derived_key = HKDF(
        algorithm=SHA256(), length=32, salt=SALT, info=HKDF_INFO_PREFIX + ASSOCIATED_DATA
    ).derive(DATA_KEY)
    segments = []
    for index, sealed in enumerate(sealed_segments):
        last = index == count - 1
        nonce = NONCE_PREFIX + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        segments.append(
            {
                "index": index,
                "last": last,
                "offset": segment_offset(index, SEGMENT_SIZE),
                "nonce_hex": nonce.hex(),
                "plaintext_hex": plaintext[index * SEGMENT_SIZE : (index + 1) * SEGMENT_SIZE].hex(),
                "sealed_hex": sealed.hex(),
                "tag_hex": sealed[-TAG_SIZE:].hex(),
            }
        )
    blob = header + b"".join(sealed_segments)
    return {
        "description": description,
        "format": "SDBLOB version 1",
        "segment_size": SEGMENT_SIZE,
        "data_key_hex": DATA_KEY.hex(),
        "associated_data_hex": ASSOCIATED_DATA.hex(),
        "salt_hex": SALT.hex(),
        "nonce_prefix_hex": NONCE_PREFIX.hex(),
        "hkdf_info_hex": (HKDF_INFO_PREFIX + ASSOCIATED_DATA).hex(),
        "derived_key_hex": derived_key.hex(),
        "header_hex": header.hex(),
        "header_size": HEADER_SIZE,
        "plaintext_size": size,
        "plaintext_hex": plaintext.hex(),
        "ciphertext_size": len(blob),
        "segment_count": count,
        "segments": segments,
        "blob_hex": blob.hex(),
    }


def wrapped_key_vector() -> dict[str, Any]:
    keyring = FileKeyring(KEK_ID, {KEK_ID: KEK})
    wrapped_key = wrap_data_key(keyring, DATA_KEY, ASSOCIATED_DATA, _nonce=WRAP_NONCE)
    return {
        "description": "the blob vectors' data key wrapped by a KEK, bound to the version id",
        "format": "wrapped data key version 1",
        "kek_id": wrapped_key.kek_id,
        "kek_hex": KEK.hex(),
        "data_key_hex": DATA_KEY.hex(),
        "associated_data_hex": ASSOCIATED_DATA.hex(),
        "nonce_hex": WRAP_NONCE.hex(),
        "wrapped_hex": wrapped_key.wrapped.hex(),
        "other_associated_data_hex": OTHER_ASSOCIATED_DATA.hex(),
        "other_associated_data_note": "unwrapping with this associated data must fail",
    }


def all_vectors() -> dict[str, str]:
    """File name -> exact file content (sorted keys, 2-space indent, trailing newline)."""
    documents = {f"{name}.json": blob_vector(text, size) for name, size, text in BLOB_CASES}
    documents["wrapped-key.json"] = wrapped_key_vector()
    return {name: json.dumps(doc, indent=2) + "\n" for name, doc in documents.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write or check the encryption test vectors.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    arguments = parser.parse_args(argv)
    stale = []
    for name, content in all_vectors().items():
        path = VECTORS_DIR / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(name)
        if not arguments.check:
            path.write_text(content, encoding="utf-8")
    if arguments.check and stale:
        print(f"stale test vectors: {', '.join(stale)}; run {Path(__file__).name}")
        return 1
    print(f"{'rewrote' if stale else 'unchanged'}: {', '.join(stale) or 'all vectors'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
