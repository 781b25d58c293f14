-- What the bridge's apply path needs beyond the first contract migration (expand only):
-- * lookup tables mirrored from the source (categories, locations), so a category's name and a
--   location's "for sale" flag are resolved inside PostgreSQL, in the same transaction as the rows
--   that use them, and a rename or a flag change updates every dependent row;
-- * the source keys that point into them (`items.category_key`, `levels.location_key`);
-- * the snapshot generation on levels and lookups, so a snapshot replaces them in one transaction.

CREATE TABLE stock.lookups (
    source_table text NOT NULL,
    row_key      text NOT NULL,
    label        text,                   -- e.g. a category's name
    flag         boolean,                -- e.g. a location's "sellable"
    generation   bigint NOT NULL,
    changed_at   text NOT NULL,
    PRIMARY KEY (source_table, row_key)
);

ALTER TABLE stock.items ADD COLUMN category_key text;
CREATE INDEX items_category_key ON stock.items (category_key);

ALTER TABLE stock.levels ADD COLUMN location_key text;
ALTER TABLE stock.levels ADD COLUMN generation bigint NOT NULL DEFAULT 0;
CREATE INDEX levels_location ON stock.levels (location_key);

-- Default privileges from the first migration already grant these to `bridge` (write) and `shop`
-- (read); stated again so the grants are visible where the table is made.
GRANT SELECT, INSERT, UPDATE, DELETE ON stock.lookups TO bridge;
GRANT SELECT ON stock.lookups TO shop;
