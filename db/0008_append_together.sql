-- append_together: several independent appends in one statement and one
-- transaction, each as append_events makes it (its expected versions, its
-- idempotency key, all or nothing), in a subtransaction of its own so one
-- append's clash or refusal leaves the others to commit. The event store
-- sends the appends that queue while it commits one batch as the next batch:
-- one commit, one WAL flush and one round trip for many writers.
--
-- The appends come flattened: append k has p_stream_counts[k] streams and
-- p_event_counts[k] events, taken in order from the arrays, and its events'
-- stream indexes count from 1 within it. An empty idempotency key is none.

CREATE OR REPLACE FUNCTION append_together(
    p_stream_counts   integer[],
    p_event_counts    integer[],
    p_stream_ids      text[],
    p_expected        bigint[],
    p_event_ids       uuid[],
    p_event_streams   integer[],
    p_event_types     text[],
    p_schema_versions integer[],
    p_data            text[],
    p_metadata        text[],
    p_occurred_at     timestamptz[],
    p_idempotency_keys text[],
    p_fingerprints    bytea[]
) RETURNS TABLE (
    append_index    integer,
    replayed        boolean,
    transaction_id  bigint,
    first_position  bigint,
    last_position   bigint,
    stream_versions bigint[],
    error_state     text,
    error_detail    text,
    error_message   text,
    error_constraint text
)
LANGUAGE plpgsql AS $$
DECLARE
    v_stream  integer := 0;
    v_event   integer := 0;
    v_state   text;
    v_detail  text;
    v_message text;
    v_constraint text;
    k         integer;
BEGIN
    -- Lock the existing heads of every append in one fixed order first, so
    -- batches that share streams cannot deadlock, whatever order their
    -- appends come in.
    PERFORM 1 FROM streams h WHERE h.stream_id = ANY(p_stream_ids) ORDER BY h.stream_id FOR UPDATE;

    FOR k IN 1..cardinality(p_stream_counts) LOOP
        BEGIN
            RETURN QUERY
            SELECT k, a.replayed, a.transaction_id, a.first_position, a.last_position, a.stream_versions,
                   NULL::text, NULL::text, NULL::text, NULL::text
            FROM append_events(
                p_stream_ids[v_stream + 1 : v_stream + p_stream_counts[k]],
                p_expected[v_stream + 1 : v_stream + p_stream_counts[k]],
                p_event_ids[v_event + 1 : v_event + p_event_counts[k]],
                p_event_streams[v_event + 1 : v_event + p_event_counts[k]],
                p_event_types[v_event + 1 : v_event + p_event_counts[k]],
                p_schema_versions[v_event + 1 : v_event + p_event_counts[k]],
                p_data[v_event + 1 : v_event + p_event_counts[k]],
                p_metadata[v_event + 1 : v_event + p_event_counts[k]],
                p_occurred_at[v_event + 1 : v_event + p_event_counts[k]],
                nullif(p_idempotency_keys[k], ''), p_fingerprints[k]) a;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_detail = PG_EXCEPTION_DETAIL,
                                    v_message = MESSAGE_TEXT, v_constraint = CONSTRAINT_NAME;
            RETURN QUERY SELECT k, NULL::boolean, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint[],
                                v_state, v_detail, v_message, v_constraint;
        END;
        v_stream := v_stream + p_stream_counts[k];
        v_event := v_event + p_event_counts[k];
    END LOOP;
END;
$$;
