-- The history is append-only. The application's role inserts events, so
-- privileges alone cannot stop a change; these triggers refuse every UPDATE,
-- DELETE and TRUNCATE of events, and every UPDATE and DELETE of a signed
-- checkpoint (a later signing of the same size keeps the first), whoever
-- runs it. Only the schema's owner may drop a trigger (see
-- grant_application_role.sql); the hash chains and signed checkpoints are
-- the evidence against an owner or superuser who does.
CREATE OR REPLACE FUNCTION refuse_history_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'GL007', HINT = 'record a correcting event instead';
END;
$$;

CREATE OR REPLACE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();

CREATE OR REPLACE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();

CREATE OR REPLACE TRIGGER signed_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON signed_checkpoints
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
