-- Signed checkpoints of the history (Sources/Audit/Checkpoints.swift): the
-- Merkle root of the first `size` events in commit order, signed with an
-- Ed25519 key kept outside the database. Kept here so they can be listed;
-- their worth is in the copies auditors keep elsewhere, which
-- `grantledger verify --checkpoints FILE` holds the history to.
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

-- Kept as signed: a later signing of the same size keeps the first.
CREATE TRIGGER signed_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON signed_checkpoints
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
