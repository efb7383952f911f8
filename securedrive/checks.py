"""System checks of the project that ask the live services, so they run only with
`manage.py check --deploy --database default` (Django's switch for checks that reach
out): in production, a database role that could switch the audit trigger off, and an
audit checkpoint bucket without Object Lock."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DEFAULT_DB_ALIAS, connections

from securedrive import database_roles


@register(Tags.database, deploy=True)
def database_role_check(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    if not settings.PRODUCTION or DEFAULT_DB_ALIAS not in (databases or ()):
        return []
    return [
        Error(
            f"The database role of DATABASE_URL is not a runtime role: {problem}.",
            hint=database_roles.ROLES_FIX,
            id="securedrive.E001",
        )
        for problem in database_roles.runtime_role_problems(connections[DEFAULT_DB_ALIAS])
    ]


@register(Tags.database, deploy=True)
def audit_checkpoint_bucket_check(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    if not settings.PRODUCTION or DEFAULT_DB_ALIAS not in (databases or ()):
        return []
    from audit.checkpoints import checkpoint_bucket_problems

    return [
        Error(
            f"Signed audit checkpoints would not be safe: {problem}.",
            hint="docs/audit.md, 'Checkpoints'; docker-compose.yml's minio-init creates one.",
            id="securedrive.E002",
        )
        for problem in checkpoint_bucket_problems()
    ]


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
