//! `bench-catchup`: how fast the bridge applies a backlog that is already in the binlog, beside a
//! native MariaDB replica applying the same backlog. Per run: a bridge snapshots the source into a
//! fresh shop database (`synchronous_commit = on`) and stops; a native replica is seeded with a
//! consistent dump of the source at that moment (its GTID position included) and left stopped;
//! the backlog is written; a new bridge process starts and is timed until its `stock.checkpoint`
//! reaches the source's `@@gtid_binlog_pos`; then the replica's `START SLAVE` is timed until its
//! `@@gtid_slave_pos` reaches the same GTID. With `--catchups N`, N bridges catch up on the same
//! backlog in turn, each on its own copy of the snapshotted database; with `--bridges A,B` the
//! catch-ups alternate between two (or more) bridge builds on the same backlogs, which is how two
//! builds are compared on a machine whose speed drifts by ±15 % between runs. Prints row changes
//! applied per second (counted from the bridge's change log), the bridge's peak RSS, the share of
//! heap-only updates and the CPU seconds each program spent during the bridge's catch-up.
//!
//! Two backlogs (`--backlog`):
//! - `stated` (the default; the method's): `--changes` row changes (1,000,000) in transactions of
//!   1–10 rows (uniform, mean 5.5, so about 182,000 transactions): 70 % single-row updates of a
//!   level row's quantity, 20 % updates of an item's price and name, 10 % level rows inserted or
//!   deleted (see `tests::bench::backlog`). The source is a scratch MariaDB made afresh for every
//!   run (row binlog, `sync_binlog=1`, `innodb_flush_log_at_trx_commit=1`) with a generated
//!   catalogue: `--items` items (100,000) with three `stock_levels` rows each, the demo's
//!   categories and locations, a small JPEG on every `--picture-every`th item (25th); see
//!   `tests::bench::dataset`. `--writers` connections (8) write the backlog as fast as the source
//!   takes them, each owning the items whose id mod `--writers` is its number; one seed, so every
//!   run writes the same row changes into the same dataset.
//! - `simulator`: the stock-staff simulator writes `--transactions` transactions (2,000/s
//!   offered, 16 in flight) into the stack's legacy database; the bridge reads it over TLS.
//!
//! Runs against the local stack's PostgreSQL (`eval "$(deploy/local/env)"` first). Figures and
//! method: docs/BENCHMARKS.md.

use anyhow::Context;
use clap::Parser;
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tests::bench::backlog::{self, Stated, Written};
use tests::bench::dataset::{Catalogue, legacy_source};
use tests::bench::{
    LegacySource, bridge_file_from, bridge_from, cpu_by_program, cpu_spent, durable_copy,
    durable_shop_database, gtid_seq, legacy_admin, median_spread, seed_replica_of, status_bytes,
};
use tests::legacy::simulate::{Rate, SimulateOptions};
use tests::scratch_mariadb::ScratchMariaDb;
use tests::stack::{ShopDatabase, env};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Backlog {
    /// The method's mix, written into a scratch source.
    Stated,
    /// The stock-staff simulator's, written into the stack's legacy database.
    Simulator,
}

