//! A bridge under test: a fresh shop database, a bridge process replicating into it, and helpers to
//! write to the legacy database as the stock app does and to wait (bounded) for the replica.

use mysql_async::prelude::Queryable;
use std::future::Future;
use std::time::Duration;
use tests::scratch_mariadb::ScratchMariaDb;
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

    /// A connection as the bridge's own user (SELECT on the legacy tables), TLS as the bridge uses it.
    pub async fn connect(&self) -> mysql_async::Conn {
        let ca = env("LEGACY_MYSQL_CA");
        let opts =
            tests::legacy::connect::opts(&self.url, self.tls.then(|| std::path::Path::new(&ca)))
                .unwrap();
        mysql_async::Conn::new(opts).await.unwrap()
    }
}

pub struct BridgeUnderTest {
    pub db: ShopDatabase,
    pub shop: sqlx::PgPool,
    pub process: Running,
    pub source: Source,
    server_id: String,
    /// Settings beyond the defaults (`FUNNYHAT_…` variables), kept across restarts.
    extra_env: Vec<(String, String)>,
}

impl BridgeUnderTest {
    /// Starts a bridge on the shared source into a fresh database and waits for its snapshot.
    pub async fn start() -> Self {
        Self::start_on(Source::shared()).await
    }

    /// The same from any source.
    pub async fn start_on(source: Source) -> Self {
        Self::start_with(source, Vec::new()).await
    }

    /// The same with more settings (`FUNNYHAT_…` variables).
    pub async fn start_with(source: Source, extra_env: Vec<(String, String)>) -> Self {
        Self::start_custom(source, move |_| extra_env).await
    }

    /// The same with settings that depend on the fresh database (e.g. its URL through a proxy).
    pub async fn start_custom(
        source: Source,
        extra_env: impl FnOnce(&ShopDatabase) -> Vec<(String, String)>,
    ) -> Self {
        let mut this = Self::launch(source, extra_env).await;
        this.process
            .wait_for_log("snapshot switched in", WAIT)
            .await
            .unwrap();
        this
    }

    /// Starts a bridge into a fresh database without waiting for anything.
    pub async fn launch(
        source: Source,
        extra_env: impl FnOnce(&ShopDatabase) -> Vec<(String, String)>,
    ) -> Self {
        let db = ShopDatabase::create().await.unwrap();
        let shop = db.connect("shop").await.unwrap();
        let extra_env = extra_env(&db);
        let server_id = (1_000_000 + rand::random::<u32>() % 1_000_000).to_string();
        Self {
            process: spawn(&db, &server_id, &source, &extra_env),
            db,
            shop,
            source,
            server_id,
            extra_env,
        }
    }

    /// A second bridge on the same database and source, with a server id of its own.
    pub fn spawn_second(&self) -> Running {
        let server_id = (2_000_000 + rand::random::<u32>() % 1_000_000).to_string();
        spawn(&self.db, &server_id, &self.source, &self.extra_env)
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
        self.process = spawn(&self.db, &self.server_id, &self.source, &self.extra_env);
    }

    /// kill -9, then a new process on the same database and server id (it resumes from the checkpoint).
    pub async fn crash_and_restart(&mut self) {
        self.crash().await;
        self.restart().await;
    }

    /// kill -9, waiting until the process is gone.
    pub async fn crash(&mut self) {
        self.process.child.start_kill().unwrap();
        self.process.child.wait().await.unwrap();
    }

    /// A new process on the same database and server id, once it streams.
    pub async fn restart(&mut self) {
        self.process = spawn(&self.db, &self.server_id, &self.source, &self.extra_env);
        self.process
            .wait_for_log("binlog stream started", WAIT)
            .await
            .unwrap();
    }

    /// A new process on the same database and server id, armed to abort at a crash point
    /// (`point:n`, see bridge/src/crash.rs); the last one must have ended. Does not wait.
    pub fn restart_armed(&mut self, crash_at: &str) {
        let mut env = self.extra_env.clone();
        env.push(("BRIDGE_CRASH_AT".to_owned(), crash_at.to_owned()));
        self.process = spawn(&self.db, &self.server_id, &self.source, &env);
    }

