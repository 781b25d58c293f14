//! What the bridge benchmarks share: a bridge process on a shop database of the benchmark's own, a
//! native MariaDB replica of a legacy source (the reference), GTID arithmetic, CPU seconds by
//! program, and the median-and-spread summary DESIGN §6 asks for. The generated legacy dataset is
//! [`dataset`]'s, the stated catch-up backlog [`backlog`]'s.

pub mod backlog;
pub mod dataset;

use crate::scratch_mariadb::ScratchMariaDb;
use crate::stack::{Running, ShopDatabase, env};
use anyhow::Context;
use mysql_async::prelude::Queryable;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Hat styles the generated catalogues and backlogs name their hats with.
pub const HAT_STYLES: [&str; 12] = [
    "Bowler",
    "Fedora",
    "Trilby",
    "Beanie",
    "Boater",
    "Stetson",
    "Beret",
    "Cloche",
    "Fez",
    "Panama",
    "Deerstalker",
    "Top Hat",
];

pub const MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bridge/mappings/demo.toml");

/// A legacy MariaDB a benchmark's bridge and native replica read from: the stack's legacy
/// database, or a scratch server of the benchmark's own.
pub struct LegacySource {
    /// Where root logs in (the consistent dump that seeds a replica is taken here).
    pub socket: PathBuf,
    /// An account with the bridge's grants (replication and SELECT on `legacy.*`), as a
    /// `mysql://user:password@host:port/legacy` URL; a native replica uses it too.
    pub url: String,
    /// The CA the source's certificate is checked against; `None`: plain TCP (a scratch server
    /// has no certificate).
    pub tls_ca: Option<String>,
}

impl LegacySource {
    /// The stack's legacy database, over TLS.
    pub fn stack() -> Self {
        Self {
            socket: env("LEGACY_MYSQL_SOCKET").into(),
            url: env("LEGACY_MYSQL_URL"),
            tls_ca: Some(env("LEGACY_MYSQL_CA")),
        }
    }

    /// A scratch server, through the account `url` names.
    pub fn scratch(server: &ScratchMariaDb, url: String) -> Self {
        Self {
            socket: server.socket(),
            url,
            tls_ca: None,
        }
    }
}

/// A bridge streaming from the stack's legacy database into `db` (no pictures: no S3 work).
pub fn bridge(db: &ShopDatabase) -> anyhow::Result<Running> {
    bridge_from(db, &LegacySource::stack(), "3131")
}

/// A bridge streaming from `source` into `db` as replica `server_id` (no pictures: no S3 work).
pub fn bridge_from(
    db: &ShopDatabase,
    source: &LegacySource,
    server_id: &str,
) -> anyhow::Result<Running> {
    bridge_file_from(&crate::stack::bin("bridge"), db, source, server_id)
}

/// [`bridge_from`] with the bridge program at `program` (to compare two builds).
pub fn bridge_file_from(
    program: &std::path::Path,
    db: &ShopDatabase,
    source: &LegacySource,
    server_id: &str,
) -> anyhow::Result<Running> {
    let target = db.url("bridge");
    let mut envs = vec![
        ("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0"),
        ("FUNNYHAT_SOURCE__URL", source.url.as_str()),
        ("FUNNYHAT_SOURCE__FLAVOUR", "mariadb"),
        ("FUNNYHAT_SOURCE__SERVER_ID", server_id),
    ];
    if let Some(ca) = &source.tls_ca {
        envs.push(("FUNNYHAT_SOURCE__TLS_CA", ca));
    }
    envs.extend([
        ("FUNNYHAT_SOURCE__MAPPING", MAPPING),
        ("FUNNYHAT_TARGET__URL", &target),
        ("FUNNYHAT_LOG__FORMAT", "json"),
        ("FUNNYHAT_LOG__FILTER", "warn,bridge=info"),
    ]);
    Running::spawn_file(program, &["run"], &envs)
}

/// A shop database with the method's durability: the stack's PostgreSQL defaults to
/// `synchronous_commit=off`, a benchmark database has it on.
pub async fn durable_shop_database() -> anyhow::Result<ShopDatabase> {
    let db = ShopDatabase::create().await?;
    make_durable(&db).await?;
    Ok(db)
}

/// A copy of `db` as it is now, with the method's durability (see [`durable_shop_database`]).
pub async fn durable_copy(db: &ShopDatabase) -> anyhow::Result<ShopDatabase> {
    let copy = db.copy().await?;
    make_durable(&copy).await?;
    Ok(copy)
}

async fn make_durable(db: &ShopDatabase) -> anyhow::Result<()> {
    let admin = sqlx::PgPool::connect(&env("PG_ADMIN_URL")).await?;
    sqlx::query(&format!(
        "ALTER DATABASE {} SET synchronous_commit = on",
        db.name
    ))
    .execute(&admin)
    .await?;
    admin.close().await;
    Ok(())
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

/// A native replica of the stack's legacy database as it is now (see [`seed_replica_of`]).
pub async fn seed_replica() -> anyhow::Result<ScratchMariaDb> {
    seed_replica_of(&LegacySource::stack()).await
}

/// A native replica of `source` as it is now: a scratch MariaDB with the method's durability (redo
/// log flushed at every commit), loaded from a consistent dump that carries its GTID position,
/// pointed at the source through `source`'s account (over TLS if it has a CA) and left stopped
/// (`START SLAVE` starts it).
pub async fn seed_replica_of(source: &LegacySource) -> anyhow::Result<ScratchMariaDb> {
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
        .arg(format!("--socket={}", source.socket.display()))
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
    // The bridge's account has REPLICATION SLAVE; the stack's server takes it over TLS only.
    let account = mysql_async::Opts::from_url(&source.url)?;
    let tls = match &source.tls_ca {
        Some(ca) => format!(", MASTER_SSL=1, MASTER_SSL_CA='{ca}'"),
        None => String::new(),
    };
    // CHANGE MASTER cannot be prepared; the values are the stack's or the benchmark's own.
    let mut root = server.root().await?;
    root.query_drop(format!(
        "CHANGE MASTER TO MASTER_HOST='{}', MASTER_PORT={}, MASTER_USER='{}', \
         MASTER_PASSWORD='{}'{tls}, MASTER_USE_GTID=slave_pos",
        account.ip_or_hostname(),
        account.tcp_port(),
        account.user().unwrap_or_default(),
        account.pass().unwrap_or_default(),
    ))
    .await?;
    root.disconnect().await.ok();
    Ok(server)
}

/// A `kB` field of `/proc/PID/status` (`VmRSS:`, `VmHWM:`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
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
