-- Segment Engage's audiences and computed traits, shared by every worker: a live key is
-- unique per source, and each subject's state is one row, changed in one transaction.
CREATE TABLE engage_computations (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text UNIQUE NOT NULL,
    source_id text NOT NULL,
    computation_class text NOT NULL,
    key text NOT NULL,
    name text NOT NULL,
    level text NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);
CREATE UNIQUE INDEX engage_live_keys ON engage_computations (source_id, key)
    WHERE deleted_at IS NULL;
CREATE INDEX engage_computations_source ON engage_computations (source_id, seq);
CREATE TABLE engage_states (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    computation_id text NOT NULL,
    subject text NOT NULL,
    value bytea NOT NULL,
    UNIQUE (computation_id, subject)
);
