"""E-mails of the sharing app: plain text and HTML, in French or English.

Each message is a pair of templates, ``templates/sharing/email/<name>.txt`` and
``<name>.html``, rendered under the language given (the sender's language for
recipients outside, whose language we do not know; the UI language of the person
otherwise). Sent through Django's e-mail backend (SMTP in production).

Messages that carry a capability (a link token, a one-time code) are sent from the web
process after commit, never through the broker: Celery messages must not carry secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation


def one_line(text: str) -> str:
    """``text`` on one line: every control character and line or paragraph separator
    (CR, LF, U+2028...) becomes a space. A subject naming something a person typed (a
    transfer's subject, a file request's title) must neither be refused by the mail
    library (a carriage return raised BadHeaderError) nor add a header."""
    spaced = "".join(char if char.isprintable() or char in _SPACES_KEPT else " " for char in text)
    # Runs of plain spaces collapse; a no-break space stays (French typography puts one
    # before ":" and inside « »: str.split() would have turned it into a plain space).
    return " ".join(part for part in spaced.split(" ") if part).strip()


# The no-break spaces French typography needs (U+00A0, and the narrow U+202F).
_SPACES_KEPT = frozenset({"\u00a0", "\u202f"})


def email_send(
    *,
    to: str,
    subject: str,
    template: str,
    context: Mapping[str, Any],
    language: str | None = None,
    reply_to: str | None = None,
) -> None:
    """Render ``template`` (.txt and .html) and send it to one address.

    ``subject`` is a lazy or plain string; it is evaluated under ``language``.
    """
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    with translation.override(language):
        full_context = {"site_url": settings.SITE_URL, "language": language, **context}
        text = render_to_string(f"sharing/email/{template}.txt", full_context)
        html = render_to_string(f"sharing/email/{template}.html", full_context)
        message = EmailMultiAlternatives(
            subject=one_line(str(subject)),
            body=text,
            to=[to],
            reply_to=[reply_to] if reply_to else None,
        )
        message.attach_alternative(html, "text/html")
        message.send()
