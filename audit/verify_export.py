"""Offline check of a signed audit export. Needs Python and ``cryptography`` only.

    python -m audit.verify_export export.csv export.csv.sig --public-key key.pub

The ``.sig`` file is JSON. Version 2 holds a *statement*: the export's SHA-256 and the
question it answers (the filter, the head it is pinned to, the number of events, the
format, when and by whom it was made), and an Ed25519 signature over the bytes
``securedrive-audit-export:v2\\n`` followed by the statement as canonical JSON (keys
sorted, no spaces, UTF-8). The verifier prints that question in words. Version 1 signed
``securedrive-audit-export:v1:<sha256 hex>`` only: it still verifies, with a warning
that it does not vouch for its filter. ``key.pub`` is the PEM public key the console
publishes (/audit/keys/securedrive-audit.pem). Exit status 0 means authentic.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

FORMAT_V1 = "securedrive-audit-export-signature/v1"
FORMAT_V2 = "securedrive-audit-export-signature/v2"
# What a v2 statement holds, and the JSON type of each: a statement with a field more
# or less is refused rather than read half.
STATEMENT_FIELDS: dict[str, type] = {
    "log": str,  # the log's origin, as in its checkpoints
    "export_format": str,  # "csv" or "jsonl"
    "sha256": str,
    "filter": dict,  # audit.selectors.EventFilter.as_details() without the head
    "up_to_sequence": int,
    "events": int,
    "made_at": str,  # UTC, as the log's own timestamps
    "made_by": str,  # the auditor's e-mail address
    "made_by_account": str,
}
# The filter's fields in words (audit.selectors.EventFilter). An unknown one is printed
# as name = value: a newer server's filter still reads, never silently dropped.
FILTER_WORDS = {
    "since": "recorded at or after {}",
    "until": "recorded before {}",
    "actor": "done by {}",
    "category": "in the category {}",
    "action": "whose action starts with {}",
    "target_type": "on a target of type {}",
    "target_id": "on the target with id {}",
    "outcome": "with the outcome {}",
    "ip_address": "from the address {}",
    "about_email": "concerning the person {}",
    "about_account": "concerning the account {}",
    "item": "about {} (a folder: everything under it)",
    "question": "answering the question {}",
    "hide_console": "leaving out the auditors' own console views",
    "hide_download_ends": "leaving out download end events (their bytes are on the download's row)",
    "hide_audit_work": "leaving out the person's own work in the audit console",
}
V1_WARNING = (
    "WARNING: this is a version 1 signature: it vouches for this file's bytes only. It "
    "does not vouch for its filter, its head (up_to_sequence) or its number of events: "
    "nothing proves which question this file answers, nor that it holds every event "
    "answering it. Ask for a new signature file (version 2) to rely on that."
)


def signed_message_v1(sha256_hex: str) -> bytes:
    return f"securedrive-audit-export:v1:{sha256_hex}".encode("ascii")


def statement_canonical(statement: dict[str, Any]) -> bytes:
    return json.dumps(statement, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


def signed_message_v2(statement: dict[str, Any]) -> bytes:
    return b"securedrive-audit-export:v2\n" + statement_canonical(statement)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _signature_check(key: Ed25519PublicKey, document: dict[str, Any], message: bytes) -> None:
    try:
        key.verify(base64.b64decode(document["signature"], validate=True), message)
    except (InvalidSignature, binascii.Error, TypeError) as error:
        raise ValueError("the signature is not valid for this key") from error


def _statement(document: dict[str, Any]) -> dict[str, Any]:
    statement = document.get("statement")
    if not isinstance(statement, dict) or set(statement) != set(STATEMENT_FIELDS):
        raise ValueError("the signature file's statement is malformed")
    for name, kind in STATEMENT_FIELDS.items():
        value = statement[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"the statement's {name} is malformed")
    if not all(isinstance(value, str) for value in statement["filter"].values()):
        raise ValueError("the statement's filter is malformed")
    return statement


def _sequences(export: Path, export_format: str) -> list[int]:
    """The events' sequences in the file, read as the auditor's tools would."""
    if export_format == "jsonl":
        with export.open(encoding="utf-8") as stream:
            return [int(json.loads(line)["sequence"]) for line in stream if line.strip()]
    if export_format == "csv":
        with export.open(encoding="utf-8-sig", newline="") as stream:
            return [int(row["sequence"]) for row in csv.DictReader(stream)]
    raise ValueError(f"unknown export format {export_format!r}")


def _printable(text: str) -> str:
    """``text`` with its control characters escaped: a filter value holding a newline
    must not print a line of its own that reads as the verifier's."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def question_in_words(statement: dict[str, Any]) -> str:
    conditions = [
        _printable(FILTER_WORDS.get(name, f"{name} = {{}}").format(value))
        for name, value in sorted(statement["filter"].items())
    ]
    events = statement["events"]
    head = statement["up_to_sequence"]
    lines = [
        f"It vouches that this file holds exactly the {events} event{'s' if events != 1 else ''}"
        f" of the audit log {_printable(statement['log'])}, up to and including event #{head},"
        + (" that are:" if conditions else " (no filter: every event of the log)."),
        *(f"  - {condition}" for condition in conditions),
        _printable(
            f"{statement['export_format'].upper()} export, made by {statement['made_by']}"
            f" (account {statement['made_by_account']}) at {statement['made_at']}."
        ),
    ]
    return "\n".join(lines)


def export_verify(export: Path, signature_file: Path, public_key_pem: bytes) -> str:
    key = load_pem_public_key(public_key_pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    document = json.loads(signature_file.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ValueError("the signature file is not a JSON object")
    actual = file_sha256(export)
    # Files written before version 2 may lack the format: their only field is the hash.
    signature_format = document.get("format", FORMAT_V1)
    if signature_format == FORMAT_V1:
        if document.get("sha256") != actual:
            raise ValueError("the export's SHA-256 does not match the signature file")
        _signature_check(key, document, signed_message_v1(actual))
        return (
            f"OK: {export.name} (sha256 {actual}) signed by SecureDrive, signature v1.\n"
            f"{V1_WARNING}"
        )
    if signature_format != FORMAT_V2:
        raise ValueError(f"unknown signature format {signature_format!r}")
    statement = _statement(document)
    if statement["sha256"] != actual:
        raise ValueError("the export's SHA-256 does not match the signature file")
    _signature_check(key, document, signed_message_v2(statement))
    # Signed by the server, so true unless the server erred; checked so that a verifier
    # need not take the count and the head on trust.
    sequences = _sequences(export, statement["export_format"])
    if len(sequences) != statement["events"]:
        raise ValueError(
            f"the file holds {len(sequences)} events, the signed statement {statement['events']}"
        )
    if sequences and max(sequences) > statement["up_to_sequence"]:
        raise ValueError("the file holds events after the signed head")
    return (
        f"OK: {export.name} (sha256 {actual}) signed by SecureDrive, signature v2.\n"
        f"{question_in_words(statement)}"
    )


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
    except (ValueError, KeyError, OSError, csv.Error) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
