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

/// How long a lease lasts; the leader renews it every second, so a standby takes over within
/// `LEASE` + `RETRY` of the leader stopping.
pub const LEASE_SECS: f64 = 5.0;

/// Renews this leader's lease; an error when the epoch is no longer ours.
/// Before the first snapshot has written the checkpoint row there is nothing to renew (and no
/// standby can take over: the lease it would check is in that row).
pub async fn renew(db: &sqlx::PgPool, epoch: i64) -> anyhow::Result<()> {
    let (renewed, rows): (i64, i64) = sqlx::query_as(
        "WITH renewed AS (
             UPDATE stock.checkpoint SET lease_until = clock_timestamp() + make_interval(secs => $2)
             WHERE epoch = $1 RETURNING 1)
         SELECT (SELECT count(*) FROM renewed), (SELECT count(*) FROM stock.checkpoint)",
    )
    .bind(epoch)
    .bind(LEASE_SECS)
    .fetch_one(db)
    .await?;
    anyhow::ensure!(
        renewed == 1 || rows == 0,
        "epoch {epoch} is no longer the leader's: stepping down"
    );
    Ok(())
}

/// The backend holding the leader lock, when the leader's lease has expired (by PostgreSQL's clock).
async fn expired_holder(conn: &mut PgConnection) -> anyhow::Result<Option<i32>> {
    let holder: Option<i32> = sqlx::query_scalar(
        "SELECT l.pid FROM pg_locks l, stock.checkpoint c
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
           AND (c.lease_until IS NULL OR c.lease_until < clock_timestamp())",
    )
    .bind(LOCK_KEY)
    .fetch_optional(conn)
    .await?;
    Ok(holder)
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
        if let Some(holder) = expired_holder(&mut conn).await? {
            tracing::warn!(
                holder,
                "the leader's lease expired: ending its lock session and taking over"
            );
            metrics::counter!("bridge_takeovers_total").increment(1);
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(holder)
                .execute(&mut conn)
                .await?;
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(None),
            () = tokio::time::sleep(RETRY) => {}
        }
    }
    let epoch: Option<i64> = sqlx::query_scalar(
        "UPDATE stock.checkpoint SET epoch = epoch + 1, leader = $1,
             lease_until = clock_timestamp() + make_interval(secs => $2) RETURNING epoch",
    )
    .bind(instance)
    .bind(LEASE_SECS)
    .fetch_optional(&mut conn)
    .await?;
    // No checkpoint yet: the first snapshot writes the row with epoch 1.
    let epoch = epoch.unwrap_or(1);
    metrics::gauge!("bridge_leader").set(1.0);
    tracing::info!(epoch, "leading");
    Ok(Some(Leadership { _conn: conn, epoch }))
}
