-- Appends events: one or more appends in one statement and one transaction,
-- each all or nothing on its own. A command's append is a batch of one; the
-- event store sends the appends that queue while it commits one batch as the
-- next batch: one commit, one WAL flush and one round trip for many writers.
--
-- The appends come flattened: append k has p_stream_counts[k] streams and
-- p_event_counts[k] events, taken in order from the arrays, and its events'
-- stream indexes (p_event_streams, from 1) count within it.
--   p_expected[s]: -1 any version, 0 the stream must not exist, n the stream
--   must hold exactly n events. A stream listed with no events is only
--   checked (a consistency condition: the call a draft is made in), not written.
--   p_idempotency_keys[k]: empty for none; a key used before gets the first
--   append's result if its fingerprint matches, else GL002.
-- One row per append: its result, or the SQLSTATE refusing it (GL001 a
-- version clash, DETAIL JSON with stream, expected and actual; GL002 a key
-- reused; GL003 chained on an append not written; 22P02/22P05/22032 a
-- payload that is not JSON PostgreSQL can hold), which writes nothing of it.
--
-- How, and why so:
--   * Every stored head of the batch is locked once, in one order (stream
--     id), a written stream exclusively and a checked one shared, so batches
--     sharing streams cannot deadlock, appends that only check a stream go
--     on together, and one that writes it waits until they commit. (Locked
--     exclusively, every draft to one call queued behind the other batch's
--     WAL flush, up to 145 ms each when the disk stalled.) No append ever
--     upgrades a lock it holds.
--   * Each append in turn is checked against the versions the appends before
--     it leave and refused alone; the events of those that pass are hashed
--     onto their streams' chains (event_hash.sql) in memory, inserted in one
--     statement, and each head is moved once. Every event of a batch has the
--     batch's recorded_at. (An append per subtransaction locked and updated a
--     hot pool's head sixteen times per batch: 0.67 ms per approval.)
--   * A new stream's head is inserted at the end. Another transaction that
--     creates the same stream meanwhile fails the whole statement (a unique
--     violation on the head or the first versions); the store then sends
--     each append alone, and again, when it finds the head and queues
--     behind it like any writer of the stream.
--   * Chained (p_chained): a command handler's queue of commands on one busy
--     stream, each decided on the states the ones before it leave. When an
--     append is not written, every stream it would have written is poisoned
--     for the rest of the batch: a later append that loaded it is refused
--     with GL003 and decided again by its caller, instead of committing a
--     decision made on events that do not exist (the other process's events
--     may have taken the very version numbers it expected).
--   * The checks are plain loops, not queries per append (a batch of eight
--     approvals: 1.85 ms instead of 2.27 ms), and the statements are planned
--     once per connection (plan_cache_mode): PL/pgSQL replanned them with
--     each call's values, 38% of the function's time under the hot pool
--     benchmark, for plans that are always the same.
--   * It must be called as append_events(append_lock($1), ...) (append_lock.sql).
CREATE OR REPLACE FUNCTION append_events(
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
    p_fingerprints    bytea[],
    p_chained         boolean
) RETURNS TABLE (
    append_index    integer,
    replayed        boolean,
    transaction_id  bigint,
    first_position  bigint,
    last_position   bigint,
    stream_versions bigint[],
    error_state     text,
    error_detail    text,
    error_message   text
)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_recorded_at  timestamptz := clock_timestamp();
    v_transaction  bigint := pg_current_xact_id()::text::bigint;
    n_appends      integer := cardinality(p_stream_counts);
    -- Every stream of the batch, sorted, with its head as stored and as the
    -- appends so far leave it.
    v_ids          text[];
    v_stored       boolean[];
    v_stored_at    bigint[];
    v_versions     bigint[];
    v_hashes       bytea[];
    -- Chained: streams an append not written would have written.
    v_poisoned     boolean[];
    -- Written by some append of the batch (else only checked).
    v_written      boolean[];
    v_any_poisoned boolean := false;
    -- Per append: 'ok', 'replayed' or the SQLSTATE refusing it; its events'
    -- range in the e_ arrays; its streams' versions after it.
    a_state        text[] := array_fill(NULL::text, ARRAY[n_appends]);
    a_detail       text[] := array_fill(NULL::text, ARRAY[n_appends]);
    a_message      text[] := array_fill(NULL::text, ARRAY[n_appends]);
    a_first        integer[] := array_fill(0, ARRAY[n_appends]);
    a_last         integer[] := array_fill(0, ARRAY[n_appends]);
    -- Per append, where its streams start in p_stream_ids; per stream of an
    -- append, its version after the append.
    a_from         integer[] := array_fill(0, ARRAY[n_appends]);
    s_after        bigint[] := array_fill(0::bigint, ARRAY[cardinality(p_stream_ids)]);
    -- The events to insert, in order.
    e_ids          uuid[] := '{}';
    e_streams      text[] := '{}';
    e_versions     bigint[] := '{}';
    e_types        text[] := '{}';
    e_schemas      integer[] := '{}';
    e_data         json[] := '{}';
    e_metadata     json[] := '{}';
    e_occurred     timestamptz[] := '{}';
    e_previous     bytea[] := '{}';
    e_hashes       bytea[] := '{}';
    e_positions    bigint[];
    v_previous     idempotency_keys%ROWTYPE;
    v_heads        streams[];
    v_head         streams;
    v_stream       integer := 0;
    v_event        integer := 0;
    v_key          text;
    v_data         json[];
    v_metadata     json[];
    v_state        text;
    v_message      text;
    v_hash         bytea;
    k integer; i integer; j integer; s integer; c integer;
