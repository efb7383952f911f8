"""How fast the hash-chained audit log takes events, against a plain INSERT baseline.

Each measurement writes ``--events`` rows, one transaction (and one commit) per row:

* ``plain INSERT + commit``: ``Model.objects.create()`` inside ``transaction.atomic()``
  on a table built by this script with the same columns and indexes as
  ``audit_auditevent`` (dropped at the end). The baseline.
* ``audit.services.record``: the real service: advisory lock, read of the chain head,
  RFC 8785 hash, INSERT, commit.

Both run with 1, 2 and 4 writer processes (forked after Django's connections are
closed, so each has its own connection). The writers' shared lock shows in the
2- and 4-writer figures. Afterwards the whole chain is verified.

Audit events are append-only (a trigger on PostgreSQL): the bench events stay in the
database. Point it at a throwaway database (bench/README.md says how).

    DATABASE_URL=postgres://bench@127.0.0.1:55433/securedrive_bench \\
        .venv/bin/python bench/audit_write.py --events 3000

Prints a table, then as its last line one JSON object of the figures. Exit status 0
whether or not the target is met; 1 if a writer failed, the chain is not intact or the
number of bench events appended is not the number written; 2 on a refused argument.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import queue
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))

from bench_support import database_url_check  # noqa: E402  (the project root goes on the path first)

from audit.actions import Action  # noqa: E402

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Barrier

    from django.db import models

# A real action (record() refuses uncatalogued ones); the events are told apart by the
# actor label "bench".
ACTION = Action.FILES_VERSION_DOWNLOAD
TARGET_EVENTS_PER_S = 1000
WRITER_COUNTS = (1, 2, 4)
WARMUP_EVENTS = 20
COLLECT_TIMEOUT_S = 900.0

WriteOne = Callable[[int, int], None]  # (writer index, event number within the writer)


class BenchError(RuntimeError):
    """The bench could not produce trustworthy figures."""


# --- Command line and Django set-up ------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Write rate of audit.services.record versus a plain INSERT + commit."
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="target database, loopback only (default: $DATABASE_URL). "
        "Use a throwaway database: bench events cannot be deleted.",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=3000,
        help="events per measurement, split between the writers (default: 3000)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternating baseline/audit rounds the events are split into (default: 5)",
    )
    parser.add_argument(
        "--allow-sqlite",
        action="store_true",
        help="accept SQLite (a temporary file when no URL is given); figures are not "
        "comparable with the PostgreSQL target",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.events < max(WRITER_COUNTS) * args.rounds * 2:
        parser.error(f"--events must be at least {max(WRITER_COUNTS) * args.rounds * 2}")
    if not args.database_url and not args.allow_sqlite:
        parser.error(
            "no database: give --database-url postgres://... (or set DATABASE_URL). "
            "This bench measures PostgreSQL; --allow-sqlite runs it on a temporary SQLite file."
        )
    if args.database_url:
        database_url_check(parser, args.database_url, allow_sqlite=args.allow_sqlite)
    return args


def _django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securedrive.settings")
    # The bench needs no signing key: keep the embedded profile from writing one.
    os.environ.setdefault("SECUREDRIVE_SECRET_KEY", secrets.token_urlsafe(64))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


# --- Writers ----------------------------------------------------------------------


@dataclass(frozen=True)
class WriterResult:
    started: float
    finished: float
    latencies_s: list[float]
    error: str = ""


@dataclass(frozen=True)
class Measurement:
    label: str
    writers: int
    events: int
    seconds: float
    latencies_s: list[float]
    round_rates: tuple[float, ...] = ()  # events/s of each round, to show the noise

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @classmethod
    def combined(cls, rounds: Sequence[Measurement]) -> Measurement:
        return cls(
            label=rounds[0].label,
            writers=rounds[0].writers,
            events=sum(r.events for r in rounds),
            seconds=sum(r.seconds for r in rounds),
            latencies_s=[latency for r in rounds for latency in r.latencies_s],
            round_rates=tuple(r.events_per_s for r in rounds),
        )

    def latency_ms(self, percentile: int) -> float:
        return statistics.quantiles(self.latencies_s, n=100)[percentile - 1] * 1000


def _writer_main(
    write_one: WriteOne,
    writer: int,
    count: int,
    barrier: Barrier,
    results: Queue[WriterResult],
) -> None:
    """Body of one forked writer: connect, wait for the others, write ``count`` events."""
    from django.db import connection, connections

    try:
        connection.ensure_connection()  # connecting is not part of the measurement
        barrier.wait(timeout=120)
        latencies: list[float] = []
        started = time.perf_counter()
        for number in range(count):
            before = time.perf_counter()
            write_one(writer, number)
            latencies.append(time.perf_counter() - before)
        finished = time.perf_counter()
        results.put(WriterResult(started, finished, latencies))
    except Exception as error:
        barrier.abort()
        results.put(WriterResult(0.0, 0.0, [], f"writer {writer}: {type(error).__name__}: {error}"))
    finally:
        connections.close_all()


def _measure(label: str, write_one: WriteOne, writers: int, per_writer: int) -> Measurement:
    """Run ``writers`` forked processes writing ``per_writer`` events each, together."""
    from django.db import connections

    connections.close_all()  # a forked child must never share the parent's connection
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(writers)
    results: Queue[WriterResult] = context.Queue()
    processes = [
        context.Process(
            target=_writer_main,
            args=(write_one, writer, per_writer, barrier, results),
            daemon=True,
        )
        for writer in range(writers)
    ]
    try:
        for process in processes:
            process.start()
        collected = _collect(results, processes, writers)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
    errors = [result.error for result in collected if result.error]
    if errors:
        raise BenchError(f"{label}, {writers} writer(s): " + "; ".join(errors))
    return Measurement(
        label=label,
        writers=writers,
        events=per_writer * writers,
        # perf_counter is CLOCK_MONOTONIC, shared by the forked processes.
        seconds=max(r.finished for r in collected) - min(r.started for r in collected),
        latencies_s=[latency for result in collected for latency in result.latencies_s],
    )


def _collect(
    results: Queue[WriterResult], processes: list[Any], expected: int
) -> list[WriterResult]:
    collected: list[WriterResult] = []
    deadline = time.monotonic() + COLLECT_TIMEOUT_S
    while len(collected) < expected:
        try:
            collected.append(results.get(timeout=1.0))
        except queue.Empty:
            if not any(process.is_alive() for process in processes):
                codes = [process.exitcode for process in processes]
                raise BenchError(f"writers exited without a result (exit codes {codes})") from None
            if time.monotonic() > deadline:
                raise BenchError(f"writers still running after {COLLECT_TIMEOUT_S:.0f} s") from None
    return collected


def _audit_writer() -> WriteOne:
    from audit import services as audit

    def write_one(writer: int, number: int) -> None:
        audit.record(
            action=ACTION,
            actor_label="bench",
            target_type="bench",
            target_id=number,
            details={"writer": writer, "n": number},
        )

    return write_one


def _plain_model() -> type[models.Model]:
    """An unmigrated model with AuditEvent's columns and indexes, on a fresh table."""
    from django.db import models

    from audit.models import AuditEvent

    token = secrets.token_hex(4)
    attributes: dict[str, Any] = {"__module__": __name__}
    for field in AuditEvent._meta.concrete_fields:
        if not field.primary_key:
            attributes[field.name] = field.clone()
    indexes = []
    for number, index in enumerate(AuditEvent._meta.indexes):
        copy = index.clone()
        copy.name = f"bench_pi_{token}_{number}"
        indexes.append(copy)
    meta = {"app_label": "bench", "db_table": f"bench_plain_insert_{token}", "indexes": indexes}
    attributes["Meta"] = type("Meta", (), meta)
    return cast("type[models.Model]", type(f"BenchPlainInsert{token}", (models.Model,), attributes))


