-- Room on every page for the bridge's updates to stay HOT (heap-only: no index entry written).
-- Nearly every change the bridge applies rewrites a level row (a new quantity) and then its item row
-- (the new sum): with pages filled to the brim by the snapshot, each of those updates must put the
-- new row version on another page and so add an entry to every index of the table (seven on
-- stock.items). With free room on the page, an update that changes no indexed column writes no
-- index entry at all. docs/BENCHMARKS.md ("Bridge catch-up") has the measurement.
--
-- Expand only: a storage parameter; it applies to pages written from now on (a fresh snapshot, new
-- rows), and nothing any program reads or writes changes shape.
ALTER TABLE stock.items SET (fillfactor = 70);
ALTER TABLE stock.levels SET (fillfactor = 80);