#[derive(Parser)]
struct Args {
    /// Which backlog to catch up on.
    #[arg(long, value_enum, default_value_t = Backlog::Stated)]
    backlog: Backlog,
    /// Row changes in the stated backlog.
    #[arg(long, default_value_t = 1_000_000)]
    changes: u64,
    /// Items in the stated backlog's scratch source (three stock_levels rows each).
    #[arg(long, default_value_t = 100_000)]
    items: u64,
    /// Every Nth item of the scratch source has a small JPEG picture (the others none).
    #[arg(long, default_value_t = 25)]
    picture_every: u64,
    /// Connections writing the stated backlog at once.
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// Source transactions in the simulator backlog.
    #[arg(long, default_value_t = 5000)]
    transactions: u64,
    /// Repetitions (median and spread are printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Timed catch-ups per written backlog, each by a new bridge on its own copy of the
    /// snapshotted shop database (the native replica is timed once per backlog): writing the
    /// stated backlog takes longer than catching up on it.
    #[arg(long, default_value_t = 1)]
    catchups: usize,
    /// Bridge programs to compare (comma-separated paths): catch-up N of each backlog is made by
    /// the (N mod count)th, so with `--catchups` a multiple of the count each meets the same
    /// backlogs, interleaved. Default: `STACK_BIN_DIR`'s bridge.
    #[arg(long, value_delimiter = ',')]
    bridges: Vec<std::path::PathBuf>,
    /// Leave out the native replica (the reference).
    #[arg(long)]
    no_replica: bool,
    /// Record a system-wide `perf` profile of each bridge catch-up into this file (`.RUN.N`
    /// added: the run and its catch-up); `perf report -i FILE --sort comm,dso` shows where the
    /// time went.
    #[arg(long)]
    perf: Option<std::path::PathBuf>,
}

/// How often both sides' positions are read: at most 20 ms added to a catch-up of a minute or more
/// (0.03 %), where polling every 5 ms cost PostgreSQL and this process 12 CPU-seconds of the 2 cores.
const POLL: Duration = Duration::from_millis(20);
const LIMIT: Duration = Duration::from_secs(900);
/// The first bridge's snapshot (the simulator's demo data takes seconds, 100,000 items tens).
const SNAPSHOT_LIMIT: Duration = Duration::from_secs(600);
/// The method's durability for the scratch source.
const SOURCE_DURABILITY: [&str; 2] = ["--sync-binlog=1", "--innodb-flush-log-at-trx-commit=1"];
/// One seed for every run of the stated backlog: the same row changes each time.
const STATED_SEED: u64 = 42;

/// One timed catch-up.
struct Run {
    /// The bridge program that made it.
    program: std::path::PathBuf,
    rows: i64,
    bridge: Duration,
    /// The native replica's catch-up (after the backlog's first bridge catch-up).
    replica: Option<Duration>,
    /// CPU seconds per program during the bridge's catch-up.
    cpu: BTreeMap<String, f64>,
    /// The bridge's peak resident memory (`VmHWM`), bytes.
    peak_rss: u64,
    /// (table, row updates, of which heap-only) in the shop database since it was made: the
    /// catch-up's, and in a database that is not a copy the snapshot's too (its recount rewrites
    /// every item).
    updates: Vec<(String, i64, i64)>,
    /// What PostgreSQL wrote to its WAL during the catch-up (the whole server's).
    wal: WalSpent,
}

/// The server-wide WAL and checkpoint counters (`pg_stat_wal`, `pg_stat_bgwriter`): read before
/// and after a catch-up, the difference says how much of the apply's cost is WAL and whether it
/// ran into checkpoints (whose first change to each page writes the whole page).
#[derive(Clone, Copy, Debug, Default, sqlx::FromRow)]
struct WalSpent {
    records: i64,
    full_pages: i64,
    bytes: i64,
    checkpoints_timed: i64,
    checkpoints_req: i64,
}

impl WalSpent {
    async fn read(db: &sqlx::PgPool) -> anyhow::Result<Self> {
        sqlx::query_as(
            "SELECT w.wal_records AS records, w.wal_fpi AS full_pages, w.wal_bytes::bigint AS bytes,
                    b.checkpoints_timed, b.checkpoints_req
             FROM pg_stat_wal w, pg_stat_bgwriter b",
        )
        .fetch_one(db)
        .await
        .context("pg_stat_wal and pg_stat_bgwriter")
    }

    fn since(self, before: Self) -> Self {
        Self {
            records: self.records - before.records,
            full_pages: self.full_pages - before.full_pages,
            bytes: self.bytes - before.bytes,
            checkpoints_timed: self.checkpoints_timed - before.checkpoints_timed,
            checkpoints_req: self.checkpoints_req - before.checkpoints_req,
        }
    }
}

