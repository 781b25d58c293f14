//! What every shop test needs: its own database with stock written the way the bridge writes it
//! (as role `bridge`, checkpoint included, `NOTIFY stock_changed` after a change), its own shop
//! process pointed at it, and a customer's view over HTTP (pages and Server-Sent Events).

use anyhow::{Context, bail};
use std::future::Future;
use std::time::Duration;
use tests::stack::{Running, ShopDatabase, env};

pub const START: Duration = Duration::from_secs(30);
/// Bound for "eventually" checks: generous, since the machine is shared; they return as soon as
/// the condition holds.
pub const EVENTUALLY: Duration = Duration::from_secs(20);

/// Log message of the shop's stock listener once it listens (again).
pub const LISTENING: &str = "listening for stock changes";
/// Its `application_name` in `pg_stat_activity`.
pub const LISTENER_APP: &str = "funnyhat-shop-stock-listener";

/// A hat as the bridge would write it into `stock.items`.
#[derive(Clone, Debug)]
pub struct Hat {
    pub key: String,
    pub name: String,
    pub category: Option<String>,
    pub description: Option<String>,
    pub sku: String,
    pub price_minor: Option<i64>,
    pub on_hand: i32,
    pub deleted: bool,
    pub duplicate_sku: bool,
}

impl Hat {
    pub fn new(key: &str, name: &str, on_hand: i32) -> Self {
        Self {
            key: key.to_owned(),
            name: name.to_owned(),
            category: Some("Classic Hats".to_owned()),
            description: Some(format!("A fine {name}, made to last.")),
            sku: format!("FH-TST-{key:0>4}"),
            price_minor: Some(2500),
            on_hand,
            deleted: false,
            duplicate_sku: false,
        }
    }

    pub fn category(mut self, category: &str) -> Self {
        self.category = Some(category.to_owned());
        self
    }

    pub fn no_description(mut self) -> Self {
        self.description = None;
        self
    }

    pub fn deleted(mut self) -> Self {
        self.deleted = true;
        self
    }

    pub fn duplicate_sku(mut self) -> Self {
        self.duplicate_sku = true;
        self
    }
}

/// One test's database and shop.
pub struct ShopUnderTest {
    pub db: ShopDatabase,
    /// Connected as role `bridge`: writes stock like the bridge does.
    pub bridge: sqlx::PgPool,
    pub process: Running,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The admin listener's `http://127.0.0.1:PORT` (`/metrics`, `/healthz`).
    pub admin: String,
    pub http: reqwest::Client,
}

impl ShopUnderTest {
    /// A fresh database holding `hats` and a fresh checkpoint, and a shop with `settings`
    /// (`FUNNYHAT_…` variables) on top of the test defaults, listening for stock changes.
    pub async fn start(hats: &[Hat], settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        let db = ShopDatabase::create().await?;
        let bridge = db.connect("bridge").await?;
        sqlx::query(
            "INSERT INTO stock.checkpoint (epoch, leader, source_server, snapshot_done, caught_up_at) \
             VALUES (1, 'test-bridge', 'test-source', true, now())",
        )
        .execute(&bridge)
        .await?;
        let this_db_url = db.url("shop");
        let media = env("MEDIA_BASE_URL");
        let mut envs: Vec<(&str, &str)> = vec![
            ("FUNNYHAT_HTTP__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_HTTP__PUBLIC_URL", "http://127.0.0.1"),
            ("FUNNYHAT_ADMIN__LISTEN", "127.0.0.1:0"),
            ("FUNNYHAT_DATABASE__URL", &this_db_url),
            ("FUNNYHAT_MEDIA__BASE_URL", &media),
            ("FUNNYHAT_LOG__FORMAT", "json"),
            // Plain http on 127.0.0.1, as the local stack; tests of the production cookie set it false.
            ("FUNNYHAT_HTTP__INSECURE_DEV_COOKIES", "true"),
        ];
        envs.extend_from_slice(settings);
        let mut process = Running::spawn("shop", &["serve"], &envs)?;
        let listening = process.wait_for_log("shop listening", START).await?;
        let base = format!(
            "http://{}",
            listening["public"].as_str().context("public address")?
        );
        let admin = format!(
            "http://{}",
            listening["admin"].as_str().context("admin address")?
        );
        if !process.has_logged(LISTENING) {
            process.wait_for_log(LISTENING, START).await?;
        }
        let shop = Self {
            db,
            bridge,
            process,
            base,
            admin,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        };
        for hat in hats {
            shop.insert(hat).await?;
        }
        Ok(shop)
    }

