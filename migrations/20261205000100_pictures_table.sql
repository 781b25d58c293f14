-- Pictures kept by the legacy database in a table of their own (mapping `[pictures]`), several per
-- item. Expand only: a new table. Each source row is mirrored by its key with the SHA-256 of its
-- BLOB (never the bytes) and its rank for the mapping's primary-picture rule; the bridge works out
-- each touched item's primary picture from these rows in the same transaction and records it in
-- stock.images (with an image job when it changed), as it does for a picture in the item row.

CREATE TABLE stock.pictures (
    source_table  text NOT NULL,
    row_key       text NOT NULL,
    item_key      text NOT NULL,
    source_sha256 bytea,                    -- NULL: the row holds no picture (never primary)
    rank          bigint[] NOT NULL,        -- primary_order values, descending ones negated; lowest wins
    generation    bigint NOT NULL,
    changed_at    text NOT NULL,            -- source position of the change that brought it
    PRIMARY KEY (source_table, row_key)
);
CREATE INDEX pictures_item ON stock.pictures (item_key);

-- Default privileges (first migration) already grant these; stated where the table is made.
GRANT SELECT, INSERT, UPDATE, DELETE ON stock.pictures TO bridge;
GRANT SELECT ON stock.pictures TO shop;