def _plain_writer(model: type[models.Model], first_sequence: int, per_writer: int) -> WriteOne:
    from django.db import transaction
    from django.utils import timezone

    def write_one(writer: int, number: int) -> None:
        sequence = first_sequence + writer * per_writer + number
        with transaction.atomic():  # the same transaction shape as record()
            model._default_manager.create(
                sequence=sequence,
                previous_hash="0" * 64,
                event_hash=hashlib.sha256(
                    f"{model._meta.db_table}:{sequence}".encode()
                ).hexdigest(),
                occurred_at=timezone.now(),
                actor_id="",
                actor_label="bench",
                ip_address="",
                user_agent="",
                action=ACTION,
                target_type="bench",
                target_id=str(number),
                outcome="success",
                details={"writer": writer, "n": number},
            )

    return write_one


def _hash_only_per_s(events: int) -> float:
    """In-process rate of the chain's hash alone: the CPU part of record()."""
    from audit.chain import GENESIS_HASH, ChainedFields, event_hash

    started = time.perf_counter()
    previous = GENESIS_HASH
    for number in range(events):
        previous = event_hash(
            ChainedFields(
                sequence=number + 1,
                previous_hash=previous,
                occurred_at=dt.datetime.now(dt.UTC),
                actor_id="",
                actor_label="bench",
                ip_address="",
                user_agent="",
                action=ACTION,
                target_type="bench",
                target_id=str(number),
                outcome="success",
                details={"writer": 0, "n": number},
            )
        )
    return events / (time.perf_counter() - started)


