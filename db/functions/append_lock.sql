-- The append lock: every append takes it, shared, before its transaction
-- has an id, and holds it to the end, so that readers of all events know
-- which running transactions may still add events below their cursor
-- (readable_horizon.sql says how they use it). An insert into events
-- without it, and an append after other writes of its transaction, are
-- refused.

-- The key of the append lock; taken shared by every append, so appends never wait on it.
CREATE OR REPLACE FUNCTION append_lock_key() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 1196245328::bigint $$;

-- Takes the append lock and hands `p` back, so an append statement takes it
-- before its function runs: append_events(append_lock($1), ...). The COPY
-- import takes it first thing in its transaction.
CREATE OR REPLACE FUNCTION append_lock(p anyelement) RETURNS anyelement
LANGUAGE plpgsql AS $$
DECLARE
    -- Not pg_current_xact_id(): that would give the transaction its id before the lock.
    v_transaction xid8 := pg_current_xact_id_if_assigned();
BEGIN
    IF v_transaction IS NOT NULL THEN
        IF current_setting('grantledger.appending', true) = v_transaction::text THEN
            RETURN p;  -- an earlier append of this transaction took it
        END IF;
        RAISE EXCEPTION 'an append must come before any other write of its transaction'
            USING ERRCODE = 'GL010',
                  HINT = 'readers of all events may already have passed this transaction''s id; append first, or in a transaction of its own';
    END IF;
    PERFORM pg_advisory_xact_lock_shared(append_lock_key());
    -- The transaction gets its id here, after the lock, and is marked as appending.
    PERFORM set_config('grantledger.appending', pg_current_xact_id()::text, true);
    RETURN p;
END;
$$;

CREATE OR REPLACE FUNCTION refuse_unlocked_append() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('grantledger.appending', true) IS DISTINCT FROM pg_current_xact_id()::text THEN
        RAISE EXCEPTION 'events are written only by appends that hold the append lock'
            USING ERRCODE = 'GL010', HINT = 'append through append_events, or take append_lock first';
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER events_append_locked
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_unlocked_append();
