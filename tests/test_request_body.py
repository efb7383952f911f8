"""files/request_body.py outside gunicorn: the body still arrives whole, whoever read it
first. (Under gunicorn, with recv_into on its socket: tests/test_tus_interop.py.)"""

from __future__ import annotations

from django.test import RequestFactory

from files.request_body import body_readinto


def drained(request: object) -> bytes:
    readinto = body_readinto(request)  # type: ignore[arg-type]
    buffer = bytearray(7)  # smaller than the body: several reads
    received = bytearray()
    while count := readinto(memoryview(buffer)):
        received += buffer[:count]
    return bytes(received)


def body_request() -> object:
    return RequestFactory().generic(
        "PATCH",
        "/api/v1/uploads/x/",
        data=b"0123456789" * 5,
        content_type="application/offset+octet-stream",
    )


def test_a_body_nobody_read_yet_arrives_whole() -> None:
    assert drained(body_request()) == b"0123456789" * 5


def test_a_body_a_middleware_already_read_still_arrives_whole() -> None:
    """Django then holds it in memory: the socket (or the WSGI input) has nothing left."""
    request = body_request()
    assert request.body == b"0123456789" * 5  # type: ignore[attr-defined]
    assert drained(request) == b"0123456789" * 5