# --- Report -------------------------------------------------------------------------


def _server_description() -> str:
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            shown = []
            for name in ("server_version", "synchronous_commit", "fsync"):
                cursor.execute(f"SHOW {name}")
                shown.append(f"{name}={cursor.fetchone()[0]}")
        where = f"{settings['HOST'] or 'socket'}:{settings['PORT'] or 5432}/{settings['NAME']}"
        return f"PostgreSQL at {where} ({', '.join(shown)})"
    return f"{connection.vendor} at {settings['NAME']}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0])]
            + [cell.rjust(width) for cell, width in zip(rest, widths[1:], strict=True)]
        )

    return "\n".join(
        [line(headers), "  ".join("-" * width for width in widths)] + [line(row) for row in rows]
    )


# --- Main ---------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from django.db import connection

    from audit.models import AuditEvent
    from audit.selectors import audit_chain_verify

    on_postgres = connection.vendor == "postgresql"
    print(f"audit_write: {_server_description()}")
    print(
        f"{args.events} events per measurement in {args.rounds} alternating rounds, "
        "one commit per event, "
        f"{os.cpu_count()} CPU(s) shared by the writers and the database"
    )
    bench_events_before = AuditEvent.objects.filter(action=ACTION, actor_label="bench").count()

    model = _plain_model()
    with connection.schema_editor() as editor:
        editor.create_model(model)
    try:
        # Warm-up in the parent: imports, first queries and caches are inherited by forks.
        write_audit, write_plain = _audit_writer(), _plain_writer(model, 1, WARMUP_EVENTS)
        for number in range(WARMUP_EVENTS):
            write_plain(0, number)
            write_audit(0, number)
        next_sequence = 1 + WARMUP_EVENTS
        measured: dict[tuple[str, int], Measurement] = {}
        for writers in WRITER_COUNTS:
            # Short alternating rounds, so that drift in the machine's load hits the
            # baseline and the audit log alike; the order flips every round.
            per_writer = args.events // (writers * args.rounds)
            rounds: dict[str, list[Measurement]] = {"plain": [], "audit": []}
            for number in range(args.rounds):
                contenders = {
                    "plain": (
                        "plain INSERT + commit",
                        _plain_writer(model, next_sequence, per_writer),
                    ),
                    "audit": ("audit.services.record", write_audit),
                }
                next_sequence += per_writer * writers
                for kind in ("plain", "audit") if number % 2 == 0 else ("audit", "plain"):
                    label, write_one = contenders[kind]
                    rounds[kind].append(_measure(label, write_one, writers, per_writer))
            for kind, kind_rounds in rounds.items():
                measured[kind, writers] = Measurement.combined(kind_rounds)
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(model)
    hash_per_s = _hash_only_per_s(args.events)

    report = audit_chain_verify()
    bench_events_written = (
        AuditEvent.objects.filter(action=ACTION, actor_label="bench").count() - bench_events_before
    )
    bench_events_expected = WARMUP_EVENTS + sum(
        measured["audit", writers].events for writers in WRITER_COUNTS
    )

    figures = _figures(args, measured, hash_per_s, on_postgres=on_postgres)
    figures.update(
        chain_intact=report.intact,
        chain_events_checked=report.events_checked,
        bench_events_written=bench_events_written,
    )
    _print_report(measured, figures, on_postgres=on_postgres)
    chain = (
        f"intact, {report.events_checked} events checked, head #{report.head_sequence}"
        if report.first_break is None
        else f"BROKEN at #{report.first_break.sequence}: {report.first_break.reason}"
    )
    print(f"chain after the run: {chain}")
    print(f"bench events appended: {bench_events_written} (expected {bench_events_expected})")
    print(json.dumps(figures))
    return 0 if report.intact and bench_events_written == bench_events_expected else 1


