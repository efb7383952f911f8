"""The audit log is a hash chain: any edit, deletion, insertion or reordering shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User
from audit import checkpoints
from audit import services as audit
from audit.actions import Action
from audit.chain import GENESIS_HASH
from audit.models import AppendOnlyError, AuditEvent, Outcome
from audit.selectors import audit_chain_verify

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def audit_folders(settings: Any, tmp_path: Path) -> None:
    """Checkpoints and the signing key of this test only (the database rolls back; files
    would otherwise outlive it)."""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "secrets" / "audit_signing_key.pem"
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""


def events_record(owner: User, count: int = 6) -> list[AuditEvent]:
    return [
        audit.record(
            action=Action.FILES_VERSION_DOWNLOAD,
            actor=owner,
            target_type="files.version",
            target_id=index,
            details={"name": f"compte-rendu-{index}.pdf", "bytes": 1024 * index},
        )
        for index in range(1, count + 1)
    ]


def tamper(sql: str, params: list[Any] | None = None) -> None:
    """Change the table behind the application's back, as a database owner could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The append-only trigger stops ordinary sessions; an owner can sidestep it.
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params or [])


def verify_audit_exit() -> tuple[int, str]:
    try:
        call_command("verify_audit")
    except CommandError as error:
        return error.returncode, str(error)
    return 0, ""


def test_without_a_checkpoint_the_command_says_what_it_cannot_see(
    owner: User, capsys: pytest.CaptureFixture[str]
) -> None:
    events_record(owner)
    assert verify_audit_exit() == (0, "")
    assert "No signed checkpoint yet" in capsys.readouterr().out


def test_the_latest_signed_checkpoint_is_checked_and_named(
    owner: User, capsys: pytest.CaptureFixture[str]
) -> None:
    events_record(owner)
    assert checkpoints.checkpoint_write(force=True) == 6
    events_record(owner, count=2)
    assert verify_audit_exit() == (0, "")
    out = capsys.readouterr().out
    assert "Audit chain intact: 8 event(s)" in out
    root = checkpoints.checkpoint_open_trusted(checkpoints.checkpoint_store(), 6).root_hash
    assert f"Latest signed checkpoint: size 6, root {root.hex()}: verified" in out


def test_truncating_the_tail_below_the_last_checkpoint_is_caught(owner: User) -> None:
    """What the chain alone cannot see: the newest events gone, the head simply moved
    back. The outside review did this and the command still said "chain intact"."""
    events_record(owner)
    checkpoints.checkpoint_write(force=True)
    tamper("DELETE FROM audit_auditevent WHERE sequence > 4")
    code, message = verify_audit_exit()
    assert code == 1
    assert "truncated" in message
    assert "signed checkpoint covers 6 events, the log holds 4" in message
    assert "Latest signed checkpoint: size 6" in message


def test_a_rewritten_log_that_chains_again_is_caught_by_the_checkpoint(owner: User) -> None:
    """A database owner deletes the last events and appends new ones: the chain is
    whole again, but the root at the signed size is not the signed one."""
    events_record(owner)
    checkpoints.checkpoint_write(force=True)
    tamper("DELETE FROM audit_auditevent WHERE sequence > 4")
    events_record(owner, count=3)  # appended through the application, chained from 4
    code, message = verify_audit_exit()
    assert code == 1
    assert "root at size 6 differs from its checkpoint" in message


def test_events_chain_from_genesis(owner: User) -> None:
    first, second, *_ = events_record(owner)
    assert (first.sequence, first.previous_hash) == (1, GENESIS_HASH)
    assert second.sequence == 2
    assert second.previous_hash == first.event_hash
    assert first.actor_label == owner.email
    assert first.outcome == Outcome.SUCCESS


def test_intact_chain_verifies(owner: User, capsys: pytest.CaptureFixture[str]) -> None:
    events = events_record(owner)
    assert verify_audit_exit() == (0, "")
    assert "Audit chain intact: 6 event(s)" in capsys.readouterr().out
    report = audit_chain_verify()
    assert report.intact
    assert report.head_hash == events[-1].event_hash


def test_edited_event_is_named(owner: User) -> None:
    events_record(owner)
    tamper("UPDATE audit_auditevent SET actor_label = %s WHERE sequence = 4", ["mallory@x"])
    code, message = verify_audit_exit()
    assert code == 1
    assert "broken at sequence 4" in message
    assert "altered" in message


def test_edited_details_are_named(owner: User) -> None:
    events_record(owner)
    tamper(
        "UPDATE audit_auditevent SET details = %s WHERE sequence = 2",
        ['{"name": "autre.pdf", "bytes": 2048}'],
    )
    code, message = verify_audit_exit()
    assert (code, "broken at sequence 2" in message) == (1, True)


def test_deleted_event_is_named(owner: User) -> None:
    events_record(owner)
    tamper("DELETE FROM audit_auditevent WHERE sequence = 3")
    code, message = verify_audit_exit()
    assert code == 1
    assert "broken at sequence 3" in message


def test_inserted_event_is_named(owner: User) -> None:
    """A forged event slipped in the middle forces renumbering, which breaks the links."""
    events = events_record(owner)
    # Make room after sequence 3, then insert a plausible event there.
    tamper("UPDATE audit_auditevent SET sequence = sequence + 1000 WHERE sequence > 3")
    tamper("UPDATE audit_auditevent SET sequence = sequence - 999 WHERE sequence > 1000")
    forged = events[2]
    tamper(
        "INSERT INTO audit_auditevent (sequence, previous_hash, event_hash, occurred_at, "
        "actor_id, actor_label, ip_address, user_agent, action, target_type, target_id, "
        "outcome, details) VALUES (4, %s, %s, %s, '', 'forger', '', '', 'files.version.delete', "
        "'', '', 'success', '{}')",
        [forged.event_hash, "f" * 64, forged.occurred_at],
    )
    code, message = verify_audit_exit()
    assert code == 1
    assert "broken at sequence 4" in message


def test_reordered_events_are_named(owner: User) -> None:
    events_record(owner)
    # Swap the sequence numbers of events 2 and 5.
    tamper("UPDATE audit_auditevent SET sequence = -2 WHERE sequence = 2")
    tamper("UPDATE audit_auditevent SET sequence = 2 WHERE sequence = 5")
    tamper("UPDATE audit_auditevent SET sequence = 5 WHERE sequence = -2")
    code, message = verify_audit_exit()
    assert code == 1
    assert "broken at sequence 2" in message


def test_code_cannot_update_or_delete_events(owner: User) -> None:
    event = events_record(owner, count=1)[0]
    event.action = "something.else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == Action.FILES_VERSION_DOWNLOAD


def test_secrets_in_details_are_masked(owner: User) -> None:
    event = audit.record(
        action=Action.ACCOUNTS_TOKEN_CREATE, actor=owner, details={"token": "abc", "name": "ci"}
    )
    assert event.details == {"token": "***", "name": "ci"}


def test_rolled_back_action_leaves_no_event(owner: User) -> None:
    from django.db import transaction

    def delete_that_fails() -> None:
        with transaction.atomic():
            audit.record(action=Action.FILES_FILE_DELETE, actor=owner)
            raise RuntimeError("the action failed after recording")

    with pytest.raises(RuntimeError):
        delete_that_fails()
    assert not AuditEvent.objects.filter(action=Action.FILES_FILE_DELETE).exists()
    assert audit_chain_verify().intact
