"""Helpers the settings module uses to fail closed.

Kept apart from settings.py so that the rules are plain functions that tests can call.
"""

from __future__ import annotations

import collections
import itertools
import math
import os
import secrets
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

PROFILES = ("embedded", "production")

# Known placeholder values that must never reach production.
_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "insecure", "django-insecure"}


SECRET_KEY_MIN_LENGTH = 50
# A command to show people, not a key.
SECRET_KEY_GENERATE_COMMAND = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"  # noqa: S105
# What a generated key easily has and a made-up one lacks. Measured over 3,000 keys each
# of secrets.token_urlsafe(50), token_hex(25), token_hex(32), base64 of 48 random bytes
# and Django's get_random_secret_key(): at least 12 distinct characters and 167 bits by
# either estimate below. "secret" * 10 has 5 distinct characters and compresses to 17
# bytes; "Password123!" * 5 compresses to 23.
_SECRET_KEY_MIN_DISTINCT = 10
_SECRET_KEY_MIN_BITS = 128
# zlib adds about 11 bytes to data it cannot compress (header, block header, Adler-32).
_ZLIB_OVERHEAD_BYTES = 11


def _shannon_bits(text: str) -> float:
    """Bits in ``text`` if each character were drawn independently, as observed."""
    counts = collections.Counter(text)
    per_character = -sum(
        count / len(text) * math.log2(count / len(text)) for count in counts.values()
    )
    return per_character * len(text)


def _compressed_bits(text: str) -> int:
    """What is left of ``text`` once repetitions are squeezed out (DEFLATE)."""
    compressed = len(zlib.compress(text.encode("utf-8"), 9))
    return max(0, compressed - _ZLIB_OVERHEAD_BYTES) * 8


def _in_sequence(text: str) -> bool:
    """Mostly runs like ``abcd`` or ``4321``: a keyboard or alphabet walk."""
    steps = [abs(ord(second) - ord(first)) for first, second in itertools.pairwise(text)]
    return sum(step <= 1 for step in steps) > len(steps) // 2


def secret_key_weakness(secret_key: str) -> str | None:
    """Why ``secret_key`` is no real secret, or None.

    Length alone let ``"secret" * 10`` through: the key signs sessions, password-reset
    and set-up links, so it must be random. Estimates, not proofs: a key that passes
    may still have been made up, but the usual made-up patterns do not pass.
    """
    if secret_key.lower() in _PLACEHOLDER_SECRETS or secret_key.startswith("django-insecure"):
        return "it is a placeholder"
    if len(secret_key) < SECRET_KEY_MIN_LENGTH:
        return f"it is shorter than {SECRET_KEY_MIN_LENGTH} characters"
    if len(set(secret_key)) < _SECRET_KEY_MIN_DISTINCT:
        return "it has too few distinct characters"
    if _compressed_bits(secret_key) < _SECRET_KEY_MIN_BITS:
        return "it repeats a pattern"
    if _shannon_bits(secret_key) < _SECRET_KEY_MIN_BITS:
        return "it is not random enough"
    if _in_sequence(secret_key):
        return "its characters mostly run in sequence"
    return None


def profile_from(value: str) -> str:
    profile = value.strip().lower()
    if profile not in PROFILES:
        raise ImproperlyConfigured(
            f"SECUREDRIVE_PROFILE must be one of {', '.join(PROFILES)}, not {value!r}."
        )
    return profile


# Debian's and Ubuntu's clamav-daemon package listen on this socket.
DEBIAN_CLAMD_SOCKET = Path("/run/clamav/clamd.ctl")


def clamd_address_default(*, production: bool, socket: Path = DEBIAN_CLAMD_SOCKET) -> str:
    """Where clamd is when SECUREDRIVE_CLAMD_ADDRESS is not set: a trial (embedded
    profile) uses the local clamav-daemon if there is one, so that uploads become
    downloadable without configuration; production names its scanner explicitly."""
    if production or not socket.is_socket():
        return ""
    return f"unix://{socket}"


