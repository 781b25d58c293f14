//! The shop database side, as the `bridge` role: it may write only schema `stock`.

pub mod apply;
pub mod lanes;
pub mod tables;

use crate::config::Target;
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// Session settings of every bridge connection, sent at connect (no extra round trip). Each batch
/// statement runs once with its own arrays, so PostgreSQL's JIT would compile code for a single
/// execution, and a parallel plan starts worker processes (each loading LLVM for its JIT) for a
/// scan one backend does as well: a 1M-change catch-up started 66 of them. Measured, the catch-up's
/// CPU and speed did not change either way (docs/BENCHMARKS.md, "Bridge catch-up"); what it
/// spares is worker slots and a statement's fork-and-compile time. The shop's sessions keep the
/// server's defaults.
const SESSION: [(&str, &str); 2] = [("jit", "off"), ("max_parallel_workers_per_gather", "0")];

/// A small pool: the bridge applies on few connections, by design (ordering, one checkpoint row):
/// two lanes, the lease, the freshness probe, and room for `status` and the admin endpoints.
pub fn pool(target: &Target) -> anyhow::Result<PgPool> {
    pool_of(target, 6)
}

/// A pool of at most `max_connections` (the image workers hold one each while they work).
pub fn pool_of(target: &Target, max_connections: u32) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(target.url.expose_secret())
        .context("target.url is not a valid PostgreSQL URL")?
        .options(SESSION);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with(options))
}

pub async fn ping(db: &PgPool) -> anyhow::Result<()> {
    sqlx::query("SELECT 1")
        .execute(db)
        .await
        .context("cannot reach the shop database")?;
    Ok(())
}
