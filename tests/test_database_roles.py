"""Least-privilege PostgreSQL roles (docs/production.md, "Database roles").

A superuser or the audit table's owner can switch the append-only trigger off. The
story: an operator creates a fresh database with the postgres container's init script
(deploy/postgres/init-roles.sh), migrates with `manage.py bootstrap` as the owner role,
and runs the application as the runtime role. The runtime role uses the application but
can neither silence the trigger nor rewrite events, and production refuses to start with
a superuser's or the owner's credentials.

Everything happens in a throwaway database with uniquely named roles inside the shared
test cluster (whose superuser the suite connects as); both are dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import pytest
import yaml
from psycopg import errors, sql

from audit.signing_key import signing_key_file_create
from files.keyring import keyring_file_create
from tests.checkpoint_buckets import checkpoint_bucket_env

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    superuser: str
    superuser_password: str

    def url(self, database: str, user: str = "", password: str = "") -> str:
        user = user or self.superuser
        password = password if user != self.superuser else self.superuser_password
        credentials = f"{quote(user)}:{quote(password, safe='')}"
        return f"postgres://{credentials}@{self.host}:{self.port}/{database}"


@dataclass(frozen=True)
class Instance:
    """One SecureDrive database with its two roles."""

    cluster: Cluster
    database: str
    owner: str
    owner_password: str
    runtime: str
    runtime_password: str
    env: dict[str, str]

    @property
    def superuser_url(self) -> str:
        return self.cluster.url(self.database)

    @property
    def owner_url(self) -> str:
        return self.cluster.url(self.database, self.owner, self.owner_password)

    @property
    def runtime_url(self) -> str:
        return self.cluster.url(self.database, self.runtime, self.runtime_password)

    def connect(self, url: str) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(url, autocommit=True)


def run(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, sys.executable, "manage.py", *args)


def init_roles(instance: Instance, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """deploy/postgres/init-roles.sh, as the postgres image runs it on a new volume
    (here over TCP as the cluster's superuser instead of its local socket)."""
    owner_file = tmp_path / "postgres_owner_password"
    owner_file.write_text(instance.owner_password)
    runtime_file = tmp_path / "postgres_app_password"
    runtime_file.write_text(instance.runtime_password)
    cluster = instance.cluster
    env = {
        "PATH": os.environ["PATH"],
        "PGHOST": cluster.host,
        "PGPORT": str(cluster.port),
        "PGPASSWORD": cluster.superuser_password,
        "POSTGRES_USER": cluster.superuser,
        "POSTGRES_DB": instance.database,
        "SECUREDRIVE_DB_OWNER": instance.owner,
        "SECUREDRIVE_DB_RUNTIME": instance.runtime,
        "SECUREDRIVE_DB_OWNER_PASSWORD_FILE": str(owner_file),
        "SECUREDRIVE_DB_RUNTIME_PASSWORD_FILE": str(runtime_file),
        "SECUREDRIVE_DB_ROLES_SQL": str(ROOT / "deploy" / "postgres" / "securedrive-roles.sql"),
    }
    return run(env, "sh", str(ROOT / "deploy" / "postgres" / "init-roles.sh"), timeout=60)


def production_env(directory: Path, redis_url: str, s3_url: str) -> dict[str, str]:
    keyring = directory / "secrets" / "keyring.json"
    keyring_file_create(keyring)
    signing_key = directory / "secrets" / "audit_signing_key.pem"
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
            "SECUREDRIVE_DATA_DIR": str(directory / "data"),
            "SECUREDRIVE_SECRET_KEY": secrets.token_urlsafe(50),
            "SECUREDRIVE_ALLOWED_HOSTS": "drive.hopital.example",
            "SECUREDRIVE_SITE_URL": "https://drive.hopital.example",
            "SECUREDRIVE_REDIS_URL": redis_url,
            "SECUREDRIVE_S3_BUCKET": "securedrive-blobs",
            "SECUREDRIVE_KEYRING_FILE": str(keyring),
            "SECUREDRIVE_AUDIT_SIGNING_KEY_FILE": str(signing_key),
            **checkpoint_bucket_env(s3_url),
            "SECUREDRIVE_CLAMD_ADDRESS": "tcp://127.0.0.1:3310",
            "SECUREDRIVE_ADMIN_EMAIL": "chief@hopital.example",
        }
    )
    return env


