-- The leader's lease. An advisory lock is released when its holder's connection ends, but a leader
-- that is paused (SIGSTOP, a stalled VM) keeps its connection open and its lock held. The leader
-- renews `lease_until` every second (PostgreSQL's clock); a standby that sees it expired ends the
-- holder's lock session and takes over with the next epoch, which fences the old leader's writes.
ALTER TABLE stock.checkpoint ADD COLUMN lease_until timestamptz;
