-- The shared store of both fakes: AB Tasty's accounts and audiences, Segment's workspace,
-- the clocks and the request journal. Applied once, in order, by harness.runtime.postgres.

-- fake AB Tasty -------------------------------------------------------------------------
CREATE TABLE accounts (
    id text PRIMARY KEY,
    name text NOT NULL,
    timezone text NOT NULL,
    refresh_hour integer NOT NULL,
    created_at timestamptz NOT NULL,
    clock text NOT NULL DEFAULT ''
);
CREATE TABLE connectors (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text UNIQUE NOT NULL,
    account_id text NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL,
    integration text NOT NULL,
    direction text NOT NULL
);
CREATE INDEX connectors_account ON connectors (account_id, seq);
CREATE TABLE api_keys (
    account_id text PRIMARY KEY,
    digest bytea UNIQUE NOT NULL,
    last4 text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE messages (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL,
    connector_id text NOT NULL,
    message_id text NOT NULL,
    type text NOT NULL,
    anonymous_id text,
    user_id text,
    group_id text,
    traits bytea NOT NULL,
    timestamp timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    taken boolean NOT NULL DEFAULT false
);
CREATE INDEX messages_pending ON messages (account_id, received_at) WHERE NOT taken;
CREATE INDEX messages_anonymous ON messages (account_id, anonymous_id);
-- One dedup window for every worker: the primary key decides which copy is first.
CREATE TABLE dedup (
    account_id text NOT NULL,
    message_id text NOT NULL,
    first_arrival timestamptz NOT NULL,
    PRIMARY KEY (account_id, message_id)
);
CREATE TABLE sightings (
    account_id text NOT NULL,
    visitor_id text NOT NULL,
    anonymous_id text NOT NULL,
    seen_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, visitor_id, anonymous_id)
);
CREATE TABLE profiles (
    account_id text NOT NULL,
    connector_id text NOT NULL,
    anonymous_id text NOT NULL,
    traits bytea NOT NULL,
    groups bytea NOT NULL,
    PRIMARY KEY (account_id, connector_id, anonymous_id)
);
CREATE TABLE groups (
    account_id text NOT NULL,
    connector_id text NOT NULL,
    group_id text NOT NULL,
    traits bytea NOT NULL,
    PRIMARY KEY (account_id, connector_id, group_id)
);
-- Each nightly run once per account, whichever worker gets there first.
CREATE TABLE refreshes (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL,
    scheduled_for timestamptz NOT NULL,
    cutoff timestamptz NOT NULL,
    messages integer NOT NULL,
    profiles integer NOT NULL,
    matched_profiles integer NOT NULL,
    cohorts integer NOT NULL,
    UNIQUE (account_id, scheduled_for)
);
CREATE TABLE activations (
    account_id text PRIMARY KEY,
    scheduled_for timestamptz NOT NULL,
    visitors bytea NOT NULL,
    matched bytea NOT NULL
);
CREATE TABLE segments (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text UNIQUE NOT NULL,
    account_id text NOT NULL,
    name text NOT NULL,
    match text NOT NULL,
    conditions bytea NOT NULL,
    created_at timestamptz NOT NULL
);

-- fake Segment --------------------------------------------------------------------------
CREATE TABLE segment_sources (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text UNIQUE NOT NULL,
    name text NOT NULL,
    write_key_digest bytea UNIQUE NOT NULL,
    write_key_last4 text NOT NULL,
    clock text NOT NULL DEFAULT '',
    received bigint NOT NULL DEFAULT 0
);
CREATE TABLE segment_destinations (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text UNIQUE NOT NULL,
    source_id text NOT NULL,
    type text NOT NULL,
    api_key text NOT NULL,
    endpoint text NOT NULL,
    name text NOT NULL
);
CREATE INDEX segment_destinations_source ON segment_destinations (source_id, seq);
-- A delivery attempt is held by one worker (held_by) while it is made; claimed with
-- FOR UPDATE SKIP LOCKED, freed when its holder's session ends.
CREATE TABLE segment_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id text NOT NULL,
    clock text NOT NULL,
    message_id text,
    type text,
    destination_id text,
    stage text NOT NULL,
    attempts integer NOT NULL,
    last_status integer,
    last_body text,
    next_attempt_at timestamptz,
    first_attempt_at timestamptz,
    last_delay double precision,
    payload bytea NOT NULL,
    retries integer NOT NULL,
    held_by text
);
CREATE INDEX segment_deliveries_due ON segment_deliveries (clock, next_attempt_at)
    WHERE stage = 'retrying';
CREATE INDEX segment_deliveries_source ON segment_deliveries (source_id, id);
CREATE INDEX segment_deliveries_held ON segment_deliveries (held_by) WHERE held_by IS NOT NULL;

-- shared by both ------------------------------------------------------------------------
-- Each manual clock is a row: '' is the global clock, any other name a tenant's.
CREATE TABLE clocks (
    name text PRIMARY KEY,
    now timestamptz NOT NULL
);
-- One request journal for every worker, per fake.
CREATE TABLE journal (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fake text NOT NULL,
    account_id text,
    entry bytea NOT NULL
);
CREATE INDEX journal_fake ON journal (fake, seq);
CREATE INDEX journal_account ON journal (fake, account_id, seq);
