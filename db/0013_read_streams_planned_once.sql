-- Several streams' events, each from its own version on, as the command
-- handler reads them before deciding (usually none: the states it caches are
-- current). As one prepared join from the client, PostgreSQL planned it at
-- every call: the plan made with the call's values always looked cheaper
-- than the generic one, so none was reused. Worse, with the values a busy
-- stream (a hot pool, a meeting) is a frequent one, estimated at a fifth of
-- the table, and the plan became a parallel hash join over a sequential scan
-- of all events, to find the few after a cached version. Under the hot pool
-- benchmark planning was 18% and those scans 7% of PostgreSQL's time (perf).
--
-- Here each stream is one index range scan, planned once per connection and
-- kept: the plan must not depend on the statistics of the moment, since a
-- plan made while the table was small (a seq scan) would be kept as it grows.
-- Streams come in the order given; each stream's events in version order.
CREATE FUNCTION read_streams(p_streams text[], p_from_versions bigint[]) RETURNS SETOF events
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_streams), 0) LOOP
        RETURN QUERY SELECT * FROM events
                     WHERE stream_id = p_streams[i] AND stream_version >= p_from_versions[i]
                     ORDER BY stream_version;
    END LOOP;
END;
$$;