/// What a catch-up starts from: a shop database the first bridge snapshotted the source into,
/// and the native replica seeded at that point (stopped).
struct Prepared {
    db: ShopDatabase,
    replica: Option<ScratchMariaDb>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.bridges.is_empty() {
        args.bridges.push(tests::stack::bin("bridge"));
    }
    let mut bridge_rates: BTreeMap<std::path::PathBuf, Vec<f64>> = BTreeMap::new();
    let mut replica_rates = Vec::new();
    let mut write_rates = Vec::new();
    for run in 0..args.runs {
        let perf = args
            .perf
            .as_ref()
            .map(|p| std::path::PathBuf::from(format!("{}.{run}", p.display())));
        let (written, catchups) = once(&args, run, perf).await?;
        if let Some(w) = &written {
            let rate = w.rows as f64 / w.elapsed.as_secs_f64();
            println!(
                "run {run} backlog: {} row changes written ({} planned) in {} transactions by {} \
                 connections in {:.1} s = {rate:.0} rows/s ({} retried after a deadlock or lock \
                 wait); binlog {} bytes ({:.1} MB)",
                w.rows,
                w.planned,
                w.transactions,
                args.writers,
                w.elapsed.as_secs_f64(),
                w.retries,
                w.binlog_bytes,
                w.binlog_bytes as f64 / 1e6
            );
            write_rates.push(rate);
        }
        for (catchup, r) in catchups.iter().enumerate() {
            let rate = r.rows as f64 / r.bridge.as_secs_f64();
            let cpu: Vec<String> = r
                .cpu
                .iter()
                .map(|(comm, s)| format!("{comm} {s:.2} s"))
                .collect();
            print!(
                "run {run}.{catchup}: {} row changes; bridge {} {:.2} s = {rate:.0} rows/s, peak RSS {:.1} MiB (CPU: {})",
                r.rows,
                r.program.display(),
                r.bridge.as_secs_f64(),
                r.peak_rss as f64 / 1048576.0,
                cpu.join(", ")
            );
            bridge_rates
                .entry(r.program.clone())
                .or_default()
                .push(rate);
            for (table, updated, hot) in &r.updates {
                print!(
                    "; {table}: {updated} updates, {:.0} % heap-only",
                    100.0 * *hot as f64 / (*updated).max(1) as f64
                );
            }
            print!(
                "; WAL {:.0} MB in {} records ({} full pages), {} checkpoints ({} asked for by WAL size)",
                r.wal.bytes as f64 / 1e6,
                r.wal.records,
                r.wal.full_pages,
                r.wal.checkpoints_timed + r.wal.checkpoints_req,
                r.wal.checkpoints_req
            );
            if let Some(replica) = r.replica {
                let rate = r.rows as f64 / replica.as_secs_f64();
                print!(
                    "; native replica {:.2} s = {rate:.0} rows/s",
                    replica.as_secs_f64()
                );
                replica_rates.push(rate);
            }
            println!();
        }
    }
    let summary = |rates: &mut Vec<f64>| median_spread(rates, |r| format!("{r:.0} rows/s"));
    let backlog = match args.backlog {
        Backlog::Stated => format!(
            "{} row changes (stated mix; {} items, {} writers)",
            args.changes, args.items, args.writers
        ),
        Backlog::Simulator => format!("{} transactions", args.transactions),
    };
    for (program, rates) in &mut bridge_rates {
        println!(
            "bridge {}: {} over {} runs × {} catch-ups of {backlog}",
            program.display(),
            summary(rates),
            args.runs,
            rates.len() / args.runs.max(1),
        );
    }
    if !replica_rates.is_empty() {
        println!(
            "native replica (same backlogs): {}",
            summary(&mut replica_rates)
        );
    }
    if !write_rates.is_empty() {
        println!("backlog written at: {}", summary(&mut write_rates));
    }
    Ok(())
}

