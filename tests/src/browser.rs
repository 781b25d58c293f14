//! A small W3C WebDriver client for headless Debian Chromium through the stack's chromedriver: enough
//! to open a page, read it, fill in and press what a person would (WebDriver's own element commands,
//! which need no script of the page's), and keep a screenshot as an artifact. Each session gets a
//! fresh profile directory and the flags that keep Chromium off the (closed) network; a session can
//! have JavaScript switched off for the pages it opens.

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};
use std::path::PathBuf;

/// At or below this width a session is a phone (mobile viewport, touch).
const PHONE_WIDTH: u32 = 480;

/// The W3C name of an element reference in WebDriver replies.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A new headless session whose pages are `width`×`height` CSS pixels (a phone at 480 or less).
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        Self::start_with(width, height, true).await
    }

    /// A new headless session whose pages run no JavaScript at all (Chromium's content setting, as
    /// a visitor who switched it off has it). WebDriver's commands still work: they run outside
    /// the page's scripting, so a test can read the page and press its buttons.
    pub async fn start_without_javascript(width: u32, height: u32) -> anyhow::Result<Self> {
        Self::start_with(width, height, false).await
    }

    async fn start_with(width: u32, height: u32, javascript: bool) -> anyhow::Result<Self> {
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
        // 1 allows, 2 blocks; "managed" is the policy level, which the page cannot change.
        let prefs = json!({
            "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 }
        });
        // The window alone cannot be narrower than about 500 px in headless Chromium: the page's
        // size is set exactly, and a phone-sized one is a phone (the viewport meta tag applies).
        let phone = width <= PHONE_WIDTH;
        let screen = json!({"deviceMetrics": {
            "width": width, "height": height, "pixelRatio": 1.0, "mobile": phone, "touch": phone
        }});
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium", "args": args, "prefs": prefs, "mobileEmulation": screen
            }
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

    /// The URL the browser is at now (after redirects).
    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self
            .call(reqwest::Method::GET, "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The first element matching a CSS selector; fails when there is none.
    async fn element(&self, css: &str) -> anyhow::Result<String> {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await
            .with_context(|| format!("no element matches {css}"))?;
        Ok(found[ELEMENT]
            .as_str()
            .with_context(|| format!("{css}: not an element reference: {found}"))?
            .to_owned())
    }

    /// Whether an element matches a CSS selector.
    pub async fn has(&self, css: &str) -> anyhow::Result<bool> {
        let found = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        Ok(found.as_array().is_some_and(|a| !a.is_empty()))
    }

    /// The rendered text of the first element matching a CSS selector.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let id = self.element(css).await?;
        Ok(self
            .call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// An attribute of the first element matching a CSS selector (`None` when it has none).
    pub async fn attribute(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        let id = self.element(css).await?;
        Ok(self
            .call(
                reqwest::Method::GET,
                &format!("/element/{id}/attribute/{name}"),
                None,
            )
            .await?
            .as_str()
            .map(str::to_owned))
    }

    /// Clicks the first element matching a CSS selector, as a mouse would (a submit button sends
    /// its form; chromedriver waits for the navigation that starts).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await
        .map(drop)
    }

    /// Types `text` into the first field matching a CSS selector, after clearing it.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
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

    /// Saves a PNG of the whole page, not just the window, up to `max_height` CSS pixels tall, in
    /// the artifacts directory and returns its path. Uses Chromium's DevTools through chromedriver.
    pub async fn screenshot_full_page(
        &self,
        name: &str,
        max_height: u32,
    ) -> anyhow::Result<PathBuf> {
        let size = self
            .eval(
                "return [document.documentElement.scrollWidth, \
                 document.documentElement.scrollHeight];",
            )
            .await?;
        let width = size[0].as_u64().unwrap_or(1280);
        let height = size[1].as_u64().unwrap_or(900).min(u64::from(max_height));
        let shot = self
            .call(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                Some(json!({"cmd": "Page.captureScreenshot", "params": {
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
                }})),
            )
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())?;
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