@pytest.fixture(scope="module")
def cluster(service_url: Callable[[str], str]) -> Cluster:
    parts = urlsplit(service_url("postgres"))
    return Cluster(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        superuser=parts.username or "",
        superuser_password=parts.password or "",
    )


@pytest.fixture(scope="module")
def instance(
    cluster: Cluster, service_url: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Instance]:
    """A fresh database, its roles made by the init script, migrated by bootstrap."""
    suffix = secrets.token_hex(4)
    made = Instance(
        cluster=cluster,
        database=f"sdroles_{suffix}",
        owner=f"sdroles_owner_{suffix}",
        # Quotes and spaces in passwords survive every step.
        owner_password=f"own'er {secrets.token_urlsafe(12)}",
        runtime=f"sdroles_app_{suffix}",
        runtime_password=f"app'pw {secrets.token_urlsafe(12)}",
        env={},
    )
    directory = tmp_path_factory.mktemp("roles")
    env = production_env(directory, service_url("redis"), service_url("s3"))
    env["DATABASE_URL"] = made.runtime_url
    made = Instance(**{**made.__dict__, "env": env})
    postgres = cluster.url("postgres")
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(made.database)))
    try:
        created = init_roles(made, directory)
        assert created.returncode == 0, created.stderr
        bootstrapped = manage(
            {**env, "SECUREDRIVE_MIGRATION_DATABASE_URL": made.owner_url},
            "bootstrap",
            "--no-static",
        )
        assert bootstrapped.returncode == 0, bootstrapped.stdout + bootstrapped.stderr
        assert "Database migrated as the owner role." in bootstrapped.stdout
        assert "Runtime database role checked" in bootstrapped.stdout
        # No SECUREDRIVE_EMAIL_URL: smtp://localhost:25, where nothing listens. The
        # start-up says so (compose: `docker compose logs migrate`), naming what is lost.
        assert "E-mail will not be delivered: e-mail goes to localhost:25" in bootstrapped.stdout
        assert "recipients must type" in bootstrapped.stdout
        yield made
    finally:
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(made.database)
                )
            )
            for role in (made.owner, made.runtime):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_migrations_ran_as_the_owner_and_bootstrap_as_the_runtime_role(
    instance: Instance,
) -> None:
    with instance.connect(instance.superuser_url) as admin:
        owners = {
            owner
            for (owner,) in admin.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        # The first administrator was created, and audited, by the runtime role.
        first_admin = admin.execute(
            "SELECT count(*) FROM accounts_user WHERE email = 'chief@hopital.example'"
        ).fetchone()
        events = admin.execute("SELECT count(*) FROM audit_auditevent").fetchone()
    assert owners == {instance.owner}
    assert first_admin == (1,)
    assert events is not None
    assert events[0] >= 1


def test_runtime_role_records_audit_events_through_the_normal_path(instance: Instance) -> None:
    recorded = manage(
        instance.env,
        "shell",
        "-c",
        "from audit import services; "
        "event = services.record(action='accounts.login', actor_label='alice@hopital.example'); "
        "print('sequence', event.sequence)",
    )
    assert recorded.returncode == 0, recorded.stderr
    assert "sequence " in recorded.stdout

    verified = manage(instance.env, "verify_audit")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    checked = manage(instance.env, "database_roles", "--check")
    assert checked.returncode == 0, checked.stderr
    assert "is a runtime role" in checked.stdout


@pytest.mark.parametrize(
    "statement",
    [
        "SET session_replication_role = replica",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_update_delete",
        "DROP TRIGGER audit_event_no_update_delete ON audit_auditevent",
        "CREATE TRIGGER audit_event_quiet BEFORE INSERT ON audit_auditevent "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()",
        "CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
        "ALTER TABLE audit_auditevent OWNER TO CURRENT_USER",
        "SET ROLE {owner}",
    ],
)
def test_runtime_role_cannot_switch_the_audit_trigger_off(
    instance: Instance, statement: str
) -> None:
    with (
        instance.connect(instance.runtime_url) as runtime,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        runtime.execute(statement.format(owner=instance.owner))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'rewritten'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_runtime_role_cannot_rewrite_audit_events(instance: Instance, statement: str) -> None:
    with instance.connect(instance.superuser_url) as admin:
        before = admin.execute("SELECT sequence, event_hash FROM audit_auditevent").fetchall()
    # Refused by the role's rights, before the trigger is even asked.
    with (
        instance.connect(instance.runtime_url) as runtime,
        pytest.raises(errors.InsufficientPrivilege, match="permission denied for table"),
    ):
        runtime.execute(statement)
    # Setting the purge marker by hand does not help either.
    with psycopg.connect(instance.runtime_url) as runtime:
        runtime.execute("SELECT set_config('securedrive.audit_purge_up_to', '1', true)")
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied for table"):
            runtime.execute(statement)
    with instance.connect(instance.superuser_url) as admin:
        after = admin.execute("SELECT sequence, event_hash FROM audit_auditevent").fetchall()
    assert after == before


def test_runtime_role_still_purges_through_the_retention_function(instance: Instance) -> None:
    """The retention purge (audit/retention.py) runs as the runtime role in beat: its
    one narrow DELETE path, audit_event_purge, runs with the owner's rights, and only
    for events older than the database's floor (a year, audit/0012)."""
    # One transaction, rolled back: the log stays as it was for the other tests.
    with psycopg.connect(instance.runtime_url) as runtime:
        # An event of two years ago, before the log's first (a runtime role may insert).
        runtime.execute(
            "INSERT INTO audit_auditevent (sequence, previous_hash, event_hash, occurred_at, "
            "actor_id, actor_label, ip_address, user_agent, action, target_type, target_id, "
            "outcome, details) VALUES (0, '', repeat('b', 64), now() - interval '2 years', "
            "'', '', '', '', 'accounts.login', '', '', 'success', '{}')"
        )
        runtime.execute(ANCHOR_INSERT, [0])
        purged = runtime.execute("SELECT audit_event_purge(0)").fetchone()
        remaining = runtime.execute(
            "SELECT count(*) FROM audit_auditevent WHERE sequence = 0"
        ).fetchone()
        runtime.rollback()
    assert purged == (1,)
    assert remaining == (0,)


def test_a_forged_anchor_cannot_purge_recent_history(instance: Instance) -> None:
    """Red-team finding: with the runtime role's password, an anchor written at a recent
    event would let the purge delete recent history, and verify_audit would start from
    the anchor. The database refuses events younger than a year, whoever asks."""
    with psycopg.connect(instance.runtime_url) as runtime:
        newest = runtime.execute("SELECT max(sequence) FROM audit_auditevent").fetchone()
        assert newest is not None
        assert newest[0] is not None
        runtime.execute(ANCHOR_INSERT, [newest[0]])
        with pytest.raises(errors.InsufficientPrivilege, match="never purged"):
            runtime.execute("SELECT audit_event_purge(%s)", [newest[0]])
        runtime.rollback()
    with instance.connect(instance.superuser_url) as admin:
        left = admin.execute("SELECT count(*) FROM audit_auditevent").fetchone()
    assert left is not None
    assert left[0] >= 1


ANCHOR_INSERT = (
    "INSERT INTO audit_retentionanchor (tree_size, root_hash, last_event_hash, frontier, "
    "last_event_proof, checkpoint_note, purged_before, created_at, events_purged) VALUES "
    "(%s, '', '', '[]', '[]', '', now() + interval '1 day', now(), 0)"
)


def test_tables_of_later_migrations_are_granted_to_the_runtime_role(instance: Instance) -> None:
    with instance.connect(instance.owner_url) as owner:
        owner.execute("CREATE TABLE later_feature (id bigserial PRIMARY KEY, note text)")
    try:
        with instance.connect(instance.runtime_url) as runtime:
            runtime.execute("INSERT INTO later_feature (note) VALUES ('a')")
            runtime.execute("UPDATE later_feature SET note = 'b'")
            assert runtime.execute("SELECT note FROM later_feature").fetchall() == [("b",)]
            runtime.execute("DELETE FROM later_feature")
            with pytest.raises(errors.InsufficientPrivilege):
                runtime.execute("TRUNCATE later_feature")
            with pytest.raises(errors.InsufficientPrivilege):
                runtime.execute("CREATE TABLE runtime_made (id int)")
    finally:
        with instance.connect(instance.owner_url) as owner:
            owner.execute("DROP TABLE later_feature")


@pytest.mark.parametrize(
    ("connect_as", "complaint"),
    [
        ("superuser", "is a superuser"),
        ("owner", "owns audit_auditevent"),
        ("runtime+owner", "must not hold the owner role's credentials"),
    ],
)
def test_production_web_refuses_to_start_with_a_role_that_could_silence_the_trigger(
    instance: Instance, connect_as: str, complaint: str
) -> None:
    env = dict(instance.env)
    if connect_as == "superuser":
        env["DATABASE_URL"] = instance.superuser_url
    elif connect_as == "owner":
        env["DATABASE_URL"] = instance.owner_url
    else:
        env["SECUREDRIVE_MIGRATION_DATABASE_URL"] = instance.owner_url
    started = run(env, sys.executable, "-c", "import securedrive.wsgi")
    assert started.returncode != 0
    assert "refuses to start" in started.stderr
    assert complaint in started.stderr
    assert "docs/production.md" in started.stderr or connect_as == "runtime+owner"


def test_production_web_starts_as_the_runtime_role(instance: Instance) -> None:
    started = run(instance.env, sys.executable, "-c", "import securedrive.wsgi")
    assert started.returncode == 0, started.stderr


@pytest.mark.parametrize("process", ["worker", "beat"])
def test_production_worker_and_beat_refuse_the_owner_role(instance: Instance, process: str) -> None:
    env = {**instance.env, "DATABASE_URL": instance.owner_url}
    command = [sys.executable, "-m", "celery", "--app", "securedrive", process]
    if process == "worker":
        command += ["--pool", "solo", "--without-gossip", "--without-mingle"]
    else:
        Path(env["SECUREDRIVE_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    started = run(env, *command, timeout=120)
    assert started.returncode != 0
    assert "refuses to start" in started.stderr
    assert "owns audit_auditevent" in started.stderr


def test_deploy_check_reports_the_owner_role(instance: Instance) -> None:
    env = {**instance.env, "DATABASE_URL": instance.owner_url}
    checked = manage(env, "check", "--deploy", "--database", "default")
    assert checked.returncode != 0
    assert "securedrive.E001" in checked.stderr


def test_a_checkpoint_bucket_without_object_lock_stops_bootstrap_and_fails_the_deploy_check(
    instance: Instance, service_url: Callable[[str], str]
) -> None:
    """An operator who made the checkpoint bucket by hand and forgot Object Lock: the
    checkpoints would be deletable by whoever holds the bucket's keys. `bootstrap` (the
    compose `migrate` service, which web, worker and beat wait for) refuses, naming the
    bucket and the fix, and so does the live deploy check."""
    env = {**instance.env, **checkpoint_bucket_env(service_url("s3"), locked=False)}
    bucket = env["SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET"]
    bootstrapped = manage(env, "bootstrap", "--no-static")
    assert bootstrapped.returncode != 0
    assert f"the audit checkpoint bucket '{bucket}' was created without Object Lock" in (
        bootstrapped.stderr
    )
    assert "mc mb --with-lock" in bootstrapped.stderr
    checked = manage(env, "check", "--deploy", "--database", "default")
    assert checked.returncode != 0
    assert "securedrive.E002" in checked.stderr
    # The bucket the instance was bootstrapped with has it: the same check passes.
    assert manage(instance.env, "check", "--deploy", "--database", "default").returncode == 0


def test_a_dump_restored_as_docs_production_md_says_serves_again(
    instance: Instance, tmp_path: Path
) -> None:
    """docs/production.md, "Backups", literally: pg_dump --format=custom as the
    superuser; on a new volume (the init script has made the roles, the database is
    empty) pg_restore --no-owner as the superuser; the roles script again. The restored
    database must serve as the runtime role, keep its audit log intact and append-only,
    and migrate as the owner."""
    dump = tmp_path / "securedrive.dump"
    dumped = run(
        dict(os.environ),
        "pg_dump",
        "--format=custom",
        f"--dbname={instance.superuser_url}",
        f"--file={dump}",
    )
    assert dumped.returncode == 0, dumped.stderr
    restored = Instance(**{**instance.__dict__, "database": f"{instance.database}_restored"})
    postgres = instance.cluster.url("postgres")
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(restored.database)))
    try:
        assert init_roles(restored, tmp_path).returncode == 0  # the new volume's first start
        loaded = run(
            dict(os.environ),
            "pg_restore",
            f"--dbname={restored.superuser_url}",
            "--no-owner",
            str(dump),
        )
        assert loaded.returncode == 0, loaded.stderr
        again = init_roles(restored, tmp_path)
        assert again.returncode == 0, again.stderr
        with restored.connect(restored.superuser_url) as admin:
            owners = {
                owner
                for (owner,) in admin.execute(
                    "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
                )
            }
        assert owners == {restored.owner}
        env = {**instance.env, "DATABASE_URL": restored.runtime_url}
        checked = manage(env, "database_roles", "--check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        verified = manage(env, "verify_audit")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        migrated = manage(
            {**env, "SECUREDRIVE_MIGRATION_DATABASE_URL": restored.owner_url},
            "bootstrap",
            "--no-static",
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        with psycopg.connect(restored.runtime_url, autocommit=True) as runtime:
            assert runtime.execute("SELECT count(*) FROM accounts_user").fetchone() == (1,)
            with pytest.raises(errors.InsufficientPrivilege):
                runtime.execute("DELETE FROM audit_auditevent")
    finally:
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(restored.database)
                )
            )


def test_a_single_role_database_is_handed_over_by_the_printed_script(
    instance: Instance, cluster: Cluster, tmp_path: Path
) -> None:
    """An instance from before the two roles: a superuser migrated and ran everything.
    The SQL that `manage.py database_roles` prints hands it over to the two roles."""
    database = f"{instance.database}_legacy"
    postgres = cluster.url("postgres")
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        legacy = {**instance.env, "DATABASE_URL": cluster.url(database)}
        migrated = manage(legacy, "migrate", "--no-input", "--skip-checks")
        assert migrated.returncode == 0, migrated.stderr

        printed = manage(
            {
                **instance.env,
                "DATABASE_URL": cluster.url(database, instance.runtime, "unused"),
                "SECUREDRIVE_MIGRATION_DATABASE_URL": cluster.url(
                    database, instance.owner, "unused"
                ),
            },
            "database_roles",
        )
        assert printed.returncode == 0, printed.stderr
        with psycopg.connect(cluster.url(database), autocommit=True) as admin:
            admin.execute(printed.stdout.encode())
            owners = {
                owner
                for (owner,) in admin.execute(
                    "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
                )
            }
            routines = {
                owner
                for (owner,) in admin.execute(
                    # Functions of an extension (pg_trgm, for search) belong to the
                    # extension, whoever created it; the app's own routines are handed over.
                    "SELECT DISTINCT pg_get_userbyid(p.proowner) FROM pg_proc AS p "
                    "WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS ("
                    "SELECT 1 FROM pg_depend AS d WHERE d.classid = 'pg_proc'::regclass "
                    "AND d.objid = p.oid AND d.deptype = 'e')"
                )
            }
        assert owners == {instance.owner}
        assert routines == {instance.owner}

        runtime_env = {
            **instance.env,
            "DATABASE_URL": cluster.url(database, instance.runtime, instance.runtime_password),
        }
        checked = manage(runtime_env, "database_roles", "--check")
        assert checked.returncode == 0, checked.stderr
        with psycopg.connect(runtime_env["DATABASE_URL"], autocommit=True) as runtime:
            runtime.execute("SELECT count(*) FROM accounts_user")
            with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
                runtime.execute("DELETE FROM audit_auditevent")
    finally:
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


def test_compose_gives_the_owner_password_to_the_migrate_service_alone() -> None:
    """docker-compose.yml cannot be run here (no Docker engine): read what it wires."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]

    def secret_names(service: dict[str, Any]) -> set[str]:
        return {item if isinstance(item, str) else item["source"] for item in service["secrets"]}

    for name in ("web", "worker", "beat"):
        assert "postgres_owner_password" not in secret_names(services[name])
        assert "SECUREDRIVE_MIGRATION_DATABASE_URL_FILE" not in services[name]["environment"]
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    migrate = services["migrate"]
    assert "postgres_owner_password" in secret_names(migrate)
    assert migrate["command"][-2:] == ["bootstrap", "--no-static"]

    postgres = services["postgres"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in postgres["volumes"]}
    script = mounts["/docker-entrypoint-initdb.d/10-securedrive-roles.sh"]
    assert (ROOT / script).resolve() == ROOT / "deploy" / "postgres" / "init-roles.sh"
    # The path init-roles.sh reads the SQL from by default.
    assert mounts["/securedrive/securedrive-roles.sql"] == "./deploy/postgres/securedrive-roles.sql"
    assert {"postgres_owner_password", "postgres_app_password"} <= secret_names(postgres)
    assert postgres["environment"]["SECUREDRIVE_DB_OWNER"] == "securedrive_owner"
    assert postgres["environment"]["SECUREDRIVE_DB_RUNTIME"] == "securedrive_app"
    # The entrypoint builds the URLs with the same role names.
    entrypoint = "\n".join(services["web"]["entrypoint"])
    assert 'url("securedrive_app", "postgres_app_password")' in entrypoint
    assert 'url("securedrive_owner", "postgres_owner_password")' in entrypoint
