//! `shop migrate`: applies the embedded migrations as the `migrator` role and says what it did.

use crate::config::Settings;
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use std::collections::HashSet;

static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Applies what is pending; returns the descriptions applied (empty when up to date).
pub async fn migrate(settings: &Settings) -> anyhow::Result<Vec<String>> {
    let url =
        settings.database.migrator_url.as_ref().context(
            "`shop migrate` needs database.migrator_url (FUNNYHAT_DATABASE__MIGRATOR_URL)",
        )?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(url.expose_secret())
        .await
        .context("cannot connect to the database as the migrator")?;
    let applied: HashSet<i64> =
        sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&pool)
            .await
            .map(|v| v.into_iter().collect())
            .unwrap_or_default();
    let pending: Vec<String> = MIGRATOR
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{} {}", m.version, m.description))
        .collect();
    MIGRATOR.run(&pool).await.context("migration failed")?;
    pool.close().await;
    Ok(pending)
}
