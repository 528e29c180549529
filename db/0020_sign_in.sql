-- Who may sign in, and how, and what users keep between pages: what changes
-- and expires, kept beside the history rather than in it. Users and their roles are events (UserInvited,
-- RoleGranted, RoleRevoked); a password's hash, a one-time link and a
-- browser session are not facts an auditor replays, and a password must be
-- replaceable and a session deletable. Secrets are stored as SHA-256 of
-- the token (a link or session read from a backup cannot be used).
CREATE SCHEMA accounts;

-- A user's password, as bcrypt of the password's SHA-256 (bcrypt reads 72
-- bytes at most; the digest lets a long passphrase count in full).
CREATE TABLE accounts.credentials (
    user_id uuid PRIMARY KEY,
    password_hash text NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now()
);

-- One-time links to set a password: a new link replaces the user's older ones.
CREATE TABLE accounts.invitations (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX invitations_by_user ON accounts.invitations (user_id);

-- Signed-in sessions: a browser's cookie or an API client's bearer token.
-- Each carries its own CSRF token for the forms it is shown.
CREATE TABLE accounts.sessions (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL,
    kind text NOT NULL CHECK (kind IN ('browser', 'api')),
    csrf_token text NOT NULL,
    address text NOT NULL,
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
    attempt uuid PRIMARY KEY,
    account_key text NOT NULL,
    address text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_by_account ON accounts.sign_in_failures (account_key, failed_at);
CREATE INDEX sign_in_failures_by_address ON accounts.sign_in_failures (address, failed_at);

-- Addresses a user has signed in from: the per-account limit on failures
-- does not lock a user out from where they sign in every day.
CREATE TABLE accounts.known_addresses (
    user_id uuid NOT NULL,
    address text NOT NULL,
    last_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, address)
);

-- What a user typed into a form and has not yet made a command of: an
-- application's fields that the domain does not accept yet (a draft is never
-- lost), and the errors to show next to them after the redirect.
CREATE TABLE accounts.form_drafts (
    user_id uuid NOT NULL,
    form_key text NOT NULL,
    fields jsonb NOT NULL,
    errors jsonb NOT NULL DEFAULT '[]',
    saved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, form_key)
);

-- db/0018's grants, and the application's use of the accounts.
CREATE OR REPLACE FUNCTION grant_application_role(p_role name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_object record;
BEGIN
    IF p_role = current_user THEN
        RETURN;
    END IF;
    -- The application's role may create schemas (below); one named like the
    -- owner would come first in the owner's default search_path and could
    -- shadow the history's tables and functions in the owner's sessions.
    EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path TO public', current_user, current_database());
    -- CREATE: a rebuild makes a schema for the generation it fills.
    EXECUTE format('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE %I TO %I', current_database(), p_role);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', p_role);
    -- The history: read and appended to, never changed.
    EXECUTE format('GRANT SELECT, INSERT ON events, idempotency_keys, signed_checkpoints TO %I', p_role);
    -- Heads and idempotent results are written as appends complete.
    EXECUTE format('GRANT UPDATE ON streams, idempotency_keys TO %I', p_role);
    EXECUTE format('GRANT SELECT, INSERT ON streams TO %I', p_role);
    EXECUTE format('GRANT SELECT ON schema_migrations TO %I', p_role);
    -- Sign-in data lives beside the history, not in it: passwords, links and sessions change and expire.
    EXECUTE format('GRANT USAGE ON SCHEMA accounts TO %I', p_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA accounts TO %I', p_role);
    -- Read models are derived from the history and rebuilt from it: the application owns them.
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON projection_checkpoints TO %I', p_role);
    EXECUTE format('GRANT USAGE, CREATE ON SCHEMA read TO %I', p_role);
    -- Read models a single role made before the roles were split (the owner
    -- must be a member of the application's role to hand them over).
    FOR v_object IN
        SELECT n.nspname FROM pg_namespace n WHERE n.nspname LIKE 'proj\_%' AND n.nspowner <> p_role::regrole
    LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', v_object.nspname, p_role);
    END LOOP;
    FOR v_object IN
        SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE (n.nspname LIKE 'proj\_%' OR n.nspname = 'read') AND c.relkind IN ('r', 'p', 'v', 'S') AND c.relowner <> p_role::regrole
    LOOP
        EXECUTE format('ALTER %s %I.%I OWNER TO %I',
                       CASE v_object.relkind WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END, v_object.nspname, v_object.relname, p_role);
    END LOOP;
END;
$$;
