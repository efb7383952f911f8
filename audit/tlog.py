"""Offline verifier for the audit transparency log. Needs Python and ``cryptography`` only.

    python -m audit.tlog verify-inclusion --key audit.vkey --checkpoint checkpoint.txt \\
        --proof inclusion.json
    python -m audit.tlog verify-consistency --key audit.vkey --old old.txt --new new.txt \\
        --proof consistency.json

``audit.vkey`` holds the verifier key line (``<name>+<key id>+<base64 key>``) published
with the console; the proofs are the JSON files the console downloads. Every element
is checked: the checkpoint signatures, the sizes and indices the proof claims against
the checkpoints, every hash's length and the whole path. Exit status 0 means verified.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from audit.merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion
from audit.note import Checkpoint, NoteError, checkpoint_open, verifier_key_parse


def _checkpoint(path: str, key_line: str) -> Checkpoint:
    name, key = verifier_key_parse(key_line)
    return checkpoint_open(Path(path).read_text(encoding="utf-8"), name=name, key=key)


def _hashes(values: Any) -> list[bytes]:
    if not isinstance(values, list):
        raise ProofError("proof must be a list of base64 hashes")
    return [base64.b64decode(value, validate=True) for value in values]


def inclusion_check(*, key_line: str, checkpoint_path: str, proof_document: dict[str, Any]) -> str:
    checkpoint = _checkpoint(checkpoint_path, key_line)
    if proof_document.get("tree_size") != checkpoint.tree_size:
        raise ProofError("the proof is for another tree size than the checkpoint")
    entry = bytes.fromhex(str(proof_document["event_hash"]))
    leaf_index = proof_document["leaf_index"]
    if not isinstance(leaf_index, int) or isinstance(leaf_index, bool):
        raise ProofError("leaf index must be an integer")
    verify_inclusion(
        leaf_index=leaf_index,
        tree_size=checkpoint.tree_size,
        leaf=leaf_hash(entry),
        proof=_hashes(proof_document["proof"]),
        root=checkpoint.root_hash,
    )
    return (
        f"OK: event #{leaf_index + 1} ({entry.hex()}) is in {checkpoint.origin} "
        f"at size {checkpoint.tree_size}"
    )


def consistency_check(
    *, key_line: str, old_path: str, new_path: str, proof_document: dict[str, Any]
) -> str:
    old = _checkpoint(old_path, key_line)
    new = _checkpoint(new_path, key_line)
    if old.origin != new.origin:
        raise ProofError("the checkpoints belong to different logs")
    if (proof_document.get("first_size"), proof_document.get("second_size")) != (
        old.tree_size,
        new.tree_size,
    ):
        raise ProofError("the proof is for other tree sizes than the checkpoints")
    verify_consistency(
        first_size=old.tree_size,
        second_size=new.tree_size,
        first_root=old.root_hash,
        second_root=new.root_hash,
        proof=_hashes(proof_document["proof"]),
    )
    return f"OK: size {new.tree_size} extends size {old.tree_size} of {old.origin}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit.tlog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    inclusion = commands.add_parser("verify-inclusion")
    inclusion.add_argument("--key", required=True, help="file holding the verifier key")
    inclusion.add_argument("--checkpoint", required=True)
    inclusion.add_argument("--proof", required=True)
    consistency = commands.add_parser("verify-consistency")
    consistency.add_argument("--key", required=True, help="file holding the verifier key")
    consistency.add_argument("--old", required=True)
    consistency.add_argument("--new", required=True)
    consistency.add_argument("--proof", required=True)
    arguments = parser.parse_args(argv)
    try:
        key_line = Path(arguments.key).read_text(encoding="utf-8").strip()
        proof_document = json.loads(Path(arguments.proof).read_text(encoding="utf-8"))
        if arguments.command == "verify-inclusion":
            message = inclusion_check(
                key_line=key_line,
                checkpoint_path=arguments.checkpoint,
                proof_document=proof_document,
            )
        else:
            message = consistency_check(
                key_line=key_line,
                old_path=arguments.old,
                new_path=arguments.new,
                proof_document=proof_document,
            )
    except (ProofError, NoteError, ValueError, KeyError, OSError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
