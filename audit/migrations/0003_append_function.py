"""On PostgreSQL, link and insert an audit event in one statement.

``audit_event_append`` takes the chain's advisory lock, reads the head, computes the
new event's hash (SHA-256 over previous hash, sequence and the canonical body the
application encoded, see audit/chain.py) and inserts the row. One round trip instead
of four: outside a transaction the event is its own single-statement transaction.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

CREATE = """
CREATE OR REPLACE FUNCTION audit_event_append(
    p_body bytea,
    p_occurred_at timestamptz,
    p_actor_id text,
    p_actor_label text,
    p_ip_address text,
    p_user_agent text,
    p_action text,
    p_target_type text,
    p_target_id text,
    p_outcome text,
    p_details jsonb
) RETURNS TABLE (
    appended_id bigint,
    appended_sequence bigint,
    appended_previous_hash text,
    appended_hash text
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head_sequence bigint;
    head_hash text;
BEGIN
    -- Writers take turns until commit; each statement below sees the last committed
    -- event (READ COMMITTED), so the chain never forks and never skips a number.
    PERFORM pg_advisory_xact_lock(1589682385);
    SELECT e.sequence, e.event_hash INTO head_sequence, head_hash
        FROM audit_auditevent AS e ORDER BY e.sequence DESC LIMIT 1;
    IF NOT FOUND THEN
        head_sequence := 0;
        head_hash := repeat('0', 64);
    END IF;
    appended_sequence := head_sequence + 1;
    appended_previous_hash := head_hash;
    appended_hash := encode(
        sha256(convert_to(head_hash || E'\\n' || appended_sequence::text || E'\\n', 'UTF8') || p_body),
        'hex'
    );
    INSERT INTO audit_auditevent (
        sequence, previous_hash, event_hash, occurred_at, actor_id, actor_label,
        ip_address, user_agent, action, target_type, target_id, outcome, details
    ) VALUES (
        appended_sequence, appended_previous_hash, appended_hash, p_occurred_at,
        p_actor_id, p_actor_label, p_ip_address, p_user_agent, p_action,
        p_target_type, p_target_id, p_outcome, p_details
    ) RETURNING id INTO appended_id;
    RETURN NEXT;
END;
$$;
"""

DROP = "DROP FUNCTION IF EXISTS audit_event_append(bytea, timestamptz, text, text, text, text, text, text, text, text, jsonb);"


def create_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_function(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [migrations.RunPython(create_function, drop_function)]
