//! A throwaway S3 server of a test's own (s3s-fs, which checks SigV4 signatures), for tests that
//! must stop and restart S3 or count every object without other tests' uploads in the way. Started
//! on a free port over a temporary directory; stopped and removed on drop.

use anyhow::Context;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

pub const BUCKET: &str = "scratch-media";
pub const ACCESS_KEY: &str = "scratch";
pub const SECRET_KEY: &str = "scratch-secret";

pub struct ScratchS3 {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub port: u16,
}

impl ScratchS3 {
    /// Starts a server with one empty bucket and waits (bounded) until it answers.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("funnyhat-s3-").tempdir()?;
        std::fs::create_dir(dir.path().join(BUCKET))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut this = Self {
            dir,
            child: None,
            port,
        };
        this.resume().await?;
        Ok(this)
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bridge's `[images]` settings for this server, as environment variables.
    pub fn bridge_env(&self) -> Vec<(String, String)> {
        [
            ("FUNNYHAT_IMAGES__BUCKET", BUCKET.to_owned()),
            ("FUNNYHAT_IMAGES__ENDPOINT", self.endpoint()),
            ("FUNNYHAT_IMAGES__ACCESS_KEY", ACCESS_KEY.to_owned()),
            ("FUNNYHAT_IMAGES__SECRET_KEY", SECRET_KEY.to_owned()),
            (
                "FUNNYHAT_IMAGES__PUBLIC_BASE_URL",
                format!("{}/{BUCKET}", self.endpoint()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Where s3s-fs keeps an object's bytes (it stores them as plain files).
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.dir.path().join(BUCKET).join(key)
    }

    /// Every object key in the bucket, sorted (read from s3s-fs's directory).
    pub fn keys(&self) -> Vec<String> {
        fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else if let Ok(rel) = path.strip_prefix(root) {
                    let rel = rel.to_string_lossy().into_owned();
                    if !rel.split('/').any(|part| part.starts_with('.')) {
                        out.push(rel);
                    }
                }
            }
        }
        let root = self.dir.path().join(BUCKET);
        let mut keys = Vec::new();
        walk(&root, &root, &mut keys);
        keys.sort();
        keys
    }

    /// Stops the server (kill -9): requests fail with connection refused until [`Self::resume`].
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().ok();
            child.wait().await.ok();
        }
    }

    /// Starts the server again on the same port and data.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.dir.path())
            .env("PATH", search_path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start s3s-fs (deploy/local/install installs it)")?;
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "s3s-fs did not start on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// PATH with cargo's bin directory, where `cargo install` puts s3s-fs.
fn search_path() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    let cargo_bin = std::env::var("HOME")
        .map(|h| format!("{h}/.cargo/bin"))
        .unwrap_or_default();
    format!("{path}:{cargo_bin}")
}
