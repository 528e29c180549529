-- Projections: each read model lives in a schema of its own per generation
-- (proj_<name>_<generation>); readers query views in the `read` schema, which
-- always point at the live generation. A rebuild fills a new generation
-- beside the live one and swaps the views and the checkpoint in one
-- transaction, so no reader ever sees a half-built model.

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