/// Prepares a source and a snapshot, writes the backlog and times the catch-ups: the backlog as
/// written (the stated one; the simulator's is not counted here) and each catch-up.
async fn once(
    args: &Args,
    run: usize,
    perf: Option<std::path::PathBuf>,
) -> anyhow::Result<(Option<Written>, Vec<Run>)> {
    match args.backlog {
        Backlog::Stated => {
            let catalogue = Catalogue {
                items: args.items,
                picture_every: args.picture_every,
            };
            let (server, source) = legacy_source(&catalogue, &SOURCE_DURABILITY).await?;
            let prepared = prepare(&source, !args.no_replica).await?;
            let stated = Stated {
                changes: args.changes,
                writers: args.writers,
                seed: STATED_SEED,
            };
            let written = backlog::write(&server, &stated).await?;
            let mut root = server.root().await?;
            let head: String = root
                .query_first("SELECT @@gtid_binlog_pos")
                .await?
                .context("gtid")?;
            root.disconnect().await.ok();
            eprintln!(
                "backlog: {} row changes in {} transactions committed, source at {head}",
                written.rows, written.transactions
            );
            let runs = catch_ups(args, prepared, &source, &head, perf).await?;
            // The source serves the replica too: it goes only now.
            drop(server);
            Ok((Some(written), runs))
        }
        Backlog::Simulator => {
            let source = LegacySource::stack();
            let prepared = prepare(&source, !args.no_replica).await?;
            let summary = tests::legacy::simulate::run(
                SimulateOptions {
                    url: env("LEGACY_MYSQL_APP_URL"),
                    ca: Some(env("LEGACY_MYSQL_CA").into()),
                    seed: 1000 + run as u64,
                    rate: "2000/s"
                        .parse::<Rate>()
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                    duration: None,
                    count: Some(args.transactions),
                    max_in_flight: 16,
                },
                std::future::pending::<()>(),
            )
            .await?;
            let mut admin = legacy_admin().await?;
            let head: String = admin
                .query_first("SELECT @@gtid_binlog_pos")
                .await?
                .context("gtid")?;
            admin.disconnect().await.ok();
            eprintln!(
                "backlog: {} transactions committed, source at {head}",
                summary.committed()
            );
            let runs = catch_ups(args, prepared, &source, &head, perf).await?;
            Ok((None, runs))
        }
    }
}

/// A bridge snapshots `source` into a fresh shop database and stops; then (if asked) a native
/// replica is seeded from a consistent dump of `source` and left stopped.
async fn prepare(source: &LegacySource, with_replica: bool) -> anyhow::Result<Prepared> {
    let db = durable_shop_database().await?;
    let mut first = bridge_from(&db, source, "3131")?;
    first
        .wait_for_log("snapshot switched in", SNAPSHOT_LIMIT)
        .await?;
    first.terminate(Duration::from_secs(10)).await?;
    let replica = if with_replica {
        Some(seed_replica_of(source).await?)
    } else {
        None
    };
    Ok(Prepared { db, replica })
}

/// `count` catch-ups of the prepared database (all but the last on copies of it, made before it is
/// caught up on), then the replica's, timed the same way.
async fn catch_ups(
    args: &Args,
    prepared: Prepared,
    source: &LegacySource,
    head: &str,
    perf: Option<std::path::PathBuf>,
) -> anyhow::Result<Vec<Run>> {
    let Prepared { db, replica } = prepared;
    let count = args.catchups;
    let mut runs = Vec::new();
    for i in 0..count {
        let program = &args.bridges[i % args.bridges.len()];
        let perf = perf
            .as_ref()
            .map(|p| std::path::PathBuf::from(format!("{}.{i}", p.display())));
        if i + 1 == count {
            runs.push(catch_up(program, db, source, head, perf).await?);
            break;
        }
        runs.push(catch_up(program, durable_copy(&db).await?, source, head, perf).await?);
    }
    if let (Some(server), Some(first)) = (replica, runs.first_mut()) {
        first.replica = Some(time_replica(&server, head).await?);
    }
    Ok(runs)
}

