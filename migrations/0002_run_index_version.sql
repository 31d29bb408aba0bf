-- Index rows arrive through a Queue, which may deliver them out of order: each carries the run's
-- event sequence number at the time it was written, and an older row never replaces a newer one.
ALTER TABLE runs ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
