"""PostgreSQL roles: an owner for migrations, a least-privilege role for everything else.

A superuser or the owner of the audit table can switch its append-only trigger off
(``SET session_replication_role = replica``, ``ALTER TABLE ... DISABLE TRIGGER``), so
the trigger only protects against a role that can do neither (FIELD-NOTES). Production
therefore runs web, worker and beat as a *runtime* role (``DATABASE_URL``) and gives
the *owner* role (``SECUREDRIVE_MIGRATION_DATABASE_URL``) to ``manage.py bootstrap``
alone, which migrates with it. deploy/postgres/securedrive-roles.sql creates both;
docs/production.md ("Database roles") explains the set-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import environ
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

ROLES_SQL = Path(__file__).resolve().parent.parent / "deploy" / "postgres" / "securedrive-roles.sql"
AUDIT_TABLE = "audit_auditevent"
ROLES_FIX = (
    "Connect web, worker and beat (DATABASE_URL) as a runtime role that is not a superuser "
    "and owns nothing, and give the owner role to migrations only "
    "(SECUREDRIVE_MIGRATION_DATABASE_URL, read by `manage.py bootstrap`). "
    "`manage.py database_roles` prints the SQL that sets both roles up; see "
    'docs/production.md, "Database roles".'
)


def _sql_literal(value: str) -> str:
    if "\x00" in value:
        raise ValueError("a role name or password cannot contain a NUL character")
    return "'" + value.replace("'", "''") + "'"


def roles_script(
    *, owner_role: str, runtime_role: str, owner_password: str = "", runtime_password: str = ""
) -> str:
    """The SQL a superuser runs in SecureDrive's database to set up (or repair) both
    roles: deploy/postgres/securedrive-roles.sql with its parameters. An empty password
    leaves the role's current one."""
    parameters = {
        "securedrive.owner_role": owner_role,
        "securedrive.runtime_role": runtime_role,
        "securedrive.owner_password": owner_password,
        "securedrive.runtime_password": runtime_password,
    }
    header = "\n".join(
        f"SELECT set_config({_sql_literal(name)}, {_sql_literal(value)}, false);"
        for name, value in parameters.items()
    )
    # The passwords do not outlive the script in the session.
    footer = (
        "SELECT set_config('securedrive.owner_password', '', false), "
        "set_config('securedrive.runtime_password', '', false);"
    )
    return f"{header}\n{ROLES_SQL.read_text(encoding='utf-8')}\n{footer}\n"


def runtime_role_problems(connection: BaseDatabaseWrapper) -> list[str]:
    """What lets this connection's role switch off, bypass or rewrite the audit log.

    Empty for a proper runtime role. Only meaningful on PostgreSQL (SQLite has no roles:
    embedded mode relies on the hash chain and signed checkpoints alone).
    """
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT r.rolname, r.rolsuper, r.rolcreaterole,
                   c.oid IS NOT NULL,
                   coalesce(pg_has_role(r.oid, c.relowner, 'MEMBER'), false),
                   coalesce(pg_get_userbyid(c.relowner), ''),
                   array_remove(ARRAY[
                       CASE WHEN has_table_privilege(r.oid, c.oid, 'UPDATE') THEN 'UPDATE' END,
                       CASE WHEN has_table_privilege(r.oid, c.oid, 'DELETE') THEN 'DELETE' END,
                       CASE WHEN has_table_privilege(r.oid, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
                       CASE WHEN has_table_privilege(r.oid, c.oid, 'TRIGGER') THEN 'TRIGGER' END
                   ], NULL)
            FROM pg_roles AS r
            LEFT JOIN pg_class AS c ON c.oid = to_regclass(%s)
            WHERE r.rolname = current_user
            """,
            [AUDIT_TABLE],
        )
        row = cursor.fetchone()
        if row is None:  # current_user always has a pg_roles row
            raise ImproperlyConfigured("cannot read the database role's attributes")
        name, superuser, create_role, audit_table_exists, owns, owner, rights = row
        # PostgreSQL 15 lets a superuser GRANT SET on a superuser-only parameter.
        may_set_replication_role = False
        if not superuser and connection.pg_version >= 150000:  # type: ignore[attr-defined]
            cursor.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
            may_set_replication_role = bool(cursor.fetchone()[0])
    if superuser:
        return [
            f'the role "{name}" is a superuser: it can SET session_replication_role = '
            "replica, which silences the audit trigger, and rewrite any table"
        ]
    problems: list[str] = []
    if not audit_table_exists:
        problems.append(
            f"the audit table {AUDIT_TABLE} does not exist: migrate first "
            "(`manage.py bootstrap` with SECUREDRIVE_MIGRATION_DATABASE_URL)"
        )
    elif owns:
        problems.append(
            f'the role "{name}" owns {AUDIT_TABLE} or is a member of its owner "{owner}": '
            f"it can ALTER TABLE {AUDIT_TABLE} DISABLE TRIGGER"
        )
    elif rights:
        problems.append(
            f'the role "{name}" holds {", ".join(rights)} on {AUDIT_TABLE}: it must only '
            "SELECT and INSERT there"
        )
    if may_set_replication_role:
        problems.append(
            f'the role "{name}" may SET session_replication_role, which silences the audit trigger'
        )
    if create_role:
        problems.append(
            f'the role "{name}" has CREATEROLE: it could make itself a member of the owner role'
        )
    return problems


def runtime_role_refuse_unsafe(connection: BaseDatabaseWrapper) -> None:
    """Raise ImproperlyConfigured, naming the fix, when the role is not a runtime role."""
    problems = runtime_role_problems(connection)
    if problems:
        raise ImproperlyConfigured(
            "SecureDrive refuses to start: its database role could switch off or rewrite "
            "the audit log:\n  - " + "\n  - ".join(problems) + "\n" + ROLES_FIX
        )


def production_start_refuse_unsafe() -> None:
    """Called as gunicorn, a Celery worker or beat starts in production.

    Besides the role's rights, such a process must not even hold the owner's
    credentials: whoever takes it over would have them.
    """
    if settings.SECUREDRIVE_MIGRATION_DATABASE_URL:
        raise ImproperlyConfigured(
            "SecureDrive refuses to start: SECUREDRIVE_MIGRATION_DATABASE_URL is set. Web, "
            "worker and beat must not hold the owner role's credentials; set it only where "
            "`manage.py bootstrap` runs migrations (the compose `migrate` service)."
        )
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        runtime_role_refuse_unsafe(connection)
    finally:
        # The check ran in the process's main thread; requests get their own connection.
        connection.close()


@contextmanager
def connected_as(url: str) -> Iterator[None]:
    """Within the block, the default connection logs in with the credentials of ``url``
    (the owner role, for migrations); afterwards it is the runtime role again.

    Swapping the credentials of the one default connection, rather than adding a
    second alias, keeps data migrations (which use the default alias) inside the
    migration's own connection and transaction.
    """
    target = environ.Env.db_url_config(url)
    connection = connections[DEFAULT_DB_ALIAS]
    if target["ENGINE"] != connection.settings_dict["ENGINE"]:
        raise ImproperlyConfigured(
            "SECUREDRIVE_MIGRATION_DATABASE_URL must use the same database engine as DATABASE_URL."
        )
    keys = ("NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    saved = {key: connection.settings_dict.get(key) for key in keys}
    connection.close()
    connection.settings_dict.update({key: target.get(key, saved[key]) for key in keys})
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)
