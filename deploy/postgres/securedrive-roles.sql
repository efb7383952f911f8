-- SecureDrive's two PostgreSQL roles (docs/production.md, "Database roles").
--
--   owner    owns the schema, its tables and functions; runs migrations only
--            (SECUREDRIVE_MIGRATION_DATABASE_URL, read by `manage.py bootstrap`).
--   runtime  web, worker and beat (DATABASE_URL): no superuser, no ownership, no
--            TRIGGER or TRUNCATE right; reads and appends audit events, never changes them.
--
-- A superuser or a table owner can switch the audit log's append-only trigger off
-- (session_replication_role = replica, ALTER TABLE ... DISABLE TRIGGER); the runtime
-- role can do neither, and production refuses to start when it could.
--
-- Run as a superuser, connected to SecureDrive's database, after setting:
--   securedrive.owner_role, securedrive.runtime_role          role names
--   securedrive.owner_password, securedrive.runtime_password  '' keeps the current one
-- deploy/postgres/init-roles.sh does that for the postgres container, and
-- `manage.py database_roles` prints the whole script for other servers. Running it again
-- is harmless; on a database created before these roles existed it hands every object
-- to the owner and grants the runtime role what it needs.

DO $securedrive_roles$
DECLARE
    owner_role text := current_setting('securedrive.owner_role');
    runtime_role text := current_setting('securedrive.runtime_role');
    owner_password text := coalesce(current_setting('securedrive.owner_password', true), '');
    runtime_password text := coalesce(current_setting('securedrive.runtime_password', true), '');
    owner_oid oid;
    statement text;
BEGIN
    IF owner_role = '' OR runtime_role = '' OR owner_role = runtime_role THEN
        RAISE EXCEPTION 'set securedrive.owner_role and securedrive.runtime_role to two different names';
    END IF;

    -- Both log in; neither is a superuser or may create roles, databases or replicas.
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = owner_role) THEN
        EXECUTE format('CREATE ROLE %I', owner_role);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = runtime_role) THEN
        EXECUTE format('CREATE ROLE %I', runtime_role);
    END IF;
    EXECUTE format(
        'ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
        owner_role
    );
    EXECUTE format(
        'ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
        runtime_role
    );
    IF owner_password <> '' THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', owner_role, owner_password);
    END IF;
    IF runtime_password <> '' THEN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', runtime_role, runtime_password);
    END IF;
    -- A member of the owner role holds the owner's rights (it could disable triggers).
    FOR statement IN
        SELECT format('REVOKE %I FROM %I', owner_role, runtime_role)
        FROM pg_auth_members AS m
        WHERE m.roleid = (SELECT oid FROM pg_roles WHERE rolname = owner_role)
          AND m.member = (SELECT oid FROM pg_roles WHERE rolname = runtime_role)
    LOOP
        EXECUTE statement;
    END LOOP;
    SELECT oid INTO owner_oid FROM pg_roles WHERE rolname = owner_role;

    -- The database and its schema belong to the owner; nobody else may create objects.
    EXECUTE format('ALTER DATABASE %I OWNER TO %I', current_database(), owner_role);
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format(
        'GRANT CONNECT ON DATABASE %I TO %I, %I', current_database(), owner_role, runtime_role
    );
    EXECUTE format('ALTER SCHEMA public OWNER TO %I', owner_role);
    REVOKE ALL ON SCHEMA public FROM PUBLIC;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', runtime_role);

    -- Objects created before (by a superuser, in the single-role set-up) pass to the
    -- owner. Sequences owned by a column follow their table; extension members stay.
    FOR statement IN
        SELECT format(
            'ALTER %s %s OWNER TO %I',
            CASE c.relkind
                WHEN 'S' THEN 'SEQUENCE'
                WHEN 'v' THEN 'VIEW'
                WHEN 'm' THEN 'MATERIALIZED VIEW'
                WHEN 'f' THEN 'FOREIGN TABLE'
                ELSE 'TABLE'
            END,
            c.oid::regclass, owner_role
        )
        FROM pg_class AS c
        WHERE c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND c.relowner <> owner_oid
          AND NOT EXISTS (
              SELECT 1 FROM pg_depend AS d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i')))
          )
    LOOP
        EXECUTE statement;
    END LOOP;
    FOR statement IN
        SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, owner_role)
        FROM pg_proc AS p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> owner_oid
          AND NOT EXISTS (
              SELECT 1 FROM pg_depend AS d
              WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
          )
    LOOP
        EXECUTE statement;
    END LOOP;

    -- The runtime role: the usual DML on every table, now and on those later migrations
    -- create (default privileges of the owner), but never TRUNCATE, REFERENCES or TRIGGER.
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I',
        runtime_role
    );
    EXECUTE format(
        'REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM %I',
        runtime_role
    );
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', runtime_role);
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
        owner_role, runtime_role
    );
    EXECUTE format(
        'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public '
        'GRANT USAGE, SELECT ON SEQUENCES TO %I',
        owner_role, runtime_role
    );

    -- The audit log: read and append only (appends go through audit_event_append, which
    -- runs with the caller's rights; the retention purge through audit_event_purge, which
    -- runs as the owner: migration audit/0010). A table created later by a migration gets
    -- the default privileges above; audit/0010 takes UPDATE and DELETE back from it.
    IF to_regclass('public.audit_auditevent') IS NOT NULL THEN
        EXECUTE format('REVOKE UPDATE, DELETE ON public.audit_auditevent FROM %I', runtime_role);
    END IF;
END
$securedrive_roles$;
