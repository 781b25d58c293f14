//! `bench-snapshot`: the bridge's peak memory (RSS) and time for the initial snapshot of a
//! 1,000,000-row legacy database, and, with a large picture, its peak while it streams binlog
//! events carrying that picture. A scratch MariaDB gets the demo schema and a generated catalogue
//! (`--items` items, three `stock_levels` rows each, the demo's categories and locations, a small
//! JPEG on every `--picture-every`th item), made once per invocation and reused by every run. Each
//! run starts a bridge on a fresh shop database, samples its RSS from `/proc` every 20 ms and takes
//! the kernel's high-water mark (`VmHWM`) when the snapshot is switched in. The second variant
//! gives one item a `--large-image-mib` picture, written out of the binlog: the snapshot asks the
//! source for its SHA-256 only, so it should cost the snapshot nothing. Then, with the snapshot
//! switched in, that variant's run replaces the picture `--large-updates` times with different
//! bytes of the same size, binlogged: each UPDATE is one ROW event with the before and after
//! images (about twice the picture), which the bridge must read whole to hash the new picture.
//! The largest such event is sized from the source's own binlog (`SHOW BINLOG EVENTS`); once the
//! shop database holds the last picture's hash (`stock.images.source_sha256` equal to the
//! source's `SHA2(image, 256)`), `VmHWM` is read again and set against DESIGN §6's allowance,
//! 100 MB + 2.5 × that event. Runs against the local stack's PostgreSQL
//! (`eval "$(deploy/local/env)"` first). Figures and method: docs/BENCHMARKS.md.

use anyhow::Context;
use clap::Parser;
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tests::bench::dataset::{Catalogue, legacy_source};
use tests::bench::{LegacySource, bridge_from, durable_shop_database, median_spread, status_bytes};
use tests::scratch_mariadb::ScratchMariaDb;
use tests::stack::{Running, ShopDatabase};

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
    /// In the large-picture variant, after the snapshot: how many binlogged UPDATEs replace the
    /// large picture (0: the snapshot alone, as before streaming was measured).
    #[arg(long, default_value_t = 3)]
    large_updates: u32,
}

/// The demo mapping's tables: categories, locations, items, stock_levels.
const TABLES: usize = 4;
const LIMIT: Duration = Duration::from_secs(1800);
/// How long the bridge may take to apply the large pictures' updates (a few seconds normally; a
/// bridge stuck retrying a session must not hold the run for [`LIMIT`]).
const STREAM_LIMIT: Duration = Duration::from_secs(300);
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
const POLL_EVERY: Duration = Duration::from_millis(50);
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
    /// The large-picture variant's binlog part, when asked for.
    streamed: Option<Streamed>,
}

/// What streaming the large pictures' updates cost the bridge.
struct Streamed {
    /// `VmHWM` once the last update was applied (the whole process's peak, snapshot included),
    /// bytes.
    peak: u64,
    /// The largest of the 20 ms `VmRSS` samples over the same span, bytes.
    sampled: u64,
    /// `VmRSS` then: what stays resident after the large events, bytes.
    resident: u64,
    /// The largest binlog event the updates wrote (`End_log_pos` − `Pos`), bytes.
    largest_event: u64,
    /// From the first UPDATE until the shop database held the last picture's hash.
    elapsed: Duration,
}

