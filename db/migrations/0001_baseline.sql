-- The tables of GrantLedger as of December 2026, in one baseline. What each
-- holds and why is said here; the code that runs on them lives in
-- db/functions/, one file per function, applied again whenever it changes.
-- A database made by the numbered migrations before this baseline is
-- refused by `grantledger migrate`, which says how to carry its history over.

-- The history: events, appended and never changed (db/functions/
-- refuse_history_change.sql), each chained by hash onto the one before it in
-- its stream (db/functions/event_hash.sql).
CREATE TABLE events (
    -- Handed out before commit, so positions do not arrive in commit order:
    -- readers page by (transaction_id, global_position), never by position alone.
    global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Set by the database, never by the writer (db/functions/refuse_misplaced_event.sql).
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL CHECK (length(stream_id) BETWEEN 1 AND 200),
    stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
    event_type      text        NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
    schema_version  integer     NOT NULL CHECK (schema_version >= 1),
    -- Payloads are kept as written: json stores the text it is given (checked
    -- to be JSON) and hands it back, where jsonb would parse it into a tree
    -- and print it again for every read and every hash (about 4 us per event,
    -- most of a core during a catch-up read). Nothing queries inside them.
    data            json        NOT NULL,
    metadata        json        NOT NULL,
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

-- One row per stream, its version and last hash: appends lock it, so writers
-- to one stream take turns and writers to different streams never wait on
-- each other.
CREATE TABLE streams (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL,
    last_hash bytea  NOT NULL
);

-- An append's key, a fingerprint of what it appended and its result: the
-- same append sent again gets the first one's result; another append with
-- the same key is refused.
CREATE TABLE idempotency_keys (
    key         text        PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    fingerprint bytea       NOT NULL,
    result      jsonb,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Signed checkpoints of the history (Sources/Audit/Checkpoints.swift): the
-- Merkle root of the first `size` events in commit order, signed with an
-- Ed25519 key kept outside the database. Kept here so they can be listed;
-- their worth is in the copies auditors keep elsewhere, which
-- `grantledger verify --checkpoints FILE` holds the history to. Kept as
-- signed: a later signing of the same size keeps the first.
CREATE TABLE signed_checkpoints (
    size          bigint      NOT NULL CHECK (size >= 0),
    key_id        text        NOT NULL,
    root          bytea       NOT NULL,
    last_position bigint,
    signed_at     timestamptz NOT NULL,
    document      json        NOT NULL,
    PRIMARY KEY (size, key_id)
);
CREATE INDEX signed_checkpoints_newest ON signed_checkpoints (signed_at DESC);

-- Read models: each lives in a schema of its own per generation
-- (proj_<name>_<generation>), made by the application; readers query views
-- in the `read` schema, which always point at the live generation. A
-- rebuild fills a new generation beside the live one and swaps the views and
-- the checkpoint in one transaction, so no reader ever sees a half-built model.
CREATE SCHEMA read;

CREATE TABLE projection_checkpoints (
    projection      text        NOT NULL,
    generation      integer     NOT NULL,
    live            boolean     NOT NULL DEFAULT false,
    -- The last event applied, as a commit-order cursor.
    transaction_id  bigint      NOT NULL DEFAULT 0,
    position        bigint      NOT NULL DEFAULT 0,
    events_applied  bigint      NOT NULL DEFAULT 0,
    status          text        NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'building', 'failed', 'retired')),
    failed_position bigint,
    error           text,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (projection, generation)
);
CREATE UNIQUE INDEX projection_checkpoints_one_live ON projection_checkpoints (projection) WHERE live;

-- Who may sign in, and how, and what users keep between pages: what changes
-- and expires, kept beside the history rather than in it. Users and their
-- roles are events (UserInvited, RoleGranted, RoleRevoked); a password's
-- hash, a one-time link and a browser session are not facts an auditor
-- replays, and a password must be replaceable and a session deletable.
-- Secrets are stored as SHA-256 of the token (a link or session read from a
-- backup cannot be used).
CREATE SCHEMA accounts;

-- A user's password, as bcrypt of the password's SHA-256 (bcrypt reads 72
-- bytes at most; the digest lets a long passphrase count in full).
CREATE TABLE accounts.credentials (
    user_id       uuid        PRIMARY KEY,
    password_hash text        NOT NULL,
    set_at        timestamptz NOT NULL DEFAULT now()
);

-- One-time links to set a password: a new link replaces the user's older ones.
CREATE TABLE accounts.invitations (
    token_hash bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX invitations_by_user ON accounts.invitations (user_id);

-- Signed-in sessions: a browser's cookie or an API client's bearer token.
-- Each carries its own CSRF token for the forms it is shown.
CREATE TABLE accounts.sessions (
    token_hash bytea       PRIMARY KEY,
    user_id    uuid        NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('browser', 'api')),
    csrf_token text        NOT NULL,
    address    text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_by_user ON accounts.sessions (user_id);

-- Sign-ins that failed or are being checked, counted per account and address
-- over a short window. An attempt is written before its password is
-- checked, so a burst of parallel guesses counts in full; it is deleted
-- when the password is right or when the attempt was refused unchecked.
-- The account is the normalised address typed, whether or not it is a user's.
CREATE TABLE accounts.sign_in_failures (
    attempt     uuid        PRIMARY KEY,
    account_key text        NOT NULL,
    address     text        NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_by_account ON accounts.sign_in_failures (account_key, failed_at);
CREATE INDEX sign_in_failures_by_address ON accounts.sign_in_failures (address, failed_at);

-- Addresses a user has signed in from: the per-account limit on failures
-- does not lock a user out from where they sign in every day.
CREATE TABLE accounts.known_addresses (
    user_id   uuid        NOT NULL,
    address   text        NOT NULL,
    last_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, address)
);

-- What a user typed into a form and has not yet made a command of: an
-- application's fields that the domain does not accept yet (a draft is never
-- lost), and the errors to show next to them after the redirect.
CREATE TABLE accounts.form_drafts (
    user_id  uuid        NOT NULL,
    form_key text        NOT NULL,
    fields   jsonb       NOT NULL,
    errors   jsonb       NOT NULL DEFAULT '[]',
    saved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, form_key)
);
