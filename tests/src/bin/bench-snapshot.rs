//! `bench-snapshot`: the bridge's peak memory (RSS) and time for the initial snapshot of a
//! 1,000,000-row legacy database. A scratch MariaDB gets the demo schema and a generated catalogue
//! (`--items` items, three `stock_levels` rows each, the demo's categories and locations, a small
//! JPEG on every `--picture-every`th item), made once per invocation and reused by every run. Each
//! run starts a bridge on a fresh shop database, samples its RSS from `/proc` every 20 ms and takes
//! the kernel's high-water mark (`VmHWM`) when the snapshot is switched in. The second variant
//! gives one item a `--large-image-mib` picture (the snapshot asks the source for its SHA-256 only,
//! so it should cost the bridge nothing). Runs against the local stack's PostgreSQL
//! (`eval "$(deploy/local/env)"` first). Figures and method: docs/BENCHMARKS.md.

use anyhow::Context;
use clap::Parser;
use mysql_async::prelude::Queryable;
use std::time::{Duration, Instant};
use tests::bench::{MAPPING, durable_shop_database, median_spread};
use tests::legacy::pictures::{self, Look, PictureFormat, PictureSpec};
use tests::scratch_mariadb::{ROW_BINLOG, ScratchMariaDb};
use tests::stack::Running;

