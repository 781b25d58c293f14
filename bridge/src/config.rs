//! The bridge's typed settings: a TOML file (`--config`, or `FUNNYHAT_CONFIG`) with `FUNNYHAT_…`
//! environment variables on top, parsed by [`contracts::settings`]. Secrets are `SecretString`.

use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub admin: Admin,
    pub source: Source,
    pub target: Target,
    #[serde(default)]
    pub log: contracts::settings::Log,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// `/healthz` and `/metrics`; keep it on a private address (default loopback).
    #[serde(default = "default_admin")]
    pub listen: SocketAddr,
    /// `/readyz` fails for a leader whose replica is staler than this (the shop's hard limit).
    #[serde(default = "default_ready_staleness")]
    pub ready_max_staleness_secs: f64,
}

impl Default for Admin {
    fn default() -> Self {
        Self {
            listen: default_admin(),
            ready_max_staleness_secs: default_ready_staleness(),
        }
    }
}

const fn default_ready_staleness() -> f64 {
    120.0
}

/// The legacy database: replication grants + SELECT on the legacy schema, nothing more.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub url: SecretString,
    pub flavour: Flavour,
    /// This bridge's replica server id: unique among every replica of the source.
    pub server_id: u32,
    /// CA bundle to verify the server's certificate; TLS is required when set.
    pub tls_ca: Option<PathBuf>,
    /// The mapping file: which legacy tables and columns make up the stock record.
    pub mapping: PathBuf,
    /// How to resume after a restart: by GTID (survives a failover to a replica of the same GTID
    /// domain) or by binlog file + position.
    #[serde(default)]
    pub resume: ResumeMode,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumeMode {
    #[default]
    Gtid,
    Position,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavour {
    Mariadb,
    /// MySQL 8 / RDS: parser-level tests only, untested against a real server (README says so).
    Mysql8,
}

/// The shop database, as the `bridge` role.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub url: SecretString,
}

fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9102))
}

/// Reads the settings file (when given) and the environment; errors are one printable line.
pub fn load(path: Option<&Path>) -> Result<Settings, contracts::settings::LoadError> {
    contracts::settings::load(path)
}