def _figures(
    args: argparse.Namespace,
    measured: dict[tuple[str, int], Measurement],
    hash_per_s: float,
    *,
    on_postgres: bool,
) -> dict[str, Any]:
    audit_1 = measured["audit", 1].events_per_s
    figures: dict[str, Any] = {
        "audit_events_per_s": round(audit_1),
        "plain_inserts_per_s": round(measured["plain", 1].events_per_s),
        "audit_vs_plain_insert_ratio": round(audit_1 / measured["plain", 1].events_per_s, 3),
    }
    for writers in WRITER_COUNTS[1:]:
        audit_n = measured["audit", writers].events_per_s
        plain_n = measured["plain", writers].events_per_s
        figures[f"audit_events_per_s_{writers}_writers"] = round(audit_n)
        figures[f"plain_inserts_per_s_{writers}_writers"] = round(plain_n)
        figures[f"audit_vs_plain_insert_ratio_{writers}_writers"] = round(audit_n / plain_n, 3)
        figures[f"audit_{writers}_vs_1_writers_ratio"] = round(audit_n / audit_1, 3)
    for writers in WRITER_COUNTS:
        suffix = "" if writers == 1 else f"_{writers}_writers"
        for percentile in (50, 99):
            figures[f"audit_p{percentile}_latency_ms{suffix}"] = round(
                measured["audit", writers].latency_ms(percentile), 3
            )
    figures.update(
        hash_only_per_s=round(hash_per_s),
        events_per_measurement=args.events,
        cpu_count=os.cpu_count(),
        target_audit_events_per_s=TARGET_EVENTS_PER_S,
        target_met=(audit_1 >= TARGET_EVENTS_PER_S) if on_postgres else None,
    )
    return figures


def _print_report(
    measured: dict[tuple[str, int], Measurement], figures: dict[str, Any], *, on_postgres: bool
) -> None:
    rows = []
    for writers in WRITER_COUNTS:
        for kind in ("plain", "audit"):
            m = measured[kind, writers]
            ratio = m.events_per_s / measured["plain", writers].events_per_s
            rows.append(
                [
                    m.label,
                    str(writers),
                    str(m.events),
                    f"{m.seconds:.2f}",
                    f"{m.events_per_s:.0f}",
                    f"{min(m.round_rates):.0f}-{max(m.round_rates):.0f}",
                    f"{ratio:.2f}",
                    f"{m.latency_ms(50):.2f}",
                    f"{m.latency_ms(99):.2f}",
                ]
            )
    print()
    print(
        _table(
            [
                "measurement",
                "writers",
                "events",
                "s",
                "events/s",
                "rounds' events/s",
                "vs plain",
                "p50 ms",
                "p99 ms",
            ],
            rows,
        )
    )
    print()
    audit_1 = figures["audit_events_per_s"]
    if on_postgres:
        verdict = f"{'PASS' if figures['target_met'] else 'BELOW TARGET'} ({audit_1})"
    else:
        verdict = "n/a (PostgreSQL only)"
    summary = [
        ["audit / plain insert, 1 writer", f"{figures['audit_vs_plain_insert_ratio']:.2f}"],
        *(
            [
                f"audit {writers} writers / audit 1 writer",
                f"{figures[f'audit_{writers}_vs_1_writers_ratio']:.2f}",
            ]
            for writers in WRITER_COUNTS[1:]
        ),
        ["hash only (no database), events/s", str(figures["hash_only_per_s"])],
        [f"target >= {TARGET_EVENTS_PER_S} audit events/s, 1 writer", verdict],
    ]
    print(_table(["figure", "value"], summary))
    print()


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    scratch = None
    database_url = args.database_url
    if not database_url:  # --allow-sqlite without a URL: never the embedded database
        scratch = Path(tempfile.mkdtemp(prefix="securedrive-bench-"))
        database_url = f"sqlite:///{scratch / 'bench.sqlite3'}"
    try:
        _django_setup(database_url)
        return run(args)
    except BenchError as error:
        print(f"audit_write: {error}", file=sys.stderr)
        return 1
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
