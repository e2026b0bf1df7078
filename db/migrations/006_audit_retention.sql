-- Audit retention (server/src/services/retention.ts) removes the oldest events. The one row here
-- holds the highest sequence number it has removed: a client resuming from below it has missed
-- events that no longer exist, and is told to refetch (`resync`) instead of getting a gap.
CREATE TABLE events_pruned (
  only_row bool PRIMARY KEY DEFAULT true CHECK (only_row),
  through  bigint NOT NULL
);
INSERT INTO events_pruned (through) VALUES (0);
