-- Several streams' events, each from its own version on, as the command
-- handler reads them before deciding (usually none: the states it caches are
-- current). Streams come in the order given; each stream's events in
-- version order.
--
-- Each stream is one index range scan, planned once per connection and kept.
-- As one join sent by the client, PostgreSQL planned it at every call, and
-- with a busy stream's values (a hot pool, estimated at a fifth of the
-- table) the plan became a parallel hash join over a sequential scan of all
-- events to find the few after a cached version: planning was 18% and those
-- scans 7% of the server's time under the hot pool benchmark. The plan must
-- not depend on the statistics of the moment either: one made while the
-- table was small (a sequential scan) would be kept as it grows.
CREATE OR REPLACE FUNCTION read_streams(p_streams text[], p_from_versions bigint[]) RETURNS SETOF events
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_streams), 0) LOOP
        RETURN QUERY SELECT * FROM events
                     WHERE stream_id = p_streams[i] AND stream_version >= p_from_versions[i]
                     ORDER BY stream_version;
    END LOOP;
END;
$$;
