-- Scripted delivery faults and the Tracking API rate limit, shared by every worker:
-- "deliver the next 2 twice" means two in all, and the limit is the workspace's.
CREATE TABLE segment_faults (
    id integer PRIMARY KEY CHECK (id = 1),
    outage_status integer,
    outage_until timestamptz,
    duplicate_next integer NOT NULL,
    hold_next integer NOT NULL,
    hold_seconds double precision NOT NULL
);
CREATE TABLE segment_held (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    due timestamptz NOT NULL,
    url text NOT NULL,
    headers bytea NOT NULL,
    body bytea NOT NULL
);
CREATE INDEX segment_held_due ON segment_held (due, seq);
CREATE TABLE rate_buckets (
    name text PRIMARY KEY,
    tokens double precision NOT NULL,
    last double precision NOT NULL
);
