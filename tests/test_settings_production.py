"""Production settings refuse unsafe configurations and pass `check --deploy` cleanly."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management.utils import get_random_secret_key

from audit.signing_key import signing_key_file_create
from core.keyring import keyring_file_create
from securedrive.config import secret_key_weakness

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def production_env(tmp_path: Path) -> dict[str, str]:
    keyring = tmp_path / "secrets" / "keyring.json"
    keyring_file_create(keyring)
    signing_key = tmp_path / "secrets" / "audit_signing_key.pem"
    signing_key_file_create(signing_key)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECUREDRIVE_", "DATABASE_URL", "DJANGO_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "securedrive.settings",
            "SECUREDRIVE_PROFILE": "production",
            "SECUREDRIVE_DATA_DIR": str(tmp_path / "data"),
            "SECUREDRIVE_SECRET_KEY": secrets.token_urlsafe(50),
            "SECUREDRIVE_ALLOWED_HOSTS": "drive.hopital.example",
            "SECUREDRIVE_SITE_URL": "https://drive.hopital.example",
            "DATABASE_URL": "postgres://securedrive:pw@127.0.0.1:5432/securedrive",
            "SECUREDRIVE_REDIS_URL": "redis://127.0.0.1:6379/0",
            "SECUREDRIVE_S3_BUCKET": "securedrive-blobs",
            "SECUREDRIVE_KEYRING_FILE": str(keyring),
            "SECUREDRIVE_AUDIT_SIGNING_KEY_FILE": str(signing_key),
            "SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET": "securedrive-audit-checkpoints",
            "SECUREDRIVE_CLAMD_ADDRESS": "tcp://127.0.0.1:3310",
            "SECUREDRIVE_TRUSTED_PROXY_COUNT": "1",
            "SECUREDRIVE_EMAIL_URL": "smtp+tls://mailer:pw@relay.hopital.example:587",
        }
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_safe_production_configuration_passes_deploy_checks(production_env: dict[str, str]) -> None:
    result = manage(production_env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"SECUREDRIVE_DEBUG": "true"}, "SECUREDRIVE_DEBUG must be off"),
        ({"SECUREDRIVE_SECRET_KEY": ""}, "SECUREDRIVE_SECRET_KEY must be set"),
        ({"SECUREDRIVE_SECRET_KEY": "changeme"}, "SECUREDRIVE_SECRET_KEY must be set"),
        ({"SECUREDRIVE_SECRET_KEY": "ab" * 40}, "SECUREDRIVE_SECRET_KEY must be set"),
        ({"SECUREDRIVE_ALLOWED_HOSTS": "*"}, "SECUREDRIVE_ALLOWED_HOSTS"),
        ({"SECUREDRIVE_KEYRING_FILE": "/nonexistent/keyring.json"}, "does not exist"),
        (
            {"SECUREDRIVE_AUDIT_SIGNING_KEY_FILE": "/nonexistent/audit.pem"},
            "python -m audit.signing_key create",
        ),
        ({"SECUREDRIVE_CLAMD_ADDRESS": ""}, "SECUREDRIVE_CLAMD_ADDRESS must point at clamd"),
        ({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "must point at PostgreSQL"),
        ({"SECUREDRIVE_REDIS_URL": ""}, "SECUREDRIVE_REDIS_URL"),
        ({"SECUREDRIVE_S3_BUCKET": ""}, "SECUREDRIVE_S3_BUCKET"),
        ({"SECUREDRIVE_HTTPS": "false"}, "SECUREDRIVE_HTTPS cannot be turned off"),
        # A checkpoint unlocked (deletable) while the events it signs are still kept.
        (
            {"SECUREDRIVE_AUDIT_CHECKPOINT_RETENTION_DAYS": "400"},
            "must be at least SECUREDRIVE_AUDIT_RETENTION_DAYS (2192)",
        ),
        # Checkpoints would land in each container's own folder, lost with it.
        (
            {"SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET": ""},
            "SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET must name a bucket created with S3 Object",
        ),
    ],
)
def test_unsafe_production_configuration_refuses_to_start(
    production_env: dict[str, str], change: dict[str, str], complaint: str
) -> None:
    result = manage({**production_env, **change}, "check")
    assert result.returncode != 0
    assert "refuses to start" in result.stderr
    assert complaint in result.stderr


def test_no_trusted_proxy_behind_the_tls_proxy_fails_the_deploy_check(
    production_env: dict[str, str],
) -> None:
    """Production sits behind a TLS proxy (SECUREDRIVE_BEHIND_TLS_PROXY defaults to
    true): with SECUREDRIVE_TRUSTED_PROXY_COUNT left at 0 every sign-in comes from the
    proxy's address, and five failures from anyone lock the whole hospital out."""
    env = {**production_env, "SECUREDRIVE_TRUSTED_PROXY_COUNT": "0"}
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "securedrive.W001" in result.stderr
    assert "lock everybody out" in result.stderr
    direct = {**env, "SECUREDRIVE_BEHIND_TLS_PROXY": "false"}
    assert manage(direct, "check", "--deploy", "--fail-level", "WARNING").returncode == 0


