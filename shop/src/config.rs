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
    pub admin: Admin,
    pub database: Database,
    pub media: Media,
    #[serde(default)]
    pub log: Log,
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

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info,shop=debug`; `RUST_LOG` wins when set.
    #[serde(default = "default_filter")]
    pub filter: String,
}

#[derive(Debug, Default, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9101))
}

const fn default_max_connections() -> u32 {
    10
}

fn default_filter() -> String {
    "info".to_owned()
}

impl Default for Admin {
    fn default() -> Self {
        Self { listen: default_admin() }
    }
}

/// Why settings could not be loaded: one line, fit to print before exiting with code 2.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("settings file {path}: {reason}")]
    Unreadable { path: String, reason: std::io::Error },
    #[error(transparent)]
    Invalid(#[from] contracts::settings::SettingsError),
}

/// Reads the file (when given) and the environment.
pub fn load(path: Option<&Path>) -> Result<Settings, LoadError> {
    let text = path
        .map(|p| std::fs::read_to_string(p).map_err(|reason| LoadError::Unreadable { path: p.display().to_string(), reason }))
        .transpose()?;
    let name = path.map_or_else(|| "(no settings file)".to_owned(), |p| p.display().to_string());
    let env = std::env::vars().filter(|(k, _)| k != "FUNNYHAT_CONFIG");
    Ok(contracts::settings::parse(&name, text.as_deref(), env, "FUNNYHAT_")?)
}
