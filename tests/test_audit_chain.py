"""The audit log is a hash chain: any edit, deletion, insertion or reordering shows."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.chain import GENESIS_HASH
from audit.models import AppendOnlyError, AuditEvent, Outcome
from audit.selectors import audit_chain_verify

pytestmark = pytest.mark.django_db


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
