//! What the bridge benchmarks share: a bridge process on a shop database of the benchmark's own, a
//! native MariaDB replica of the stack's legacy database (the reference), GTID arithmetic, CPU
//! seconds by program, and the median-and-spread summary DESIGN §6 asks for.

use crate::scratch_mariadb::ScratchMariaDb;
use crate::stack::{Running, ShopDatabase, env};
use anyhow::Context;
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;

pub const MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bridge/mappings/demo.toml");

/// A bridge streaming from the stack's legacy database into `db` (no pictures: no S3 work).
pub fn bridge(db: &ShopDatabase) -> anyhow::Result<Running> {
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

/// A shop database with the method's durability: the stack's PostgreSQL defaults to
/// `synchronous_commit=off`, a benchmark database has it on.
pub async fn durable_shop_database() -> anyhow::Result<ShopDatabase> {
    let db = ShopDatabase::create().await?;
    let admin = sqlx::PgPool::connect(&env("PG_ADMIN_URL")).await?;
    sqlx::query(&format!(
        "ALTER DATABASE {} SET synchronous_commit = on",
        db.name
    ))
    .execute(&admin)
    .await?;
    admin.close().await;
    Ok(db)
}

/// The sequence number of a single-domain MariaDB GTID position (`0-1-1234` → 1234; none → 0).
pub fn gtid_seq(gtid: Option<&str>) -> i64 {
    gtid.and_then(|g| g.rsplit('-').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The stack's legacy database as root sees it (for `@@gtid_binlog_pos` and global settings).
pub async fn legacy_admin() -> anyhow::Result<mysql_async::Conn> {
    Ok(mysql_async::Conn::new(crate::legacy::connect::opts(
        &env("LEGACY_MYSQL_ADMIN_URL"),
        Some(env("LEGACY_MYSQL_CA").as_ref()),
    )?)
    .await?)
}

/// A native replica of the legacy database as it is now: a scratch MariaDB with the method's
/// durability (redo log flushed at every commit), loaded from a consistent dump that carries its
/// GTID position, pointed at the stack's server over TLS and left stopped (`START SLAVE` starts it).
pub async fn seed_replica() -> anyhow::Result<ScratchMariaDb> {
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

/// CPU seconds (user + system) of every live process, summed by program name.
pub fn cpu_by_program() -> BTreeMap<String, f64> {
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

/// CPU seconds each program spent between two `cpu_by_program` readings (programs that spent none
/// left out).
pub fn cpu_spent(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(comm, a)| (comm.clone(), a - before.get(comm).copied().unwrap_or(0.0)))
        .filter(|(_, spent)| *spent > 0.0)
        .collect()
}

/// `median M (min A, max B)` of `values`, each shown with `show`.
pub fn median_spread(values: &mut [f64], show: impl Fn(f64) -> String) -> String {
    values.sort_by(f64::total_cmp);
    match values {
        [] => "no runs".to_owned(),
        _ => format!(
            "median {} (min {}, max {})",
            show(values[values.len() / 2]),
            show(values[0]),
            show(values[values.len() - 1])
        ),
    }
}
