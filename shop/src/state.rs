//! `AppState`: what every handler may use, cloned cheaply per request. Handlers take the parts
//! they need through `State<…>` and `FromRef`, never a global.

use crate::catalog::Catalogue;
use crate::client_addr::IpNet;
use crate::live::Live;
use crate::oauth::Providers;
use crate::password::Passwords;
use crate::rate_limit::Limiter;
use axum::extract::FromRef;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub site: Arc<Site>,
    pub metrics: PrometheusHandle,
    pub catalogue: Arc<Catalogue>,
    pub sessions: Arc<crate::session_cache::SessionCache>,
    pub live: Arc<Live>,
    pub passwords: Arc<Passwords>,
    pub login_limits: Arc<LoginLimits>,
    /// "Continue with Google / Facebook": the configured login providers.
    pub providers: Arc<Providers>,
}

/// Login rate limits: per account (lower-cased username) and per client address.
pub struct LoginLimits {
    pub account: Limiter,
    pub address: Limiter,
}

/// Settings the pages need, resolved once at start-up.
#[derive(Debug)]
pub struct Site {
    pub public_url: String,
    pub media_base_url: String,
    /// Proxies whose `X-Forwarded-For` is believed (see `client_addr`).
    pub trusted_proxies: Vec<IpNet>,
    /// `http.insecure_dev_cookies`: the session cookie without `Secure` (and without `__Host-`).
    pub insecure_dev_cookies: bool,
    /// Days an idle session (and an anonymous basket) is kept: the cookie's `Max-Age`.
    pub session_days: i32,
    pub basket: BasketLimits,
}

/// The basket's caps (`basket.*` settings).
#[derive(Debug, Clone, Copy)]
pub struct BasketLimits {
    pub max_line_quantity: i32,
    pub max_lines: i64,
}

impl Site {
    /// The session cookie's name (see `session`).
    pub fn cookie_name(&self) -> &'static str {
        if self.insecure_dev_cookies {
            crate::session::DEV_COOKIE
        } else {
            crate::session::SECURE_COOKIE
        }
    }
}
