//! `bench-livelag`: how long after the legacy database acknowledges a commit the change is visible
//! in the shop's PostgreSQL, beside a native MariaDB replica of the same source, at a fixed write
//! rate (DESIGN §6: 1,000 updates/s, p99 ≤ 10 ms).
//!
//! A bridge snapshots the stack's legacy database into a fresh shop database and keeps streaming;
//! a native replica is seeded from a consistent dump and started. Both are caught up, then an
//! open-loop writer (`--connections` connections, each update due at its own time whatever the
//! others do) sets `stock_levels.quantity` of `--rows` rows to a stamp that grows with every
//! update: single-row autocommit UPDATEs, the legacy app's way. One observer polls the rows'
//! mirrors in PostgreSQL (`stock.levels`, committed in the same transaction as the item's
//! `on_hand`) and in the replica the same way (every `--poll-us`, over TCP), and takes an update as
//! visible when a poll's answer arrives holding its stamp or a later one. Lag = visible − the
//! writer's acknowledgement. On two cores the bridge and the replica applying at once would slow
//! each other, so by default each run has two windows: the bridge's (the replica stopped) and the
//! replica's (the bridge stopped), each side caught up before its own; `--together` observes both
//! in the same windows instead. The source runs with the method's durability (`sync_binlog=1`,
//! `innodb_flush_log_at_trx_commit=1`, put back afterwards), the shop database with
//! `synchronous_commit=on`. The rows' quantities are put back at the end. Nothing else may write
//! those rows meanwhile (stop the stack's simulator). Figures and method: docs/BENCHMARKS.md.

use anyhow::Context;
use clap::Parser;
use mysql_async::prelude::Queryable;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tests::bench::{
    bridge, cpu_by_program, cpu_spent, durable_shop_database, gtid_seq, legacy_admin,
    median_spread, seed_replica,
};
use tests::stack::env;

#[derive(Parser)]
struct Args {
    /// Updates per second (open loop).
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds of load before each run's measurement starts (not counted).
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Repetitions (median and spread are printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Writer connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Distinct `stock_levels` rows the updates go round (each owned by one connection; every
    /// poll reads them all, so few keep the observer cheap).
    #[arg(long, default_value_t = 8)]
    rows: usize,
    /// How often the observer polls each side, in microseconds.
    #[arg(long, default_value_t = 1000)]
    poll_us: u64,
    /// Leave out the native replica (the reference).
    #[arg(long)]
    no_replica: bool,
    /// Observe the bridge and the replica in the same windows (both applying at once on the
    /// same cores) instead of alternating windows, each side's while the other is stopped.
    #[arg(long)]
    together: bool,
}

/// Stamps start above any real quantity, so a row's old value never reads as an update seen.
const STAMP: i64 = 1_000_000;
/// How long after the last update the observer keeps looking before an update counts as unseen.
const GRACE: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.connections > 0 && args.rate > 0,
        "--connections and --rate must be positive"
    );
    let mut admin = legacy_admin().await?;
    let (sync_binlog, flush): (u64, u64) = admin
        .query_first("SELECT @@sync_binlog, @@innodb_flush_log_at_trx_commit")
        .await?
        .context("durability settings")?;
    admin
        .query_drop("SET GLOBAL sync_binlog = 1, GLOBAL innodb_flush_log_at_trx_commit = 1")
        .await?;
    let outcome = bench(&args).await;
    admin
        .query_drop(format!(
            "SET GLOBAL sync_binlog = {sync_binlog}, GLOBAL innodb_flush_log_at_trx_commit = {flush}"
        ))
        .await?;
    admin.disconnect().await.ok();
    outcome
}

/// One side's lags in a run, in milliseconds, sorted.
#[derive(Default)]
struct Lags {
    ms: Vec<f64>,
    before_ack: usize,
    unseen: usize,
}

impl Lags {
    fn pct(&self, p: f64) -> f64 {
        if self.ms.is_empty() {
            return f64::NAN;
        }
        let i = ((self.ms.len() as f64 * p).ceil() as usize).clamp(1, self.ms.len()) - 1;
        self.ms[i]
    }

    fn line(&self) -> String {
        format!(
            "p50 {:.2} ms, p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2} ({} updates; {} visible before the ack; {} unseen)",
            self.pct(0.50),
            self.pct(0.90),
            self.pct(0.99),
            self.pct(0.999),
            self.ms.last().copied().unwrap_or(f64::NAN),
            self.ms.len(),
            self.before_ack,
            self.unseen
        )
    }
}