/// A new bridge process on `db`, timed until its checkpoint reaches `head`; `db` goes afterwards.
async fn catch_up(
    program: &std::path::Path,
    db: ShopDatabase,
    source: &LegacySource,
    head: &str,
    perf: Option<std::path::PathBuf>,
) -> anyhow::Result<Run> {
    let head_seq = gtid_seq(Some(head));
    let shop = db.connect("shop").await?;
    let mut profiler = match &perf {
        Some(file) => Some(
            tokio::process::Command::new("perf")
                .args(["record", "-a", "-g", "-F", "999", "-q", "-o"])
                .arg(file)
                .spawn()
                .context("perf record (Debian's linux-perf)")?,
        ),
        None => None,
    };
    // Every catch-up starts with nothing left to write from before it (the database copy made
    // for it, the previous catch-up's pages): otherwise the checkpoint and the kernel's writeback
    // of that land in some catch-ups and not others, by as much as a fifth of the CPU time.
    let admin = sqlx::PgPool::connect(&env("PG_ADMIN_URL")).await?;
    sqlx::query("CHECKPOINT").execute(&admin).await?;
    admin.close().await;
    let wal_before = WalSpent::read(&shop).await?;
    let cpu_before = cpu_by_program();
    let started = Instant::now();
    let mut second = bridge_file_from(program, &db, source, "3131")?;
    loop {
        let gtid: Option<String> = sqlx::query_scalar("SELECT gtid FROM stock.checkpoint")
            .fetch_one(&shop)
            .await?;
        if gtid_seq(gtid.as_deref()) >= head_seq {
            break;
        }
        anyhow::ensure!(started.elapsed() < LIMIT, "no catch-up within {LIMIT:?}");
        tokio::time::sleep(POLL).await;
    }
    let elapsed = started.elapsed();
    let cpu_after = cpu_by_program();
    let wal = WalSpent::read(&shop).await?.since(wal_before);
    if let Some(mut profiler) = profiler.take() {
        let pid = profiler.id().context("perf pid")?;
        tokio::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .await?;
        profiler.wait().await?;
    }
    let cpu = cpu_spent(&cpu_before, &cpu_after);
    let peak_rss = second
        .child
        .id()
        .and_then(|pid| status_bytes(pid, "VmHWM:"))
        .context("the bridge's VmHWM")?;
    let rows: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(rows), 0)::bigint FROM stock.change_log")
            .fetch_one(&shop)
            .await?;
    second.terminate(Duration::from_secs(10)).await?;
    // Updates that wrote no index entry (heap-only), per table: the apply's main cost otherwise.
    // Read after the bridge's exit, which sends its backends' last counts.
    let updates: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
         WHERE schemaname = 'stock' AND relname IN ('items', 'levels') ORDER BY relname",
    )
    .fetch_all(&shop)
    .await?;
    shop.close().await;
    db.drop_now().await?;
    Ok(Run {
        program: program.to_owned(),
        rows,
        bridge: elapsed,
        replica: None,
        cpu,
        updates,
        wal,
        peak_rss,
    })
}

/// Starts the replica's applier and times it until it has applied up to `head`.
async fn time_replica(server: &ScratchMariaDb, head: &str) -> anyhow::Result<Duration> {
    let mut root = server.root().await?;
    let started = Instant::now();
    root.query_drop("START SLAVE").await?;
    loop {
        let applied: Option<String> = root.query_first("SELECT @@gtid_slave_pos").await?;
        if gtid_seq(applied.as_deref()) >= gtid_seq(Some(head)) {
            break;
        }
        if started.elapsed() > LIMIT {
            let status: Option<mysql_async::Row> = root.query_first("SHOW SLAVE STATUS").await?;
            anyhow::bail!("the native replica did not catch up within {LIMIT:?}: {status:?}");
        }
        tokio::time::sleep(POLL).await;
    }
    let elapsed = started.elapsed();
    root.query_drop("STOP SLAVE").await?;
    root.disconnect().await.ok();
    Ok(elapsed)
}
