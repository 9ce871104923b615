-- A held message is handed over as a delivery attempt is made: claimed by one worker
-- (held_by, with FOR UPDATE SKIP LOCKED), removed once the destination was posted to, and
-- freed for another worker when its holder's session ends (a worker killed mid-handover).
ALTER TABLE segment_held ADD COLUMN held_by text;
CREATE INDEX segment_held_claimed ON segment_held (held_by) WHERE held_by IS NOT NULL;
