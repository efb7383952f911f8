"""kombu's Redis transport, with one fix: a Redis restart no longer kills the worker.

With celery 5.7.0 and kombu 5.7.0 (the latest releases; 5.6.2 has its own crash on a
broker restart, kombu#2582), a worker whose Redis connection drops while it waits on
``BRPOP`` (any worker with a free pool slot, i.e. every worker running fewer tasks than
its concurrency) exits with ``CRITICAL Unrecoverable error: AttributeError('NoneType'
object has no attribute 'hostname')``. What happens (issue #13, reproduced in
tests/test_faults.py):

1. Celery's consumer (``on_connection_error_after_connected``) first calls
   ``Connection.collect()``, which closes the channel. ``Channel.close`` starts by
   draining the pending ``BRPOP`` reply (kombu#1733, so that a popped message is not
   lost) and that read raises ``ConnectionError``: the broker is gone. The exception
   leaves ``close`` half-done: the channel is not marked closed. ``collect()`` swallows
   the error and detaches the transport (``transport.client = None``).
2. Celery 5.7 then calls ``connection.close()`` as well (5.6 did not). It closes the
   same channel again; this time the drain is skipped, the pools are dropped and the
   unacknowledged messages are restored, which needs a new pool, whose parameters come
   from ``transport.client.hostname``: ``None.hostname``. ``AttributeError`` is not a
   connection error, so nothing catches it and the worker and its beat shut down.

The fix is in step 1: a drain that fails because the connection is gone has nothing to
drain, so ``close`` goes on and finishes while the transport is still attached (the
restore of unacknowledged messages then fails with a connection error, which kombu
expects: they stay in Redis's unacked set and come back after the visibility timeout,
and our sweeper does not depend on them anyway). Remove this module when
tests/test_faults.py passes without it on a newer celery/kombu.
"""

from __future__ import annotations

from queue import Empty
from typing import Any

import redis as redis_py
from kombu.transport import TRANSPORT_ALIASES, redis

TRANSPORT_PATH = "securedrive.redis_transport:Transport"


class Channel(redis.Channel):
    def close(self) -> None:
        state: Any = self  # kombu's type stubs leave out the channel's private state
        if state._in_poll:
            try:
                state._brpop_read()
            except Empty:
                pass
            except (redis_py.ConnectionError, redis_py.TimeoutError, OSError):
                # The broker hung up: no reply will come. _brpop_read has reset
                # _in_poll and dropped the socket; finish closing below.
                pass
        super().close()


class Transport(redis.Transport):
    Channel = Channel


def register() -> None:
    """Make ``redis://`` and ``rediss://`` broker URLs use this transport. Called once
    by securedrive/celery.py, before any broker connection is made; URLs keep their
    scheme, so ``rediss://`` keeps kombu's TLS handling."""
    TRANSPORT_ALIASES["redis"] = TRANSPORT_PATH
    TRANSPORT_ALIASES["rediss"] = TRANSPORT_PATH
