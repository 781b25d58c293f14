//! The shop's typed settings: a TOML file (`--config`, or `FUNNYHAT_CONFIG`) with `FUNNYHAT_…`
//! environment variables on top, parsed by [`contracts::settings`]. Every address is a setting;
//! secrets are `SecretString` and never appear in `Debug`, logs or errors.

use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::Path;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: Http,
    #[serde(default)]
    pub admin: Admin,
    pub database: Database,
    pub media: Media,
    #[serde(default)]
    pub catalogue: Catalogue,
    #[serde(default)]
    pub stock: Stock,
    #[serde(default)]
    pub live: Live,
    #[serde(default)]
    pub basket: Basket,
    #[serde(default)]
    pub login: Login,
    #[serde(default)]
    pub log: contracts::settings::Log,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// Public listener (customers, behind the load balancer in production).
    pub listen: SocketAddr,
    /// The URL customers use, for absolute links and redirects.
    pub public_url: String,
    /// Proxies (addresses or CIDR blocks, e.g. the load balancer's subnets) whose
    /// `X-Forwarded-For` is believed. Empty: the client address is the TCP peer.
    #[serde(default)]
    pub trusted_proxies: Vec<crate::client_addr::IpNet>,
    /// Development only (plain http on 127.0.0.1): the session cookie without `Secure` and so
    /// without the `__Host-` prefix. Never set it in production.
    #[serde(default)]
    pub insecure_dev_cookies: bool,
    /// How long each process keeps a session its page views read, at most (kept true by `NOTIFY
    /// session_changed`, shop/src/session_cache.rs; the time only bounds a lost notification).
    /// 0 keeps nothing: every page view with a session then reads the database.
    #[serde(default = "default_session_cache_secs")]
    pub session_cache_secs: u64,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// `/healthz` and `/metrics`; keep it on a private address (default loopback).
    #[serde(default = "default_admin")]
    pub listen: SocketAddr,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// The `shop` role: reads schema `stock`, owns the use of schema `shop`.
    pub url: SecretString,
    /// The `migrator` role, used only by `shop migrate`.
    pub migrator_url: Option<SecretString>,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    /// Public base URL of item pictures (a CDN in production, the stack's nginx locally).
    pub base_url: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// Hats per list page.
    #[serde(default = "default_page_size")]
    pub page_size: usize,
    /// At or below this many units a product says "Only N left" instead of "In stock".
    #[serde(default = "default_low_stock_threshold")]
    pub low_stock_threshold: i32,
    /// Whether catalogue data is kept in memory between requests. Off only to measure what the
    /// cache is worth (docs/BENCHMARKS.md): every page then reads the replica.
    #[serde(default = "default_cache")]
    pub cache: bool,
}

/// The lag guard (docs/ARCHITECTURE.md): how stale the replica may be before pages stop showing
/// exact low counts (soft) and before stock is treated as unknown (hard).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stock {
    #[serde(default = "default_soft_limit_secs")]
    pub soft_limit_secs: u64,
    #[serde(default = "default_hard_limit_secs")]
    pub hard_limit_secs: u64,
}

/// Live stock streams (Server-Sent Events) on product pages.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Live {
    /// Open streams in total; past it new ones get 503.
    #[serde(default = "default_max_streams")]
    pub max_streams: usize,
    /// Open streams per client address; past it new ones get 429.
    #[serde(default = "default_max_streams_per_client")]
    pub max_streams_per_client: usize,
    /// Seconds between keep-alive comments on an idle stream.
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u64,
}

/// The basket's caps and the anonymous-basket cleanup job.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basket {
    /// Most units of one hat in a basket.
    #[serde(default = "default_max_line_quantity")]
    pub max_line_quantity: i32,
    /// Most different hats in a basket.
    #[serde(default = "default_max_lines")]
    pub max_lines: i64,
    /// Anonymous baskets (and sessions) untouched for this many days are deleted.
    #[serde(default = "default_anonymous_days")]
    pub anonymous_days: i32,
    /// Seconds between runs of the cleanup job.
    #[serde(default = "default_cleanup_interval_secs")]
    pub cleanup_interval_secs: u64,
}

