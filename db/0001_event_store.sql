-- The event store: an append-only table of events, the head of every stream
-- (its version and last hash), and the idempotency keys of appends.

CREATE TABLE events (
    -- Handed out before commit, so positions do not arrive in commit order:
    -- readers page by (transaction_id, global_position), never by position alone.
    global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 200),
    stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
    event_type      text        NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
    schema_version  integer     NOT NULL CHECK (schema_version >= 1),
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    previous_hash   bytea       NOT NULL,
    hash            bytea       NOT NULL,
    CONSTRAINT events_event_id_unique UNIQUE (event_id),
    -- The optimistic-concurrency guard of last resort.
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

-- The commit-order cursor of every reader of "all events".
CREATE INDEX events_commit_order ON events (transaction_id, global_position);

-- One row per stream: appends lock it, so writers to one stream take turns
-- and writers to different streams never wait on each other.
CREATE TABLE streams (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL,
    last_hash bytea  NOT NULL
);

CREATE TABLE idempotency_keys (
    key         text        PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    fingerprint bytea       NOT NULL,
    result      jsonb,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The bytes an event's hash covers. Every field is rendered by PostgreSQL
-- itself (jsonb's canonical text, times as epoch microseconds), so a verifier
-- that reads the same columns back can recompute it exactly.
CREATE FUNCTION event_content(
    p_event_id uuid, p_stream_id text, p_stream_version bigint, p_event_type text,
    p_schema_version integer, p_occurred_at timestamptz, p_recorded_at timestamptz,
    p_data jsonb, p_metadata jsonb
) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN convert_to(concat_ws(E'\n',
    p_event_id::text, p_stream_id, p_stream_version::text, p_event_type,
    p_schema_version::text,
    (extract(epoch FROM p_occurred_at) * 1000000)::bigint::text,
    (extract(epoch FROM p_recorded_at) * 1000000)::bigint::text,
    p_data::text, p_metadata::text), 'UTF8');

-- hash = sha256(previous hash || content); the first event of a stream
-- chains from the empty string. Used as a running window aggregate over a
-- stream's new events, seeded with the stream's last hash.
CREATE FUNCTION hash_chain_step(state bytea, seed bytea, content bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN sha256(coalesce(state, seed) || content);

CREATE AGGREGATE hash_chain(seed bytea, content bytea) (
    SFUNC = hash_chain_step,
    STYPE = bytea
);

-- Appends events to one or more streams atomically.
--   p_expected[i]: -1 any version, 0 the stream must not exist, n the stream
--   must hold exactly n events. A stream may be listed with no events: it is
--   then only checked (a consistency condition), not written.
--   p_event_streams[j]: 1-based index into p_stream_ids of event j's stream.
-- Errors: GL001 wrong expected version (DETAIL is JSON: stream, expected,
-- actual); GL002 idempotency key reused with different content.
CREATE FUNCTION append_events(
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
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_recorded_at timestamptz := clock_timestamp();
    v_versions    bigint[] := array_fill(0::bigint, ARRAY[cardinality(p_stream_ids)]);
    v_hashes      bytea[]  := array_fill(''::bytea, ARRAY[cardinality(p_stream_ids)]);
    v_previous    idempotency_keys%ROWTYPE;
    v_version     bigint;
    v_found       boolean;
    v_hash        bytea;
    v_first       bigint;
    v_last        bigint;
    v_counts      bigint[];
    i             integer;
BEGIN
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
        SELECT h.version, h.last_hash INTO v_version, v_hash
        FROM streams h WHERE h.stream_id = p_stream_ids[i] FOR UPDATE;
        v_found := FOUND;
        IF NOT v_found THEN
            v_version := 0;
            v_hash := ''::bytea;
        END IF;
        IF p_expected[i] >= 0 AND p_expected[i] <> v_version THEN
            RAISE EXCEPTION 'stream % is at version %, expected %', p_stream_ids[i], v_version, p_expected[i]
                USING ERRCODE = 'GL001',
                      DETAIL = json_build_object('stream', p_stream_ids[i], 'expected', p_expected[i], 'actual', v_version)::text;
        END IF;
        IF NOT v_found THEN
            -- A concurrent creator of the same stream makes this insert fail
            -- with a unique violation before any event is written.
            INSERT INTO streams (stream_id, version, last_hash) VALUES (p_stream_ids[i], 0, ''::bytea);
        END IF;
        v_versions[i] := v_version;
        v_hashes[i] := v_hash;
    END LOOP;

    WITH input AS (
        SELECT e.ord, e.event_id, e.stream_index, p_stream_ids[e.stream_index] AS stream_id,
               v_versions[e.stream_index] + row_number() OVER (PARTITION BY e.stream_index ORDER BY e.ord) AS stream_version,
               e.event_type, e.schema_version, e.data::jsonb AS data, e.metadata::jsonb AS metadata, e.occurred_at
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

    IF p_idempotency_key IS NOT NULL THEN
        UPDATE idempotency_keys k SET result = jsonb_build_object(
            'transactionId', pg_current_xact_id()::text::bigint,
            'firstPosition', v_first, 'lastPosition', v_last, 'streamVersions', to_jsonb(v_counts))
        WHERE k.key = p_idempotency_key;
    END IF;

    RETURN QUERY SELECT false, pg_current_xact_id()::text::bigint, v_first, v_last, v_counts;
END;
$$;
