"""Sharing e-mails make a real SMTP round trip: what a recipient's mail server receives.

The other sharing tests read ``django.core.mail.outbox`` (what Django meant to send).
These send through Django's SMTP backend to aiosmtpd on loopback (tests/smtp_server.py)
and parse the bytes that arrived: a multipart/alternative message with a plain-text
and an HTML part, the right subject and recipient, accents intact, the code or link
the recipient needs findable, and the HTML in the language asked for.
"""

# The fixture is imported by name; pytest injects it.

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from sharing.services.emails import email_send
from tests.smtp_server import SmtpServer

RECIPIENT = "helene.radiologue@cabinet-imagerie.example"
SENDER_NAME = "Dr Élodie Lefèvre"


def code_send(*, code: str, language: str, to: str = RECIPIENT) -> None:
    email_send(
        to=to,
        subject="Votre code SecureDrive" if language == "fr" else "Your SecureDrive code",
        template="link_code",
        context={"code": code, "sender_name": SENDER_NAME, "minutes": 10},
        language=language,
    )


def test_a_verification_code_arrives_as_text_and_html(smtp_server: SmtpServer) -> None:
    code_send(code="482913", language="en")

    received = smtp_server.only_message()
    assert received.message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in received.message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert received["Subject"] == "Your SecureDrive code"
    assert received["To"] == RECIPIENT
    assert received["From"] == settings.DEFAULT_FROM_EMAIL
    assert received.rcpt_tos == [RECIPIENT]
    # What the recipient types on the link's page, in both parts.
    assert received.code() == "482913"
    assert "482913" in received.html()
    assert SENDER_NAME in received.text()  # accents survive the transfer encoding
    assert '<html lang="en">' in received.html()
    assert mail.outbox == []  # it really went over SMTP, not to the test outbox


def test_the_same_message_in_french_is_marked_french(smtp_server: SmtpServer) -> None:
    code_send(code="105733", language="fr")
    code_send(code="105734", language="en", to="other@cabinet-imagerie.example")

    french, english = smtp_server.wait_for(2)
    assert french.rcpt_tos == [RECIPIENT]
    assert french["Subject"] == "Votre code SecureDrive"  # RFC 2047-encoded, decoded back
    assert '<html lang="fr">' in french.html()
    assert french.code() == "105733"
    assert '<html lang="en">' in english.html()
    assert english.code() == "105734"


def test_a_shared_link_e_mail_carries_the_link_in_both_parts(smtp_server: SmtpServer) -> None:
    url = f"{settings.SITE_URL}/s/Yk3vQm9sX2RvZXNfbm90X2V4aXN0/"
    email_send(
        to=RECIPIENT,
        subject=f"{SENDER_NAME} a partagé des fichiers avec vous",
        template="link_shared",
        context={
            "sender_name": SENDER_NAME,
            "sender_email": "elodie.lefevre@hopital.example",
            "url": url,
            "expires_at": timezone.now() + dt.timedelta(days=7),
            "has_password": True,
            "email_verification": True,
        },
        language="fr",
    )

    received = smtp_server.only_message()
    assert received["Subject"] == f"{SENDER_NAME} a partagé des fichiers avec vous"
    assert received.url("/s/") == url
    assert f'href="{url}"' in received.html()
    assert '<html lang="fr">' in received.html()


def test_a_subject_with_a_line_break_cannot_add_recipients(smtp_server: SmtpServer) -> None:
    email_send(
        to=RECIPIENT,
        subject="Résultats\nBcc: attacker@evil.example",
        template="link_code",
        context={"code": "000111", "sender_name": SENDER_NAME, "minutes": 10},
        language="en",
    )

    received = smtp_server.only_message()
    assert received.rcpt_tos == [RECIPIENT]
    assert received["Bcc"] == ""
    assert received["Subject"] == "Résultats Bcc: attacker@evil.example"


def test_the_helpers_refuse_to_guess(smtp_server: SmtpServer) -> None:
    """A message with two codes, or none, makes ``code()`` fail loudly rather than pick."""
    email_send(
        to=RECIPIENT,
        subject="Two codes",
        template="link_code",
        context={"code": "123456", "sender_name": "654321", "minutes": 10},
        language="en",
    )

    received = smtp_server.only_message()
    with pytest.raises(AssertionError, match="expected one 6-digit code"):
        received.code()
    with pytest.raises(AssertionError, match="no URL containing"):
        received.url("/s/")