async fn bench(args: &Args) -> anyhow::Result<()> {
    let db = durable_shop_database().await?;
    let mut streaming = bridge(&db)?;
    streaming
        .wait_for_log("snapshot switched in", Duration::from_secs(120))
        .await?;
    let replica = if args.no_replica {
        None
    } else {
        let server = seed_replica().await?;
        let mut root = server.root().await?;
        root.query_drop("START SLAVE").await?;
        root.disconnect().await.ok();
        let url = server
            .create_user(
                "observer",
                "observer",
                &["GRANT SELECT ON legacy.* TO {user}"],
            )
            .await?;
        Some((server, url))
    };

    let mut app = mysql_async::Conn::new(writer()?).await?;
    let mut rows: Vec<(i64, i64)> = app
        .exec(
            "SELECT id, quantity FROM stock_levels ORDER BY id LIMIT ?",
            (args.rows as u64,),
        )
        .await?;
    // Row i belongs to connection i % C: updates of one row are issued in order by one connection.
    rows.truncate(rows.len() / args.connections * args.connections);
    anyhow::ensure!(
        !rows.is_empty(),
        "the legacy database has fewer than {} stock_levels rows",
        args.connections
    );
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();

    let shop = db.connect("shop").await?;
    wait_caught_up(&shop, replica.as_ref().map(|(s, _)| s)).await?;

    let mut results: Vec<(Option<Lags>, Option<Lags>)> = Vec::new();
    let mut next = 0u64;
    let pg_url = db.url("shop");
    let replica_url = replica.as_ref().map(|(_, url)| url.as_str());
    for run in 0..args.runs {
        if args.together || replica.is_none() {
            let (b, r) = window(args, &ids, &mut next, Some(&pg_url), replica_url, run).await?;
            results.push((b, r));
            continue;
        }
        // Alternating: the bridge measured while the replica is stopped, then the replica while
        // the bridge is stopped; each catches up before its own window.
        let (server, url) = replica.as_ref().context("replica")?;
        sql_on(server, "STOP SLAVE").await?;
        let (b, _) = window(args, &ids, &mut next, Some(&pg_url), None, run).await?;
        sql_on(server, "START SLAVE").await?;
        print_apply_metrics(&streaming, run).await?;
        streaming.terminate(Duration::from_secs(10)).await?;
        wait_caught_up(&shop, Some(server)).await?;
        let (_, r) = window(args, &ids, &mut next, None, Some(url), run).await?;
        streaming = bridge(&db)?;
        streaming
            .wait_for_log("binlog stream started", Duration::from_secs(60))
            .await?;
        wait_caught_up(&shop, Some(server)).await?;
        results.push((b, r));
    }

    println!(
        "summary over {} runs of {} s at {} updates/s ({} rows, {} connections, poll every {} µs):",
        args.runs,
        args.seconds,
        args.rate,
        ids.len(),
        args.connections,
        args.poll_us
    );
    println!(
        "  ({})",
        if args.together || replica.is_none() {
            "both observed in the same windows"
        } else {
            "each observed in its own window while the other was stopped"
        }
    );
    summarise(
        "bridge ",
        results.iter().filter_map(|(b, _)| b.as_ref()).collect(),
    );
    summarise(
        "replica",
        results.iter().filter_map(|(_, r)| r.as_ref()).collect(),
    );

    if args.together || replica.is_none() {
        print_apply_metrics(&streaming, args.runs).await?;
    }

    for (id, quantity) in &rows {
        app.exec_drop(
            "UPDATE stock_levels SET quantity = ? WHERE id = ?",
            (quantity, id),
        )
        .await?;
    }
    app.disconnect().await.ok();
    streaming.terminate(Duration::from_secs(10)).await?;
    shop.close().await;
    db.drop_now().await?;
    Ok(())
}

/// Median and spread over the runs of one side's p50, p99 and max.
fn summarise(name: &str, runs: Vec<&Lags>) {
    if runs.is_empty() {
        return;
    }
    let ms = |v: f64| format!("{v:.2} ms");
    for (label, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        let mut v: Vec<f64> = runs.iter().map(|l| l.pct(p)).collect();
        println!("  {name} {label} {}", median_spread(&mut v, ms));
    }
}

