"""docker-compose.yml as an operator runs it. No Docker engine here: the file is read
as Compose would (YAML, `${VAR:-default}`, `$$`), and minio-init's script runs under
`sh` against a stand-in `mc` that records what it is asked, so the bucket set-up is
checked command by command (MinIO's `mc` syntax: mc mb --with-lock, mc retention set
--default MODE VALIDITY, as MinIO's documentation gives them)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
_DEFAULT = re.compile(r"\$\{([A-Z0-9_]+):-([^}]*)\}")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8")))


def interpolated(value: str) -> str:
    """What Compose passes on with no .env: each ${VAR:-default} is its default, $$ is $."""
    while _DEFAULT.search(value):
        value = _DEFAULT.sub(lambda match: match.group(2), value)
    return value.replace("$$", "$")


def app_environment(service: str) -> dict[str, str]:
    return {
        name: interpolated(str(value))
        for name, value in compose()["services"][service]["environment"].items()
    }


def secret_targets(service: dict[str, Any]) -> dict[str, str]:
    """Secret name -> path inside the container."""
    targets = {}
    for item in service["secrets"]:
        if isinstance(item, str):
            targets[item] = f"/run/secrets/{item}"
        else:
            targets[item["source"]] = item.get("target", f"/run/secrets/{item['source']}")
    return targets


@pytest.mark.parametrize("service", ["migrate", "web", "worker", "beat"])
def test_every_application_service_keeps_checkpoints_in_the_object_locked_bucket(
    service: str,
) -> None:
    environment = app_environment(service)
    init = {
        name: interpolated(str(value))
        for name, value in compose()["services"]["minio-init"]["environment"].items()
    }
    # The bucket minio-init makes with Object Lock is the one the application writes to.
    assert environment["SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET"] == init["CHECKPOINT_BUCKET"]
    assert (
        environment["SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET"]
        != environment["SECUREDRIVE_S3_BUCKET"]
    )
    assert environment["SECUREDRIVE_AUDIT_CHECKPOINT_S3_ENDPOINT_URL"] == "http://minio:9000"
    # The MinIO user minio-init gives the checkpoint policy to, with its key from a secret
    # file the service is given (never an environment value `docker inspect` shows).
    assert environment["SECUREDRIVE_AUDIT_CHECKPOINT_S3_ACCESS_KEY_ID"] == init["APP_USER"]
    key_file = environment["SECUREDRIVE_AUDIT_CHECKPOINT_S3_SECRET_ACCESS_KEY_FILE"]
    assert "SECUREDRIVE_AUDIT_CHECKPOINT_S3_SECRET_ACCESS_KEY" not in environment
    assert key_file in secret_targets(compose()["services"][service]).values()
    # Each checkpoint's own lock and the bucket's default agree, and outlast the events.
    retention = int(environment["SECUREDRIVE_AUDIT_CHECKPOINT_RETENTION_DAYS"])
    assert retention == int(init["CHECKPOINT_RETENTION_DAYS"])
    assert retention >= settings.AUDIT_RETENTION_DAYS


def test_migrate_checks_the_checkpoint_bucket_only_once_minio_init_has_made_it() -> None:
    """bootstrap (the migrate service) refuses a missing checkpoint bucket: started
    beside minio-init on a first `up`, it would race it and, losing, keep web, worker and
    beat from ever starting."""
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["minio-init"] == {
        "condition": "service_completed_successfully"
    }
    assert "minio_secret_key" in secret_targets(services["migrate"])
    assert "backend" in services["migrate"]["networks"]


@pytest.fixture
def minio_init(tmp_path: Path) -> Any:
    """Runs minio-init's script with a stand-in `mc`; returns (result, commands, policy)."""
    service = compose()["services"]["minio-init"]
    entrypoint = service["entrypoint"]
    assert entrypoint[:3] == ["/bin/sh", "-eu", "-c"]
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "minio_root_password").write_text("root-password")
    (secrets_dir / "minio_secret_key").write_text("app-secret-key")
    script = interpolated(entrypoint[3]).replace("/run/secrets/", f"{secrets_dir}/")
    # The path inside the mc container, not one this test writes to.
    script = script.replace("/tmp/securedrive-app.json", str(tmp_path / "policy.json"))  # noqa: S108
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "mc.log"
    mc = bin_dir / "mc"
    mc.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{log}"\n'
        'case "$*" in\n'
        '  "retention set"*) exit "${MC_RETENTION_SET_STATUS:-0}" ;;\n'
        '  "admin user info"*) echo \'{"policyName": "securedrive-app"}\' ;;\n'
        "esac\n"
    )
    mc.chmod(0o755)

    def run(**extra: str) -> tuple[subprocess.CompletedProcess[str], list[str], Any]:
        environment = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            **{name: interpolated(str(value)) for name, value in service["environment"].items()},
            **extra,
        }
        result = subprocess.run(
            ["/bin/sh", "-eu", "-c", script],
            env=environment,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        commands = log.read_text().splitlines() if log.exists() else []
        policy_file = tmp_path / "policy.json"
        policy = json.loads(policy_file.read_text()) if policy_file.exists() else None
        return result, commands, policy

    return run


def test_minio_init_creates_the_checkpoint_bucket_with_object_lock_and_compliance_retention(
    minio_init: Any,
) -> None:
    result, commands, policy = minio_init()
    assert result.returncode == 0, result.stderr
    bucket = "securedrive-audit-checkpoints"
    assert f"mb --ignore-existing --with-lock local/{bucket}" in commands
    assert f"retention set --default compliance 2196d local/{bucket}" in commands
    # The lock comes before the application's user gets any right on the bucket.
    assert commands.index(f"retention set --default compliance 2196d local/{bucket}") < next(
        index for index, command in enumerate(commands) if command.startswith("admin policy")
    )
    # The blob bucket stays as it was: no lock (blobs are deleted when purged).
    assert "mb --ignore-existing local/securedrive" in commands
    rights: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        for resource in statement["Resource"]:
            rights.setdefault(resource, set()).update(statement["Action"])
    on_checkpoints = rights[f"arn:aws:s3:::{bucket}/*"]
    assert {"s3:PutObject", "s3:PutObjectRetention", "s3:GetObject"} <= on_checkpoints
    # Neither deleting a checkpoint nor lifting a lock, whatever Object Lock's mode.
    assert not {
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:BypassGovernanceRetention",
        "s3:PutBucketObjectLockConfiguration",
    } & (on_checkpoints | rights[f"arn:aws:s3:::{bucket}"])
    assert "s3:GetBucketObjectLockConfiguration" in rights[f"arn:aws:s3:::{bucket}"]


def test_minio_init_fails_when_the_checkpoint_bucket_has_no_object_lock(minio_init: Any) -> None:
    """A bucket of that name made earlier without --with-lock: mc mb leaves it as it is
    and the retention cannot be set, so minio-init fails and nothing starts."""
    result, commands, _policy = minio_init(MC_RETENTION_SET_STATUS="1")
    assert result.returncode != 0
    assert "has no Object Lock" in result.stderr
    assert not any(command.startswith("admin user add") for command in commands)


def test_the_backup_commands_of_docs_production_md_use_what_minio_init_has() -> None:
    """The MinIO backup and restore commands reuse minio-init (`docker compose run
    minio-init`): each variable and secret they read must be in that service."""
    text = (ROOT / "docs" / "production.md").read_text(encoding="utf-8")
    backups = text.split("## Backups", 1)[1].split("## Changing a password", 1)[0]
    commands = [block for block in backups.split("```sh")[1:] if "minio-init -c" in block]
    assert len(commands) == 2  # backup, restore
    service = compose()["services"]["minio-init"]
    for command in commands:
        assert set(re.findall(r"\$([A-Z_]+)", command)) <= set(service["environment"])
        for path in re.findall(r"/run/secrets/(\w+)", command):
            assert path in secret_targets(service)
        assert '"local/$CHECKPOINT_BUCKET"' in command


# What an operator's .env sets (docs/production.md, "Configure"): the mail relay. Not
# probed by the check (only a loopback relay is), so no DNS is needed here.
OPERATOR_ENV = {"SECUREDRIVE_EMAIL_URL": "smtp+tls://relay.hopital.example:587"}


def compose_deploy_gate(
    service: str, tmp_path: Path, operator_env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`check --deploy --fail-level WARNING` run with what compose gives ``service``:
    each *_FILE points at a secret the service is given, the rest is in the environment.
    Secret files stand in under tmp_path, as secrets-init would make them."""
    import os
    import secrets
    import sys

    from audit.signing_key import signing_key_file_create
    from core.keyring import keyring_file_create

    definition = compose()["services"][service]
    targets = secret_targets(definition)
    environment = app_environment(service)
    files: dict[str, Path] = {}
    for name, value in environment.items():
        if not name.endswith("_FILE"):
            continue
        if value.startswith("/run/securedrive/"):  # written by the entrypoint
            files[name] = tmp_path / "run" / Path(value).name
            files[name].parent.mkdir(exist_ok=True)
            files[name].write_text("postgres://securedrive_app:pw@postgres:5432/securedrive")
            continue
        assert value in targets.values(), f"{name}: {value} is not a secret of {service}"
        files[name] = tmp_path / "secrets" / Path(value).name
    (tmp_path / "secrets").mkdir()
    for path in files.values():
        if path.name == "keyring.json":
            keyring_file_create(path)
        elif path.name == "audit_signing_key.pem":
            signing_key_file_create(path)
        elif not path.exists():
            path.write_text(secrets.token_urlsafe(64))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECUREDRIVE_", "DATABASE_URL", "DJANGO_"))
    }
    env.update({name: str(files.get(name, value)) for name, value in environment.items()})
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "securedrive.settings",
            "SECUREDRIVE_DATA_DIR": str(tmp_path / "var"),  # the image's /app/var
            **operator_env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("service", ["web", "worker", "beat"])
def test_the_compose_environment_passes_the_production_checks(service: str, tmp_path: Path) -> None:
    """What compose gives web, worker and beat, with the mail relay the operator sets in
    .env, is a configuration that starts and passes the documented gate."""
    checked = compose_deploy_gate(service, tmp_path, OPERATOR_ENV)
    assert checked.returncode == 0, checked.stderr


def test_without_a_mail_relay_the_gate_fails_on_mail_alone(tmp_path: Path) -> None:
    """Compose's default smtp://localhost:25 is the container itself: integrity alerts,
    recipients' codes and notices would go nowhere. The stack still starts (there is
    nothing to guess for the operator's relay), but the gate fails on this warning, and
    on nothing else: everything else compose sets up itself."""
    checked = compose_deploy_gate("web", tmp_path, {})
    assert checked.returncode != 0
    assert re.findall(r"\(([\w.]+\.[CEW]\d+)\)", checked.stderr) == ["securedrive.W002"]
    assert "localhost:25, where nothing answers" in checked.stderr