def private_directory_create(path: Path) -> None:
    """Create a folder readable by the service account only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def secret_key_read_or_create(path: Path) -> str:
    """Embedded mode: a random SECRET_KEY generated on first run and kept on disk.

    O_EXCL makes concurrent first starts (web and worker) agree on one key.
    """
    private_directory_create(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 50:
            raise ImproperlyConfigured(f"{path} holds a secret key that is too short.") from None
        return key
    key = secrets.token_urlsafe(64)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def database_tune(database: dict[str, Any]) -> None:
    """Settings every database connection needs, whatever the profile."""
    engine = database.get("ENGINE", "")
    if engine.endswith("sqlite3"):
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        options = database.setdefault("OPTIONS", {})
        # IMMEDIATE transactions take the write lock up front, so two writers of the
        # audit chain serialise instead of failing with "database is locked" mid-way.
        options.setdefault("transaction_mode", "IMMEDIATE")
        options.setdefault("timeout", 20)
        options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    # Connections are kept between requests (each gunicorn thread its own): opening
    # one per request (SQLite: open, two PRAGMAs, close) was about a third of a tus
    # PATCH's fixed cost (issue #18, bench/README.md).
    database.setdefault("CONN_MAX_AGE", 60)
    # After a database restart the first request would fail without this (FIELD-NOTES).
    database["CONN_HEALTH_CHECKS"] = True


def _is_inside(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


CONSOLE_EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"


def production_refuse_unsafe(
    *,
    debug: bool,
    secret_key: str,
    allowed_hosts: list[str],
    site_url: str,
    database: dict[str, Any],
    broker_url: str,
    storage_options: dict[str, Any],
    keyring_file: Path,
    audit_signing_key_file: Path,
    audit_checkpoint_bucket: str,
    audit_checkpoint_retention_days: int,
    audit_retention_days: int,
    data_dirs: list[Path],
    clamd_address: str,
    scanner_waived: bool,
    https: bool,
    email_backend: str = "",
) -> None:
    """Raise ImproperlyConfigured listing every unsafe production setting at once."""
    problems: list[str] = []
    if debug:
        problems.append("SECUREDRIVE_DEBUG must be off in production.")
    weakness = secret_key_weakness(secret_key)
    if weakness is not None:
        problems.append(
            f"SECUREDRIVE_SECRET_KEY must be set to a random value of "
            f"{SECRET_KEY_MIN_LENGTH}+ characters ({weakness}). Generate one with: "
            f"{SECRET_KEY_GENERATE_COMMAND}"
        )
    if not allowed_hosts or "*" in allowed_hosts:
        problems.append("SECUREDRIVE_ALLOWED_HOSTS must list the site's host names (no '*').")
    if not site_url.startswith("https://"):
        problems.append("SECUREDRIVE_SITE_URL must be the public https:// address.")
    if not https:
        problems.append("SECUREDRIVE_HTTPS cannot be turned off in production.")
    if not database.get("ENGINE", "").endswith("postgresql"):
        problems.append("DATABASE_URL must point at PostgreSQL (postgres://...).")
    if not broker_url.startswith(("redis://", "rediss://")):
        problems.append("SECUREDRIVE_REDIS_URL must point at Redis (redis://...).")
    if not storage_options.get("bucket_name"):
        problems.append("SECUREDRIVE_S3_BUCKET must name the bucket that holds encrypted blobs.")
    if not keyring_file.is_file():
        problems.append(
            f"SECUREDRIVE_KEYRING_FILE ({keyring_file}) does not exist: create it with "
            "'python -m core.keyring create PATH' and keep it outside the database and storage."
        )
    elif keyring_file.stat().st_mode & 0o077:
        problems.append(f"{keyring_file} must be readable by its owner only (chmod 600).")
    if _is_inside(keyring_file, data_dirs):
        problems.append("The keyring must not live inside the storage or database folders.")
    # A key generated silently in a fresh container would make every earlier signed
    # checkpoint and export unverifiable: production brings its own.
    if not audit_signing_key_file.is_file():
        problems.append(
            f"SECUREDRIVE_AUDIT_SIGNING_KEY_FILE ({audit_signing_key_file}) does not exist: "
            "create it with 'python -m audit.signing_key create PATH'."
        )
    elif audit_signing_key_file.stat().st_mode & 0o077:
        problems.append(f"{audit_signing_key_file} must be readable by its owner only (chmod 600).")
    # Without a bucket, checkpoints would go to a folder of each container (lost with
    # it, and the web's differs from the worker's) instead of where nobody can rewrite
    # them: the log could then be rewritten without a trace (docs/audit.md).
    if not audit_checkpoint_bucket:
        problems.append(
            "SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET must name a bucket created with S3 Object "
            "Lock, where the signed audit checkpoints are kept (docs/audit.md)."
        )
    # A checkpoint whose lock ran out can be deleted by the bucket's owner while the events
    # it signed are still kept: those events would lose their anchor outside the database.
    if audit_checkpoint_retention_days < audit_retention_days:
        problems.append(
            f"SECUREDRIVE_AUDIT_CHECKPOINT_RETENTION_DAYS ({audit_checkpoint_retention_days}) "
            f"must be at least SECUREDRIVE_AUDIT_RETENTION_DAYS ({audit_retention_days}): a "
            "checkpoint must stay locked as long as the events it signs are kept."
        )
    if not clamd_address and not scanner_waived:
        problems.append(
            "SECUREDRIVE_CLAMD_ADDRESS must point at clamd "
            "(or set SECUREDRIVE_SCANNER_WAIVED=true to run without virus scanning)."
        )
    # The console back-end writes each e-mail whole into the logs: invitations' set-up
    # links, link recipients' one-time codes, sign-in notices. Logs are kept, shipped and
    # read by more people than the mailbox's owner: in production that is a leak of live
    # credentials, not only mail going nowhere (the other back-ends: W002, a warning).
    if email_backend == CONSOLE_EMAIL_BACKEND:
        problems.append(
            "SECUREDRIVE_EMAIL_URL must not be consolemail:// in production: it writes every "
            "e-mail into the logs, with its single-use set-up links and one-time codes. "
            "Point it at your SMTP relay (smtp+tls://...)."
        )
    if problems:
        raise ImproperlyConfigured(
            "SecureDrive refuses to start with an unsafe production configuration:\n  - "
            + "\n  - ".join(problems)
        )


# --- OpenID Connect providers (sso/, docs/sso.md) ---------------------------------------

_OIDC_SLUG_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
OIDC_DEFAULT_SCOPES = "openid email profile"


def oidc_providers_from(environment: Any, *, production: bool) -> dict[str, dict[str, Any]]:
    """``SECUREDRIVE_OIDC_PROVIDERS=psc,keycloak`` and, for each, ``SECUREDRIVE_OIDC_<SLUG>_*``
    (the slug upper-cased, ``-`` as ``_``) become ``settings.OIDC_PROVIDERS``: one dict per
    provider whose keys are the lower-cased rest of the names. Fails closed: a provider
    without issuer, client id or secret, with a plain-HTTP issuer in production, or
    creating accounts from unverified addresses, stops the start-up with every problem
    listed.
    """
    slugs = [slug.strip() for slug in environment.list("SECUREDRIVE_OIDC_PROVIDERS", default=[])]
    providers: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for slug in slugs:
        if not slug or not set(slug) <= _OIDC_SLUG_CHARACTERS:
            problems.append(f"OIDC provider name {slug!r}: lower-case letters, digits and '-'")
            continue
        prefix = f"SECUREDRIVE_OIDC_{slug.upper().replace('-', '_')}_"

        def text(name: str, default: str = "", prefix: str = prefix) -> str:
            return str(environment.str(prefix + name, default=default)).strip()

        def words(name: str, prefix: str = prefix) -> list[str]:
            return str(environment.str(prefix + name, default="")).replace(",", " ").split()

        issuer = text("ISSUER").rstrip("/")
        provider = {
            "name": text("NAME", slug),
            "issuer": issuer,
            "discovery_url": text("DISCOVERY_URL") or f"{issuer}/.well-known/openid-configuration",
            "client_id": text("CLIENT_ID"),
            "client_secret": text("CLIENT_SECRET"),
            "scopes": text("SCOPES", OIDC_DEFAULT_SCOPES),
            "acr_values": text("ACR_VALUES"),
            "accepted_acr": words("ACCEPTED_ACR"),
            "accepted_amr": words("ACCEPTED_AMR"),
            "create_accounts": bool(environment.bool(prefix + "CREATE_ACCOUNTS", default=False)),
            "email_claim": text("EMAIL_CLAIM", "email"),
            "require_email_verified": bool(
                environment.bool(prefix + "REQUIRE_EMAIL_VERIFIED", default=True)
            ),
        }
        for required in ("issuer", "client_id", "client_secret"):
            if not provider[required]:
                problems.append(f"{prefix}{required.upper()} is required")
        if provider["create_accounts"] and not provider["require_email_verified"]:
            # Accounts created from addresses nobody verified: whoever asserts one first
            # owns it (docs/sso.md).
            problems.append(
                f"{prefix}CREATE_ACCOUNTS needs verified addresses "
                f"({prefix}REQUIRE_EMAIL_VERIFIED=true)"
            )
        if "openid" not in str(provider["scopes"]).split():
            problems.append(f"{prefix}SCOPES must include 'openid'")
        if production:
            for url_name in ("issuer", "discovery_url"):
                if provider[url_name] and not str(provider[url_name]).startswith("https://"):
                    problems.append(f"{prefix}{url_name.upper()} must be an https:// URL")
        providers[slug] = provider
    if problems:
        raise ImproperlyConfigured("OpenID Connect: " + "; ".join(problems))
    return providers
