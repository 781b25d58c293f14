//! A small W3C WebDriver client for headless Debian Chromium through the stack's chromedriver: enough
//! to open a page, read it, and keep a screenshot as an artifact. Each session gets a fresh profile
//! directory and the flags that keep Chromium off the (closed) network.

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};
use std::path::PathBuf;

pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new headless session at `width`×`height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        let driver = crate::stack::env("CHROMEDRIVER_URL");
        let profile = tempfile::tempdir()?;
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let http = reqwest::Client::new();
        let created: Value = http
            .post(format!("{driver}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let session = created["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("chromedriver refused the session: {created}"))?
            .to_owned();
        Ok(Self {
            http,
            session,
            driver,
            _profile: profile,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/session/{}{path}", self.driver, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await?.json().await?;
        if reply["value"].get("error").is_some() {
            bail!("webdriver {path}: {}", reply["value"]);
        }
        Ok(reply["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    pub async fn title(&self) -> anyhow::Result<String> {
        Ok(self
            .call(reqwest::Method::GET, "/title", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Runs a synchronous script in the page and returns its result.
    pub async fn eval(&self, script: &str) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Saves a PNG screenshot in the artifacts directory and returns its path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png =
            base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default())?;
        let path = crate::stack::artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    pub async fn quit(self) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/session/{}", self.driver, self.session))
            .send()
            .await?;
        Ok(())
    }
}
