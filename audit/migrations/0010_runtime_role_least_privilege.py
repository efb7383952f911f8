"""On PostgreSQL, the runtime role reads and appends audit events, and nothing more.

Production runs web, worker and beat as a runtime role that owns nothing
(docs/production.md, "Database roles"). Two things make that work:

* ``audit_event_purge`` (the retention purge, audit/0007) runs with its owner's rights
  (SECURITY DEFINER), so the runtime role needs no DELETE on the audit table. Its
  search_path is fixed, with pg_temp last: a caller's temporary table can never stand in
  for the audit table.
* UPDATE, DELETE, TRUNCATE, REFERENCES and TRIGGER on the audit table are taken back from
  every role but its owner, including the DML that the owner's default privileges
  grant to the runtime role when a migration creates the table.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

RESTRICT = """
DO $restrict$
DECLARE
    grantee_name text;
BEGIN
    EXECUTE format(
        'ALTER FUNCTION audit_event_purge(bigint) SECURITY DEFINER '
        'SET search_path = pg_catalog, %I, pg_temp',
        current_schema()
    );
    REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_auditevent FROM PUBLIC;
    FOR grantee_name IN
        SELECT DISTINCT r.rolname
        FROM pg_class AS c
        CROSS JOIN LATERAL aclexplode(c.relacl) AS acl
        JOIN pg_roles AS r ON r.oid = acl.grantee
        WHERE c.oid = 'audit_auditevent'::regclass AND acl.grantee <> c.relowner
    LOOP
        EXECUTE format(
            'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_auditevent FROM %I',
            grantee_name
        );
    END LOOP;
END
$restrict$;
"""

RELAX = "ALTER FUNCTION audit_event_purge(bigint) SECURITY INVOKER RESET search_path;"


def restrict(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RESTRICT, params=None)


def relax(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(RELAX, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0009_translated_labels")]

    operations = [migrations.RunPython(restrict, relax)]
