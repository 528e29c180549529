-- A stream an append only checks (the call a draft is made in, the pool it
-- draws on: read to decide, checked at the version read, not written) was
-- locked exclusively, like a stream it writes. So appends that only checked
-- the same stream waited for each other's commit, WAL flush included: with
-- two batches in flight, every draft to one call queued behind the other
-- batch's fsync (up to 145 ms each when the disk stalled). A checked stream
-- is now share-locked: appends that only check it go on together, and one
-- that writes it still waits until they commit, so what they checked holds
-- until then. Locks are still taken in one order (stream id), a written
-- stream exclusively and a checked one shared, so no two appends deadlock;
-- no append ever upgrades a lock it holds.
--
-- The functions of 0014, otherwise unchanged.

CREATE OR REPLACE FUNCTION append_events(
    p_stream_ids      text[],
    p_expected        bigint[],
    p_event_ids       uuid[],
    p_event_streams   integer[],
    p_event_types     text[],
    p_schema_versions integer[],
    p_data            text[],
    p_metadata        text[],
    p_occurred_at     timestamptz[],
    p_idempotency_key text,
    p_fingerprint     bytea
) RETURNS TABLE (
    replayed        boolean,
    transaction_id  bigint,
    first_position  bigint,
    last_position   bigint,
    stream_versions bigint[]
)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_recorded_at timestamptz := clock_timestamp();
    v_versions    bigint[] := array_fill(0::bigint, ARRAY[cardinality(p_stream_ids)]);
    v_hashes      bytea[]  := array_fill(''::bytea, ARRAY[cardinality(p_stream_ids)]);
    v_previous    idempotency_keys%ROWTYPE;
    v_version     bigint;
    v_hash        bytea;
    v_first       bigint;
    v_last        bigint;
    v_counts      bigint[];
    v_data        json;
    v_metadata    json;
    i             integer;
    j             integer;
