-- Invariant 7: the history is append-only. The application's own role owns
-- the table, so privileges alone cannot stop it; a trigger refuses every
-- UPDATE, DELETE and TRUNCATE, whoever runs it. (A superuser can still drop
-- the trigger: the hash chains are the evidence against that.)

CREATE FUNCTION refuse_history_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'GL007', HINT = 'record a correcting event instead';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();
