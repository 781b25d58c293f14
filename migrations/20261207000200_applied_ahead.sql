-- Source transactions committed ahead of the checkpoint. During a backlog the bridge applies a
-- large batch on two connections ("lanes"): two sets of whole source transactions that share no
-- item, level row or SKU, committed one after the other. The first commit records its
-- transactions here (and in stock.change_log) without moving the checkpoint; the second moves the
-- checkpoint past the whole batch and empties the list. After a crash between the two, the next
-- session reads the binlog from the checkpoint again and skips exactly the transactions listed
-- here, so nothing is applied twice. docs/ARCHITECTURE.md ("How the bridge replicates") has the argument.
--
-- Expand only: a new column with a default; nothing any program reads changes shape.
ALTER TABLE stock.checkpoint ADD COLUMN applied_ahead text[] NOT NULL DEFAULT '{}';
