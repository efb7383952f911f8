"""The retention purge refuses recent events, whoever calls it (database-side floor).

``audit_event_purge`` deletes the events up to a retention anchor. The runtime role
may write anchors (beat runs the retention purge) and the function runs with its owner's
rights (audit/0010), so someone holding the runtime role's credentials could write a
forged anchor at a recent event and purge the recent history; ``verify_audit`` would
then start from that anchor and find the rest intact. The function now also refuses
when the last event it would delete is younger than ``MINIMUM_AGE_DAYS``, measured by the
database's own clock against the event's stored time (which nobody but the owner can
change: UPDATE is revoked and the trigger refuses it). The product's retention is six
years by default; production refuses a shorter setting than this floor
(securedrive/config.py), so the check never stands in an honest purge's way. CNIL
("Tracer les opérations", 2024) asks for six months to a year of access logs.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

MINIMUM_AGE_DAYS = 365  # settings.AUDIT_RETENTION_MINIMUM_DAYS

FUNCTION = """
CREATE OR REPLACE FUNCTION audit_event_purge(p_up_to bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    purged bigint;
    last_time timestamptz;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_retentionanchor WHERE tree_size = p_up_to) THEN
        RAISE EXCEPTION 'no retention anchor at %', p_up_to
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT max(occurred_at) INTO last_time FROM audit_auditevent WHERE sequence <= p_up_to;
    IF last_time IS NOT NULL AND last_time > now() - interval '{days} days' THEN
        RAISE EXCEPTION 'audit events younger than {days} days are never purged (event % at %)',
            p_up_to, last_time USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- Appends wait: the purge never races the head (it always leaves the newest event).
    PERFORM pg_advisory_xact_lock(1589682385);
    PERFORM set_config('securedrive.audit_purge_up_to', p_up_to::text, true);
    DELETE FROM audit_auditevent WHERE sequence <= p_up_to;
    GET DIAGNOSTICS purged = ROW_COUNT;
    PERFORM set_config('securedrive.audit_purge_up_to', '', true);
    RETURN purged;
END;
$$;
DO $definer$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION audit_event_purge(bigint) SECURITY DEFINER '
        'SET search_path = pg_catalog, %I, pg_temp',
        current_schema()
    );
END
$definer$;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION audit_event_purge(p_up_to bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    purged bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_retentionanchor WHERE tree_size = p_up_to) THEN
        RAISE EXCEPTION 'no retention anchor at %', p_up_to
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM pg_advisory_xact_lock(1589682385);
    PERFORM set_config('securedrive.audit_purge_up_to', p_up_to::text, true);
    DELETE FROM audit_auditevent WHERE sequence <= p_up_to;
    GET DIAGNOSTICS purged = ROW_COUNT;
    PERFORM set_config('securedrive.audit_purge_up_to', '', true);
    RETURN purged;
END;
$$;
DO $definer$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION audit_event_purge(bigint) SECURITY DEFINER '
        'SET search_path = pg_catalog, %I, pg_temp',
        current_schema()
    );
END
$definer$;
"""


def floor_add(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION.replace("{days}", str(MINIMUM_AGE_DAYS)), params=None)


def floor_remove(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0011_file_detail_index")]

    operations = [migrations.RunPython(floor_add, floor_remove)]
