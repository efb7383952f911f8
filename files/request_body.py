"""A request body read straight into the caller's buffer (tus PATCH, issue #18).

gunicorn's ``wsgi.input`` hands out ``bytes``: each ``read(n)`` receives into a new
object, appends it to a ``BytesIO`` in the socket reader, takes ``getvalue()`` and a
slice, then does the same again in ``Body`` — every byte of an upload copied three
more times before the view sees it (11 % of a tus worker's time, and the 23 % ``recv``
allocates as well; bench/README.md). Under gunicorn this reader takes what gunicorn
already buffered (the bytes that arrived with the headers), then calls
``socket.recv_into`` on the connection (``environ["gunicorn.socket"]``) for the rest of
the body, into the tus segment buffer itself: one copy, kernel to segment.

It keeps gunicorn's own accounting right: the body reader's remaining length is
lowered by every byte taken, so that on a kept-alive connection gunicorn's "discard the
unread body" step reads exactly what is left of this body and the next request starts
where it should. Only a body of known length is read this way (gunicorn's
``LengthReader``); anything else (chunked, another WSGI server, Django's test client)
goes through ``wsgi.input.read`` and one copy into the buffer, as before.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest

ReadInto = Callable[[memoryview], int]
"""``readinto(buffer)``: fills the start of ``buffer`` with the next body bytes and
returns how many (at least 1), or 0 at the end of the body or when the client left."""


def _gunicorn_parts(environ: Mapping[str, Any]) -> tuple[Any, Any, Any, socket.socket] | None:
    """(Body, LengthReader, SocketUnreader, socket) when gunicorn serves a sized body."""
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return None
    try:
        from gunicorn.http.body import Body, LengthReader  # type: ignore[import-untyped]
        from gunicorn.http.unreader import SocketUnreader  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - gunicorn is a dependency
        return None
    body = environ.get("wsgi.input")
    if not isinstance(body, Body):
        return None
    reader = getattr(body, "reader", None)
    if not isinstance(reader, LengthReader):
        return None
    unreader = getattr(reader, "unreader", None)
    if not isinstance(unreader, SocketUnreader) or unreader.sock is not sock:
        return None
    return body, reader, unreader, sock


def _take_buffered(buffer_of: Any, attribute: str, view: memoryview, limit: int) -> int:
    """Move up to ``limit`` bytes from a gunicorn ``BytesIO`` buffer into ``view``."""
    held = getattr(buffer_of, attribute)
    if not held.tell():
        return 0
    data = held.getvalue()
    count = min(len(view), len(data), limit)
    view[:count] = data[:count]
    rest = type(held)()
    rest.write(data[count:])
    setattr(buffer_of, attribute, rest)
    return count


def body_readinto(request: HttpRequest) -> ReadInto:
    """A ``readinto`` over the body of a Django ``request``.

    The socket is used only if Django has not started reading the body (a middleware
    that read ``request.body`` holds it in memory: then it comes from there)."""
    read = request.read
    started = getattr(request, "_read_started", False)
    parts = None if started else _gunicorn_parts(request.META)
    if parts is None:

        def copied(view: memoryview) -> int:
            data = read(len(view))
            view[: len(data)] = data
            return len(data)

        return copied

    body, reader, unreader, sock = parts

    def received(view: memoryview) -> int:
        if not len(view):
            return 0
        # Bytes gunicorn's Body already holds were counted off the reader's length.
        count = _take_buffered(body, "buf", view, len(view))
        if count:
            return count
        if reader.length <= 0:
            return 0
        # Read-ahead that came with the headers: body bytes not counted off yet.
        count = _take_buffered(unreader, "buf", view, reader.length)
        if not count:
            count = sock.recv_into(view, min(len(view), reader.length))
        reader.length -= count
        return count

    return received