BEGIN
    FOR j IN 1 .. cardinality(p_data) LOOP
        IF payload_escapes_nul(p_data[j]) OR payload_escapes_nul(p_metadata[j]) THEN
            RAISE EXCEPTION 'unsupported Unicode escape sequence' USING ERRCODE = 'untranslatable_character',
                DETAIL = '\u0000 cannot be converted to text.';
        END IF;
    END LOOP;
    IF p_idempotency_key IS NOT NULL THEN
        -- A concurrent append with the same key makes this wait for its
        -- outcome; then the key is either ours or the first writer's.
        INSERT INTO idempotency_keys (key, fingerprint)
        VALUES (p_idempotency_key, p_fingerprint)
        ON CONFLICT (key) DO NOTHING;
        IF NOT FOUND THEN
            SELECT * INTO v_previous FROM idempotency_keys k WHERE k.key = p_idempotency_key;
            IF v_previous.fingerprint <> p_fingerprint THEN
                RAISE EXCEPTION 'idempotency key % was used for a different append', p_idempotency_key
                    USING ERRCODE = 'GL002', DETAIL = p_idempotency_key;
            END IF;
            RETURN QUERY SELECT true,
                (v_previous.result ->> 'transactionId')::bigint,
                (v_previous.result ->> 'firstPosition')::bigint,
                (v_previous.result ->> 'lastPosition')::bigint,
                ARRAY(SELECT jsonb_array_elements_text(v_previous.result -> 'streamVersions')::bigint);
            RETURN;
        END IF;
    END IF;

    -- Lock the heads in one fixed order, so appends that share streams
    -- cannot deadlock, and check every expected version before any event
    -- takes a position: a losing writer leaves no hole.
    FOR i IN SELECT s.ord FROM unnest(p_stream_ids) WITH ORDINALITY AS s(id, ord) ORDER BY s.id LOOP
        IF i = ANY(p_event_streams) THEN
            SELECT h.version, h.last_hash INTO v_version, v_hash
            FROM streams h WHERE h.stream_id = p_stream_ids[i] FOR UPDATE;
        ELSE
            -- Only checked: other appends that only check it go on at once;
            -- one that writes it waits until this one commits, as it must.
            SELECT h.version, h.last_hash INTO v_version, v_hash
            FROM streams h WHERE h.stream_id = p_stream_ids[i] FOR SHARE;
        END IF;
        IF NOT FOUND THEN
            -- A new stream: create its head. A concurrent creator makes the
            -- insert wait for its outcome and do nothing; the lock below then
            -- queues behind it, so `any` writers take turns instead of failing.
            INSERT INTO streams (stream_id, version, last_hash) VALUES (p_stream_ids[i], 0, ''::bytea)
            ON CONFLICT (stream_id) DO NOTHING;
            SELECT h.version, h.last_hash INTO v_version, v_hash
            FROM streams h WHERE h.stream_id = p_stream_ids[i] FOR UPDATE;
        END IF;
        IF p_expected[i] >= 0 AND p_expected[i] <> v_version THEN
            RAISE EXCEPTION 'stream % is at version %, expected %', p_stream_ids[i], v_version, p_expected[i]
                USING ERRCODE = 'GL001',
                      DETAIL = json_build_object('stream', p_stream_ids[i], 'expected', p_expected[i], 'actual', v_version)::text;
        END IF;
        v_versions[i] := v_version;
        v_hashes[i] := v_hash;
    END LOOP;

    IF cardinality(p_event_ids) <= 16 THEN
        -- A command's few events: each hashed onto its stream's chain and
        -- inserted in turn, then each written stream's head moved once.
        v_counts := v_versions;
        FOR j IN 1..cardinality(p_event_ids) LOOP
            i := p_event_streams[j];
            v_counts[i] := v_counts[i] + 1;
            v_data := p_data[j]::json;
            v_metadata := p_metadata[j]::json;
            v_hash := sha256(v_hashes[i] || event_content(p_event_ids[j], p_stream_ids[i], v_counts[i], p_event_types[j],
                                                          p_schema_versions[j], p_occurred_at[j], v_recorded_at, v_data, v_metadata));
            INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version,
                                data, metadata, occurred_at, recorded_at, previous_hash, hash)
            VALUES (p_event_ids[j], p_stream_ids[i], v_counts[i], p_event_types[j], p_schema_versions[j],
                    v_data, v_metadata, p_occurred_at[j], v_recorded_at, v_hashes[i], v_hash)
            RETURNING global_position INTO v_last;
            v_first := coalesce(v_first, v_last);
            v_hashes[i] := v_hash;
        END LOOP;
        FOR i IN 1..cardinality(p_stream_ids) LOOP
            IF v_counts[i] <> v_versions[i] THEN
                UPDATE streams h SET version = v_counts[i], last_hash = v_hashes[i] WHERE h.stream_id = p_stream_ids[i];
            END IF;
        END LOOP;
    ELSE
        WITH input AS (
            SELECT e.ord, e.event_id, e.stream_index, p_stream_ids[e.stream_index] AS stream_id,
                   v_versions[e.stream_index] + row_number() OVER (PARTITION BY e.stream_index ORDER BY e.ord) AS stream_version,
                   e.event_type, e.schema_version, e.data::json AS data, e.metadata::json AS metadata, e.occurred_at
            FROM unnest(p_event_ids, p_event_streams, p_event_types, p_schema_versions, p_data, p_metadata, p_occurred_at)
                 WITH ORDINALITY AS e(event_id, stream_index, event_type, schema_version, data, metadata, occurred_at, ord)
        ), hashed AS (
            SELECT input.*, hash_chain(v_hashes[stream_index],
                       event_content(event_id, stream_id, stream_version, event_type, schema_version,
                                     occurred_at, v_recorded_at, data, metadata))
                       OVER (PARTITION BY stream_index ORDER BY stream_version) AS hash
            FROM input
        ), chained AS (
            SELECT hashed.*, coalesce(lag(hash) OVER (PARTITION BY stream_index ORDER BY stream_version),
                                      v_hashes[stream_index]) AS previous_hash
            FROM hashed
        ), inserted AS (
            INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version,
                                data, metadata, occurred_at, recorded_at, previous_hash, hash)
            SELECT event_id, stream_id, stream_version, event_type, schema_version,
                   data, metadata, occurred_at, v_recorded_at, previous_hash, hash
            FROM chained ORDER BY ord
            RETURNING global_position, stream_id, stream_version, hash
        ), heads AS (
            UPDATE streams h SET version = last.stream_version, last_hash = last.hash
            FROM (SELECT DISTINCT ON (stream_id) stream_id, stream_version, hash
                  FROM inserted ORDER BY stream_id, stream_version DESC) last
            WHERE h.stream_id = last.stream_id
        )
        SELECT min(global_position), max(global_position) INTO v_first, v_last FROM inserted;

        SELECT array_agg(v_versions[s.ord] + coalesce(c.n, 0) ORDER BY s.ord) INTO v_counts
        FROM generate_subscripts(p_stream_ids, 1) AS s(ord)
        LEFT JOIN (SELECT stream_index, count(*) AS n
                   FROM unnest(p_event_streams) AS e(stream_index) GROUP BY stream_index) c
               ON c.stream_index = s.ord;
    END IF;

    IF p_idempotency_key IS NOT NULL THEN
        UPDATE idempotency_keys k SET result = jsonb_build_object(
            'transactionId', pg_current_xact_id()::text::bigint,
            'firstPosition', v_first, 'lastPosition', v_last, 'streamVersions', to_jsonb(v_counts))
        WHERE k.key = p_idempotency_key;
    END IF;

    RETURN QUERY SELECT false, pg_current_xact_id()::text::bigint, v_first, v_last, v_counts;