/// One run's window: the writer for warm-up + measured seconds, the observer on each side given
/// (PostgreSQL through the shop's URL, the replica through its URL); prints and returns each
/// side's lags. `next` is the first stamp and moves past the window's.
async fn window(
    args: &Args,
    ids: &[i64],
    next: &mut u64,
    postgres: Option<&str>,
    replica: Option<&str>,
    run: usize,
) -> anyhow::Result<(Option<Lags>, Option<Lags>)> {
    let total = (args.warmup + args.seconds) * args.rate;
    let from = *next;
    let measured_from = from + args.warmup * args.rate;
    let stop = Arc::new(AtomicBool::new(false));
    let poll = Duration::from_micros(args.poll_us);
    let pg_observer = postgres.map(|url| {
        let (stop, keys, url) = (
            stop.clone(),
            ids.iter().map(i64::to_string).collect::<Vec<_>>(),
            url.to_owned(),
        );
        tokio::spawn(async move { observe_postgres(&url, keys, poll, stop).await })
    });
    let replica_observer = replica.map(|url| {
        let (stop, ids, url) = (stop.clone(), ids.to_vec(), url.to_owned());
        tokio::spawn(async move { observe_replica(&url, &ids, poll, stop).await })
    });
    let cpu_before = cpu_by_program();
    let started = Instant::now() + Duration::from_millis(200);
    let mut writers = Vec::new();
    for w in 0..args.connections {
        let (opts, ids, rate, c) = (writer()?, ids.to_vec(), args.rate, args.connections);
        writers.push(tokio::spawn(async move {
            write(opts, &ids, from, total, w, c, rate, started).await
        }));
    }
    let mut acks: HashMap<u64, (Instant, Duration)> = HashMap::new();
    for w in writers {
        acks.extend(w.await??);
    }
    let cpu = cpu_spent(&cpu_before, &cpu_by_program());
    tokio::time::sleep(GRACE).await;
    stop.store(true, Ordering::Relaxed);
    let end = from + total;
    *next = end;
    let lags = |seen: &Seen| lags(&acks, seen, ids.len(), measured_from..end);
    let bridge_lags = match pg_observer {
        Some(o) => Some(lags(&o.await??)),
        None => None,
    };
    let replica_lags = match replica_observer {
        Some(o) => Some(lags(&o.await??)),
        None => None,
    };
    // The source's own commit time, for the record: acknowledgement − due time.
    let mut commit_ms: Vec<f64> = (measured_from..end)
        .filter_map(|s| acks.get(&s))
        .map(|(_, late)| late.as_secs_f64() * 1000.0)
        .collect();
    commit_ms.sort_by(f64::total_cmp);
    let commit_p99 = commit_ms
        .get(commit_ms.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or(f64::NAN);
    if let Some(b) = &bridge_lags {
        println!("run {run}: bridge    {}", b.line());
    }
    if let Some(r) = &replica_lags {
        println!("run {run}: replica   {}", r.line());
    }
    let shown: Vec<String> = cpu
        .iter()
        .filter(|(_, s)| **s >= 0.05)
        .map(|(c, s)| format!("{c} {s:.1} s"))
        .collect();
    println!(
        "run {run}: source ack − due time p99 {commit_p99:.2} ms; CPU over {} s: {}",
        args.warmup + args.seconds,
        shown.join(", ")
    );
    Ok((bridge_lags, replica_lags))
}

/// The legacy app's own account, in clear as the app connects today (TLS would only add to the
/// writer's and the source's CPU on these two cores).
fn writer() -> anyhow::Result<mysql_async::Opts> {
    tests::legacy::connect::opts(&env("LEGACY_MYSQL_APP_URL"), None)
}

async fn sql_on(server: &tests::scratch_mariadb::ScratchMariaDb, sql: &str) -> anyhow::Result<()> {
    let mut root = server.root().await?;
    root.query_drop(sql).await?;
    root.disconnect().await.ok();
    Ok(())
}

/// Where the bridge's share goes: its own time per batch, from BEGIN to COMMIT returned, as its
/// `/metrics` has it (warm-up included).
async fn print_apply_metrics(bridge: &tests::stack::Running, run: usize) -> anyhow::Result<()> {
    let admin = bridge
        .log
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "bridge listening")
        .and_then(|v| v["admin"].as_str().map(str::to_owned))
        .context("the bridge's admin address")?;
    let page = reqwest::get(format!("http://{admin}/metrics"))
        .await?
        .text()
        .await?;
    for line in page.lines().filter(|l| {
        l.starts_with("bridge_apply_batch_seconds")
            || l.starts_with("bridge_transactions_applied_total")
    }) {
        println!("run {run}: bridge /metrics {line}");
    }
    Ok(())
}

