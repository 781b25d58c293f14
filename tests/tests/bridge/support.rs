//! A bridge under test: a fresh shop database, a bridge process replicating into it, and helpers to
//! write to the legacy database as the stock app does and to wait (bounded) for the replica.

use mysql_async::prelude::Queryable;
use std::future::Future;
use std::time::Duration;
use tests::stack::{Running, ShopDatabase, env};

pub const WAIT: Duration = Duration::from_secs(60);
const DEMO_MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../bridge/mappings/demo.toml");

pub struct BridgeUnderTest {
    pub db: ShopDatabase,
    pub shop: sqlx::PgPool,
    pub process: Running,
    server_id: String,
}

impl BridgeUnderTest {
    /// Starts a bridge into a fresh database and waits for its snapshot to be switched in.
    pub async fn start() -> Self {
        let db = ShopDatabase::create().await.unwrap();
        let shop = db.connect("shop").await.unwrap();
        let server_id = (1_000_000 + rand::random::<u32>() % 1_000_000).to_string();
        let mut this = Self {
            process: spawn(&db, &server_id),
            db,
            shop,
            server_id,
        };
        this.process
            .wait_for_log("snapshot switched in", WAIT)
            .await
            .unwrap();
        this
    }

    /// kill -9, then a new process on the same database and server id (it resumes from the checkpoint).
    pub async fn crash_and_restart(&mut self) {
        self.process.child.start_kill().unwrap();
        self.process.child.wait().await.unwrap();
        self.process = spawn(&self.db, &self.server_id);
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

fn spawn(db: &ShopDatabase, server_id: &str) -> Running {
    Running::spawn(
        "bridge",
        &["run"],
        &[
            ("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_SOURCE__URL", &env("LEGACY_MYSQL_URL")),
            ("FUNNYHAT_SOURCE__FLAVOUR", "mariadb"),
            ("FUNNYHAT_SOURCE__SERVER_ID", server_id),
            ("FUNNYHAT_SOURCE__TLS_CA", &env("LEGACY_MYSQL_CA")),
            ("FUNNYHAT_SOURCE__MAPPING", DEMO_MAPPING),
            ("FUNNYHAT_TARGET__URL", &db.url("bridge")),
            ("FUNNYHAT_LOG__FORMAT", "json"),
        ],
    )
    .unwrap()
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
