//! Leadership: one bridge writes at a time. The leader holds a PostgreSQL advisory lock on a
//! connection of its own and a leader epoch in the checkpoint row; every apply is fenced by
//! `… WHERE epoch = mine`, so a leader that lost its lock (paused, partitioned) cannot write after
//! a standby took over.

use anyhow::Context;
use sqlx::{Connection, PgConnection};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// An arbitrary, fixed advisory-lock key: "funnyhat" in ASCII.
const LOCK_KEY: i64 = 0x6675_6e6e_7968_6174;

/// How often a standby retries the lock.
const RETRY: Duration = Duration::from_secs(1);

/// Held while this bridge leads; dropping it closes the connection and releases the lock.
pub struct Leadership {
    _conn: PgConnection,
    pub epoch: i64,
}

/// Waits (as a standby, holding no binlog connection) until the lock is ours, then claims the next
/// epoch. Returns `None` when stopped first.
pub async fn acquire(
    url: &str,
    instance: &str,
    stop: &CancellationToken,
) -> anyhow::Result<Option<Leadership>> {
    let mut conn = PgConnection::connect(url)
        .await
        .context("leader: connect")?;
    let mut said_standby = false;
    loop {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            break;
        }
        if !said_standby {
            tracing::info!("another bridge leads; standing by");
            metrics::gauge!("bridge_leader").set(0.0);
            said_standby = true;
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(None),
            () = tokio::time::sleep(RETRY) => {}
        }
    }
    let epoch: Option<i64> = sqlx::query_scalar(
        "UPDATE stock.checkpoint SET epoch = epoch + 1, leader = $1 RETURNING epoch",
    )
    .bind(instance)
    .fetch_optional(&mut conn)
    .await?;
    // No checkpoint yet: the first snapshot writes the row with epoch 1.
    let epoch = epoch.unwrap_or(1);
    metrics::gauge!("bridge_leader").set(1.0);
    tracing::info!(epoch, "leading");
    Ok(Some(Leadership { _conn: conn, epoch }))
}
