//! `bench-catchup`: how fast the bridge applies a backlog. A bridge snapshots into a fresh database
//! and stops; the simulator then writes `--transactions` stock transactions to the legacy database;
//! a new bridge process starts and the time until its checkpoint reaches the source's GTID is taken.
//! Prints row changes applied per second (from the change log). Runs against the local stack
//! (`eval "$(deploy/local/env)"` first). Figures and method: docs/BENCHMARKS.md.

use anyhow::Context;
use clap::Parser;
use mysql_async::prelude::Queryable;
use std::time::{Duration, Instant};
use tests::legacy::simulate::{Rate, SimulateOptions};
use tests::stack::{Running, ShopDatabase, env};

#[derive(Parser)]
struct Args {
    /// Source transactions in the backlog.
    #[arg(long, default_value_t = 5000)]
    transactions: u64,
    /// Repetitions (median and spread are printed).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

const MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bridge/mappings/demo.toml");

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rates = Vec::new();
    for run in 0..args.runs {
        let (rows, elapsed) = once(args.transactions, run as u64).await?;
        let rate = rows as f64 / elapsed.as_secs_f64();
        println!(
            "run {run}: {rows} row changes in {:.2} s = {rate:.0} rows/s",
            elapsed.as_secs_f64()
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "median {:.0} rows/s (min {:.0}, max {:.0}) over {} runs of {} transactions",
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1],
        rates.len(),
        args.transactions
    );
    Ok(())
}

fn bridge(db: &ShopDatabase) -> anyhow::Result<Running> {
    let target = db.url("bridge");
    let (source, ca) = (env("LEGACY_MYSQL_URL"), env("LEGACY_MYSQL_CA"));
    Running::spawn(
        "bridge",
        &["run"],
        &[
            ("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_SOURCE__URL", &source),
            ("FUNNYHAT_SOURCE__FLAVOUR", "mariadb"),
            ("FUNNYHAT_SOURCE__SERVER_ID", "3131"),
            ("FUNNYHAT_SOURCE__TLS_CA", &ca),
            ("FUNNYHAT_SOURCE__MAPPING", MAPPING),
            ("FUNNYHAT_TARGET__URL", &target),
            ("FUNNYHAT_LOG__FORMAT", "json"),
            ("FUNNYHAT_LOG__FILTER", "warn,bridge=info"),
        ],
    )
}

async fn once(transactions: u64, seed: u64) -> anyhow::Result<(i64, Duration)> {
    let db = ShopDatabase::create().await?;
    let mut first = bridge(&db)?;
    first
        .wait_for_log("snapshot switched in", Duration::from_secs(120))
        .await?;
    first.terminate(Duration::from_secs(10)).await?;

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
    let mut admin = mysql_async::Conn::new(tests::legacy::connect::opts(
        &env("LEGACY_MYSQL_ADMIN_URL"),
        Some(env("LEGACY_MYSQL_CA").as_ref()),
    )?)
    .await?;
    let head: String = admin
        .query_first("SELECT @@gtid_binlog_pos")
        .await?
        .context("gtid")?;
    let head_seq: i64 = head
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .context("gtid seq")?;
    eprintln!(
        "backlog: {} transactions committed, source at {head}",
        summary.committed()
    );

    let shop = db.connect("shop").await?;
    let started = Instant::now();
    let mut second = bridge(&db)?;
    loop {
        let gtid: Option<String> = sqlx::query_scalar("SELECT gtid FROM stock.checkpoint")
            .fetch_one(&shop)
            .await?;
        let seq: i64 = gtid
            .as_deref()
            .and_then(|g| g.rsplit('-').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if seq >= head_seq {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "no catch-up within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let rows: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(rows), 0)::bigint FROM stock.change_log")
            .fetch_one(&shop)
            .await?;
    second.terminate(Duration::from_secs(10)).await?;
    shop.close().await;
    db.drop_now().await?;
    Ok((rows, elapsed))
}
