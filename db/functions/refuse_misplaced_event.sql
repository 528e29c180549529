-- The application's role inserts events itself, so what places an event in
-- the history must not be its to choose: the transaction id, which orders
-- the history for every reader, for the audit ledger and for signed
-- checkpoints, and the time it was recorded, which as-of replays read. An
-- insert that sets either (an earlier transaction id, to slip an event in
-- below readers' cursors and below a checkpoint; a recorded time in the
-- past, to change what an old screen showed) is refused.
CREATE OR REPLACE FUNCTION refuse_misplaced_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.transaction_id IS DISTINCT FROM pg_current_xact_id() THEN
        RAISE EXCEPTION 'an event''s transaction id is its own transaction''s, not %', NEW.transaction_id
            USING ERRCODE = 'GL011';
    END IF;
    IF NEW.recorded_at < now() OR NEW.recorded_at > clock_timestamp() THEN
        RAISE EXCEPTION 'an event is recorded during its own transaction, not at %', NEW.recorded_at
            USING ERRCODE = 'GL011', HINT = 'appends take clock_timestamp(); an import, the database''s clock as it begins';
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE TRIGGER events_placed_by_the_database
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_misplaced_event();
