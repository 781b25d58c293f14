//! The generated legacy catalogue the snapshot and catch-up benchmarks read: a scratch MariaDB
//! (row binlog) with the demo schema, `items` items with three `stock_levels` rows each, the demo's
//! categories and locations, and a small JPEG on every `picture_every`th item. The bulk rows are
//! kept out of the binlog (a snapshot reads tables); what a benchmark writes afterwards is its own.

use super::LegacySource;
use crate::legacy::pictures::{self, Look, PictureFormat, PictureSpec};
use crate::scratch_mariadb::{ROW_BINLOG, ScratchMariaDb};
use anyhow::Context;
use mysql_async::prelude::Queryable;

const MIB: f64 = 1024.0 * 1024.0;

/// The shape of the generated catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Catalogue {
    /// Items 1..=`items`; each has three `stock_levels` rows.
    pub items: u64,
    /// Every Nth item has a small JPEG picture (the others none).
    pub picture_every: u64,
}

/// A scratch MariaDB (row binlog, the whole dataset in its buffer pool, `durability`'s flags
/// added, e.g. `--innodb-flush-log-at-trx-commit=2`) with the demo schema, the generated catalogue
/// and a bridge user (replication grants and SELECT); returns it with the bridge's view of it.
pub async fn legacy_source(
    catalogue: &Catalogue,
    durability: &[&str],
) -> anyhow::Result<(ScratchMariaDb, LegacySource)> {
    let mut server_args = ROW_BINLOG.to_vec();
    server_args.extend([
        "--max-allowed-packet=1G",
        "--innodb-buffer-pool-size=1G",
        "--innodb-log-file-size=512M",
    ]);
    server_args.extend(durability);
    let server = ScratchMariaDb::start(&server_args).await?;
    let mut root = server.root().await?;
    root.query_drop("CREATE DATABASE legacy").await?;
    root.query_drop("USE legacy").await?;
    root.query_drop(crate::legacy::SCHEMA_SQL).await?;
    // The demo's lookups, binlogged, so the source has a GTID position before the snapshot.
    for c in crate::legacy::catalog::CATEGORIES {
        root.exec_drop(
            "INSERT INTO categories (id, name, slug) VALUES (?, ?, ?)",
            (c.id, c.name, c.slug),
        )
        .await?;
    }
    for l in crate::legacy::catalog::LOCATIONS {
        root.exec_drop(
            "INSERT INTO locations (id, code, name, sellable) VALUES (?, ?, ?, ?)",
            (l.id, l.code, l.name, l.sellable),
        )
        .await?;
    }
    root.exec_drop(
        "INSERT INTO id_sequences (name, last_id) VALUES ('items', ?)",
        (catalogue.items,),
    )
    .await?;
    // The bulk rows stay out of the binlog: the snapshot reads tables, and the bridge streams only
    // from the snapshot's position on.
    root.query_drop("SET SESSION sql_log_bin = 0").await?;
    insert_pictures(&mut root).await?;
    root.exec_drop(ITEMS_SQL, (catalogue.picture_every, catalogue.items))
        .await
        .context("generate items")?;
    root.exec_drop(LEVELS_SQL, (catalogue.items,))
        .await
        .context("generate stock levels")?;
    root.query_drop("DROP TABLE bench_pictures").await?;
    root.query_drop("ANALYZE TABLE items, stock_levels").await?;
    let shape: Option<(u64, Option<u64>, Option<f64>)> = root
        .query_first(
            "SELECT COUNT(image), SUM(LENGTH(image)), AVG(LENGTH(name) + LENGTH(description)) \
             FROM items",
        )
        .await?;
    if let Some((pictures, bytes, text)) = shape {
        eprintln!(
            "dataset: {pictures} items with a picture ({:.1} MiB in all); name + description \
             {:.0} bytes on average",
            bytes.unwrap_or(0) as f64 / MIB,
            text.unwrap_or(0.0)
        );
    }
    root.disconnect().await.ok();
    let url = server
        .create_user(
            "bridge",
            "bridge-dev",
            &crate::scratch_mariadb::BRIDGE_GRANTS,
        )
        .await?;
    let source = LegacySource::scratch(&server, url);
    Ok((server, source))
}

