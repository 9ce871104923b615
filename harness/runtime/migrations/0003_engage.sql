-- Which Segment Engage computation sent a message (``<class>:<key>``), for explanations.
ALTER TABLE messages ADD COLUMN engage text;
-- Cohort changes name their trait by source and path (look-alike traits never merge).
ALTER TABLE cohort_changes ADD COLUMN source text;
ALTER TABLE cohort_changes ADD COLUMN path bytea;
