-- How far a reader of all events in commit order may read: up to the oldest
-- transaction that may still append. Not pg_snapshot_xmin, the oldest
-- transaction open anywhere in the cluster: a long transaction that never
-- appends, in this database or another one, would hold every read model
-- back for as long as it stayed open. Only transactions that append hold
-- readers back.
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
--
-- Readers of all events read below readable_horizon(pg_current_snapshot()),
-- handing over their own statement's snapshot: a function's statements take
-- snapshots of their own, later ones, and a transaction that committed in
-- between would be in neither the reader's view nor the later snapshot's
-- list of transactions in progress.
CREATE OR REPLACE FUNCTION readable_horizon(v_snapshot pg_snapshot) RETURNS xid8
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
