-- A watched source table stopped after a schema change (issue 3, item 9). See docs/OPERATIONS.md
-- ("A stopped table") and docs/ARCHITECTURE.md.
--
-- Expand only: new columns on `stock.source_tables` (which the first migration made for this) and
-- the shop's view made to say "not sellable" while a table the items depend on is not streaming.
-- The bridge writes a table's row in the same transaction as the checkpoint that passes the event
-- that stopped it, so a restart keeps the table stopped.

ALTER TABLE stock.source_tables
    -- `items`, `levels`, `categories` or `locations` (the mapping's section)
    ADD COLUMN role         text,
    -- The source position (GTID or file:pos) of the event that stopped the table.
    ADD COLUMN stopped_at   text,
    -- Whether every item is stale while this table is not streaming: true for the items table,
    -- the levels table and the locations lookup (they decide what is for sale), false for the
    -- categories lookup (only names: items stay sellable, their category names may be stale).
    ADD COLUMN items_stale  boolean NOT NULL DEFAULT true,
    -- Where the table's last own snapshot (`bridge snapshot --table`) was taken: the stream skips
    -- the table's transactions that snapshot already holds.
    ADD COLUMN snapshot_gtid text,
    ADD COLUMN snapshot_file text,
    ADD COLUMN snapshot_pos  bigint;

-- Same columns, same order: an item is sellable only while no table it depends on is stopped or
-- being snapshotted again (its stock is stale then). The stock rows themselves stay as they were.
CREATE OR REPLACE VIEW stock.stock_available AS
SELECT i.item_key,
       i.sku,
       i.name,
       i.description,
       i.category,
       i.price_minor,
       i.currency,
       i.price_includes_vat,
       i.on_hand,
       i.on_hand AS available,
       i.deleted,
       i.sellable AND NOT EXISTS (
           SELECT 1 FROM stock.source_tables t WHERE t.state <> 'streaming' AND t.items_stale
       ) AS sellable,
       i.updated_at
FROM stock.items i;
