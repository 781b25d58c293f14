-- The bridge → shop contract: the tables the bridge owns (schema `stock`) and the grants that keep
-- each program to its side. See docs/ARCHITECTURE.md ("The bridge → shop contract").
--
-- Run as `migrator`, which owns every schema object. The roles `bridge` and `shop` exist beforehand
-- (created by the platform: deploy/local/up locally, the IaC in AWS); this migration only grants.
-- `bridge` may write only schema `stock`; `shop` may only read it, and owns the use of schema `shop`.

CREATE SCHEMA stock;
CREATE SCHEMA shop;

REVOKE ALL ON SCHEMA stock, shop FROM PUBLIC;
GRANT USAGE ON SCHEMA stock TO bridge, shop;
GRANT USAGE ON SCHEMA shop TO shop;

CREATE TYPE stock.image_status AS ENUM ('none', 'pending', 'ready', 'failed');
CREATE TYPE stock.table_state AS ENUM ('snapshotting', 'streaming', 'stopped');

-- One row per legacy item, keyed by the legacy primary key in canonical text (decimal for integer
-- keys, so BIGINT UNSIGNED above 2^63 fits). Deleted items become tombstones (`deleted`), never
-- vanish: orders refer to them, and a re-insert of the same key revives the row.
CREATE TABLE stock.items (
    item_key          text PRIMARY KEY,
    source_table      text NOT NULL,
    sku               text,                 -- editable attribute; NULL when it did not convert
    name              text NOT NULL DEFAULT '',
    description       text,
    category          text,
    price_minor       bigint,               -- NULL when the price did not convert (item not sellable)
    currency          char(3) NOT NULL,
    price_includes_vat boolean NOT NULL DEFAULT true,
    on_hand           integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),  -- max(0, on_hand_raw)
    on_hand_raw       bigint NOT NULL DEFAULT 0,                        -- Σ sellable level rows, for staff
    deleted           boolean NOT NULL DEFAULT false,
    duplicate_sku     boolean NOT NULL DEFAULT false,
    quarantine_reason text,                 -- why the row is not sellable, with its binlog position
    -- Sellable = exists, converted, unique SKU. Derived, so it can never disagree with its causes.
    sellable          boolean GENERATED ALWAYS AS (
                          NOT deleted AND NOT duplicate_sku AND quarantine_reason IS NULL
                          AND price_minor IS NOT NULL AND sku IS NOT NULL) STORED,
    source_updated_at timestamptz,          -- the legacy row's own timestamp, converted from its zone
    generation        bigint NOT NULL,      -- snapshot generation that wrote the row
    changed_at        text NOT NULL,        -- source position of the last change (GTID or file:pos)
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_sku ON stock.items (sku) WHERE NOT deleted;
CREATE INDEX items_category ON stock.items (category) WHERE NOT deleted;

-- Every source row that contributes to an item's on_hand, mirrored by its own primary key, so
-- `on_hand` is always recomputed as a sum (never patched with deltas that replays would double).
-- No foreign key: a level row may arrive before its item, or outlive it.
CREATE TABLE stock.levels (
    source_table text NOT NULL,
    row_key      text NOT NULL,
    item_key     text NOT NULL,
    location     text,
    sellable     boolean NOT NULL,
    quantity     bigint NOT NULL,
    changed_at   text NOT NULL,
    PRIMARY KEY (source_table, row_key)
);
CREATE INDEX levels_item ON stock.levels (item_key);

-- What the shop needs to show an item's picture. Written by the image workers (issue: images).
CREATE TABLE stock.images (
    item_key      text PRIMARY KEY,
    status        stock.image_status NOT NULL,
    source_sha256 bytea,
    error         text,
    base_url      text,                     -- public base (CDN in production, nginx locally)
    keys          jsonb NOT NULL DEFAULT '{}'::jsonb,   -- {"160.webp": "prefix/…/160.webp", …}
    width         integer,
    height        integer,
    alt_text      text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Per watched source table: streaming, being (re)snapshotted, or stopped after a schema change.
CREATE TABLE stock.source_tables (
    source_table text PRIMARY KEY,
    state        stock.table_state NOT NULL,
    reason       text,
    since        timestamptz NOT NULL DEFAULT now()
);

-- The single checkpoint/freshness row. Applied rows and this row change in one transaction, so the
-- checkpoint never disagrees with the data. `epoch` fences a leader that lost its lock: every apply
-- runs `… WHERE epoch = mine`.
CREATE TABLE stock.checkpoint (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    epoch           bigint NOT NULL,
    leader          text NOT NULL,          -- the bridge instance that holds the epoch
    source_server   text NOT NULL,          -- identity of the source (server_uuid / server_id + domain)
    gtid            text,                   -- MariaDB GTID position (domain-server-seq, comma-separated)
    binlog_file     text,
    binlog_pos      bigint,
    generation      bigint NOT NULL DEFAULT 0,
    snapshot_done   boolean NOT NULL DEFAULT false,
    caught_up_at    timestamptz,            -- PostgreSQL's clock: when the checkpoint last reached the source's head
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per committed source transaction applied: exactly-once is checkable (and checked in tests).
CREATE TABLE stock.change_log (
    id          bigserial PRIMARY KEY,
    position    text NOT NULL UNIQUE,       -- the transaction's GTID (or file:end_pos)
    rows        integer NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- How current the replica is, computed with PostgreSQL's clock only (no two hosts' clocks compared).
-- `staleness` is NULL while there is no checkpoint or the snapshot is not done: readers treat NULL as
-- past the hard limit.
CREATE VIEW stock.freshness AS
SELECT caught_up_at,
       CASE WHEN snapshot_done AND caught_up_at IS NOT NULL THEN now() - caught_up_at END AS staleness,
       snapshot_done,
       epoch,
       leader
FROM stock.checkpoint;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA stock TO bridge;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA stock TO bridge;
GRANT SELECT ON ALL TABLES IN SCHEMA stock TO shop;
ALTER DEFAULT PRIVILEGES IN SCHEMA stock GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO bridge;
ALTER DEFAULT PRIVILEGES IN SCHEMA stock GRANT USAGE, SELECT ON SEQUENCES TO bridge;
ALTER DEFAULT PRIVILEGES IN SCHEMA stock GRANT SELECT ON TABLES TO shop;
ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO shop;
ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO shop;
