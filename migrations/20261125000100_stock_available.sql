-- The shop's one read path into the replicated stock: `stock.stock_available`, and the indexes the
-- catalogue pages need. See docs/ARCHITECTURE.md ("The bridge → shop contract").
--
-- Expand only: a new view and new indexes; nothing the bridge writes changes shape.

-- One row per item with the fields the catalogue shows and `available`, the number of units a
-- customer may still buy. For now `available = on_hand`: nothing holds or commits units yet. The
-- checkout work replaces this view (CREATE OR REPLACE, same columns first) to subtract active holds
-- and commitments, `available = max(0, on_hand − holds − commitments)`; every shop page that shows
-- or checks stock already reads it from here, so that change reaches them all at once.
CREATE VIEW stock.stock_available AS
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
       i.sellable,
       i.updated_at
FROM stock.items i;

-- Default privileges (first migration) already give `shop` SELECT on new relations in schema
-- `stock`, views included; say it explicitly so the grant does not hang on that. They would also give
-- `bridge` write access: a plain view over one table is automatically updatable, and the bridge has no
-- business reading or writing the shop's view, so it gets nothing.
GRANT SELECT ON stock.stock_available TO shop;
REVOKE ALL ON stock.stock_available FROM bridge;

-- Catalogue lists: sellable items by name (home), and by category then name (category pages).
-- Partial on `sellable`, so tombstones and quarantined rows cost nothing, and `on_hand` is in
-- neither index, so the bridge's stock updates stay HOT updates.
CREATE INDEX items_sellable_by_name ON stock.items (name, item_key) WHERE sellable;
CREATE INDEX items_sellable_by_category ON stock.items (category, name, item_key) WHERE sellable;

-- Search is `ILIKE '%word%'` over name, category, SKU and description. A trigram index would need
-- the pg_trgm extension, which only a superuser may create (the migrator is not one); at catalogue
-- sizes (thousands of hats) the scan takes milliseconds and the shop caches results per query.