#[derive(Parser)]
struct Args {
    /// Items in the generated legacy database; each has three stock_levels rows, so 250,000 items
    /// make 1,000,000 rows (and the 11 lookup rows).
    #[arg(long, default_value_t = 250_000)]
    items: u64,
    /// Every Nth item has a small JPEG picture (the others none).
    #[arg(long, default_value_t = 25)]
    picture_every: u64,
    /// The second variant: one item gets a picture this large (0 leaves the variant out).
    #[arg(long, default_value_t = 20)]
    large_image_mib: u64,
    /// Repetitions per variant (median and spread are printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// The demo mapping's tables: categories, locations, items, stock_levels.
const TABLES: usize = 4;
const LIMIT: Duration = Duration::from_secs(1800);
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// DESIGN §6: RSS ≤ 100 MB during a 1M-row snapshot (+ 2.5 × the largest event with a large row).
const TARGET_BYTES: f64 = 100e6;
const MIB: f64 = 1024.0 * 1024.0;

struct Run {
    rows: u64,
    elapsed: Duration,
    /// `VmHWM` when the snapshot was switched in, bytes.
    peak: u64,
    /// The largest of the 20 ms `VmRSS` samples, bytes.
    sampled: u64,
    /// (table, rows, `VmRSS` when its copy was read to the end).
    tables: Vec<(String, u64, u64)>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let started = Instant::now();
    let (server, source) = legacy_source(&args).await?;
    eprintln!(
        "dataset: {} items, {} stock_levels rows, 7 categories, 4 locations; made in {:.1} s",
        args.items,
        args.items * 3,
        started.elapsed().as_secs_f64()
    );
    let mut variants = vec![(String::from("no large picture"), None)];
    if args.large_image_mib > 0 {
        variants.push((
            format!("one {} MiB picture", args.large_image_mib),
            Some(args.large_image_mib),
        ));
    }
    for (name, large) in variants {
        let mut target = TARGET_BYTES;
        if let Some(mib) = large {
            let bytes = large_picture(&server, mib).await?;
            target += 2.5 * bytes as f64;
            eprintln!("variant {name}: item 1 has a picture of {bytes} bytes");
        }
        let (mut peaks, mut seconds, mut rates) = (Vec::new(), Vec::new(), Vec::new());
        for run in 0..args.runs {
            let r = once(&source).await?;
            let tables: Vec<String> = r
                .tables
                .iter()
                .map(|(t, rows, rss)| format!("{t} ({rows} rows) {:.1}", *rss as f64 / MIB))
                .collect();
            let rate = r.rows as f64 / r.elapsed.as_secs_f64();
            println!(
                "{name}, run {run}: {} rows in {:.1} s = {rate:.0} rows/s; peak RSS {:.1} MiB \
                 (largest 20 ms sample {:.1} MiB); RSS MiB after reading {}",
                r.rows,
                r.elapsed.as_secs_f64(),
                r.peak as f64 / MIB,
                r.sampled as f64 / MIB,
                tables.join(", ")
            );
            peaks.push(r.peak as f64 / MIB);
            seconds.push(r.elapsed.as_secs_f64());
            rates.push(rate);
        }
        let verdict = if peaks.iter().all(|p| p * MIB <= target) {
            "met in every run"
        } else {
            "MISSED"
        };
        println!(
            "{name}: peak RSS {} against ≤ {:.1} MiB ({:.0} MB): {verdict}; snapshot {}; {} over {} runs",
            median_spread(&mut peaks, |p| format!("{p:.1} MiB")),
            target / MIB,
            target / 1e6,
            median_spread(&mut seconds, |s| format!("{s:.1} s")),
            median_spread(&mut rates, |r| format!("{r:.0} rows/s")),
            args.runs
        );
    }
    drop(server);
    Ok(())
}

/// One bridge process on a fresh shop database, timed from its start until it logs the snapshot
/// switched in, with its memory watched all along.
async fn once(source: &str) -> anyhow::Result<Run> {
    let db = durable_shop_database().await?;
    let target = db.url("bridge");
    let started = Instant::now();
    let mut bridge = Running::spawn(
        "bridge",
        &["run"],
        &[
            ("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_SOURCE__URL", source),
            ("FUNNYHAT_SOURCE__FLAVOUR", "mariadb"),
            ("FUNNYHAT_SOURCE__SERVER_ID", "3141"),
            ("FUNNYHAT_SOURCE__MAPPING", MAPPING),
            ("FUNNYHAT_TARGET__URL", &target),
            ("FUNNYHAT_LOG__FORMAT", "json"),
            ("FUNNYHAT_LOG__FILTER", "warn,bridge=info"),
        ],
    )?;
    let pid = bridge.child.id().context("the bridge exited at once")?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let sampler = tokio::spawn(sample_rss(pid, stopped));
    let mut tables = Vec::new();
    for _ in 0..TABLES {
        let line = bridge
            .wait_for_log(
                "snapshot table copied",
                LIMIT.saturating_sub(started.elapsed()),
            )
            .await?;
        tables.push((
            line["table"].as_str().unwrap_or("?").to_owned(),
            line["rows"].as_u64().unwrap_or(0),
            status_bytes(pid, "VmRSS:").unwrap_or(0),
        ));
    }
    let done = bridge
        .wait_for_log(
            "snapshot switched in",
            LIMIT.saturating_sub(started.elapsed()),
        )
        .await?;
    let elapsed = started.elapsed();
    let peak = status_bytes(pid, "VmHWM:").context("the bridge's VmHWM")?;
    stop.send(()).ok();
    let sampled = sampler.await?;
    bridge.terminate(Duration::from_secs(10)).await?;
    db.drop_now().await?;
    Ok(Run {
        rows: done["rows"]
            .as_u64()
            .context("rows in the switch-in line")?,
        elapsed,
        peak,
        sampled,
        tables,
    })
}

/// The largest `VmRSS` of `pid`, read every [`SAMPLE_EVERY`] until `stop`.
async fn sample_rss(pid: u32, mut stop: tokio::sync::oneshot::Receiver<()>) -> u64 {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut largest = 0;
    loop {
        tokio::select! {
            _ = &mut stop => return largest,
            _ = tick.tick() => {}
        }
        match status_bytes(pid, "VmRSS:") {
            Some(rss) => largest = largest.max(rss),
            None => return largest,
        }
    }
}

/// A `kB` field of `/proc/PID/status` (`VmRSS:`, `VmHWM:`), in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A scratch MariaDB (row binlog, the whole dataset in its buffer pool) with the demo schema, the
/// generated catalogue and a bridge user (replication grants and SELECT); returns it with the
/// bridge's URL.
async fn legacy_source(args: &Args) -> anyhow::Result<(ScratchMariaDb, String)> {
    let mut server_args = ROW_BINLOG.to_vec();
    server_args.extend([
        "--max-allowed-packet=1G",
        "--innodb-buffer-pool-size=1G",
        "--innodb-log-file-size=512M",
        "--innodb-flush-log-at-trx-commit=2",
    ]);
    let server = ScratchMariaDb::start(&server_args).await?;
    let mut root = server.root().await?;
    root.query_drop("CREATE DATABASE legacy").await?;
    root.query_drop("USE legacy").await?;
    root.query_drop(tests::legacy::SCHEMA_SQL).await?;
    // The demo's lookups, binlogged, so the source has a GTID position before the snapshot.
    for c in tests::legacy::catalog::CATEGORIES {
        root.exec_drop(
            "INSERT INTO categories (id, name, slug) VALUES (?, ?, ?)",
            (c.id, c.name, c.slug),
        )
        .await?;
    }
    for l in tests::legacy::catalog::LOCATIONS {
        root.exec_drop(
            "INSERT INTO locations (id, code, name, sellable) VALUES (?, ?, ?, ?)",
            (l.id, l.code, l.name, l.sellable),
        )
        .await?;
    }
    root.exec_drop(
        "INSERT INTO id_sequences (name, last_id) VALUES ('items', ?)",
        (args.items,),
    )
    .await?;
    // The bulk rows stay out of the binlog: the snapshot reads tables, and the bridge streams only
    // from the snapshot's position on.
    root.query_drop("SET SESSION sql_log_bin = 0").await?;
    insert_pictures(&mut root).await?;
    root.exec_drop(ITEMS_SQL, (args.picture_every, args.items))
        .await
        .context("generate items")?;
    root.exec_drop(LEVELS_SQL, (args.items,))
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
            &tests::scratch_mariadb::BRIDGE_GRANTS,
        )
        .await?;
    Ok((server, url))
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

/// Gives item 1 a picture of `mib` MiB (a demo JPEG padded to size); returns its size in bytes.
async fn large_picture(server: &ScratchMariaDb, mib: u64) -> anyhow::Result<u64> {
    let mut root = server.root().await?;
    root.query_drop("SET SESSION sql_log_bin = 0").await?;
    let bytes = mib * 1024 * 1024;
    root.query_drop(
        "SET @small = (SELECT image FROM legacy.items WHERE image IS NOT NULL ORDER BY id LIMIT 1)",
    )
    .await?;
    root.exec_drop(
        "UPDATE legacy.items SET image = CONCAT(@small, REPEAT('FunnyHat', (? - LENGTH(@small)) DIV 8)),
           image_mime = 'image/jpeg' WHERE id = 1",
        (bytes,),
    )
    .await
    .context("the large picture")?;
    let size: Option<u64> = root
        .query_first("SELECT LENGTH(image) FROM legacy.items WHERE id = 1")
        .await?;
    root.disconnect().await.ok();
    size.context("item 1")
}
