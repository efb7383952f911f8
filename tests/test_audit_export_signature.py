"""A signed export vouches for the question it answers, not only for its bytes.

Audrey, the auditor, exports "everything Alice did up to event N" and its signature.
Mallory, who holds the files later, would like to present a narrower export (one file
only, or an earlier head) as that whole answer, or to rewrite the question the
signature file states. The verifier must refuse every such claim and say in words which
question a valid signature vouches for. Signatures of the first version (over the
file's hash only) still verify, with a warning that they vouch for no question.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from audit import checkpoints
from audit.actions import Action
from audit.models import AuditEvent
from audit.selectors import audit_head_sequence
from audit.verify_export import signed_message_v1, signed_message_v2
from tests.helpers import client_signed_in
from tests.test_audit_console import (
    audit_folders,  # noqa: F401  (autouse fixture: checkpoints and key in tmp_path)
    downloads_record,
    run_module,
    streamed,
)

pytestmark = pytest.mark.django_db


def alice_downloads(owner: User) -> None:
    """Alice opened her echo (file 7) three times and a letter (file 8) twice."""
    downloads_record(owner, file_id=7, count=3)
    downloads_record(owner, file_id=8, count=2)


def exported(auditor: User, query: dict[str, str], folder: Path, name: str) -> tuple[Path, Path]:
    """Audrey downloads an export and its signature file, as the console's buttons do."""
    client = client_signed_in(auditor)
    export = client.get("/audit/export.csv", query)
    signature = client.get("/audit/export.csv.sig", query)
    assert signature.status_code == 200, signature.content
    (folder / name).write_bytes(streamed(export))
    (folder / f"{name}.sig").write_bytes(signature.content)
    return folder / name, folder / f"{name}.sig"


def verify(folder: Path, export: Path, signature: Path) -> Any:
    key = folder / "securedrive-audit.pem"
    key.write_bytes(checkpoints.public_key_pem())
    return run_module("audit.verify_export", str(export), str(signature), "--public-key", str(key))


def forge(signature: Path, name: str, value: object) -> None:
    """What a forger does: rewrite the question the signature file states."""
    document = json.loads(signature.read_text())
    stated = document.get("statement", document)
    stated[name] = value
    signature.write_text(json.dumps(document))


def test_a_signed_export_says_in_words_which_question_it_answers(
    auditor: User, owner: User, tmp_path: Path
) -> None:
    alice_downloads(owner)
    head = audit_head_sequence()
    export, signature = exported(
        auditor, {"actor": owner.email, "upto": str(head)}, tmp_path, "alice.csv"
    )
    result = verify(tmp_path, export, signature)
    assert result.returncode == 0, result.stderr
    assert "signature v2" in result.stdout
    assert "the 5 events" in result.stdout
    assert f"up to and including event #{head}" in result.stdout
    assert f"done by {owner.email}" in result.stdout
    assert f"made by {auditor.email}" in result.stdout
    assert "WARNING" not in result.stdout


def test_rewriting_the_filter_in_the_signature_file_is_refused(
    auditor: User, owner: User, tmp_path: Path
) -> None:
    alice_downloads(owner)
    query = {"actor": owner.email, "target_id": "7", "upto": str(audit_head_sequence())}
    export, signature = exported(auditor, query, tmp_path, "echo.csv")
    # The echo's three downloads, presented as everything Alice did.
    forge(signature, "filter", {"actor": owner.email})
    result = verify(tmp_path, export, signature)
    assert result.returncode == 1, result.stdout
    assert "FAILED" in result.stderr


def test_moving_the_head_in_the_signature_file_is_refused(
    auditor: User, owner: User, tmp_path: Path
) -> None:
    downloads_record(owner, file_id=7, count=3)
    earlier = audit_head_sequence()
    export, signature = exported(
        auditor, {"actor": owner.email, "upto": str(earlier)}, tmp_path, "alice.csv"
    )
    downloads_record(owner, file_id=8, count=2)  # what the earlier export cannot show
    # The earlier export presented as "everything Alice did up to now".
    forge(signature, "up_to_sequence", audit_head_sequence())
    result = verify(tmp_path, export, signature)
    assert result.returncode == 1, result.stdout
    assert "FAILED" in result.stderr


def test_a_narrower_export_cannot_pass_for_the_whole_answer(
    auditor: User, owner: User, tmp_path: Path
) -> None:
    alice_downloads(owner)
    head = str(audit_head_sequence())
    whole, whole_signature = exported(
        auditor, {"actor": owner.email, "upto": head}, tmp_path, "alice.csv"
    )
    echo, echo_signature = exported(
        auditor, {"actor": owner.email, "target_id": "7", "upto": head}, tmp_path, "echo.csv"
    )
    # The echo's export with the whole answer's signature: its bytes are not those signed.
    swapped = verify(tmp_path, echo, whole_signature)
    assert swapped.returncode == 1
    assert "does not match" in swapped.stderr
    # With its own signature it verifies, and says it is only about target 7.
    own = verify(tmp_path, echo, echo_signature)
    assert own.returncode == 0, own.stderr
    assert "on the target with id 7" in own.stdout
    assert "the 3 events" in own.stdout
    whole_result = verify(tmp_path, whole, whole_signature)
    assert "on the target with id" not in whole_result.stdout


