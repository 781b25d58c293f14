//! Handles on the local stack, read from the environment that `deploy/local/test` exports (the
//! variables are listed in `docs/LOCAL_STACK.md`), and helpers to run the project's binaries the way
//! an operator would: with a settings file, reading what they log.

use anyhow::Context;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A stack variable; panics with the way to get one when the tests run outside the stack.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through deploy/local/test (or eval \"$(deploy/local/env)\" first)")
    })
}

/// A binary built from this workspace (`bridge`, `shop`, `demo-load`, `simulate`).
pub fn bin(name: &str) -> PathBuf {
    PathBuf::from(env("STACK_BIN_DIR")).join(name)
}

/// Where tests keep screenshots and logs for people to look at after a run.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var("STACK_ARTIFACTS_DIR").map_or_else(
        |_| std::env::temp_dir().join("funnyhat-artifacts"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).ok();
    dir
}

/// `postgres://user:password@host:port/db` with the database replaced.
pub fn with_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => url.to_owned(),
    }
}

/// The same URL with another user and password.
pub fn with_user(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}")
}

/// A fresh shop database for one test, migrated by the `migrator` role, dropped on `drop_now`.
pub struct ShopDatabase {
    pub name: String,
}

impl ShopDatabase {
    pub async fn create() -> anyhow::Result<Self> {
        let db = Self::new_database(None).await?;
        let migrator = sqlx::PgPool::connect(&db.url("migrator")).await?;
        sqlx::query("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            .execute(&migrator)
            .await
            .ok();
        sqlx::migrate!("../migrations")
            .run(&migrator)
            .await
            .context("migrate the test database")?;
        migrator.close().await;
        Ok(db)
    }

    /// A new database holding what this one holds now (`CREATE DATABASE … TEMPLATE`: nobody may be
    /// connected to this one meanwhile), with the same access; settings made with `ALTER DATABASE`
    /// are not copied.
    pub async fn copy(&self) -> anyhow::Result<Self> {
        Self::new_database(Some(&self.name)).await
    }

    /// An empty database (or a copy of `template`) owned by `migrator`, which `bridge` and `shop`
    /// may connect to and nobody else.
    async fn new_database(template: Option<&str>) -> anyhow::Result<Self> {
        let name = format!("test_{}", uuid_like());
        let admin = sqlx::PgPool::connect(&env("PG_ADMIN_URL"))
            .await
            .context("connect as postgres")?;
        // Identifiers cannot be bound; names are generated here from hex digits only.
        let template = template.map_or_else(String::new, |t| format!(" TEMPLATE {t}"));
        sqlx::query(&format!("CREATE DATABASE {name} OWNER migrator{template}"))
            .execute(&admin)
            .await?;
        sqlx::query(&format!("REVOKE ALL ON DATABASE {name} FROM PUBLIC"))
            .execute(&admin)
            .await?;
        sqlx::query(&format!("GRANT CONNECT ON DATABASE {name} TO bridge, shop"))
            .execute(&admin)
            .await?;
        admin.close().await;
        Ok(Self { name })
    }

    /// The URL for one of the roles `migrator`, `bridge`, `shop` (password `<role>-dev`).
    pub fn url(&self, role: &str) -> String {
        with_database(
            &with_user(&env("SHOP_DATABASE_URL"), role, &format!("{role}-dev")),
            &self.name,
        )
    }

    pub async fn connect(&self, role: &str) -> anyhow::Result<sqlx::PgPool> {
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.url(role))
            .await?)
    }

    pub async fn drop_now(self) -> anyhow::Result<()> {
        let admin = sqlx::PgPool::connect(&env("PG_ADMIN_URL")).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&admin)
        .await?;
        Ok(())
    }
}

/// 16 hex digits, unique enough for scratch names within a run.
pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{:016x}",
        nanos ^ (u64::from(std::process::id()) << 40) ^ NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A project binary started by a test, with its stderr (the JSON log) read line by line.
pub struct Running {
    pub child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    pub log: Vec<String>,
}

impl Running {
    /// Starts `program args…` (from `STACK_BIN_DIR`) with extra environment variables.
    pub fn spawn(program: &str, args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::spawn_file(&bin(program), args, envs)
    }

    /// [`Running::spawn`] of the program file at `path`.
    pub fn spawn_file(
        path: &std::path::Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let program = path.display();
        let mut child = Command::new(path)
            .args(args)
            .envs(envs.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {program}"))?;
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        for stream in [
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child.stdout.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self {
            child,
            lines,
            log: Vec::new(),
        })
    }

    /// Waits (bounded) for a JSON log line whose `message` is `message`, and returns it.
    pub async fn wait_for_log(
        &mut self,
        message: &str,
        within: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .with_context(|| {
                    format!(
                        "no log line {message:?} within {within:?}; log so far:\n{}",
                        self.log.join("\n")
                    )
                })?
                .with_context(|| {
                    format!(
                        "process ended before logging {message:?}; log:\n{}",
                        self.log.join("\n")
                    )
                })?;
            self.log.push(line.clone());
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                && value["message"] == message
            {
                return Ok(value);
            }
        }
    }

    /// Whether a JSON log line whose `message` is `message` was already read (by an earlier
    /// [`Self::wait_for_log`], which keeps every line it passes over).
    pub fn has_logged(&self, message: &str) -> bool {
        self.log.iter().any(|line| {
            serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v["message"] == message)
        })
    }

    /// After the process ended: reads its output to the end (bounded) and returns the whole log.
    pub async fn log_to_end(&mut self) -> &[String] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while let Ok(Some(line)) = tokio::time::timeout_at(deadline, self.lines.recv()).await {
            self.log.push(line);
        }
        &self.log
    }

    /// Collects every line logged so far without waiting, and returns the whole log. For a
    /// process that has ended use [`Self::log_to_end`]: its last lines may still be in flight.
    pub fn drain(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub async fn terminate(
        &mut self,
        within: Duration,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("already exited")?;
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .context("did not exit in time")??;
        Ok(status)
    }
}

/// A test that fails while the process runs shows the end of its log: the harness prints what a
/// failed test wrote, so the 3 a.m. reader of a red CI sees what the process did, not only the
/// assertion.
impl Drop for Running {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        const TAIL: usize = 200;
        let log = self.drain();
        let from = log.len().saturating_sub(TAIL);
        eprintln!(
            "--- the last {} of {} log lines of the process under test ---\n{}",
            log.len() - from,
            log.len(),
            log[from..].join("\n")
        );
    }
}
