"""A real SMTP server on loopback, for tests that follow an e-mail all the way out.

The locmem backend (tests/settings.py) shows what Django *meant* to send; this
fixture shows what an SMTP client received: the bytes Django's SMTP backend put on
the wire (MIME structure, encodings, headers), parsed back with the standard library.

The fixture reaches every test module through ``pytest_plugins`` (tests/conftest.py)::

    from tests.smtp_server import ReceivedMail, SmtpServer

    def test_...(smtp_server: SmtpServer) -> None:
        ...send...
        mail = smtp_server.only_message()
        mail.code()            # the one 6-digit code in the text part
        mail.url("/s/")        # the first URL containing "/s/"

The fixture starts aiosmtpd on 127.0.0.1 on a free port (in its own thread), points
Django's SMTP backend at it through pytest-django's ``settings`` fixture, and stops it
after the test. Nothing leaves the machine.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"
_URL = re.compile(r"https?://[^\s<>\"']+")
_CODE = re.compile(r"(?<![0-9])[0-9]{6}(?![0-9])")


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage

    def __getitem__(self, header: str) -> str:
        """A header, decoded (RFC 2047), as a mail client shows it.

        Leading whitespace is dropped: Python's folding of a long encoded subject
        starts with an empty line (``Subject: \\n =?utf-8?q?...?=``), which unfolds to
        a leading space that mail clients do not show.
        """
        value = self.message[header]
        return "" if value is None else str(value).strip()

    def _part(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None or part.get_content_subtype() != subtype:
            raise AssertionError(f"the message has no text/{subtype} part")
        assert isinstance(part, EmailMessage)
        content = part.get_content()
        assert isinstance(content, str)
        return content

    def text(self) -> str:
        """The decoded text/plain part."""
        return self._part("plain")

    def html(self) -> str:
        """The decoded text/html part."""
        return self._part("html")

    def urls(self) -> list[str]:
        """The URLs in the text part, in order (the text part is what every client shows)."""
        return [url.rstrip(".,;:)") for url in _URL.findall(self.text())]

    def url(self, containing: str = "") -> str:
        """The first URL of the text part that contains ``containing``."""
        for url in self.urls():
            if containing in url:
                return url
        raise AssertionError(f"no URL containing {containing!r} in:\n{self.text()}")

    def code(self) -> str:
        """The one 6-digit code of the text part (URLs are not searched)."""
        codes: set[str] = set(_CODE.findall(_URL.sub(" ", self.text())))
        if len(codes) != 1:
            raise AssertionError(
                f"expected one 6-digit code, found {sorted(codes)}:\n{self.text()}"
            )
        return codes.pop()


class _Collector:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        mail = ReceivedMail(
            mail_from=str(envelope.mail_from),
            rcpt_tos=[str(address) for address in envelope.rcpt_tos],
            raw=raw,
            message=parsed,
        )
        self._server.received(mail)
        return "250 Message accepted for delivery"


class SmtpServer:
    """The messages received so far, in order, and where the server listens."""

    def __init__(self) -> None:
        self.host = HOST
        self.port = 0
        self.messages: list[ReceivedMail] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None

    def received(self, mail: ReceivedMail) -> None:
        with self._arrived:
            self.messages.append(mail)
            self._arrived.notify_all()

    def wait_for(self, count: int = 1, *, timeout: float = 60.0) -> list[ReceivedMail]:
        """The first ``count`` messages, waiting for them if needed.

        Django's SMTP backend returns only after the server accepted the DATA, so a
        message sent by the test's own thread is already here; this is for messages
        sent by another process or thread (a live server, a worker). It returns as soon
        as they are here: the deadline is for a loaded machine, not a pause.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} message(s) within {timeout:g} s, "
                        f"received {len(self.messages)}"
                    )
                self._arrived.wait(left)
            return list(self.messages[:count])

    def only_message(self) -> ReceivedMail:
        """The single message received; fails if there were none or several."""
        mails = self.wait_for(1)
        if len(self.messages) != 1:
            raise AssertionError(f"expected one message, received {len(self.messages)}")
        return mails[0]

    def to(self, address: str) -> list[ReceivedMail]:
        """Messages whose envelope recipients include ``address``."""
        return [mail for mail in self.messages if address in mail.rcpt_tos]

    def start(self) -> None:
        # aiosmtpd checks readiness by connecting to the port it was given, so it needs
        # a real port number: take a free one, retrying if another process grabs it.
        for _attempt in range(5):
            with socket.socket() as probe:
                probe.bind((HOST, 0))
                port = int(probe.getsockname()[1])
            controller = Controller(
                _Collector(self), hostname=HOST, port=port, enable_SMTPUTF8=True
            )
            try:
                controller.start()
            except (OSError, RuntimeError):
                continue
            self._controller, self.port = controller, port
            return
        raise RuntimeError("could not start the SMTP test server on a free port")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1, with Django's SMTP backend pointed at it."""
    server = SmtpServer()
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = server.host
    settings.EMAIL_PORT = server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    try:
        yield server
    finally:
        server.stop()
