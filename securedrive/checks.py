"""System checks of the project that ask the live services, so they run only with
`manage.py check --deploy --database default` (Django's switch for checks that reach
out): in production, a database role that could switch the audit trigger off, and an
audit checkpoint bucket without Object Lock. And deploy checks of the configuration:
no trusted proxy behind a TLS proxy (W001), e-mail that goes nowhere (W002)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DEFAULT_DB_ALIAS, connections

from securedrive import database_roles


def _live_production_errors(
    databases: Any,
    problems: Callable[[], Iterable[str]],
    *,
    message: str,
    hint: str,
    check_id: str,
) -> list[CheckMessage]:
    """An Error per problem that ``problems`` finds by asking a live service: only in
    production, and only when the check was asked to reach out (``--database
    default``), so ``problems`` is not even called otherwise."""
    if not settings.PRODUCTION or DEFAULT_DB_ALIAS not in (databases or ()):
        return []
    return [
        Error(message.format(problem=problem), hint=hint, id=check_id) for problem in problems()
    ]


@register(Tags.database, deploy=True)
def database_role_check(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    return _live_production_errors(
        databases,
        lambda: database_roles.runtime_role_problems(connections[DEFAULT_DB_ALIAS]),
        message="The database role of DATABASE_URL is not a runtime role: {problem}.",
        hint=database_roles.ROLES_FIX,
        check_id="securedrive.E001",
    )


@register(Tags.database, deploy=True)
def audit_checkpoint_bucket_check(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    from audit.checkpoints import checkpoint_bucket_problems

    return _live_production_errors(
        databases,
        checkpoint_bucket_problems,
        message="Signed audit checkpoints would not be safe: {problem}.",
        hint="docs/audit.md, 'Checkpoints'; docker-compose.yml's minio-init creates one.",
        check_id="securedrive.E002",
    )


@register(Tags.security, deploy=True)
def trusted_proxy_count_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Behind the TLS proxy production assumes, REMOTE_ADDR is the proxy's: with no
    trusted X-Forwarded-For entry every client has the proxy's address, so the audit log
    records it for everyone and five failed sign-ins from anyone lock everybody out
    (django-axes locks an address as well as an account)."""
    behind_proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is not None
    if not settings.PRODUCTION or not behind_proxy or settings.TRUSTED_PROXY_COUNT > 0:
        return []
    return [
        Warning(
            "SECUREDRIVE_TRUSTED_PROXY_COUNT is 0 behind a TLS proxy: every client appears "
            "with the proxy's address, in the audit log and to the sign-in lockout (five "
            "failed sign-ins from anyone would lock everybody out).",
            hint="Set SECUREDRIVE_TRUSTED_PROXY_COUNT to the number of your proxies that "
            "append to X-Forwarded-For (docker-compose.yml: 1), or "
            "SECUREDRIVE_BEHIND_TLS_PROXY=false if clients reach gunicorn directly.",
            id="securedrive.W001",
        )
    ]


# What production e-mails (docs/production.md, "E-mail"): each one is lost when mail
# goes nowhere, and nothing else tells anyone.
MAIL_NOT_DELIVERED = (
    "integrity and audit alerts (a failed audit log verification, alert rules), "
    "infected-file notices, the one-time codes that link recipients must type, "
    "transfer and download notices, invitations and sign-in notices"
)
MAIL_FIX = (
    "Set SECUREDRIVE_EMAIL_URL (or SECUREDRIVE_EMAIL_URL_FILE, for a URL with a password) "
    "to your SMTP relay, e.g. smtp+tls://relay.hopital.example:587, and "
    "SECUREDRIVE_FROM_EMAIL to an address it accepts (docs/production.md, 'Configure')."
)
_BACKENDS_NOT_SENDING = {
    # Production refuses to start with the console backend (securedrive/config.py: it
    # writes set-up links and one-time codes into the logs); kept for a clear message.
    "django.core.mail.backends.console.EmailBackend": "printed into the logs (consolemail)",
    "django.core.mail.backends.filebased.EmailBackend": "written to files (filemail)",
    "django.core.mail.backends.locmem.EmailBackend": "kept in memory (memorymail)",
    "django.core.mail.backends.dummy.EmailBackend": "thrown away (dummymail)",
}
_SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def _is_loopback(host: str) -> bool:
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def mail_delivery_problem() -> str:
    """Why production's e-mail would not leave the machine, or "". Compose's default,
    smtp://localhost:25, is the container itself, where nothing listens: only a
    loopback relay is asked (one connection, 1 s), a local MTA on a server being a
    normal set-up; a remote relay is not (it may be unreachable from where checks run)."""
    if not settings.PRODUCTION:
        return ""
    backend = str(settings.EMAIL_BACKEND)
    if backend in _BACKENDS_NOT_SENDING:
        return f"e-mail is {_BACKENDS_NOT_SENDING[backend]}, never sent"
    host = str(settings.EMAIL_HOST or "")
    if backend != _SMTP_BACKEND or not _is_loopback(host):
        return ""
    port = int(settings.EMAIL_PORT or 25)
    try:
        with socket.create_connection((host or "localhost", port), timeout=1):
            return ""
    except OSError:
        return (
            f"e-mail goes to {host or 'localhost'}:{port}, where nothing answers (in a "
            "container, localhost is the container itself)"
        )


@register(Tags.security, deploy=True)
def mail_delivery_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    problem = mail_delivery_problem()
    if not problem:
        return []
    return [
        Warning(
            f"E-mail will not be delivered: {problem}. Lost with it: {MAIL_NOT_DELIVERED}.",
            hint=MAIL_FIX,
            id="securedrive.W002",
        )
    ]
