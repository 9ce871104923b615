-- What a nightly run did (when it ran, who entered and left cohorts), the account's
-- input version: a night reuses the last result only while nothing it reads changed.
ALTER TABLE accounts ADD COLUMN input_version bigint NOT NULL DEFAULT 0;
ALTER TABLE refreshes ADD COLUMN ran_at timestamptz;
ALTER TABLE refreshes ADD COLUMN entered integer NOT NULL DEFAULT 0;
ALTER TABLE refreshes ADD COLUMN left_count integer NOT NULL DEFAULT 0;
ALTER TABLE refreshes ADD COLUMN input_version bigint NOT NULL DEFAULT -1;
CREATE TABLE cohort_changes (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id text NOT NULL,
    scheduled_for timestamptz NOT NULL,
    visitor_id text NOT NULL,
    connector_id text NOT NULL,
    trait text NOT NULL,
    value bytea NOT NULL,
    change text NOT NULL
);
CREATE INDEX cohort_changes_run ON cohort_changes (account_id, scheduled_for, seq);
CREATE INDEX cohort_changes_visitor ON cohort_changes (account_id, visitor_id, seq);
-- Each Segment delivery keeps when the Tracking API took it and every attempt made.
ALTER TABLE segment_deliveries ADD COLUMN received_at timestamptz;
ALTER TABLE segment_deliveries ADD COLUMN history bytea;
