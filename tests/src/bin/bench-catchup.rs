//! `bench-catchup`: how fast the bridge applies a backlog, beside a native MariaDB replica applying
//! the same backlog. A bridge snapshots into a fresh database and stops; a native replica is
//! seeded with a consistent dump of the legacy database at the same moment and stopped; the
//! simulator then writes `--transactions` stock transactions to the legacy database; a new bridge
//! process starts and the time until its checkpoint reaches the source's GTID is taken; then the
//! replica is started and timed the same way. Prints row changes applied per second (from the
//! bridge's change log) and the CPU seconds each program spent during the bridge's catch-up.
//! Runs against the local stack (`eval "$(deploy/local/env)"` first). Figures and method:
//! docs/BENCHMARKS.md.

use anyhow::Context;
use clap::Parser;
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tests::bench::{
    bridge, cpu_by_program, cpu_spent, durable_shop_database, gtid_seq, legacy_admin,
    median_spread, seed_replica,
};
use tests::legacy::simulate::{Rate, SimulateOptions};
use tests::scratch_mariadb::ScratchMariaDb;
use tests::stack::env;

#[derive(Parser)]
struct Args {
    /// Source transactions in the backlog.
    #[arg(long, default_value_t = 5000)]
    transactions: u64,
    /// Repetitions (median and spread are printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Leave out the native replica (the reference).
    #[arg(long)]
    no_replica: bool,
    /// Record a system-wide `perf` profile of each bridge catch-up into this file (`.N` added
    /// per run); `perf report -i FILE --sort comm,dso` shows where the time went.
    #[arg(long)]
    perf: Option<std::path::PathBuf>,
}

const LIMIT: Duration = Duration::from_secs(900);

struct Run {
    rows: i64,
    bridge: Duration,
    replica: Option<Duration>,
    /// CPU seconds per program during the bridge's catch-up.
    cpu: BTreeMap<String, f64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut bridge_rates = Vec::new();
    let mut replica_rates = Vec::new();
    for run in 0..args.runs {
        let perf = args
            .perf
            .as_ref()
            .map(|p| std::path::PathBuf::from(format!("{}.{run}", p.display())));
        let r = once(args.transactions, run as u64, !args.no_replica, perf).await?;
        let rate = r.rows as f64 / r.bridge.as_secs_f64();
        let cpu: Vec<String> = r
            .cpu
            .iter()
            .map(|(comm, s)| format!("{comm} {s:.2} s"))
            .collect();
        print!(
            "run {run}: {} row changes; bridge {:.2} s = {rate:.0} rows/s (CPU: {})",
            r.rows,
            r.bridge.as_secs_f64(),
            cpu.join(", ")
        );
        bridge_rates.push(rate);
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
    let summary = |rates: &mut Vec<f64>| median_spread(rates, |r| format!("{r:.0} rows/s"));
    println!(
        "bridge: {} over {} runs of {} transactions",
        summary(&mut bridge_rates),
        args.runs,
        args.transactions
    );
    if !replica_rates.is_empty() {
        println!(
            "native replica (same backlogs): {}",
            summary(&mut replica_rates)
        );
    }
    Ok(())
}

async fn once(
    transactions: u64,
    seed: u64,
    with_replica: bool,
    perf: Option<std::path::PathBuf>,
) -> anyhow::Result<Run> {
    let db = durable_shop_database().await?;
    let mut first = bridge(&db)?;
    first
        .wait_for_log("snapshot switched in", Duration::from_secs(120))
        .await?;
    first.terminate(Duration::from_secs(10)).await?;
    let replica = if with_replica {
        Some(seed_replica().await?)
    } else {
        None
    };

    let summary = tests::legacy::simulate::run(
        SimulateOptions {
            url: env("LEGACY_MYSQL_APP_URL"),
            ca: Some(env("LEGACY_MYSQL_CA").into()),
            seed: 1000 + seed,
            rate: "2000/s"
                .parse::<Rate>()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            duration: None,
            count: Some(transactions),
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
    let head_seq = gtid_seq(Some(&head));
    eprintln!(
        "backlog: {} transactions committed, source at {head}",
        summary.committed()
    );

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
    let cpu_before = cpu_by_program();
    let started = Instant::now();
    let mut second = bridge(&db)?;
    loop {
        let gtid: Option<String> = sqlx::query_scalar("SELECT gtid FROM stock.checkpoint")
            .fetch_one(&shop)
            .await?;
        if gtid_seq(gtid.as_deref()) >= head_seq {
            break;
        }
        anyhow::ensure!(started.elapsed() < LIMIT, "no catch-up within {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let cpu_after = cpu_by_program();
    if let Some(mut profiler) = profiler.take() {
        let pid = profiler.id().context("perf pid")?;
        tokio::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .await?;
        profiler.wait().await?;
    }
    let cpu = cpu_spent(&cpu_before, &cpu_after);
    let rows: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(rows), 0)::bigint FROM stock.change_log")
            .fetch_one(&shop)
            .await?;
    second.terminate(Duration::from_secs(10)).await?;
    shop.close().await;
    db.drop_now().await?;
    let replica = match replica {
        Some(server) => Some(time_replica(&server, &head).await?),
        None => None,
    };
    Ok(Run {
        rows,
        bridge: elapsed,
        replica,
        cpu,
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
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    root.query_drop("STOP SLAVE").await?;
    root.disconnect().await.ok();
    Ok(elapsed)
}