    /// Waits (bounded) until an armed process aborts at its crash point, and asserts it did.
    pub async fn crashed_at_its_point(&mut self) {
        use std::os::unix::process::ExitStatusExt;
        let status = tokio::time::timeout(WAIT, self.process.child.wait())
            .await
            .expect("the armed bridge reaches its crash point")
            .unwrap();
        let log = self.process.log_to_end().await.join("\n");
        assert!(
            status.signal() == Some(6) && log.contains("crash point reached: aborting"),
            "{status}: {log}"
        );
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

    /// The bridge's `/metrics` page.
    pub async fn metrics(&mut self) -> String {
        metrics_of(&mut self.process).await
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
    run_command(bridge, source, command, &bridge.extra_env).await
}

/// The same on the bridge's own source, with more settings on top of the bridge's.
pub async fn bridge_command_with(
    bridge: &BridgeUnderTest,
    command: &str,
    settings: &[(&str, &str)],
) -> (i32, String) {
    let mut env = bridge.extra_env.clone();
    env.extend(
        settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    run_command(bridge, &bridge.source, command, &env).await
}

async fn run_command(
    bridge: &BridgeUnderTest,
    source: &Source,
    command: &str,
    env: &[(String, String)],
) -> (i32, String) {
    let mut running = spawn_command(&bridge.db, "4242", source, command, env);
    let status = tokio::time::timeout(WAIT, running.child.wait())
        .await
        .expect("the command ends")
        .unwrap();
    let output = running.log_to_end().await.join("\n");
    (status.code().unwrap_or(-1), output)
}

fn spawn(
    db: &ShopDatabase,
    server_id: &str,
    source: &Source,
    extra_env: &[(String, String)],
) -> Running {
    spawn_command(db, server_id, source, "run", extra_env)
}

fn spawn_command(
    db: &ShopDatabase,
    server_id: &str,
    source: &Source,
    command: &str,
    extra_env: &[(String, String)],
) -> Running {
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
    envs.extend(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    Running::spawn("bridge", args(command).as_slice(), &envs).unwrap()
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

/// `"images gc"` → `["images", "gc"]`.
fn args(command: &str) -> Vec<&str> {
    command.split_whitespace().collect()
}

/// A scratch server with the demo's (empty) tables, one location for sale, and a bridge user.
pub async fn scratch_source() -> (ScratchMariaDb, Source) {
    // Packets as large as the stack's server takes (the demo load sends pictures in batches).
    let mut args = tests::scratch_mariadb::ROW_BINLOG.to_vec();
    args.push("--max-allowed-packet=256M");
    let server = ScratchMariaDb::start(&args).await.unwrap();
    let mut root = server.root().await.unwrap();
    root.query_drop("CREATE DATABASE legacy").await.unwrap();
    root.query_drop("USE legacy").await.unwrap();
    root.query_drop(tests::legacy::SCHEMA_SQL).await.unwrap();
    root.query_drop("INSERT INTO legacy.locations (id, code, name, sellable) VALUES (1, 'MAIN', 'Main warehouse', 1)").await.unwrap();
    root.query_drop("INSERT INTO legacy.categories (id, name, slug) VALUES (1, 'Hats', 'hats')")
        .await
        .unwrap();
    let url = server
        .create_user(
            "bridge",
            "bridge-dev",
            &tests::scratch_mariadb::BRIDGE_GRANTS,
        )
        .await
        .unwrap();
    (
        server,
        Source {
            url,
            tls: false,
            resume: "gtid",
        },
    )
}

/// A sample's value on a Prometheus text page (`name` with its labels as printed, e.g.
/// `bridge_image_failures_total{reason="corrupt"}`); `None` when absent.
pub fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A bridge process's `/metrics` page (its admin address is in its "bridge listening" log line).
pub async fn metrics_of(process: &mut Running) -> String {
    let admin = process
        .drain()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|v| v["message"] == "bridge listening")
        .and_then(|v| v["admin"].as_str().map(str::to_owned))
        .expect("the bridge logged its admin address");
    reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