/// Eight small demo JPEGs (320 × 320, a few KiB each) in `bench_pictures`, for [`ITEMS_SQL`].
async fn insert_pictures(root: &mut mysql_async::Conn) -> anyhow::Result<()> {
    let looks = [
        Look::Bowler,
        Look::Fedora,
        Look::TopHat,
        Look::Beanie,
        Look::Fez,
        Look::Crown,
        Look::Wizard,
        Look::Viking,
    ];
    let rendered = tokio::task::spawn_blocking(move || {
        looks
            .iter()
            .zip(0u64..)
            .map(|(&look, seed)| {
                pictures::render(&PictureSpec {
                    look,
                    format: PictureFormat::Jpeg,
                    width: 320,
                    height: 320,
                    seed,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
    root.query_drop("CREATE TABLE bench_pictures (n INT PRIMARY KEY, bytes MEDIUMBLOB NOT NULL)")
        .await?;
    for (n, picture) in rendered.iter().enumerate() {
        root.exec_drop(
            "INSERT INTO bench_pictures (n, bytes) VALUES (?, ?)",
            (n, &picture.bytes),
        )
        .await?;
    }
    Ok(())
}

/// Items 1..=N (`?` 1: every how many items has a picture, `?` 2: N) with demo-like values: eight
/// colours × twelve styles, three description sentences (about 300 bytes; none on every 10th),
/// the seven categories, prices with two decimals (a sub-penny one on every 5,000th: quarantined),
/// 4 % trade prices, 2 % soft-deleted, every 400th SKU its predecessor's, a latin1 supplier note
/// on every third, and a picture (one of the eight JPEGs with the item id appended, so every hash
/// differs) on every Nth.
const ITEMS_SQL: &str = "
INSERT INTO items (id, sku, name, description, category_id, price, vat_included, image, image_mime,
                   supplier_note, is_deleted, created_at, updated_at)
SELECT s.seq,
  CONCAT('FH-', LPAD(s.seq - (s.seq % 400 = 0), 7, '0')),
  CONCAT(ELT(1 + s.seq % 8, 'Black', 'Tweed', 'Scarlet', 'Olive', 'Navy', 'Mustard', 'Plum', 'Striped'), ' ',
         ELT(1 + (s.seq DIV 8) % 12, 'Bowler', 'Fedora', 'Trilby', 'Beanie', 'Boater', 'Stetson', 'Beret',
             'Cloche', 'Fez', 'Panama', 'Deerstalker', 'Top Hat'),
         ' No. ', s.seq, IF(s.seq % 997 = 0, ' 🎩 <b>new!</b>', '')),
  IF(s.seq % 10 = 0, NULL, CONCAT(
    ELT(1 + s.seq % 5,
      'A hand-finished hat in soft felt with a grosgrain band and a satin lining, made in our Luton workshop since 1962. ',
      'Our best-selling novelty hat, stitched from recycled polyester and fitted with an adjustable elastic headband. ',
      'Woven from natural paper straw on traditional blocks, light enough for a long afternoon in the garden or at sea. ',
      'A warm knitted hat in lambswool and a little cashmere, double-layered at the ears, with a turned-up cuff for fit. ',
      'Cut from heavy brushed cotton twill with six panels, a pre-curved peak and a brass buckle strap at the back. '),
    ELT(1 + (s.seq DIV 5) % 7,
      'Spot clean only with a damp cloth; store it on its crown, away from radiators and sunlight, to keep its shape. ',
      'Sizes run true: measure around the forehead just above the ears, and choose the next size up between sizes. ',
      'Packed in a recyclable box with tissue paper. Ideal as a gift for weddings, races, stag and hen parties. ',
      'Every hat is inspected by hand before it leaves us; small variations in colour and weave are part of the charm. ',
      'Machine washable at 30 degrees on a gentle cycle; reshape while damp and leave it to dry flat on a towel. ',
      'Please note: costume hats are not toys and are not suitable for children under three years of age. ',
      'Limited run this season: once the present stock is sold, the colourway may not return for another year. '),
    'Catalogue number ', s.seq, '.')),
  1 + s.seq % 7,
  IF(s.seq % 5000 = 0, '19.9950', CONCAT(9 + (s.seq * 37) % 80, '.', LPAD((s.seq * 13) % 100, 2, '0'))),
  s.seq % 25 <> 0,
  IF(p.n IS NULL, NULL, CONCAT(p.bytes, s.seq)),
  IF(p.n IS NULL, NULL, 'image/jpeg'),
  IF(s.seq % 3 = 0, 'Café Müller supplies', NULL),
  s.seq % 50 = 0,
  NOW(6) - INTERVAL (s.seq % 1000) DAY,
  NOW(6) - INTERVAL (s.seq % 100) HOUR
FROM seq_1_to_10000000 s
LEFT JOIN bench_pictures p ON s.seq % ? = 0 AND p.n = s.seq % 8
WHERE s.seq <= ?";

/// Three stock_levels rows per item (`?`: N items): every location but one (which one turns with
/// the item id, so a quarter of the items have stock in RETURNS, which is not for sale), with
/// quantities from −3 to 57 (sold before goods-in was booked: negative).
const LEVELS_SQL: &str = "
INSERT INTO stock_levels (item_id, location_id, quantity, updated_at)
SELECT i.seq, l.seq, CAST((i.seq * 7 + l.seq * 13) % 61 AS SIGNED) - 3, NOW(6)
FROM seq_1_to_10000000 i JOIN seq_1_to_4 l ON l.seq <> 1 + i.seq % 4
WHERE i.seq <= ?
ORDER BY i.seq, l.seq";
