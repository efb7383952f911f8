"""PostgreSQL guarantees: the trigger refuses changes; concurrent writers never fork."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from django.db import connection, connections, transaction
from django.db.utils import DatabaseError

from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'rewritten'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_database_refuses_changes_to_events(on_postgres: None, statement: str) -> None:
    audit.record(action=Action.ACCOUNTS_LOGIN, actor_label="alice@example.org")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEvent.objects.get().action == Action.ACCOUNTS_LOGIN


WRITERS = 4
EVENTS_PER_WRITER = 150


def _writer(index: int) -> None:
    connections.close_all()  # a fresh connection per process
    for number in range(EVENTS_PER_WRITER):
        audit.record(
            action=Action.FILES_VERSION_DOWNLOAD,
            actor_label=f"writer-{index}",
            details={"n": number},
        )
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_keep_one_gapless_chain(on_postgres: None) -> None:
    connections.close_all()
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_writer, args=(index,)) for index in range(WRITERS)]
    try:
        for process in processes:
            process.start()
        deadline = time.monotonic() + 120
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        assert [process.exitcode for process in processes] == [0] * WRITERS
    finally:
        # A writer still running would append to the chain after this test's flush.
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(timeout=10)

    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, WRITERS * EVENTS_PER_WRITER + 1))  # no gap, no fork
    report = audit_chain_verify()
    assert report.intact, report.first_break
    assert report.events_checked == WRITERS * EVENTS_PER_WRITER
