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
use tests::bench::dataset::{Catalogue, legacy_source};
use tests::bench::{LegacySource, bridge_from, durable_shop_database, median_spread};
use tests::scratch_mariadb::ScratchMariaDb;

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
async fn once(source: &LegacySource) -> anyhow::Result<Run> {
    let db = durable_shop_database().await?;
    let started = Instant::now();
    let mut bridge = bridge_from(&db, source, "3141")?;
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