BEGIN
    -- A lone append to one stream, the commonest, needs no query to sort its streams.
    IF cardinality(p_stream_ids) = 1 THEN
        v_ids := p_stream_ids;
    ELSE
        SELECT array_agg(DISTINCT id ORDER BY id) INTO v_ids FROM unnest(p_stream_ids) AS id;
    END IF;
    v_stored := array_fill(false, ARRAY[cardinality(v_ids)]);
    v_stored_at := array_fill(0::bigint, ARRAY[cardinality(v_ids)]);
    v_hashes := array_fill(''::bytea, ARRAY[cardinality(v_ids)]);
    v_poisoned := array_fill(false, ARRAY[cardinality(v_ids)]);
    -- The streams some append of the batch writes; the others are only checked.
    v_written := array_fill(false, ARRAY[cardinality(v_ids)]);
    FOR k IN 1..n_appends LOOP
        FOR j IN v_event + 1 .. v_event + p_event_counts[k] LOOP
            v_written[array_position(v_ids, p_stream_ids[v_stream + p_event_streams[j]])] := true;
        END LOOP;
        v_stream := v_stream + p_stream_counts[k];
        v_event := v_event + p_event_counts[k];
    END LOOP;
    v_stream := 0;
    v_event := 0;
    -- Lock the stored heads once, in one order, so batches sharing streams
    -- cannot deadlock: a written stream exclusively, a checked one shared, so
    -- batches that only check it (drafts to one call) do not wait for each
    -- other's commit. One statement per run of streams locked alike.
    i := 1;
    WHILE i <= cardinality(v_ids) LOOP
        k := i;
        WHILE k < cardinality(v_ids) AND v_written[k + 1] = v_written[i] LOOP
            k := k + 1;
        END LOOP;
        IF v_written[i] THEN
            v_heads := ARRAY(SELECT h FROM streams h WHERE h.stream_id = ANY(v_ids[i:k]) ORDER BY h.stream_id FOR UPDATE);
        ELSE
            v_heads := ARRAY(SELECT h FROM streams h WHERE h.stream_id = ANY(v_ids[i:k]) ORDER BY h.stream_id FOR SHARE);
        END IF;
        FOREACH v_head IN ARRAY v_heads LOOP
            j := array_position(v_ids, v_head.stream_id);
            v_stored[j] := true;
            v_stored_at[j] := v_head.version;
            v_hashes[j] := v_head.last_hash;
        END LOOP;
        i := k + 1;
    END LOOP;
    v_versions := v_stored_at;

    FOR k IN 1..n_appends LOOP
        a_from[k] := v_stream;
        v_key := nullif(p_idempotency_keys[k], '');
        -- A key used before: the first append's result, or a refusal if its content differed.
        IF v_key IS NOT NULL THEN
            SELECT * INTO v_previous FROM idempotency_keys ik WHERE ik.key = v_key;
            IF FOUND THEN
                a_state[k] := CASE WHEN v_previous.fingerprint = p_fingerprints[k] THEN 'replayed' ELSE 'GL002' END;
            END IF;
        END IF;
        -- Chained: decided on what an append before it would have written.
        IF a_state[k] IS NULL AND v_any_poisoned THEN
            FOR s IN v_stream + 1 .. v_stream + p_stream_counts[k] LOOP
                IF v_poisoned[array_position(v_ids, p_stream_ids[s])] THEN
                    a_state[k] := 'GL003';
                    a_detail[k] := p_stream_ids[s];
                    a_message[k] := format('decided on events of stream %s that an append before it in the batch did not write', p_stream_ids[s]);
                    EXIT;
                END IF;
            END LOOP;
        END IF;
        -- Expected versions; of several clashes, the first in stream order is reported.
        IF a_state[k] IS NULL THEN
            FOR s IN v_stream + 1 .. v_stream + p_stream_counts[k] LOOP
                i := array_position(v_ids, p_stream_ids[s]);
                IF p_expected[s] >= 0 AND p_expected[s] <> v_versions[i] THEN
                    FOR c IN SELECT o FROM generate_series(v_stream + 1, v_stream + p_stream_counts[k]) AS o ORDER BY p_stream_ids[o] LOOP
                        i := array_position(v_ids, p_stream_ids[c]);
                        IF p_expected[c] >= 0 AND p_expected[c] <> v_versions[i] THEN
                            a_state[k] := 'GL001';
                            a_detail[k] := json_build_object('stream', p_stream_ids[c], 'expected', p_expected[c], 'actual', v_versions[i])::text;
                            a_message[k] := format('stream %s is at version %s, expected %s', p_stream_ids[c], v_versions[i], p_expected[c]);
                            EXIT;
                        END IF;
                    END LOOP;
                    EXIT;
                END IF;
            END LOOP;
        END IF;
        -- Payloads PostgreSQL does not take as JSON refuse their append alone.
        IF a_state[k] IS NULL THEN
            v_data := '{}';
            v_metadata := '{}';
            BEGIN
                FOR j IN v_event + 1 .. v_event + p_event_counts[k] LOOP
                    IF payload_escapes_nul(p_data[j]) OR payload_escapes_nul(p_metadata[j]) THEN
                        RAISE EXCEPTION 'unsupported Unicode escape sequence' USING ERRCODE = 'untranslatable_character',
                            DETAIL = '\u0000 cannot be converted to text.';
                    END IF;
                    v_data := array_append(v_data, p_data[j]::json);
                    v_metadata := array_append(v_metadata, p_metadata[j]::json);
                END LOOP;
            EXCEPTION WHEN invalid_text_representation OR untranslatable_character OR SQLSTATE '22032' THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                a_state[k] := v_state;
                a_message[k] := v_message;
            END;
        END IF;
        -- Claim the key; a concurrent append that claimed it and committed meanwhile decides instead.
        IF a_state[k] IS NULL AND v_key IS NOT NULL THEN
            INSERT INTO idempotency_keys (key, fingerprint) VALUES (v_key, p_fingerprints[k]) ON CONFLICT (key) DO NOTHING;
            IF NOT FOUND THEN
                SELECT * INTO v_previous FROM idempotency_keys ik WHERE ik.key = v_key;
                a_state[k] := CASE WHEN v_previous.fingerprint = p_fingerprints[k] THEN 'replayed' ELSE 'GL002' END;
            END IF;
        END IF;
        IF a_state[k] = 'GL002' THEN
            a_detail[k] := v_key;
            a_message[k] := format('idempotency key %s was used for a different append', v_key);
        END IF;
        -- Chain the events onto their streams.
        IF a_state[k] IS NULL THEN
            a_state[k] := 'ok';
            a_first[k] := cardinality(e_ids) + 1;
            FOR j IN 1..p_event_counts[k] LOOP
                s := v_stream + p_event_streams[v_event + j];
                i := array_position(v_ids, p_stream_ids[s]);
                v_versions[i] := v_versions[i] + 1;
                v_hash := event_hash(v_hashes[i], p_event_ids[v_event + j], p_stream_ids[s], v_versions[i],
                                     p_event_types[v_event + j], p_schema_versions[v_event + j],
                                     p_occurred_at[v_event + j], v_recorded_at, v_data[j], v_metadata[j]);
                e_ids := array_append(e_ids, p_event_ids[v_event + j]);
                e_streams := array_append(e_streams, p_stream_ids[s]);
                e_versions := array_append(e_versions, v_versions[i]);
                e_types := array_append(e_types, p_event_types[v_event + j]);
                e_schemas := array_append(e_schemas, p_schema_versions[v_event + j]);
                e_data := array_append(e_data, v_data[j]);
                e_metadata := array_append(e_metadata, v_metadata[j]);
                e_occurred := array_append(e_occurred, p_occurred_at[v_event + j]);
                e_previous := array_append(e_previous, v_hashes[i]);
                e_hashes := array_append(e_hashes, v_hash);
                v_hashes[i] := v_hash;
            END LOOP;
            a_last[k] := cardinality(e_ids);
            FOR s IN v_stream + 1 .. v_stream + p_stream_counts[k] LOOP
                s_after[s] := v_versions[array_position(v_ids, p_stream_ids[s])];
            END LOOP;
        END IF;
        -- Chained: what it would have written is poisoned for the appends after it.
        IF a_state[k] <> 'ok' AND p_chained THEN
            FOR j IN v_event + 1 .. v_event + p_event_counts[k] LOOP
                v_poisoned[array_position(v_ids, p_stream_ids[v_stream + p_event_streams[j]])] := true;
                v_any_poisoned := true;
            END LOOP;
        END IF;
        v_stream := v_stream + p_stream_counts[k];
        v_event := v_event + p_event_counts[k];
    END LOOP;

    IF cardinality(e_ids) > 0 THEN
        -- Positions are handed out as the rows are inserted, in the order given.
        WITH inserted AS (
            INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version,
                                data, metadata, occurred_at, recorded_at, previous_hash, hash)
            SELECT e.id, e.stream, e.version, e.type, e.schema, e.data, e.meta, e.occurred, v_recorded_at, e.previous, e.hash
            FROM unnest(e_ids, e_streams, e_versions, e_types, e_schemas, e_data, e_metadata, e_occurred, e_previous, e_hashes)
                 WITH ORDINALITY AS e(id, stream, version, type, schema, data, meta, occurred, previous, hash, ord)
            ORDER BY e.ord
            RETURNING global_position
        )
        SELECT array_agg(global_position ORDER BY global_position) INTO e_positions FROM inserted;

        -- Each head moved once; a head another transaction created meanwhile fails the statement.
        FOR i IN 1..cardinality(v_ids) LOOP
            IF v_versions[i] <> v_stored_at[i] THEN
                IF v_stored[i] THEN
                    UPDATE streams h SET version = v_versions[i], last_hash = v_hashes[i] WHERE h.stream_id = v_ids[i];
                ELSE
                    INSERT INTO streams (stream_id, version, last_hash) VALUES (v_ids[i], v_versions[i], v_hashes[i]);
                END IF;
            END IF;
        END LOOP;
    END IF;

    FOR k IN 1..n_appends LOOP
        IF a_state[k] = 'ok' AND nullif(p_idempotency_keys[k], '') IS NOT NULL THEN
            UPDATE idempotency_keys ik SET result = jsonb_build_object(
                'transactionId', v_transaction, 'firstPosition', e_positions[a_first[k]],
                'lastPosition', e_positions[a_last[k]], 'streamVersions', to_jsonb(s_after[a_from[k] + 1 : a_from[k] + p_stream_counts[k]]))
            WHERE ik.key = p_idempotency_keys[k];
        END IF;
    END LOOP;

    FOR k IN 1..n_appends LOOP
        IF a_state[k] = 'ok' THEN
            RETURN QUERY SELECT k, false, v_transaction, e_positions[a_first[k]], e_positions[a_last[k]],
                                s_after[a_from[k] + 1 : a_from[k] + p_stream_counts[k]],
                                NULL::text, NULL::text, NULL::text;
        ELSIF a_state[k] = 'replayed' THEN
            SELECT * INTO v_previous FROM idempotency_keys ik WHERE ik.key = p_idempotency_keys[k];
            RETURN QUERY SELECT k, true, (v_previous.result ->> 'transactionId')::bigint,
                                (v_previous.result ->> 'firstPosition')::bigint, (v_previous.result ->> 'lastPosition')::bigint,
                                ARRAY(SELECT jsonb_array_elements_text(v_previous.result -> 'streamVersions')::bigint),
                                NULL::text, NULL::text, NULL::text;
        ELSE
            RETURN QUERY SELECT k, NULL::boolean, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint[],
                                a_state[k], a_detail[k], a_message[k];
        END IF;
    END LOOP;
END;
$$;

-- jsonb refused \u0000 (PostgreSQL's text cannot hold NUL, so neither can a
-- read model's column); json keeps escapes as written, so the appends refuse
-- it themselves, as jsonb did: SQLSTATE 22P05. An escaped backslash before
-- "u0000" is no such escape.
CREATE OR REPLACE FUNCTION payload_escapes_nul(p_payload text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN strpos(p_payload, '\u0000') > 0 AND p_payload ~ '(^|[^\\])(\\\\)*\\u0000';

