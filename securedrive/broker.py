"""The embedded profile's message broker: a kombu transport on one SQLite file.

Why not kombu's own transports (issue #13, measured in docs/architecture.md):

* ``filesystem://`` read message files without the writer's lock: under 600 parallel
  uploads the worker died on half-written JSON, and tasks drained at ~2/s because the
  consumer slept a whole polling interval whenever both pool slots were busy.
* ``sqlalchemy://`` marks a message invisible when it is taken and never looks at it
  again: a worker killed with -9 loses the messages it held (no acks-late redelivery),
  and it needs SQLAlchemy.

Here every message is a row. Each change is one short ``BEGIN IMMEDIATE`` transaction
(WAL journal, so readers never block the writer and no one reads half a message):

* publish: INSERT; the delivery tag kombu gives each message is its key.
* take: the oldest free row of the queue gets ``owner`` = this process
  (host, pid and the pid's start time, so a reused pid is not mistaken for it).
* ack: DELETE. Reject with requeue, shutdown with unacked messages: ``owner`` cleared.
* a process that died holding messages: any consumer frees them as soon as it sees that
  owner is gone (checked every ``OWNER_CHECK_S``), so acks-late redelivery holds when the
  whole worker is killed, not only a pool child.

One machine only (ownership is judged with the local process table); production uses
Redis (docs/production.md).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, virtual

SCHEME = "sqlite-broker"

# How often a consumer looks for messages held by processes that no longer exist.
OWNER_CHECK_S = 2.0
# Sleep between polls: short while our own pool is full (no query is made then), longer
# while the queue is empty (one indexed SELECT per poll).
POLL_BUSY_S = 0.002
POLL_IDLE_S = 0.05

_SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    delivery_tag TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    published_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS message_free ON message (queue, id) WHERE owner = '';
CREATE INDEX IF NOT EXISTS message_owner ON message (owner) WHERE owner != '';
"""


def _process_start_time(pid: int) -> str:
    """The pid's start time in clock ticks since boot (Linux), "" elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces: count fields after its closing paren.
    return stat.rpartition(")")[2].split()[19]


def owner_of_this_process() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start_time(pid)}"


def owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True  # not ours to judge
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not started or _process_start_time(pid) == started


class Store:
    """The message table; one SQLite connection per process and thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._owner_checked_at = 0.0

    def connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # never reuse one across fork()
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # Every commit reaches the disk: a published task survives a power cut.
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SCHEMA)
            local.conn, local.pid = conn, os.getpid()
        conn_: sqlite3.Connection = local.conn
        return conn_

    def _write(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(sql, parameters).fetchall()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return rows

    def put(self, queue: str, message: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO message (queue, delivery_tag, payload, published_at) VALUES (?, ?, ?, ?)",
            (queue, message["properties"]["delivery_tag"], json.dumps(message), time.time()),
        )

    def take(self, queue: str) -> dict[str, Any] | None:
        self.dead_owners_release()
        conn = self.connection()
        # A read first: an empty queue costs no write lock.
        free = "SELECT id FROM message WHERE queue = ? AND owner = '' ORDER BY id LIMIT 1"
        if conn.execute(free, (queue,)).fetchone() is None:
            return None
        rows = self._write(
            f"UPDATE message SET owner = ? WHERE id = ({free}) RETURNING payload",  # noqa: S608
            (owner_of_this_process(), queue),
        )
        return json.loads(rows[0][0]) if rows else None

    def ack(self, delivery_tag: str) -> None:
        self._write("DELETE FROM message WHERE delivery_tag = ?", (delivery_tag,))

    def release(self, delivery_tag: str) -> None:
        self._write("UPDATE message SET owner = '' WHERE delivery_tag = ?", (delivery_tag,))

    def dead_owners_release(self, *, force: bool = False) -> int:
        """Free the messages of processes that died holding them; how many were freed."""
        now = time.monotonic()
        if not force and now - self._owner_checked_at < OWNER_CHECK_S:
            return 0
        self._owner_checked_at = now
        owners = (
            self.connection()
            .execute("SELECT DISTINCT owner FROM message WHERE owner != ''")
            .fetchall()
        )
        freed = 0
        for (owner,) in owners:
            if not owner_alive(owner):
                freed += len(
                    self._write(
                        "UPDATE message SET owner = '' WHERE owner = ? RETURNING id", (owner,)
                    )
                )
        return freed

    def size(self, queue: str) -> int:
        row = (
            self.connection()
            .execute("SELECT count(*) FROM message WHERE queue = ? AND owner = ''", (queue,))
            .fetchone()
        )
        return int(row[0])

    def purge(self, queue: str) -> int:
        return len(
            self._write("DELETE FROM message WHERE queue = ? AND owner = '' RETURNING id", (queue,))
        )

    def delete(self, queue: str) -> None:
        self._write("DELETE FROM message WHERE queue = ?", (queue,))


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def store_for(path: str) -> Store:
    with _stores_lock:
        if path not in _stores:
            _stores[path] = Store(Path(path))
        return _stores[path]


class QoS(virtual.QoS):
    """Acks and rejects reach the table (they may come from the pool's result thread)."""

    def _store(self) -> Store:
        channel: Any = self.channel
        store: Store = channel.store
        return store

    def ack(self, delivery_tag: str) -> None:
        self._store().ack(delivery_tag)
        super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if requeue:
            self._store().release(delivery_tag)
        else:
            self._store().ack(delivery_tag)
        super().ack(delivery_tag)  # forget it here: the row itself was dealt with above


class Channel(virtual.Channel):
    QoS = QoS

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self.store = store_for(str(connection.client.transport_options["path"]))

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self.store.put(queue, message)

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        message = self.store.take(queue)
        if message is None:
            transport: Any = self.connection
            transport.queue_was_empty = True
            raise Empty()
        return message

    def _restore(self, message: Any) -> None:
        """Unacked at shutdown, or rejected with requeue: the row is freed, not copied."""
        self.store.release(message.delivery_tag)

    def _size(self, queue: str) -> int:
        return self.store.size(queue)

    def _purge(self, queue: str) -> int:
        return self.store.purge(queue)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        self.store.delete(queue)

    def _has_queue(self, queue: str, **kwargs: Any) -> bool:
        return True

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        pass


class Transport(virtual.Transport):
    Channel = Channel
    driver_type = "sqlite"
    driver_name = "sqlite3"
    polling_interval = POLL_IDLE_S
    queue_was_empty = False

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> None:
        """kombu's loop, with a short sleep while our pool is full and a longer one
        only when the queue itself was found empty (FIELD-NOTES: the folder broker
        slept a full second after each task, hence ~2 tasks/s)."""
        started = time.monotonic()
        cycle: Any = self.cycle
        while True:
            self.queue_was_empty = False
            try:
                cycle.get(self._deliver, timeout=timeout)
            except Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise TimeoutError() from None
                time.sleep(self.polling_interval if self.queue_was_empty else POLL_BUSY_S)
            else:
                return

    @property
    def default_connection_params(self) -> dict[str, Any]:
        return {"port": None, "hostname": None}  # a file, no server to name

    def driver_version(self) -> str:
        return sqlite3.sqlite_version


def register() -> None:
    """Make ``sqlite-broker://`` a broker URL kombu knows."""
    TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
