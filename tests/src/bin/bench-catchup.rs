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
use tests::legacy::simulate::{Rate, SimulateOptions};
use tests::scratch_mariadb::ScratchMariaDb;
use tests::stack::{Running, ShopDatabase, env};

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

const MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bridge/mappings/demo.toml");
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
    let summary = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        format!(
            "median {:.0} rows/s (min {:.0}, max {:.0})",
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1]
        )
    };
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

fn gtid_seq(gtid: Option<&str>) -> i64 {
    gtid.and_then(|g| g.rsplit('-').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

async fn once(
    transactions: u64,
    seed: u64,
    with_replica: bool,
    perf: Option<std::path::PathBuf>,
) -> anyhow::Result<Run> {
    let db = ShopDatabase::create().await?;
    // The method's durability: the stack's PostgreSQL defaults to synchronous_commit=off.
    let admin = sqlx::PgPool::connect(&env("PG_ADMIN_URL")).await?;
    sqlx::query(&format!(
        "ALTER DATABASE {} SET synchronous_commit = on",
        db.name
    ))
    .execute(&admin)
    .await?;
    admin.close().await;
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
    let mut admin = mysql_async::Conn::new(tests::legacy::connect::opts(
        &env("LEGACY_MYSQL_ADMIN_URL"),
        Some(env("LEGACY_MYSQL_CA").as_ref()),
    )?)
    .await?;
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
    let cpu = cpu_after
        .iter()
        .map(|(comm, after)| {
            let spent = after - cpu_before.get(comm).copied().unwrap_or(0.0);
            (comm.clone(), spent)
        })
        .filter(|(_, spent)| *spent > 0.0)
        .collect();
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

/// A native replica of the legacy database as it is now: a scratch MariaDB with the method's
/// durability (redo log flushed at every commit), loaded from a consistent dump that carries its
/// GTID position, pointed at the stack's server over TLS and left stopped.
async fn seed_replica() -> anyhow::Result<ScratchMariaDb> {
    let server = ScratchMariaDb::start(&[
        "--server-id=3132",
        "--max-allowed-packet=1G",
        "--innodb-flush-log-at-trx-commit=1",
        "--innodb-buffer-pool-size=512M",
    ])
    .await?;
    let dump = tokio::process::Command::new("mariadb-dump")
        .args([
            "--single-transaction",
            "--gtid",
            "--master-data=1",
            "--max-allowed-packet=1G",
            "--databases",
            "legacy",
            "--user=root",
        ])
        .arg(format!("--socket={}", env("LEGACY_MYSQL_SOCKET")))
        .output()
        .await
        .context("mariadb-dump")?;
    anyhow::ensure!(
        dump.status.success(),
        "mariadb-dump: {}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut load = tokio::process::Command::new("mariadb")
        .args(["--user=root", "--max-allowed-packet=1G"])
        .arg(format!("--socket={}", server.socket().display()))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("mariadb (load the dump)")?;
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = load.stdin.take().context("stdin")?;
        stdin.write_all(&dump.stdout).await?;
    }
    let loaded = load.wait_with_output().await?;
    anyhow::ensure!(
        loaded.status.success(),
        "loading the dump: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    // The stack's bridge user has REPLICATION SLAVE; the server takes it over TLS only.
    let source = mysql_async::Opts::from_url(&env("LEGACY_MYSQL_URL"))?;
    let mut root = server.root().await?;
    root.query_drop(format!(
        "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{}', \
         MASTER_PASSWORD='{}', MASTER_SSL=1, MASTER_SSL_CA='{}', MASTER_USE_GTID=slave_pos",
        source.ip_or_hostname(),
        source.tcp_port(),
        source.user().unwrap_or_default(),
        source.pass().unwrap_or_default(),
        env("LEGACY_MYSQL_CA")
    ))
    .await?;
    root.disconnect().await.ok();
    Ok(server)
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

/// CPU seconds (user + system) of every live process, summed by program name.
fn cpu_by_program() -> BTreeMap<String, f64> {
    let mut by = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return by;
    };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        // After the name, index 0 is field 3 (state): utime (field 14) is 11, stime (15) is 12.
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // Clock ticks are 1/100 s on Linux.
        *by.entry(comm.to_owned()).or_insert(0.0) += (ticks(11) + ticks(12)) / 100.0;
    }
    by
}
