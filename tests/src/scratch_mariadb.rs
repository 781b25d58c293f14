//! A throwaway MariaDB server of a test's own, for cases the shared stack's server must never be put
//! in (binary logging off, statement-based binlog, …). Started with `--no-defaults` in a temporary
//! directory on a free port, root through its socket only; stopped and removed on drop.

use anyhow::Context;
use mysql_async::prelude::Queryable;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

static INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a CDC source needs: a binlog in ROW format with full row images and full metadata.
pub const ROW_BINLOG: [&str; 4] = [
    "--log-bin=scratch-bin",
    "--binlog-format=ROW",
    "--binlog-row-image=FULL",
    "--binlog-row-metadata=FULL",
];

/// What the bridge's account is granted (`create_user`'s `{user}` form): a replica's rights to
/// read the binlog, and SELECT on the legacy tables — nothing else.
pub const BRIDGE_GRANTS: [&str; 2] = [
    "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO {user}",
    "GRANT SELECT ON legacy.* TO {user}",
];

pub struct ScratchMariaDb {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    /// The extra arguments it was started with (a restart uses them again).
    args: Vec<String>,
}

impl ScratchMariaDb {
    /// Initialises and starts a server with `args` added (e.g. `--log-bin=…`), and waits (bounded)
    /// until root can connect.
    pub async fn start(args: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("funnyhat-mariadb-")
            .tempdir()?;
        let chown = Command::new("chown")
            .args(["-R", "mysql:mysql"])
            .arg(dir.path())
            .status()?;
        anyhow::ensure!(chown.success(), "chown the scratch directory to mysql");
        let data = dir.path().join("data");
        // Its own temporary directory: a server starting up removes leftover `#sql*` files from
        // its tmpdir, which must never be another server's live temporary tables.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp)?;
        let chown = Command::new("chown")
            .args(["mysql:mysql"])
            .arg(&tmp)
            .status()?;
        anyhow::ensure!(chown.success(), "chown the scratch tmpdir to mysql");
        // One initialisation at a time: several at once on 2 cores time out.
        let _one_at_a_time = INSTALL.lock().await;
        let install = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=mysql",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .output()
            .context("mariadb-install-db")?;
        anyhow::ensure!(
            install.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&install.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = spawn_server(dir.path(), port, args)?;
        let server = Self {
            dir,
            child,
            port,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        };
        server.wait_until_up().await?;
        Ok(server)
    }

    /// Shuts the server down cleanly (SIGTERM, as a service manager would) and starts it again on
    /// the same port and data; it writes a new binlog file, as a restarted server does.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(term.success(), "kill -TERM the scratch server");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the scratch server did not stop in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.child = spawn_server(self.dir.path(), self.port, &args)?;
        self.wait_until_up().await
    }

    async fn wait_until_up(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.root().await {
                Ok(conn) => {
                    conn.disconnect().await.ok();
                    return Ok(());
                }
                Err(e) if tokio::time::Instant::now() > deadline => {
                    return Err(e.context("scratch MariaDB did not start in 30 s"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The data directory (a relative `--log-bin` puts the binlogs here).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// The server's socket, where root logs in.
    pub fn socket(&self) -> std::path::PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    pub async fn root(&self) -> anyhow::Result<mysql_async::Conn> {
        let opts = mysql_async::OptsBuilder::default()
            .socket(Some(self.socket().display().to_string()))
            .user(Some("root"))
            .prefer_socket(true);
        Ok(mysql_async::Conn::new(opts).await?)
    }

    /// Creates `user`@`127.0.0.1` with `password` and runs each of `grants` (`{user}` is replaced).
    pub async fn create_user(
        &self,
        user: &str,
        password: &str,
        grants: &[&str],
    ) -> anyhow::Result<String> {
        // CREATE USER cannot be prepared: names and passwords are the test's own constants, checked here.
        let plain = |t: &str| {
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        anyhow::ensure!(
            plain(user) && plain(password),
            "scratch user and password must be plain words"
        );
        let mut root = self.root().await?;
        root.query_drop(format!(
            "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'"
        ))
        .await?;
        for grant in grants {
            root.query_drop(grant.replace("{user}", &format!("'{user}'@'127.0.0.1'")))
                .await?;
        }
        root.disconnect().await.ok();
        Ok(format!(
            "mysql://{user}:{password}@127.0.0.1:{}/legacy",
            self.port
        ))
    }
}

impl Drop for ScratchMariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mariadbd` on the scratch directory `dir` (data, socket, pid file and tmpdir in it).
fn spawn_server(dir: &std::path::Path, port: u16, args: &[&str]) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))?;
    Command::new("mariadbd")
        .args([
            "--no-defaults",
            "--user=mysql",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
            "--server-id=1",
        ])
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--port={port}"))
        .arg(format!("--tmpdir={}", dir.join("tmp").display()))
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("start mariadbd")
}