/// The large-picture variant's updates of one run.
struct LargeUpdates<'a> {
    server: &'a ScratchMariaDb,
    mib: u64,
    updates: u32,
    /// Run number, in the fillers so that every update of every run writes different bytes.
    run: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let started = Instant::now();
    let catalogue = Catalogue {
        items: args.items,
        picture_every: args.picture_every,
    };
    let (server, source) =
        legacy_source(&catalogue, &["--innodb-flush-log-at-trx-commit=2"]).await?;
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
        // The streaming part: peak, its own target (the allowance follows the event measured in
        // that run), the largest event, in MiB.
        let (mut stream_peaks, mut stream_targets, mut events) =
            (Vec::new(), Vec::new(), Vec::new());
        let mut stream_met = true;
        for run in 0..args.runs {
            let updates = large
                .filter(|_| args.large_updates > 0)
                .map(|mib| LargeUpdates {
                    server: &server,
                    mib,
                    updates: args.large_updates,
                    run,
                });
            let r = once(&source, updates).await?;
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
            if let Some(s) = &r.streamed {
                let allowed = TARGET_BYTES + 2.5 * s.largest_event as f64;
                let met = s.peak as f64 <= allowed;
                stream_met &= met;
                println!(
                    "{name}, run {run}, streaming: {} binlogged updates of item 1's picture, \
                     largest event {} bytes ({:.1} MiB), applied {:.1} s after the first; peak RSS \
                     {:.1} MiB (largest 20 ms sample {:.1} MiB, {:.1} MiB resident after) against \
                     ≤ {:.1} MiB (100 MB + 2.5 × the largest event): {}",
                    args.large_updates,
                    s.largest_event,
                    s.largest_event as f64 / MIB,
                    s.elapsed.as_secs_f64(),
                    s.peak as f64 / MIB,
                    s.sampled as f64 / MIB,
                    s.resident as f64 / MIB,
                    allowed / MIB,
                    if met { "met" } else { "MISSED" }
                );
                stream_peaks.push(s.peak as f64 / MIB);
                stream_targets.push(allowed / MIB);
                events.push(s.largest_event as f64 / MIB);
            }
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
        if !stream_peaks.is_empty() {
            let verdict = if stream_met {
                "met in every run"
            } else {
                "MISSED"
            };
            println!(
                "{name}, after streaming {} large events: peak RSS {} against ≤ {} (100 MB + 2.5 × \
                 the largest event, {}): {verdict}; over {} runs",
                args.large_updates,
                median_spread(&mut stream_peaks, |p| format!("{p:.1} MiB")),
                median_spread(&mut stream_targets, |t| format!("{t:.1} MiB")),
                median_spread(&mut events, |e| format!("{e:.1} MiB")),
                stream_peaks.len()
            );
        }
    }
    drop(server);
    Ok(())
}

/// One bridge process on a fresh shop database, timed from its start until it logs the snapshot
/// switched in, with its memory watched all along; then, when `updates` asks, the large pictures'
/// binlog events streamed to it.
async fn once(source: &LegacySource, updates: Option<LargeUpdates<'_>>) -> anyhow::Result<Run> {
    let db = durable_shop_database().await?;
    let started = Instant::now();
    let mut bridge = bridge_from(&db, source, "3141")?;
    let pid = bridge.child.id().context("the bridge exited at once")?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let largest = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn(sample_rss(pid, largest.clone(), stopped));
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
    let sampled = largest.load(Ordering::Relaxed);
    let streamed = match updates {
        Some(updates) => {
            let (largest_event, streaming) = stream_large_events(&updates, &db, &mut bridge)
                .await
                .context("streaming the large pictures")?;
            Some(Streamed {
                peak: status_bytes(pid, "VmHWM:").context("the bridge's VmHWM")?,
                sampled: largest.load(Ordering::Relaxed),
                resident: status_bytes(pid, "VmRSS:").context("the bridge's VmRSS")?,
                largest_event,
                elapsed: streaming,
            })
        }
        None => None,
    };
    stop.send(()).ok();
    sampler.await?;
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
        streamed,
    })
}

