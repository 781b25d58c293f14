//! The shop database side, as the `bridge` role: it may write only schema `stock`.

pub mod apply;
pub mod lanes;
pub mod tables;

use crate::config::Target;
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::time::Duration;

/// A small pool: the bridge applies on few connections, by design (ordering, one checkpoint row):
/// two lanes, the lease, the freshness probe, and room for `status` and the admin endpoints.
pub fn pool(target: &Target) -> anyhow::Result<PgPool> {
    pool_of(target, 6)
}

/// A pool of at most `max_connections` (the image workers hold one each while they work).
pub fn pool_of(target: &Target, max_connections: u32) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy(target.url.expose_secret())
        .context("target.url is not a valid PostgreSQL URL")
}

pub async fn ping(db: &PgPool) -> anyhow::Result<()> {
    sqlx::query("SELECT 1")
        .execute(db)
        .await
        .context("cannot reach the shop database")?;
    Ok(())
}