/// Waits (bounded) until the bridge's checkpoint and the replica have both reached the source's
/// current GTID position.
async fn wait_caught_up(
    shop: &sqlx::PgPool,
    replica: Option<&tests::scratch_mariadb::ScratchMariaDb>,
) -> anyhow::Result<()> {
    let mut admin = legacy_admin().await?;
    let head: Option<String> = admin.query_first("SELECT @@gtid_binlog_pos").await?;
    admin.disconnect().await.ok();
    let head = gtid_seq(head.as_deref());
    let started = Instant::now();
    loop {
        let bridge: Option<String> = sqlx::query_scalar("SELECT gtid FROM stock.checkpoint")
            .fetch_optional(shop)
            .await?
            .flatten();
        let replica_done = match replica {
            Some(server) => {
                let mut root = server.root().await?;
                let applied: Option<String> = root.query_first("SELECT @@gtid_slave_pos").await?;
                root.disconnect().await.ok();
                gtid_seq(applied.as_deref()) >= head
            }
            None => true,
        };
        if gtid_seq(bridge.as_deref()) >= head && replica_done {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "bridge or replica not caught up with the source within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connection `w` of `c` issues updates `from + s` for every `s < total` with `s % c == w`, each
/// at its due time `started + s / rate` (or at once when late: open loop, never waiting for the
/// others). Returns each update's acknowledgement time and how long after its due time that was.
#[allow(clippy::too_many_arguments)]
async fn write(
    opts: mysql_async::Opts,
    ids: &[i64],
    from: u64,
    total: u64,
    w: usize,
    c: usize,
    rate: u64,
    started: Instant,
) -> anyhow::Result<Vec<(u64, (Instant, Duration))>> {
    let mut conn = mysql_async::Conn::new(opts).await?;
    let mut acks = Vec::with_capacity((total / c as u64 + 1) as usize);
    for s in (w as u64..total).step_by(c) {
        let due = started + Duration::from_nanos(s * 1_000_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let seq = from + s;
        let id = ids[(seq % ids.len() as u64) as usize];
        conn.exec_drop(
            "UPDATE stock_levels SET quantity = ? WHERE id = ?",
            (STAMP + seq as i64, id),
        )
        .await?;
        let ack = Instant::now();
        acks.push((seq, (ack, ack.saturating_duration_since(due))));
    }
    conn.disconnect().await.ok();
    Ok(acks)
}

/// Per row (by index), each new stamp the observer saw and when the answer holding it arrived.
type Seen = Vec<Vec<(i64, Instant)>>;

async fn observe_postgres(
    url: &str,
    keys: Vec<String>,
    poll: Duration,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Seen> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let index: HashMap<String, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), i))
        .collect();
    let mut seen: Seen = vec![Vec::new(); keys.len()];
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT row_key, quantity FROM stock.levels \
             WHERE source_table = 'stock_levels' AND row_key = ANY($1)",
        )
        .bind(&keys)
        .fetch_all(&mut conn)
        .await?;
        let at = Instant::now();
        for (key, quantity) in rows {
            if let Some(&i) = index.get(&key) {
                note(&mut seen[i], quantity, at);
            }
        }
    }
    Ok(seen)
}

async fn observe_replica(
    url: &str,
    ids: &[i64],
    poll: Duration,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Seen> {
    let mut conn = mysql_async::Conn::from_url(url).await?;
    let index: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    let statement = conn
        .prep(format!(
            "SELECT id, quantity FROM stock_levels WHERE id IN ({})",
            list.join(",")
        ))
        .await?;
    let mut seen: Seen = vec![Vec::new(); ids.len()];
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let rows: Vec<(i64, i64)> = conn.exec(&statement, ()).await?;
        let at = Instant::now();
        for (id, quantity) in rows {
            if let Some(&i) = index.get(&id) {
                note(&mut seen[i], quantity, at);
            }
        }
    }
    conn.disconnect().await.ok();
    Ok(seen)
}

/// Records a row's stamp when it is newer than the last one seen.
fn note(row: &mut Vec<(i64, Instant)>, stamp: i64, at: Instant) {
    if stamp >= STAMP && row.last().is_none_or(|(last, _)| stamp > *last) {
        row.push((stamp, at));
    }
}

/// Each update's lag in `window`: the first answer holding its stamp or a later one on its row,
/// minus its acknowledgement.
fn lags(
    acks: &HashMap<u64, (Instant, Duration)>,
    seen: &Seen,
    rows: usize,
    window: std::ops::Range<u64>,
) -> Lags {
    let mut out = Lags::default();
    for seq in window {
        let Some((ack, _)) = acks.get(&seq) else {
            continue;
        };
        let row = &seen[(seq % rows as u64) as usize];
        let stamp = STAMP + seq as i64;
        // Stamps on a row only grow, so the first one at or past this update's is where it showed.
        let first = row.partition_point(|(s, _)| *s < stamp);
        match row.get(first) {
            None => out.unseen += 1,
            Some((_, at)) if at < ack => {
                out.before_ack += 1;
                out.ms.push(0.0);
            }
            Some((_, at)) => out.ms.push((*at - *ack).as_secs_f64() * 1000.0),
        }
    }
    out.ms.sort_by(f64::total_cmp);
    out
}
