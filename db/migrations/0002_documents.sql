-- Documents' bytes, apart from the event log: the event that attaches a
-- document (DocumentAttached) records its SHA-256, size, kind and name; the
-- bytes live here under that digest, stored once however often attached.
-- Sources/Documents/DocumentStore.swift writes and reads them.

-- An upload's bytes in chunks of 1 MiB, written as they arrive, each in its
-- own short statement, under an id of the upload's own until it is whole.
CREATE TABLE document_chunks (
    upload_id  uuid        NOT NULL,
    seq        integer     NOT NULL CHECK (seq >= 0),
    bytes      bytea       NOT NULL CHECK (length(bytes) BETWEEN 1 AND 1048576),
    -- Chunks of an upload never filed (the process stopped during it) are swept after a day.
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (upload_id, seq)
);

-- A whole upload filed under its digest: the first upload of those bytes
-- keeps them; once filed, its chunks are never changed
-- (db/functions/refuse_document_change.sql).
CREATE TABLE document_contents (
    sha256    bytea       PRIMARY KEY CHECK (length(sha256) = 32),
    size      bigint      NOT NULL CHECK (size >= 1),
    upload_id uuid        NOT NULL UNIQUE,
    filed_at  timestamptz NOT NULL DEFAULT now()
);