    pub async fn insert(&self, hat: &Hat) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO stock.items (item_key, source_table, sku, name, description, category, \
               price_minor, currency, on_hand, on_hand_raw, deleted, duplicate_sku, generation, changed_at) \
             VALUES ($1, 'items', $2, $3, $4, $5, $6, 'GBP', $7, $7, $8, $9, 1, '0-1-1')",
        )
        .bind(&hat.key)
        .bind(&hat.sku)
        .bind(&hat.name)
        .bind(&hat.description)
        .bind(&hat.category)
        .bind(hat.price_minor)
        .bind(hat.on_hand)
        .bind(hat.deleted)
        .bind(hat.duplicate_sku)
        .execute(&self.bridge)
        .await?;
        Ok(())
    }

    /// Changes a hat's stock without telling anyone (the bridge always notifies; tests decide).
    pub async fn set_on_hand_quietly(&self, key: &str, on_hand: i32) -> anyhow::Result<()> {
        let updated = sqlx::query(
            "UPDATE stock.items SET on_hand = $2, on_hand_raw = $2 WHERE item_key = $1",
        )
        .bind(key)
        .bind(on_hand)
        .execute(&self.bridge)
        .await?;
        anyhow::ensure!(updated.rows_affected() == 1, "no hat {key}");
        Ok(())
    }

    /// `NOTIFY stock_changed` with a raw payload, as the bridge after a committed batch.
    pub async fn notify(&self, payload: &str) -> anyhow::Result<()> {
        sqlx::query("SELECT pg_notify('stock_changed', $1)")
            .bind(payload)
            .execute(&self.bridge)
            .await?;
        Ok(())
    }

    /// Changes a hat's stock and notifies its key, as the bridge does.
    pub async fn set_on_hand(&self, key: &str, on_hand: i32) -> anyhow::Result<()> {
        self.set_on_hand_quietly(key, on_hand).await?;
        self.notify(&serde_json::json!({"pos": "0-1-2", "keys": [key]}).to_string())
            .await
    }

    /// Moves the checkpoint's `caught_up_at` to `secs_ago` seconds before PostgreSQL's now.
    pub async fn caught_up_secs_ago(&self, secs_ago: i64) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE stock.checkpoint SET caught_up_at = now() - make_interval(secs => $1::float8)",
        )
        .bind(secs_ago as f64)
        .execute(&self.bridge)
        .await?;
        Ok(())
    }

    /// Ends the listener's connection from the server side, as a failover or an operator would.
    /// Returns how many connections were ended.
    pub async fn kill_listener(&self) -> anyhow::Result<i64> {
        let admin = sqlx::PgPool::connect(&env("PG_ADMIN_URL")).await?;
        let killed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = $2) AS t",
        )
        .bind(&self.db.name)
        .bind(LISTENER_APP)
        .fetch_one(&admin)
        .await?;
        admin.close().await;
        Ok(killed)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET a page: status, headers, body text.
    pub async fn get(&self, path: &str) -> anyhow::Result<Page> {
        let response = self.http.get(self.url(path)).send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        Ok(Page {
            status,
            headers,
            body,
        })
    }

    /// The value of one series on the admin listener's `/metrics`, e.g.
    /// `shop_session_cache_total{outcome="hit"}`; 0 while it has not been written.
    pub async fn metric(&self, series: &str) -> anyhow::Result<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.admin))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(Ok(0.0), str::parse)?)
    }

    /// Waits until the page at `path` satisfies `check`; fails with the last body seen.
    pub async fn wait_for_page(
        &self,
        path: &str,
        what: &str,
        check: impl Fn(&Page) -> bool,
    ) -> anyhow::Result<Page> {
        page_until(path, what, async || self.get(path).await, check).await
    }

    /// Opens a hat's live stock stream.
    pub async fn open_stream(&self, key: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(self.url(&format!("/hats/{key}/stock/events")))
            .header("accept", "text/event-stream")
            .send()
            .await?)
    }

    /// Stops the shop and drops the database.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        let status = self.process.terminate(Duration::from_secs(10)).await?;
        anyhow::ensure!(
            status.success(),
            "shop exit {status}; log:\n{}",
            self.process.log.join("\n")
        );
        self.bridge.close().await;
        self.db.drop_now().await
    }
}

pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The page's CSRF token (the first form's hidden `csrf` field), empty without a session.
    pub fn csrf(&self) -> &str {
        let Some(start) = self.body.find("name=\"csrf\" value=\"") else {
            return "";
        };
        let rest = &self.body[start + "name=\"csrf\" value=\"".len()..];
        &rest[..rest.find('"').unwrap_or(0)]
    }

    /// The header's basket count.
    pub fn basket_count(&self) -> Option<i64> {
        self.text_of_id("basket-count")?.parse().ok()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The visible text of the element with `id="…"` (its first text up to the next tag).
    pub fn text_of_id(&self, id: &str) -> Option<&str> {
        let start = self.body.find(&format!("id=\"{id}\""))?;
        let rest = &self.body[start..];
        let open_end = rest.find('>')?;
        let text = &rest[open_end + 1..];
        Some(text[..text.find('<')?].trim())
    }

    /// Whether the lag guard's banner is shown (present and not `hidden`).
    pub fn banner_shown(&self) -> bool {
        let Some(start) = self.body.find("id=\"refreshing-banner\"") else {
            return false;
        };
        let tag = &self.body[start..];
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        !tag.contains("hidden")
    }
}

/// One Server-Sent Events block: an event with data, or a comment (keep-alive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sse {
    Event { name: String, data: String },
    Comment,
}

/// Reads a `text/event-stream` response block by block.
pub struct EventReader {
    response: reqwest::Response,
    buffer: String,
}

impl EventReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next block, waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> anyhow::Result<Sse> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Ok(parse_block(&block));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .with_context(|| format!("no event within {within:?}"))??
                .context("the stream ended")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next `stock` event's JSON, skipping keep-alives, waiting at most `within` in all.
    pub async fn next_stock(&mut self, within: Duration) -> anyhow::Result<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Sse::Event { name, data } = self.next(left).await?
                && name == "stock"
            {
                return Ok(serde_json::from_str(&data)?);
            }
        }
    }

    /// Reads `stock` events until one satisfies `check` (earlier states may still be in flight).
    pub async fn wait_for_stock(
        &mut self,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> anyhow::Result<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + EVENTUALLY;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self
                .next_stock(left)
                .await
                .with_context(|| format!("waiting for {what}; events so far: {seen:?}"))?;
            if check(&event) {
                return Ok(event);
            }
            seen.push(event);
        }
    }
}

fn parse_block(block: &str) -> Sse {
    let mut name = String::from("message");
    let mut data = Vec::new();
    let mut any_field = false;
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = v.trim().to_owned();
            any_field = true;
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
            any_field = true;
        }
    }
    if any_field {
        Sse::Event {
            name,
            data: data.join("\n"),
        }
    } else {
        Sse::Comment
    }
}

