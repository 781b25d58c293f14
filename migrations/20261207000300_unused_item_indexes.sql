-- Two indexes on stock.items that no query needs, dropped: every item update that is not heap-only
-- (a renamed item: the name is in the catalogue's indexes) writes an entry into every index of the
-- table, and the bridge's catch-up renames items by the hundred thousand.
-- * items_category (category, live rows): the shop reads categories only among sellable items,
--   which items_sellable_by_category serves (catalogue pages, the category list).
-- * items_category_key: only a renamed category in the source looks items up by it, a rare
--   change for which one scan of the table is fine (milliseconds at thousands of hats).
-- docs/BENCHMARKS.md ("Bridge catch-up") has the measurement.
--
-- Contract only in the sense of an index: no column, table or view changes, and nothing any
-- program reads or writes changes shape.
DROP INDEX stock.items_category;
DROP INDEX stock.items_category_key;
