//! Housekeeping of the pictures: garbage collection of objects nothing refers to (after a grace
//! period, never inline), the purge of old finished jobs, the queue gauges, and putting dead jobs
//! back in the queue.

use super::pipeline;
use super::store::Store;
use anyhow::Context;
use sqlx::PgPool;

/// What one garbage-collection pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Pictures found unreferenced this pass (their grace period starts).
    pub marked: u64,
    /// Pictures referenced again before their grace period ended.
    pub unmarked: u64,
    /// Pictures whose objects were removed.
    pub removed: u64,
    /// Finished jobs purged.
    pub jobs_purged: u64,
}

/// One pass: marks pictures no item shows, unmarks those shown again, removes those unreferenced
/// for longer than `grace_secs` (objects first, then the row: a failure leaves the row for the
/// next pass), and purges jobs finished longer than `grace_secs` ago.
pub async fn collect(db: &PgPool, store: &Store, grace_secs: f64) -> anyhow::Result<Collected> {
    let mut done = Collected {
        marked: sqlx::query(
            "UPDATE stock.image_objects o SET unreferenced_since = now()
             WHERE unreferenced_since IS NULL AND NOT EXISTS (
                 SELECT 1 FROM stock.images i JOIN stock.items it ON it.item_key = i.item_key
                 WHERE i.source_sha256 = o.source_sha256 AND NOT it.deleted)",
        )
        .execute(db)
        .await
        .context("marking unreferenced pictures")?
        .rows_affected(),
        unmarked: sqlx::query(
            "UPDATE stock.image_objects o SET unreferenced_since = NULL
             WHERE unreferenced_since IS NOT NULL AND EXISTS (
                 SELECT 1 FROM stock.images i JOIN stock.items it ON it.item_key = i.item_key
                 WHERE i.source_sha256 = o.source_sha256 AND NOT it.deleted)",
        )
        .execute(db)
        .await
        .context("unmarking pictures shown again")?
        .rows_affected(),
        ..Collected::default()
    };
    loop {
        let mut tx = db.begin().await?;
        // Locked, and still unreferenced under the lock: a worker that shares this picture holds
        // it FOR SHARE, so it is skipped, never removed under the worker's feet.
        let due: Option<(Vec<u8>, String, serde_json::Value)> = sqlx::query_as(
            "SELECT source_sha256, pipeline_version, keys FROM stock.image_objects o
             WHERE unreferenced_since <= now() - make_interval(secs => $1)
               AND NOT EXISTS (
                 SELECT 1 FROM stock.images i JOIN stock.items it ON it.item_key = i.item_key
                 WHERE i.source_sha256 = o.source_sha256 AND NOT it.deleted)
             ORDER BY unreferenced_since
             LIMIT 1
             FOR UPDATE SKIP LOCKED",
        )
        .bind(grace_secs)
        .fetch_optional(&mut *tx)
        .await
        .context("finding pictures past their grace period")?;
        let Some((sha, version, keys)) = due else {
            break;
        };
        let keys: Vec<String> = keys
            .as_object()
            .map(|o| {
                o.values()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        store.delete(&keys).await?;
        sqlx::query(
            "DELETE FROM stock.image_objects WHERE source_sha256 = $1 AND pipeline_version = $2",
        )
        .bind(&sha)
        .bind(&version)
        .execute(&mut *tx)
        .await?;
        // Only deleted items still point at it: forget it there, so an item revived with the
        // same picture has it made again instead of showing removed objects.
        sqlx::query(
            "UPDATE stock.images SET status = 'none', source_sha256 = NULL, keys = '{}'::jsonb,
                    updated_at = now()
             WHERE source_sha256 = $1",
        )
        .bind(&sha)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done.removed += 1;
        metrics::counter!("bridge_image_objects_removed_total").increment(1);
    }
    done.jobs_purged = sqlx::query(
        "DELETE FROM stock.image_jobs WHERE state IN ('done', 'failed')
           AND finished_at < now() - make_interval(secs => $1)",
    )
    .bind(grace_secs)
    .execute(db)
    .await
    .context("purging finished jobs")?
    .rows_affected();
    Ok(done)
}

/// The queue as `/metrics` shows it: `bridge_image_jobs_pending` (queued or running) and
/// `bridge_image_jobs_dead`.
pub async fn sample_queue(db: &PgPool) -> anyhow::Result<()> {
    let (pending, dead): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state IN ('queued', 'running')),
                count(*) FILTER (WHERE state = 'dead')
         FROM stock.image_jobs WHERE state IN ('queued', 'running', 'dead')",
    )
    .fetch_one(db)
    .await
    .context("counting image jobs")?;
    #[allow(clippy::cast_precision_loss)]
    {
        metrics::gauge!("bridge_image_jobs_pending").set(pending as f64);
        metrics::gauge!("bridge_image_jobs_dead").set(dead as f64);
    }
    Ok(())
}

/// Puts every dead job back in the queue (attempts reset) and its item back to `pending`;
/// returns how many.
pub async fn requeue_dead(db: &PgPool) -> anyhow::Result<u64> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE stock.images i SET status = 'pending', error = NULL, updated_at = now()
         FROM stock.image_jobs j
         WHERE j.state = 'dead' AND i.item_key = j.item_key
           AND i.source_sha256 = decode(j.source_sha256, 'hex') AND i.status = 'failed'",
    )
    .execute(&mut *tx)
    .await?;
    let n = sqlx::query(
        "UPDATE stock.image_jobs SET state = 'queued', attempts = 0, not_before = NULL,
                lease_until = NULL, finished_at = NULL
         WHERE state = 'dead'",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// `bridge status`'s lines about pictures.
pub async fn describe(db: &PgPool) -> anyhow::Result<Vec<String>> {
    let (queued, running, dead): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'running'),
                count(*) FILTER (WHERE state = 'dead')
         FROM stock.image_jobs",
    )
    .fetch_one(db)
    .await?;
    let (objects, unreferenced): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE unreferenced_since IS NOT NULL)
         FROM stock.image_objects WHERE pipeline_version = $1",
    )
    .bind(pipeline::PIPELINE_VERSION)
    .fetch_one(db)
    .await?;
    let failed: Vec<(String, String)> = sqlx::query_as(
        "SELECT item_key, coalesce(error, '') FROM stock.images WHERE status = 'failed' ORDER BY item_key",
    )
    .fetch_all(db)
    .await?;
    let mut lines = vec![
        format!("image jobs: {queued} queued, {running} running, {dead} dead"),
        format!(
            "pictures made ({}): {objects}, {unreferenced} unreferenced (removed after the grace period)",
            pipeline::PIPELINE_VERSION
        ),
        format!("pictures that cannot be shown: {}", failed.len()),
    ];
    lines.extend(
        failed
            .into_iter()
            .map(|(key, error)| format!("  item {key}: {error}")),
    );
    Ok(lines)
}
