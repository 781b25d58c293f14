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
    /// Item pictures to S3. Without this section no picture is processed: items show the shop's
    /// placeholder and `bridge_image_jobs_pending` grows.
    pub images: Option<Images>,
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

impl Flavour {
    /// Whether a snapshot starts streaming from a position read before its copy (MySQL has no
    /// snapshot position), so the replica is only consistent once the stream has passed the head
    /// read after it: until then it counts as hard-stale.
    pub const fn snapshot_replays(self) -> bool {
        matches!(self, Self::Mysql8)
    }
}

/// The shop database, as the `bridge` role.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub url: SecretString,
}

/// The image workers: where thumbnails go, and the limits that keep a bad picture harmless.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Images {
    pub bucket: String,
    /// Key prefix: objects are `{prefix}/{sha256 of the source}/{pipeline version}/{name}`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// An S3-compatible endpoint (path-style addressing); AWS's own endpoint when unset.
    pub endpoint: Option<String>,
    /// Static credentials; when unset, AWS's default chain (environment, instance role).
    pub access_key: Option<String>,
    pub secret_key: Option<SecretString>,
    /// The public URL the bucket is served from (a CDN in production), recorded per picture for
    /// the shop.
    pub public_base_url: String,
    /// Pictures processed at once (each takes one CPU while it decodes and encodes).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// A bigger picture is refused unread ("over the byte limit").
    #[serde(default = "default_max_bytes")]
    pub max_bytes: usize,
    /// A picture with more pixels is refused before it is decoded.
    #[serde(default = "default_max_pixels")]
    pub max_pixels: u64,
    /// Attempts before a job whose uploads keep failing goes to the dead letter.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: i32,
    /// Backoff after a failed attempt: doubling from the base, capped, with jitter.
    #[serde(default = "default_retry_base")]
    pub retry_base_secs: f64,
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: f64,
    /// How long a claimed job is this worker's; a crashed worker's job is taken over after it.
    #[serde(default = "default_lease")]
    pub lease_secs: f64,
    /// Each S3 request's time limit.
    #[serde(default = "default_upload_timeout")]
    pub upload_timeout_secs: f64,
    /// How long an object nothing refers to is kept (CDN caches, open pages, old emails).
    #[serde(default = "default_gc_grace")]
    pub gc_grace_secs: f64,
    /// How often garbage collection runs.
    #[serde(default = "default_gc_interval")]
    pub gc_interval_secs: f64,
}

fn default_prefix() -> String {
    "items".to_owned()
}
fn default_region() -> String {
    "us-east-1".to_owned()
}
const fn default_workers() -> usize {
    2
}
const fn default_max_bytes() -> usize {
    64 << 20
}
const fn default_max_pixels() -> u64 {
    40_000_000
}
const fn default_max_attempts() -> i32 {
    10
}
const fn default_retry_base() -> f64 {
    1.0
}
const fn default_retry_max() -> f64 {
    300.0
}
const fn default_lease() -> f64 {
    300.0
}
const fn default_upload_timeout() -> f64 {
    30.0
}
const fn default_gc_grace() -> f64 {
    7.0 * 24.0 * 3600.0
}
const fn default_gc_interval() -> f64 {
    3600.0
}

fn default_admin() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9102))
}

/// Reads the settings file (when given) and the environment; errors are one printable line.
pub fn load(path: Option<&Path>) -> Result<Settings, contracts::settings::LoadError> {
    contracts::settings::load(path)
}
