"""Retention: events past the retention period go, the log stays verifiable.

People: Alice (a clinician whose downloads are logged), Audrey (an auditor who checks
the log after a purge). Old events are written with a timestamp seven years back, as a
log that has been running that long would hold them.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from accounts.models import User
from audit import checkpoints, merkle
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, ChainVerification, RetentionAnchor
from audit.retention import RetentionRefused, audit_retention_purge
from audit.tasks import audit_retention_purge as audit_retention_purge_task
from audit.tlog import inclusion_check
from tests.conftest import user_create
from tests.helpers import client_signed_in
from tests.test_audit_chain import tamper

pytestmark = pytest.mark.django_db

SEVEN_YEARS_AGO = timezone.now() - dt.timedelta(days=7 * 365)


@pytest.fixture(autouse=True)
def audit_folders(settings: Any, tmp_path: Path) -> Path:
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "secrets" / "audit_signing_key.pem"
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""
    settings.AUDIT_RETENTION_DAYS = 6 * 365 + 2
    return tmp_path


@pytest.fixture
def auditor(db: None) -> User:
    return user_create("audrey.auditor@hopital.example", is_auditor=True)


def downloads(person: User, count: int, *, when: dt.datetime | None = None) -> list[AuditEvent]:
    return [
        audit.record(
            action=Action.FILES_VERSION_DOWNLOAD,
            actor=person,
            target_type="files.file",
            target_id=7,
            occurred_at=None if when is None else when + dt.timedelta(seconds=number),
        )
        for number in range(count)
    ]


def log_rows(after: int = 0) -> list[tuple[int, str, str]]:
    return list(
        AuditEvent.objects.filter(sequence__gt=after)
        .order_by("sequence")
        .values_list("sequence", "event_hash", "action")
    )


def seven_year_old_log(owner: User) -> None:
    """Events 1-10 seven years old, signed at 6 and 10; events 11-13 recent, signed at 13."""
    downloads(owner, 6, when=SEVEN_YEARS_AGO)
    checkpoints.checkpoint_write(force=True)
    downloads(owner, 4, when=SEVEN_YEARS_AGO + dt.timedelta(days=1))
    checkpoints.checkpoint_write(force=True)
    downloads(owner, 3)
    checkpoints.checkpoint_write(force=True)


def test_purge_stops_at_a_signed_checkpoint_and_keeps_newer_events(owner: User) -> None:
    seven_year_old_log(owner)
    downloads(owner, 2, when=SEVEN_YEARS_AGO)  # old-looking, but after the recent ones
    newer_before = log_rows(after=10)

    anchor = audit_retention_purge()

    assert anchor is not None
    assert (anchor.tree_size, anchor.events_purged) == (10, 10)
    assert log_rows(after=10)[: len(newer_before)] == newer_before  # untouched
    assert not AuditEvent.objects.filter(sequence__lte=10).exists()
    purge_event = AuditEvent.objects.get(action=Action.AUDIT_RETENTION_PURGE)
    assert purge_event.details["up_to_sequence"] == 10
    assert purge_event.actor_label == "system"


def test_log_verifies_after_a_purge(owner: User, auditor: User) -> None:
    seven_year_old_log(owner)
    audit_retention_purge()
    downloads(owner, 2)
    checkpoints.checkpoint_write(force=True)

    report = checkpoints.audit_log_verify()
    assert report.intact, report.problem
    assert report.start_sequence == 11
    checkpoints.audit_log_verify_and_alert(full=True)
    page = client_signed_in(auditor).get("/audit/integrity/").content.decode()
    assert "Events up to #10" in page
    assert "Log intact" in page
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "Audit chain intact" in out.getvalue()


def test_nothing_is_purged_before_the_retention_period(owner: User) -> None:
    downloads(owner, 5)
    checkpoints.checkpoint_write(force=True)
    downloads(owner, 1)
    assert audit_retention_purge() is None
    assert len(log_rows()) == 6
    assert not RetentionAnchor.objects.exists()


def test_old_events_after_the_last_checkpoint_wait_for_the_next_one(owner: User) -> None:
    downloads(owner, 4, when=SEVEN_YEARS_AGO)
    checkpoints.checkpoint_write(force=True)
    downloads(owner, 3, when=SEVEN_YEARS_AGO + dt.timedelta(hours=1))  # not yet signed
    downloads(owner, 1)
    anchor = audit_retention_purge()
    assert anchor is not None
    assert anchor.tree_size == 4
    assert [row[0] for row in log_rows()][:4] == [5, 6, 7, 8]


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("edit", "sequence 12"),
        ("delete", "sequence 12"),
        ("truncate", "truncated"),
        ("resurrect", "sequence"),
    ],
)
def test_tampering_after_a_purge_is_still_detected(owner: User, how: str, expected: str) -> None:
    seven_year_old_log(owner)
    audit_retention_purge()
    checkpoints.checkpoint_write(force=True)
    if how == "edit":
        tamper("UPDATE audit_auditevent SET actor_label = 'mallory@x' WHERE sequence = 12")
    elif how == "delete":
        tamper("DELETE FROM audit_auditevent WHERE sequence = 12")
    elif how == "truncate":
        tamper("DELETE FROM audit_auditevent WHERE sequence > 12")
    else:  # an event from before the anchor put back
        tamper(
            "INSERT INTO audit_auditevent (sequence, previous_hash, event_hash, occurred_at, "
            "actor_id, actor_label, ip_address, user_agent, action, target_type, target_id, "
            "outcome, details) SELECT 3, previous_hash, repeat('a', 64), occurred_at, "
            "actor_id, actor_label, ip_address, user_agent, action, target_type, target_id, "
            "outcome, details FROM audit_auditevent WHERE sequence = 12"
        )
    report = checkpoints.audit_log_verify()
    assert not report.intact
    assert expected in report.problem


def test_a_forged_retention_anchor_is_not_trusted(owner: User) -> None:
    """A database owner who moves the anchor (to hide the events after it) is caught."""
    seven_year_old_log(owner)
    anchor = audit_retention_purge()
    assert anchor is not None
    RetentionAnchor.objects.filter(pk=anchor.pk).update(last_event_hash="b" * 64)
    assert "anchor cannot be trusted" in checkpoints.audit_log_verify().problem
    with pytest.raises(CommandError, match="Retention anchor cannot be trusted"):
        call_command("verify_audit")


def test_a_tampered_log_is_never_purged(owner: User) -> None:
    seven_year_old_log(owner)
    tamper("UPDATE audit_auditevent SET actor_label = 'mallory@x' WHERE sequence = 2")
    with pytest.raises(RetentionRefused, match="sequence 2"):
        audit_retention_purge()
    assert len(log_rows()) == 14  # 13 + the refusal's own event
    assert AuditEvent.objects.get(action=Action.AUDIT_RETENTION_PURGE).outcome == "error"
    assert not RetentionAnchor.objects.exists()


def test_inclusion_proofs_still_work_for_kept_events(
    owner: User, auditor: User, tmp_path: Path
) -> None:
    seven_year_old_log(owner)
    audit_retention_purge()
    checkpoints.checkpoint_write(force=True)
    size = checkpoints.checkpoint_store().sizes()[-1]
    client = client_signed_in(auditor)
    (tmp_path / "head.txt").write_bytes(client.get(f"/audit/checkpoints/{size}.txt").content)
    key_line = client.get("/audit/keys/securedrive-audit.vkey").content.decode().strip()
    proof = client.get("/audit/events/12/inclusion.json", {"size": size}).json()
    assert inclusion_check(
        key_line=key_line, checkpoint_path=str(tmp_path / "head.txt"), proof_document=proof
    ).startswith("OK")
    assert client.get("/audit/events/3/inclusion.json", {"size": size}).status_code == 404
    # Consistency from the anchor's checkpoint on still holds; from before it cannot be shown.
    assert client.get("/audit/consistency.json", {"first": 10, "second": size}).status_code == 200
    assert client.get("/audit/consistency.json", {"first": 6, "second": size}).status_code == 400


def test_purge_command_and_beat_task(owner: User) -> None:
    seven_year_old_log(owner)
    out = StringIO()
    call_command("audit_purge", "--dry-run", stdout=out)
    assert "up to #10" in out.getvalue()
    assert len(log_rows()) == 13
    audit_retention_purge_task.delay()
    assert RetentionAnchor.objects.get().tree_size == 10
    out = StringIO()
    call_command("audit_purge", stdout=out)
    assert "Nothing to purge" in out.getvalue()


def test_incremental_verification_reads_only_new_events(owner: User) -> None:
    downloads(owner, 20)
    checkpoints.checkpoint_write(force=True)
    first = checkpoints.audit_log_verify_and_alert()
    assert (first.full, first.events_checked, first.resume_size) == (True, 20, 20)
    downloads(owner, 5)
    checkpoints.checkpoint_write(force=True)  # resumed from the verified frontier at 20
    leaves = [merkle.leaf_hash(bytes.fromhex(row[1])) for row in log_rows()]
    store = checkpoints.checkpoint_store()
    assert checkpoints.checkpoint_open_trusted(store, 25).root_hash == (
        merkle.root_from_leaf_hashes(leaves)
    )
    second = checkpoints.audit_log_verify_and_alert()
    assert (second.intact, second.full, second.events_checked) == (True, False, 5)
    assert second.resume_size == 25


def test_incremental_verification_catches_new_tampering_and_full_catches_old(
    owner: User,
) -> None:
    downloads(owner, 10)
    checkpoints.checkpoint_write(force=True)
    checkpoints.audit_log_verify_and_alert()
    downloads(owner, 5)
    checkpoints.checkpoint_write(force=True)
    tamper("UPDATE audit_auditevent SET actor_label = 'mallory@x' WHERE sequence = 13")
    assert "sequence 13" in checkpoints.audit_log_verify_and_alert().message
    # An edit before the resume point that leaves the stored hashes alone is the full
    # run's to find (daily beat); the incremental run cannot see it.
    tamper("UPDATE audit_auditevent SET actor_label = 'alice' WHERE sequence = 13")
    tamper("UPDATE audit_auditevent SET actor_label = 'mallory@x' WHERE sequence = 3")
    full = checkpoints.audit_log_verify_and_alert(full=True)
    assert not full.intact
    assert "sequence 3" in full.message
    # The next hourly run does not resume from an older intact point: the failure stays.
    hourly = checkpoints.audit_log_verify_and_alert()
    assert (hourly.intact, hourly.full) == (False, True)


def test_a_forged_resume_point_falls_back_to_a_full_run(owner: User) -> None:
    downloads(owner, 10)
    checkpoints.checkpoint_write(force=True)
    verification = checkpoints.audit_log_verify_and_alert()
    ChainVerification.objects.filter(pk=verification.pk).update(resume_frontier=["00" * 32])
    again = checkpoints.audit_log_verify_and_alert()
    assert (again.intact, again.full, again.events_checked) == (True, True, 10)


# --- PostgreSQL: the append-only trigger stays in force ---------------------------------


def refused(sql: str, params: list[Any] | None = None) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params or [])
    except DatabaseError:
        return True
    return False


def test_only_the_purge_function_may_delete_and_only_anchored_old_events(
    on_postgres: None, owner: User
) -> None:
    seven_year_old_log(owner)
    assert refused("DELETE FROM audit_auditevent WHERE sequence <= 6")
    assert refused("SELECT audit_event_purge(6)")  # no anchor at 6
    assert refused(
        "SELECT set_config('securedrive.audit_purge_up_to', '6', true); "
        "DELETE FROM audit_auditevent WHERE sequence <= 6"
    )  # the setting alone is not enough: no anchor covers these events
    anchor = audit_retention_purge()
    assert anchor is not None
    assert refused("UPDATE audit_auditevent SET actor_label = 'x' WHERE sequence = 12")
    assert refused("DELETE FROM audit_auditevent WHERE sequence = 12")
    assert refused("TRUNCATE audit_auditevent")
    assert refused(
        "SELECT set_config('securedrive.audit_purge_up_to', '10', true); "
        "DELETE FROM audit_auditevent WHERE sequence = 12"
    )  # above the anchor
    assert len(log_rows()) == 4  # 11-13 and the purge's own event


def test_an_anchor_the_purge_never_signed_does_not_hide_deleted_history(owner: User) -> None:
    """A database owner erases yesterday's downloads: they compute a retention anchor at a
    real signed checkpoint from the events themselves (nothing secret is needed), insert
    it and delete the events below it. The anchor's checkpoint is genuine, so only the
    purge's own signed statement (which needs the signing key) tells it from a forgery."""
    from audit.retention import _anchor_fields

    downloads(owner, 6)
    checkpoints.checkpoint_write(force=True)
    downloads(owner, 2)
    checkpoints.checkpoint_write(force=True)
    store = checkpoints.checkpoint_store()
    after, proof, note = _anchor_fields(store, 6)
    RetentionAnchor.objects.create(
        tree_size=6,
        root_hash=checkpoints.checkpoint_open_trusted(store, 6).root_hash.hex(),
        last_event_hash=after.last_hash,
        frontier=[value.hex() for value in after.frontier],
        last_event_proof=[value.hex() for value in proof],
        checkpoint_note=note,
        purged_before=timezone.now(),
        created_at=timezone.now(),
    )
    with transaction.atomic():
        tamper("DELETE FROM audit_auditevent WHERE sequence <= 6")

    report = checkpoints.audit_log_verify()
    assert not report.intact
    assert "anchor cannot be trusted" in report.problem
    with pytest.raises(CommandError, match="Retention anchor cannot be trusted"):
        call_command("verify_audit")