/// Login rate limits: failures allowed free, then a doubling wait (never a lockout). And the
/// login providers: a provider without settings is not offered (docs/ACCOUNTS.md).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[serde(default = "default_free_per_account")]
    pub free_attempts_per_account: u32,
    #[serde(default = "default_free_per_address")]
    pub free_attempts_per_address: u32,
    #[serde(default = "default_max_backoff_secs")]
    pub max_backoff_secs: u64,
    /// `[login.google]`: "Continue with Google" (OpenID Connect).
    pub google: Option<GoogleLogin>,
    /// `[login.facebook]`: "Continue with Facebook" (OAuth 2 and a user-info URL).
    pub facebook: Option<FacebookLogin>,
}

/// An OpenID Connect provider found by discovery (`{issuer_url}/.well-known/openid-configuration`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleLogin {
    /// `https://accounts.google.com`; ID tokens must name exactly this issuer.
    pub issuer_url: String,
    #[serde(deserialize_with = "text_or_number")]
    pub client_id: String,
    pub client_secret: SecretString,
}

/// A plain OAuth 2 provider with a Graph-shaped user-info URL (`{id, name, email}`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacebookLogin {
    /// `https://www.facebook.com/v19.0/dialog/oauth`
    pub authorize_url: String,
    /// `https://graph.facebook.com/v19.0/oauth/access_token`
    pub token_url: String,
    /// `https://graph.facebook.com/v19.0/me?fields=id,name,email`
    pub userinfo_url: String,
    /// The app id (digits: accepted as a number or as text).
    #[serde(deserialize_with = "text_or_number")]
    pub client_id: String,
    pub client_secret: SecretString,
}

/// A client id as text, also when written (or set through the environment) as a bare number.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(u64),
    }
    Ok(match serde::Deserialize::deserialize(d)? {
        TextOrNumber::Text(t) => t,
        TextOrNumber::Number(n) => n.to_string(),
    })
}

const fn default_free_per_account() -> u32 {
    5
}

const fn default_free_per_address() -> u32 {
    20
}

const fn default_max_backoff_secs() -> u64 {
    300
}

impl Default for Login {
    fn default() -> Self {
        Self {
            free_attempts_per_account: default_free_per_account(),
            free_attempts_per_address: default_free_per_address(),
            max_backoff_secs: default_max_backoff_secs(),
            google: None,
            facebook: None,
        }
    }
}

const fn default_max_line_quantity() -> i32 {
    10
}

const fn default_max_lines() -> i64 {
    50
}

const fn default_anonymous_days() -> i32 {
    30
}

const fn default_cleanup_interval_secs() -> u64 {
    3600
}

impl Default for Basket {
    fn default() -> Self {
        Self {
            max_line_quantity: default_max_line_quantity(),
            max_lines: default_max_lines(),
            anonymous_days: default_anonymous_days(),
            cleanup_interval_secs: default_cleanup_interval_secs(),
        }
    }
}

const fn default_page_size() -> usize {
    24
}

const fn default_low_stock_threshold() -> i32 {
    5
}

const fn default_session_cache_secs() -> u64 {
    30
}

const fn default_cache() -> bool {
    true
}

const fn default_soft_limit_secs() -> u64 {
    30
}

const fn default_hard_limit_secs() -> u64 {
    120
}

const fn default_max_streams() -> usize {
    10_000
}

const fn default_max_streams_per_client() -> usize {
    16
}

const fn default_keep_alive_secs() -> u64 {
    15
}

impl Default for Catalogue {
    fn default() -> Self {
        Self {
            page_size: default_page_size(),
            low_stock_threshold: default_low_stock_threshold(),
            cache: default_cache(),
        }
    }
}

impl Default for Stock {
    fn default() -> Self {
        Self {
            soft_limit_secs: default_soft_limit_secs(),
            hard_limit_secs: default_hard_limit_secs(),
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Self {
            max_streams: default_max_streams(),
            max_streams_per_client: default_max_streams_per_client(),
            keep_alive_secs: default_keep_alive_secs(),
        }
    }
}

fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9101))
}

const fn default_max_connections() -> u32 {
    10
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            listen: default_admin(),
        }
    }
}

/// Reads the settings file (when given) and the environment; errors are one printable line.
pub fn load(path: Option<&Path>) -> Result<Settings, contracts::settings::LoadError> {
    contracts::settings::load(path)
}