/// With the snapshot switched in: replaces item 1's large picture `updates.updates` times with
/// binlog on, then waits until the shop database holds the last picture's hash (the bridge has
/// read, hashed and applied every event). Returns the largest event's size in bytes and the time
/// from the first UPDATE.
async fn stream_large_events(
    updates: &LargeUpdates<'_>,
    db: &ShopDatabase,
    bridge: &mut Running,
) -> anyhow::Result<(u64, Duration)> {
    let mut root = updates.server.root().await?;
    let started = Instant::now();
    let mut largest = 0;
    for update in 1..=updates.updates {
        let (file, pos) = binlog_head(&mut root).await?;
        // Eight bytes, new for every update of every run: the same size, different bytes, so
        // each UPDATE is logged with both images whole.
        let filler = format!("R{:03}U{update:03}", updates.run % 1000);
        set_large_picture(&mut root, updates.mib, &filler).await?;
        largest = largest.max(largest_event(&mut root, &file, pos).await?);
    }
    let want: Option<String> = root
        .query_first("SELECT SHA2(image, 256) FROM legacy.items WHERE id = 1")
        .await?;
    let want = want.context("item 1's picture at the source")?;
    root.disconnect().await.ok();
    let shop = db.connect("shop").await?;
    loop {
        let got: Option<String> = sqlx::query_scalar::<_, Option<String>>(
            "SELECT encode(source_sha256, 'hex') FROM stock.images WHERE item_key = '1'",
        )
        .fetch_optional(&shop)
        .await?
        .flatten();
        if got.as_deref() == Some(want.as_str()) {
            break;
        }
        if let Some(status) = bridge.child.try_wait()? {
            anyhow::bail!(
                "the bridge exited ({status}) before applying the last update; log:\n{}",
                bridge.log_to_end().await.join("\n")
            );
        }
        anyhow::ensure!(
            started.elapsed() < STREAM_LIMIT,
            "the bridge did not apply the last update within {STREAM_LIMIT:?}; log:\n{}",
            bridge.drain().join("\n")
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
    let elapsed = started.elapsed();
    shop.close().await;
    Ok((largest, elapsed))
}

/// The source's binlog file and the position its next event starts at.
async fn binlog_head(root: &mut mysql_async::Conn) -> anyhow::Result<(String, u64)> {
    let status: Option<mysql_async::Row> = root.query_first("SHOW MASTER STATUS").await?;
    let status = status.context("SHOW MASTER STATUS: binary logging is off")?;
    let file: String = status.get_opt(0).context("SHOW MASTER STATUS: no File")??;
    let pos: u64 = status
        .get_opt(1)
        .context("SHOW MASTER STATUS: no Position")??;
    Ok((file, pos))
}

/// The largest event in `file` from `pos` on, in bytes (`End_log_pos` − `Pos`, header and
/// checksum included: what the server sends the bridge for it).
async fn largest_event(root: &mut mysql_async::Conn, file: &str, pos: u64) -> anyhow::Result<u64> {
    // SHOW BINLOG EVENTS cannot be prepared; the file name is the server's own.
    let events: Vec<mysql_async::Row> = root
        .query(format!("SHOW BINLOG EVENTS IN '{file}' FROM {pos}"))
        .await?;
    let mut largest = 0;
    for event in events {
        let start: u64 = event.get_opt(1).context("SHOW BINLOG EVENTS: no Pos")??;
        let end: u64 = event
            .get_opt(4)
            .context("SHOW BINLOG EVENTS: no End_log_pos")??;
        largest = largest.max(end.saturating_sub(start));
    }
    anyhow::ensure!(largest > 0, "no event in {file} from {pos}");
    Ok(largest)
}

/// The largest `VmRSS` of `pid`, read every [`SAMPLE_EVERY`] into `largest` until `stop`.
async fn sample_rss(
    pid: u32,
    largest: Arc<AtomicU64>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        match status_bytes(pid, "VmRSS:") {
            Some(rss) => largest.fetch_max(rss, Ordering::Relaxed),
            None => return,
        };
    }
}

/// Gives item 1 a picture of `mib` MiB, out of the binlog; returns its size in bytes.
async fn large_picture(server: &ScratchMariaDb, mib: u64) -> anyhow::Result<u64> {
    let mut root = server.root().await?;
    root.query_drop("SET SESSION sql_log_bin = 0").await?;
    let size = set_large_picture(&mut root, mib, "FunnyHat").await?;
    root.disconnect().await.ok();
    Ok(size)
}

/// Gives item 1 a picture of `mib` MiB (the first small demo JPEG padded to size with `filler`, 8
/// bytes, repeated: every filler makes the same size); returns its size in bytes.
async fn set_large_picture(
    root: &mut mysql_async::Conn,
    mib: u64,
    filler: &str,
) -> anyhow::Result<u64> {
    anyhow::ensure!(filler.len() == 8, "a filler is 8 bytes: {filler:?}");
    let bytes = mib * 1024 * 1024;
    // Not item 1's own: after the first time, that is the large picture.
    root.query_drop(
        "SET @small = (SELECT image FROM legacy.items WHERE image IS NOT NULL AND id <> 1 \
         ORDER BY id LIMIT 1)",
    )
    .await?;
    root.exec_drop(
        "UPDATE legacy.items SET image = CONCAT(@small, REPEAT(?, (? - LENGTH(@small)) DIV 8)),
           image_mime = 'image/jpeg' WHERE id = 1",
        (filler, bytes),
    )
    .await
    .context("the large picture")?;
    let size: Option<u64> = root
        .query_first("SELECT LENGTH(image) FROM legacy.items WHERE id = 1")
        .await?;
    size.context("item 1")
}
