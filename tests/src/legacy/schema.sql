-- Funny Hat stock — schema of the legacy PHP stock-management app ("hatstock"), as it stands in
-- production. The PHP app created these tables over the years; nobody has touched the schema since
-- the move to InnoDB. The demo loader (tests/src/legacy/load.rs) runs this file to (re)create them.
--
-- Traps the bridge and the shop must handle are marked TRAP.
-- * No foreign keys: the app deletes an item's stock_levels itself, in the same transaction, so a
--   crash in between could always leave orphans. (InnoDB cascades would not reach the binlog as
--   row events anyway.)
-- * DATETIME(6) columns hold the shop's local wall-clock time (Europe/London), not UTC, and carry
--   microseconds.

SET NAMES utf8mb4;

DROP TABLE IF EXISTS app_settings;
DROP TABLE IF EXISTS id_sequences;
DROP TABLE IF EXISTS stock_levels;
DROP TABLE IF EXISTS items;
DROP TABLE IF EXISTS locations;
DROP TABLE IF EXISTS categories;

CREATE TABLE categories (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  slug VARCHAR(100) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_categories_slug (slug)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Items are what the shop sells. The key is `id`; the SKU is just an editable label.
CREATE TABLE items (
  -- TRAP: BIGINT UNSIGNED, not AUTO_INCREMENT (ids come from id_sequences). One item imported from
  -- a supplier feed kept the supplier's id, 9223372036854775817, which is above 2^63: it does not fit
  -- a signed 64-bit integer.
  id BIGINT UNSIGNED NOT NULL,
  -- TRAP: not unique. Staff copy an item to make a variant and sometimes keep the SKU.
  sku VARCHAR(64) NOT NULL,
  -- TRAP: free text typed into the PHP form, never escaped on the way in: emoji (4-byte UTF-8) and
  -- markup such as <script>alert(1)</script> are both in there.
  name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
  -- TRAP: NULL for some items (not the empty string).
  description TEXT NULL,
  category_id INT UNSIGNED NULL,
  -- TRAP: four decimal places; a few prices imported from supplier spreadsheets use them (19.9950).
  price DECIMAL(12,4) NOT NULL DEFAULT 0.0000,
  -- TRAP: 1 = price includes VAT (the shop's normal case); 0 = trade price, VAT to be added.
  vat_included TINYINT(1) NOT NULL DEFAULT 1,
  -- TRAP: the picture itself lives in the row. Mostly JPEG and PNG, 600–2000 px; one CMYK JPEG
  -- (Adobe APP14), one PNG with transparency, one JPEG that relies on its EXIF orientation, and one
  -- picture over 16 MiB. NULL when there is no picture (image_mime is then NULL too).
  image LONGBLOB NULL,
  image_mime VARCHAR(64) NULL,
  -- TRAP: latin1, unlike every other text column ("Café Müller supplies"). In row events the bytes
  -- arrive in latin1; the column charset is in the binlog's table map (binlog_row_metadata=FULL).
  supplier_note VARCHAR(255) CHARACTER SET latin1 COLLATE latin1_swedish_ci NULL,
  -- TRAP: soft delete. 1 = deleted in the app; the row stays and can be undeleted. Items are also
  -- hard-deleted (and re-inserted later with the same id) now and then.
  is_deleted TINYINT(1) NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY idx_items_sku (sku),
  KEY idx_items_category (category_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Where stock is kept. Only sellable locations count towards what the shop may sell.
CREATE TABLE locations (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  code VARCHAR(16) NOT NULL,
  name VARCHAR(100) NOT NULL,
  -- TRAP: RETURNS holds stock that is not for sale (sellable = 0).
  sellable TINYINT(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (id),
  UNIQUE KEY uq_locations_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per item and location. An item's stock is the sum over its sellable locations.
CREATE TABLE stock_levels (
  id INT NOT NULL AUTO_INCREMENT,
  item_id BIGINT UNSIGNED NOT NULL,
  location_id INT UNSIGNED NOT NULL,
  -- TRAP: signed and sometimes negative (sold on the shop floor before the goods-in was booked).
  -- Staff also delete a row outright when a location is cleared, rather than setting it to 0.
  quantity INT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_stock_levels_item_location (item_id, location_id),
  KEY idx_stock_levels_location (location_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The app's id allocator, from before it trusted AUTO_INCREMENT:
--   UPDATE id_sequences SET last_id = LAST_INSERT_ID(last_id + 1) WHERE name = 'items'
-- Not stock data: the bridge can ignore it.
CREATE TABLE id_sequences (
  name VARCHAR(32) NOT NULL,
  last_id BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Key/value settings of the PHP app. The demo loader records `demo_seed` here, in the same
-- transaction as the data, so "is the demo data loaded?" is one query. Not stock data either.
CREATE TABLE app_settings (
  name VARCHAR(64) NOT NULL,
  value VARCHAR(255) NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
