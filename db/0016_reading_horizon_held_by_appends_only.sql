-- Readers of all events in commit order used to stop below the oldest
-- transaction still open anywhere in the cluster (pg_snapshot_xmin): a
-- long transaction that never appends, in this database or another one,
-- held every read model back for as long as it stayed open. Now only
-- transactions that append hold readers back.
--
-- Every append takes the append lock (a shared, transaction-level advisory
-- lock) before its transaction has an id, and holds it to the end. A reader
-- takes its statement's snapshot S, then one consistent look at pg_locks L
-- (pg_lock_status takes every lock partition at once), then asks each
-- transaction id still running in S whether it is running now. Its horizon
-- is the oldest id in progress in S that is not known to be a running
-- transaction without the append lock:
--
--   * an appender running at L holds the append lock at L, so it is kept;
--   * one that ended after S is not "in progress" when asked after L, so it
--     is kept (its events, invisible to S, wait for the next read);
--   * one whose locks were being released at L (committed, locks going
--     partition by partition) is already committed when asked, so it is kept;
--   * a transaction that never appends holds no append lock and is skipped;
--   * an appender that had no id yet at S gets one at or above S's xmax.
--
-- So no event a reader steps over can commit later. Appends that come after
-- other writes in their transaction would break the first point, and are
-- refused; an insert into events without the lock is refused too.

-- The key of the append lock; taken shared by every append, so appends never wait on it.
CREATE FUNCTION append_lock_key() RETURNS bigint LANGUAGE sql IMMUTABLE AS $$ SELECT 1196245328::bigint $$;

-- Takes the append lock and hands `p` back, so an append statement takes it
-- before its function runs: append_events(append_lock($1), ...).
CREATE FUNCTION append_lock(p anyelement) RETURNS anyelement
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

CREATE FUNCTION refuse_unlocked_append() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('grantledger.appending', true) IS DISTINCT FROM pg_current_xact_id()::text THEN
        RAISE EXCEPTION 'events are written only by appends that hold the append lock'
            USING ERRCODE = 'GL010', HINT = 'append through append_events or append_together, or take append_lock first';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_append_locked
    BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_unlocked_append();

-- Readers of all events read below readable_horizon(pg_current_snapshot()),
-- handing over their own statement's snapshot: a function's statements take
-- snapshots of their own, later ones, and a transaction that committed in
-- between would be in neither the reader's view nor the later snapshot's
-- list of transactions in progress.
CREATE FUNCTION readable_horizon(v_snapshot pg_snapshot) RETURNS xid8
LANGUAGE plpgsql AS $$
DECLARE
    v_not_appending xid[];
    v_horizon xid8;
BEGIN
    IF pg_snapshot_xmin(v_snapshot) = pg_snapshot_xmax(v_snapshot) THEN
        RETURN pg_snapshot_xmax(v_snapshot);
    END IF;
    -- One consistent look at every lock: the ids of transactions running
    -- now whose session holds no append lock in this database.
    WITH locks AS MATERIALIZED (
        SELECT locktype, database, classid, objid, objsubid, transactionid, pid, mode, granted FROM pg_locks
    )
    SELECT array_agg(t.transactionid) INTO v_not_appending
    FROM locks t
    WHERE t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock' AND t.granted
      AND NOT EXISTS (
          SELECT 1 FROM locks a
          WHERE a.pid = t.pid AND a.locktype = 'advisory' AND a.granted AND a.objsubid = 1
            AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND a.classid = (append_lock_key() >> 32)::oid AND a.objid = (append_lock_key() & 4294967295)::oid);
    -- Asked after that look: a transaction that ended since is not "in progress".
    SELECT min(x) INTO v_horizon
    FROM pg_snapshot_xip(v_snapshot) AS x
    WHERE NOT (x::xid = ANY(coalesce(v_not_appending, '{}')) AND pg_xact_status(x) = 'in progress');
    RETURN coalesce(v_horizon, pg_snapshot_xmax(v_snapshot));
END;
$$;
