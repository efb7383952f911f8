"""C2SP signed notes and tlog checkpoints, Ed25519 only. No Django: used offline too.

A checkpoint (https://c2sp.org/tlog-checkpoint) is the note text::

    <origin>\\n<tree size>\\n<base64 root hash>\\n

followed by a blank line and one signature line per signer (https://c2sp.org/signed-note)::

    — <key name> <base64(key id (4 bytes) ‖ Ed25519 signature over the text)>\\n

The key id is the first four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key), 0x01
being the Ed25519 signature type. The verifier key string is
``<name>+<hex key id>+<base64(0x01 ‖ public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519_TYPE = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # em dash and a space


class NoteError(ValueError):
    """A note or checkpoint that is malformed or not signed by the expected key."""


def public_key_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key_raw(key)).digest()[:4]


def verifier_key(name: str, key: Ed25519PublicKey) -> str:
    encoded = base64.b64encode(ED25519_TYPE + public_key_raw(key)).decode()
    return f"{name}+{key_id(name, key).hex()}+{encoded}"


def verifier_key_parse(text: str) -> tuple[str, Ed25519PublicKey]:
    try:
        name, key_id_hex, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error) as error:
        raise NoteError("malformed verifier key") from error
    if len(raw) != 33 or raw[:1] != ED25519_TYPE:
        raise NoteError("verifier key is not an Ed25519 key")
    key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(name, key).hex() != key_id_hex:
        raise NoteError("verifier key id does not match its key")
    return name, key


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes

    def text(self) -> str:
        root = base64.b64encode(self.root_hash).decode()
        return f"{self.origin}\n{self.tree_size}\n{root}\n"


def checkpoint_sign(checkpoint: Checkpoint, *, name: str, key: Ed25519PrivateKey) -> str:
    return note_sign(checkpoint.text(), name=name, key=key)


def note_sign(text: str, *, name: str, key: Ed25519PrivateKey) -> str:
    """A signed note of any text (ending in a newline), as checkpoints are signed."""
    signature = key.sign(text.encode())
    encoded = base64.b64encode(key_id(name, key.public_key()) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def note_open(note: str, *, name: str, key: Ed25519PublicKey) -> str:
    """The text of a signed note; succeed only if ``name``/``key`` signed it."""
    text, separator, signatures = note.partition("\n\n")
    if not separator or not text:
        raise NoteError("a signed note needs a text, a blank line and signatures")
    text += "\n"
    wanted_id = key_id(name, key)
    verified = False
    for line in signatures.split("\n"):
        if not line:
            continue
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("malformed signature line")
        signer, _space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise NoteError("malformed signature") from error
        if signer != name or raw[:4] != wanted_id or len(raw) != 4 + 64:
            continue  # another signer's line: allowed, ignored
        try:
            key.verify(raw[4:], text.encode())
        except InvalidSignature as error:
            raise NoteError("signature does not match the checkpoint") from error
        verified = True
    if not verified:
        raise NoteError(f"no valid signature by {name}")
    return text


def checkpoint_open(note: str, *, name: str, key: Ed25519PublicKey) -> Checkpoint:
    """Parse a signed checkpoint; succeed only if ``name``/``key`` signed it."""
    text = note_open(note, name=name, key=key)
    lines = text.split("\n")
    if len(lines) < 4 or not lines[0]:
        raise NoteError("a checkpoint has an origin, a size and a root hash")
    try:
        if not lines[1].isdigit() or (lines[1] != "0" and lines[1].startswith("0")):
            raise ValueError("size must be a decimal without leading zeros")
        tree_size = int(lines[1])
        root_hash = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error) as error:
        raise NoteError("malformed tree size or root hash") from error
    if len(root_hash) != 32:
        raise NoteError("root hash must be 32 bytes")
    return Checkpoint(origin=lines[0], tree_size=tree_size, root_hash=root_hash)
