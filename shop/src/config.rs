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
    pub log: contracts::settings::Log,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// Public listener (customers, behind the load balancer in production).
    pub listen: SocketAddr,
    /// The URL customers use, for absolute links and redirects.
    pub public_url: String,
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