END;
$$;

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
    error_message   text,
    error_constraint text
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
    v_head         record;
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
    SELECT array_agg(DISTINCT id ORDER BY id) INTO v_ids FROM unnest(p_stream_ids) AS id;
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
            FOR v_head IN SELECT h.stream_id, h.version, h.last_hash FROM streams h
                          WHERE h.stream_id = ANY(v_ids[i:k]) ORDER BY h.stream_id FOR UPDATE LOOP
                j := array_position(v_ids, v_head.stream_id);
                v_stored[j] := true;
                v_stored_at[j] := v_head.version;
                v_hashes[j] := v_head.last_hash;
            END LOOP;
        ELSE
            FOR v_head IN SELECT h.stream_id, h.version, h.last_hash FROM streams h
                          WHERE h.stream_id = ANY(v_ids[i:k]) ORDER BY h.stream_id FOR SHARE LOOP
                j := array_position(v_ids, v_head.stream_id);
                v_stored[j] := true;
                v_stored_at[j] := v_head.version;
                v_hashes[j] := v_head.last_hash;
            END LOOP;
        END IF;
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
        -- Expected versions; of several clashes, the first in stream order is
        -- reported, as append_events reports it.
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
                v_hash := sha256(v_hashes[i] || event_content(p_event_ids[v_event + j], p_stream_ids[s], v_versions[i],
                                                              p_event_types[v_event + j], p_schema_versions[v_event + j],
                                                              p_occurred_at[v_event + j], v_recorded_at, v_data[j], v_metadata[j]));
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
        WITH inserted AS (
            INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version,
                                data, metadata, occurred_at, recorded_at, previous_hash, hash)
            SELECT e.id, e.stream, e.version, e.type, e.schema, e.data, e.meta, e.occurred, v_recorded_at, e.previous, e.hash
            FROM unnest(e_ids, e_streams, e_versions, e_types, e_schemas, e_data, e_metadata, e_occurred, e_previous, e_hashes)
                 WITH ORDINALITY AS e(id, stream, version, type, schema, data, meta, occurred, previous, hash, ord)
            ORDER BY e.ord
            RETURNING event_id, global_position
        )
        SELECT array_agg(inserted.global_position ORDER BY e.ord) INTO e_positions
        FROM unnest(e_ids) WITH ORDINALITY AS e(id, ord) JOIN inserted ON inserted.event_id = e.id;

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
                                NULL::text, NULL::text, NULL::text, NULL::text;
        ELSIF a_state[k] = 'replayed' THEN
            SELECT * INTO v_previous FROM idempotency_keys ik WHERE ik.key = p_idempotency_keys[k];
            RETURN QUERY SELECT k, true, (v_previous.result ->> 'transactionId')::bigint,
                                (v_previous.result ->> 'firstPosition')::bigint, (v_previous.result ->> 'lastPosition')::bigint,
                                ARRAY(SELECT jsonb_array_elements_text(v_previous.result -> 'streamVersions')::bigint),
                                NULL::text, NULL::text, NULL::text, NULL::text;
        ELSE
            RETURN QUERY SELECT k, NULL::boolean, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint[],
                                a_state[k], a_detail[k], a_message[k], NULL::text;
        END IF;
    END LOOP;
END;
$$;