@pytest.mark.parametrize(
    ("email_url", "where"),
    [
        # docker-compose.yml's default: inside the container nothing listens there.
        ("smtp://localhost:25", "localhost:25, where nothing answers"),
        ("smtp://", "localhost:25, where nothing answers"),
        ("dummymail://", "thrown away"),
    ],
)
def test_mail_that_goes_nowhere_fails_the_deploy_check(
    production_env: dict[str, str], email_url: str, where: str
) -> None:
    """Integrity alerts, recipients' one-time codes and notices would be lost without a
    word: the gate names what is lost and what to set."""
    env = {**production_env, "SECUREDRIVE_EMAIL_URL": email_url}
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "securedrive.W002" in result.stderr
    assert where in result.stderr
    for lost in ("integrity and audit alerts", "one-time codes", "invitations"):
        assert lost in result.stderr
    assert "Set SECUREDRIVE_EMAIL_URL" in result.stderr


def test_console_mail_refuses_to_start_in_production(production_env: dict[str, str]) -> None:
    """consolemail:// would write every e-mail into the logs, with the single-use set-up
    links of invitations and the one-time codes of link recipients: live credentials
    for anyone who reads the logs. Production does not start (not only a warning)."""
    env = {**production_env, "SECUREDRIVE_EMAIL_URL": "consolemail://"}
    result = manage(env, "check")
    assert result.returncode != 0
    assert "refuses to start with an unsafe production configuration" in result.stderr
    assert "must not be consolemail:// in production" in result.stderr


def test_a_mail_server_on_the_machine_itself_passes_the_deploy_check(
    production_env: dict[str, str],
) -> None:
    """A server with its own MTA (Postfix on localhost) is a normal set-up."""
    import socket

    with socket.socket() as local_mta:
        local_mta.bind(("127.0.0.1", 0))
        local_mta.listen(4)
        port = local_mta.getsockname()[1]
        env = {**production_env, "SECUREDRIVE_EMAIL_URL": f"smtp://127.0.0.1:{port}"}
        result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr


def test_scanner_can_be_waived_explicitly(production_env: dict[str, str]) -> None:
    env = {**production_env, "SECUREDRIVE_CLAMD_ADDRESS": "", "SECUREDRIVE_SCANNER_WAIVED": "true"}
    assert manage(env, "check").returncode == 0


def test_keyring_readable_by_others_is_refused(production_env: dict[str, str]) -> None:
    Path(production_env["SECUREDRIVE_KEYRING_FILE"]).chmod(0o644)
    result = manage(production_env, "check")
    assert result.returncode != 0
    assert "chmod 600" in result.stderr


def test_keyring_inside_storage_folder_is_refused(
    production_env: dict[str, str], tmp_path: Path
) -> None:
    inside = tmp_path / "data" / "storage" / "keyring.json"
    keyring_file_create(inside)
    result = manage({**production_env, "SECUREDRIVE_KEYRING_FILE": str(inside)}, "check")
    assert result.returncode != 0
    assert "must not live inside the storage" in result.stderr


def test_secrets_can_come_from_files(production_env: dict[str, str], tmp_path: Path) -> None:
    secret_file = tmp_path / "secret_key"
    secret_file.write_text(secrets.token_urlsafe(50))
    env = {k: v for k, v in production_env.items() if k != "SECUREDRIVE_SECRET_KEY"}
    env["SECUREDRIVE_SECRET_KEY_FILE"] = str(secret_file)
    assert manage(env, "check").returncode == 0


# --- The secret key: real entropy, not just length -----------------------------------------

GENERATE_COMMAND = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


@pytest.mark.parametrize(
    "weak_key",
    [
        "secret" * 10,  # what the outside review got through
        "Password123!" * 5,
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP",  # a keyboard walk
        "a" * 60 + "1234567890abcdef",  # mostly one character
    ],
)
def test_a_weak_secret_key_refuses_to_start_and_says_how_to_make_one(
    production_env: dict[str, str], weak_key: str
) -> None:
    result = manage({**production_env, "SECUREDRIVE_SECRET_KEY": weak_key}, "check")
    assert result.returncode != 0
    assert "SECUREDRIVE_SECRET_KEY must be set to a random value" in result.stderr
    assert GENERATE_COMMAND in result.stderr


@pytest.mark.parametrize(
    ("weak_key", "reason"),
    [
        ("", "a placeholder"),
        ("django-insecure-q8$h2!x0(k7^wz5@m1#r9&v3*t6)p4_n", "a placeholder"),
        ("Xk4vQ9mW2pL7rT1zN8bC5hJ3", "shorter than 50"),
        ("secret" * 10, "too few distinct characters"),
        ("Password123!" * 5, "repeats a pattern"),
        ("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP", "run in sequence"),
        ("a" * 60 + "1234567890abcdef", "not random enough"),
    ],
)
def test_each_weakness_is_named(weak_key: str, reason: str) -> None:
    weakness = secret_key_weakness(weak_key)
    assert weakness is not None
    assert reason in weakness


@pytest.mark.parametrize(
    "generate",
    [
        lambda: secrets.token_urlsafe(50),
        lambda: secrets.token_hex(25),  # 50 hex characters: openssl rand -hex 25
        lambda: secrets.token_hex(64),
        lambda: base64.b64encode(secrets.token_bytes(48)).decode(),  # openssl rand -base64 48
        get_random_secret_key,  # Django's startproject
    ],
    ids=["token_urlsafe", "hex-50", "hex-128", "base64", "django"],
)
def test_keys_from_the_usual_generators_are_accepted(generate: Callable[[], str]) -> None:
    for _attempt in range(500):
        key = generate()
        assert secret_key_weakness(key) is None, key