/// Fetches the page at `path` until it satisfies `check`, at most [`EVENTUALLY`]; fails with the
/// last status and body seen.
async fn page_until(
    path: &str,
    what: &str,
    mut fetch: impl AsyncFnMut() -> anyhow::Result<Page>,
    check: impl Fn(&Page) -> bool,
) -> anyhow::Result<Page> {
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    loop {
        let page = fetch().await?;
        if check(&page) {
            return Ok(page);
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{path}: not {what} within {EVENTUALLY:?}; last status {}, body:\n{}",
                page.status,
                page.body
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` until it holds, at most `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("not {what} within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 5 minutes: the stack's bridge makes the demo's pictures, one of them 17.6 MiB, on
/// the shared cores) until no live hat's picture is pending in the stack's shop database.
pub async fn demo_pictures_made(db: &sqlx::PgPool) {
    eventually(
        "the demo's pictures made",
        Duration::from_secs(300),
        || async {
            let pending: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM stock.images i JOIN stock.items it USING (item_key)
                 WHERE i.status = 'pending' AND NOT it.deleted",
            )
            .fetch_one(db)
            .await?;
            Ok(pending == 0)
        },
    )
    .await
    .unwrap();
}

/// A customer's browser over plain HTTP: keeps the session cookie it is given (by hand, so tests
/// can read and tamper with it), follows no redirects by itself, and sends the `Origin` a browser
/// sends with a form.
pub struct Customer {
    http: reqwest::Client,
    base: String,
    /// `name=value` of the session cookie, once set.
    pub cookie: Option<String>,
    /// Every `Set-Cookie` header seen, in order.
    pub set_cookies: Vec<String>,
}

impl Customer {
    pub fn new(shop: &ShopUnderTest) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            base: shop.base.clone(),
            cookie: None,
            set_cookies: Vec::new(),
        }
    }

    async fn keep(&mut self, response: reqwest::Response) -> anyhow::Result<Page> {
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str()?.to_owned();
            self.cookie = Some(value.split(';').next().unwrap_or("").to_owned());
            self.set_cookies.push(value);
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        Ok(Page {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<Page> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            request = request.header("cookie", c);
        }
        let response = request.send().await?;
        self.keep(response).await
    }

    /// Views the page at `path` (keeping any cookie it sets) until it satisfies `check`; fails with
    /// the last body seen.
    pub async fn wait_for_page(
        &mut self,
        path: &str,
        what: &str,
        check: impl Fn(&Page) -> bool,
    ) -> anyhow::Result<Page> {
        page_until(path, what, async || self.get(path).await, check).await
    }

    /// POSTs a form as a browser on this site would; returns the response itself (a 303 usually).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        let body: String = form_body(form);
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", &self.base)
            .body(body);
        if let Some(c) = &self.cookie {
            request = request.header("cookie", c);
        }
        let response = request.send().await?;
        self.keep(response).await
    }

    /// POSTs a form and follows its 303 to the page it names.
    pub async fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        let answer = self.post(path, form).await?;
        anyhow::ensure!(
            answer.status == 303,
            "POST {path}: {} {}",
            answer.status,
            answer.body
        );
        let location = answer.header("location").to_owned();
        self.get(&location).await
    }

    /// Adds `quantity` of hat `key` from its product page, as a customer would.
    pub async fn add(&mut self, key: &str, quantity: u32) -> anyhow::Result<Page> {
        let product = self.get(&format!("/hats/{key}")).await?;
        let csrf = product.csrf().to_owned();
        self.submit(
            "/basket/add",
            &[
                ("item_key", key),
                ("quantity", &quantity.to_string()),
                ("csrf", &csrf),
            ],
        )
        .await
    }

    /// Sets a basket line's quantity from the basket page.
    pub async fn set_quantity(&mut self, key: &str, quantity: u32) -> anyhow::Result<Page> {
        let basket = self.get("/basket").await?;
        let csrf = basket.csrf().to_owned();
        self.submit(
            "/basket/update",
            &[
                ("item_key", key),
                ("quantity", &quantity.to_string()),
                ("csrf", &csrf),
            ],
        )
        .await
    }
}

impl Customer {
    /// Registers from the register page; returns the answer (303, or 200 with the form or the
    /// merge list).
    pub async fn register(
        &mut self,
        username: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<Page> {
        let form = self.get("/register").await?;
        let csrf = form.csrf().to_owned();
        self.post(
            "/register",
            &[
                ("username", username),
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ],
        )
        .await
    }

    /// Logs in from the login page with `next`; returns the answer.
    pub async fn login(
        &mut self,
        username: &str,
        password: &str,
        next: &str,
    ) -> anyhow::Result<Page> {
        let form = self.get("/login").await?;
        let csrf = form.csrf().to_owned();
        self.post(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
                ("next", next),
            ],
        )
        .await
    }

    /// Logs out with the current page's token.
    pub async fn logout(&mut self) -> anyhow::Result<Page> {
        let page = self.get("/").await?;
        let csrf = page.csrf().to_owned();
        self.post("/logout", &[("csrf", &csrf)]).await
    }
}

pub fn form_body(form: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in form.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ShopUnderTest {
    /// Rows in a `shop.` table, read as the migrator (the owner), e.g. `count("sessions")`.
    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        let pool = self.db.connect("migrator").await?;
        // `table` is a literal from the test, never input.
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM shop.{table}"))
            .fetch_one(&pool)
            .await?;
        pool.close().await;
        Ok(n)
    }

    /// (item key, quantity) of every basket line in every basket, by key then larger quantity first.
    pub async fn basket_lines(&self) -> anyhow::Result<Vec<(String, i32)>> {
        let pool = self.db.connect("migrator").await?;
        let rows: Vec<(String, i32)> = sqlx::query_as(
            "SELECT item_key, quantity FROM shop.basket_lines ORDER BY item_key, quantity DESC",
        )
        .fetch_all(&pool)
        .await?;
        pool.close().await;
        Ok(rows)
    }

    /// Runs one statement as the migrator (the schema's owner).
    pub async fn exec(&self, sql: &str) -> anyhow::Result<u64> {
        let pool = self.db.connect("migrator").await?;
        let n = sqlx::query(sql).execute(&pool).await?.rows_affected();
        pool.close().await;
        Ok(n)
    }
}
