-- The server and workers may connect as a role of their own, apart from the
-- role that ran the migrations and owns the history. Only an owner may
-- disable a trigger, alter or drop a table or replace a function, so the
-- application's role can append events and keep read models, but cannot
-- switch off append-only, rewrite an event or a chain, or change how
-- appends are checked. (The database's superuser still can: signed
-- checkpoints are the evidence against that.)
--
-- `grantledger migrate` calls this after migrating when it runs as the
-- owner (GRANTLEDGER_OWNER_URL) for another application role (DATABASE_URL).
-- It is idempotent, and runs on every migration so later tables are covered.
CREATE OR REPLACE FUNCTION grant_application_role(p_role name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_object record;
BEGIN
    IF p_role = current_user THEN
        RETURN;
    END IF;
    -- The application's role may create schemas (below); one named like the
    -- owner would come first in the owner's default search_path and could
    -- shadow the history's tables and functions in the owner's sessions.
    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path TO public', current_user, current_database());
    -- CREATE: a rebuild makes a schema for the generation it fills.
    EXECUTE format('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE %I TO %I', current_database(), p_role);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', p_role);
    -- The history: read and appended to, never changed.
    EXECUTE format('GRANT SELECT, INSERT ON events, idempotency_keys, signed_checkpoints TO %I', p_role);
    -- Heads and idempotent results are written as appends complete.
    EXECUTE format('GRANT UPDATE ON streams, idempotency_keys TO %I', p_role);
    EXECUTE format('GRANT SELECT, INSERT ON streams TO %I', p_role);
    -- Read to see that the schema is current; only the owner migrates it.
    EXECUTE format('GRANT SELECT ON schema_migrations, schema_functions TO %I', p_role);
    -- Documents' bytes: written, filed and read; unfiled chunks dropped (refuse_document_change.sql keeps filed ones).
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON document_chunks TO %I', p_role);
    EXECUTE format('GRANT SELECT, INSERT ON document_contents TO %I', p_role);
    -- Sign-in data lives beside the history, not in it: passwords, links and sessions change and expire.
    EXECUTE format('GRANT USAGE ON SCHEMA accounts TO %I', p_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA accounts TO %I', p_role);
    -- Read models are derived from the history and rebuilt from it: the application owns them.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON projection_checkpoints TO %I', p_role);
    EXECUTE format('GRANT USAGE, CREATE ON SCHEMA read TO %I', p_role);
    -- Read models a single role made before the roles were split (the owner
    -- must be a member of the application's role to hand them over).
    FOR v_object IN
        SELECT n.nspname FROM pg_namespace n WHERE n.nspname LIKE 'proj\_%' AND n.nspowner <> p_role::regrole
    LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', v_object.nspname, p_role);
    END LOOP;
    FOR v_object IN
        SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE (n.nspname LIKE 'proj\_%' OR n.nspname = 'read') AND c.relkind IN ('r', 'p', 'v', 'S') AND c.relowner <> p_role::regrole
    LOOP
        EXECUTE format('ALTER %s %I.%I OWNER TO %I',
                       CASE v_object.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, v_object.nspname, v_object.relname, p_role);
    END LOOP;
END;
$$;
