//! A bridge under test: a fresh shop database, a bridge process replicating into it, and helpers to
//! write to the legacy database as the stock app does and to wait (bounded) for the replica.

use mysql_async::prelude::Queryable;
use std::future::Future;
use std::time::Duration;
use tests::stack::{Running, ShopDatabase, env};

pub const WAIT: Duration = Duration::from_secs(60);
const DEMO_MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bridge/mappings/demo.toml");

/// Where a bridge under test reads from and how it resumes.
#[derive(Clone, Debug)]
pub struct Source {
    pub url: String,
    /// Verify TLS against the stack's CA (the shared server); scratch servers have no TLS.
    pub tls: bool,
    /// `gtid` or `position`.
    pub resume: &'static str,
}

impl Source {
    /// The stack's shared legacy MariaDB, as the bridge user.
    pub fn shared() -> Self {
        Self {
            url: env("LEGACY_MYSQL_URL"),
            tls: true,
            resume: "gtid",
        }
    }
}

pub struct BridgeUnderTest {
    pub db: ShopDatabase,
    pub shop: sqlx::PgPool,
    pub process: Running,
    pub source: Source,
    server_id: String,
}

impl BridgeUnderTest {
    /// Starts a bridge on the shared source into a fresh database and waits for its snapshot.
    pub async fn start() -> Self {
        Self::start_on(Source::shared()).await
    }

    /// The same from any source.
    pub async fn start_on(source: Source) -> Self {
        let db = ShopDatabase::create().await.unwrap();
        let shop = db.connect("shop").await.unwrap();
        let server_id = (1_000_000 + rand::random::<u32>() % 1_000_000).to_string();
        let mut this = Self {
            process: spawn(&db, &server_id, &source),
            db,
            shop,
            source,
            server_id,
        };
        this.process
            .wait_for_log("snapshot switched in", WAIT)
            .await
            .unwrap();
        this
    }

    /// A second bridge on the same database and source, with a server id of its own.
    pub fn spawn_second(&self) -> Running {
        let server_id = (2_000_000 + rand::random::<u32>() % 1_000_000).to_string();
        spawn(&self.db, &server_id, &self.source)
    }

    /// Stops the process with SIGTERM; it must exit cleanly.
    pub async fn halt(&mut self) {
        let status = self
            .process
            .terminate(Duration::from_secs(10))
            .await
            .unwrap();
        assert!(status.success(), "bridge exit {status}");
    }

    /// Starts a new process on the same database (it resumes from the checkpoint) reading `source`.
    pub fn resume_on(&mut self, source: Source) {
        self.source = source;
        self.process = spawn(&self.db, &self.server_id, &self.source);
    }

    /// kill -9, then a new process on the same database and server id (it resumes from the checkpoint).
    pub async fn crash_and_restart(&mut self) {
        self.process.child.start_kill().unwrap();
        self.process.child.wait().await.unwrap();
        self.process = spawn(&self.db, &self.server_id, &self.source);
        self.process
            .wait_for_log("binlog stream started", WAIT)
            .await
            .unwrap();
    }

    /// Waits until the replica has applied everything the source had committed when this was called.
    pub async fn caught_up(&self) {
        let target = source_gtid().await;
        wait_until(&format!("checkpoint reaches {target}"), || async {
            let gtid: Option<String> = sqlx::query_scalar("SELECT gtid FROM stock.checkpoint")
                .fetch_one(&self.shop)
                .await
                .unwrap();
            gtid.is_some_and(|g| seq(&g) >= seq(&target))
        })
        .await;
    }

    /// The last `n` lines the bridge logged (read so far).
    pub fn log_tail(&mut self, n: usize) -> String {
        let log = self.process.drain();
        log[log.len().saturating_sub(n)..].join("\n")
    }

    /// Drops the database of a bridge whose process has already ended.
    pub async fn discard(self) {
        self.shop.close().await;
        self.db.drop_now().await.unwrap();
    }

    pub async fn stop(mut self) {
        let status = self
            .process
            .terminate(Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            status.success(),
            "bridge exit {status}; log:\n{}",
            self.process.log.join("\n")
        );
        self.shop.close().await;
        self.db.drop_now().await.unwrap();
    }
}

/// Runs a one-shot bridge command (`verify`, `status`) on this bridge's database, reading `source`;
/// returns (exit code, everything it printed).
pub async fn bridge_command(
    bridge: &BridgeUnderTest,
    source: &Source,
    command: &str,
) -> (i32, String) {
    let mut running = spawn_command(&bridge.db, "4242", source, command);
    let status = tokio::time::timeout(WAIT, running.child.wait())
        .await
        .expect("the command ends")
        .unwrap();
    let output = running.log_to_end().await.join("\n");
    (status.code().unwrap_or(-1), output)
}

fn spawn(db: &ShopDatabase, server_id: &str, source: &Source) -> Running {
    spawn_command(db, server_id, source, "run")
}

fn spawn_command(db: &ShopDatabase, server_id: &str, source: &Source, command: &str) -> Running {
    let target = db.url("bridge");
    let ca = env("LEGACY_MYSQL_CA");
    let mut envs = vec![
        ("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0"),
        ("FUNNYHAT_SOURCE__URL", source.url.as_str()),
        ("FUNNYHAT_SOURCE__FLAVOUR", "mariadb"),
        ("FUNNYHAT_SOURCE__SERVER_ID", server_id),
        ("FUNNYHAT_SOURCE__MAPPING", DEMO_MAPPING),
        ("FUNNYHAT_SOURCE__RESUME", source.resume),
        ("FUNNYHAT_TARGET__URL", target.as_str()),
        ("FUNNYHAT_LOG__FORMAT", "json"),
    ];
    if source.tls {
        envs.push(("FUNNYHAT_SOURCE__TLS_CA", ca.as_str()));
    }
    Running::spawn("bridge", &[command], &envs).unwrap()
}

/// Polls `check` every 50 ms until it holds; fails after [`WAIT`] naming what it waited for.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A connection as the legacy stock app.
pub async fn stockapp() -> mysql_async::Conn {
    let opts = tests::legacy::connect::opts(
        &env("LEGACY_MYSQL_APP_URL"),
        Some(std::path::Path::new(&env("LEGACY_MYSQL_CA"))),
    )
    .unwrap();
    mysql_async::Conn::new(opts).await.unwrap()
}

/// The source's GTID position (single domain in the stack).
pub async fn source_gtid() -> String {
    let mut conn = admin().await;
    let gtid: String = conn
        .query_first("SELECT @@gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    conn.disconnect().await.unwrap();
    gtid
}

pub async fn admin() -> mysql_async::Conn {
    let opts = tests::legacy::connect::opts(
        &env("LEGACY_MYSQL_ADMIN_URL"),
        Some(std::path::Path::new(&env("LEGACY_MYSQL_CA"))),
    )
    .unwrap();
    mysql_async::Conn::new(opts).await.unwrap()
}

/// The sequence number of a single-domain MariaDB GTID (`0-1-42` → 42).
pub fn seq(gtid: &str) -> u64 {
    gtid.rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// An item id no demo row or simulator row will ever use.
pub fn fresh_item_id() -> u64 {
    8_000_000_000 + u64::from(rand::random::<u32>())
}