def test_a_first_version_signature_still_verifies_but_vouches_for_no_question(
    auditor: User, owner: User, tmp_path: Path
) -> None:
    alice_downloads(owner)
    head = audit_head_sequence()
    query = {"actor": owner.email, "upto": str(head)}
    export_bytes = streamed(client_signed_in(auditor).get("/audit/export.csv", query))
    digest = hashlib.sha256(export_bytes).hexdigest()
    # A signature file as SecureDrive wrote them before version 2.
    old = {
        "format": "securedrive-audit-export-signature/v1",
        "sha256": digest,
        "algorithm": "Ed25519",
        "signature": base64.b64encode(
            checkpoints.signing_key().sign(signed_message_v1(digest))
        ).decode(),
        "up_to_sequence": str(head),
    }
    (tmp_path / "old.csv").write_bytes(export_bytes)
    (tmp_path / "old.csv.sig").write_text(json.dumps(old))
    result = verify(tmp_path, tmp_path / "old.csv", tmp_path / "old.csv.sig")
    assert result.returncode == 0, result.stderr
    assert "signature v1" in result.stdout
    assert "WARNING" in result.stdout
    assert "does not vouch for its filter" in result.stdout
    (tmp_path / "old.csv").write_bytes(export_bytes.replace(b"echo-7", b"echo-9", 1))
    tampered = verify(tmp_path, tmp_path / "old.csv", tmp_path / "old.csv.sig")
    assert tampered.returncode == 1
    assert "does not match" in tampered.stderr


def test_the_signature_event_records_what_was_signed(
    auditor: User, owner: User, tmp_path: Path
) -> None:
    alice_downloads(owner)
    _export, signature = exported(
        auditor,
        {"actor": owner.email, "upto": str(audit_head_sequence())},
        tmp_path,
        "alice.csv",
    )
    statement = json.loads(signature.read_text())["statement"]
    recorded = AuditEvent.objects.get(action=Action.AUDIT_EXPORT_SIGN)
    assert recorded.details["sha256"] == statement["sha256"]
    assert recorded.details["events"] == 5


def signed_by_the_log(statement: dict[str, Any]) -> dict[str, Any]:
    """A v2 signature file for ``statement``, signed with the log's own key."""
    signature = checkpoints.signing_key().sign(signed_message_v2(statement))
    return {
        "format": "securedrive-audit-export-signature/v2",
        "algorithm": "Ed25519",
        "statement": statement,
        "signature": base64.b64encode(signature).decode(),
    }


def test_the_verifier_recounts_the_events_and_prints_no_forged_line(
    auditor: User, owner: User, tmp_path: Path
) -> None:
    alice_downloads(owner)
    query = {"actor": owner.email, "upto": str(audit_head_sequence())}
    export, signature = exported(auditor, query, tmp_path, "alice.csv")
    statement = json.loads(signature.read_text())["statement"]
    # A statement the key signed but the file does not bear out (a server's mistake).
    signature.write_text(json.dumps(signed_by_the_log({**statement, "events": 4})))
    result = verify(tmp_path, export, signature)
    assert result.returncode == 1
    assert "the file holds 5 events, the signed statement 4" in result.stderr
    signature.write_text(json.dumps(signed_by_the_log({**statement, "up_to_sequence": 2})))
    assert "after the signed head" in verify(tmp_path, export, signature).stderr
    # A filter value cannot print a line that reads as the verifier's own.
    forged_line = "x\nIt vouches that this file holds every event of the log"
    signature.write_text(
        json.dumps(signed_by_the_log({**statement, "filter": {"actor": forged_line}}))
    )
    result = verify(tmp_path, export, signature)
    assert result.returncode == 0, result.stderr
    assert "done by x\\nIt vouches" in result.stdout
    assert sum(line.startswith("It vouches") for line in result.stdout.splitlines()) == 1


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"format": "securedrive-audit-export-signature/v9", "signature": ""}',
        '{"format": "securedrive-audit-export-signature/v2", "statement": {}, "signature": ""}',
        '{"format": "securedrive-audit-export-signature/v1", "sha256": "00", "signature": "*"}',
    ],
)
def test_a_malformed_signature_file_fails_in_words(
    auditor: User, owner: User, tmp_path: Path, content: str
) -> None:
    alice_downloads(owner)
    query = {"actor": owner.email, "upto": str(audit_head_sequence())}
    export, signature = exported(auditor, query, tmp_path, "alice.csv")
    signature.write_text(content)
    result = verify(tmp_path, export, signature)
    assert result.returncode == 1
    assert result.stderr.startswith("FAILED: ")
    assert "Traceback" not in result.stderr
