//! Deletes anonymous baskets and sessions untouched for `basket.anonymous_days` days, every
//! `basket.cleanup_interval_secs`. Account baskets are never touched. Running it on several shop
//! processes at once is harmless: each run is one idempotent transaction.

use crate::db::basket;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(db: PgPool, days: i32, every: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match basket::delete_expired(&db, days).await {
            Ok((baskets, sessions)) => {
                tracing::info!(baskets, sessions, "expired anonymous baskets cleaned up");
            }
            Err(e) => tracing::warn!(error = %e, "basket cleanup failed; will retry"),
        }
    }
}
