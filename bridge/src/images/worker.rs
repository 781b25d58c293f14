//! The image workers: a bounded pool that claims image jobs (`FOR UPDATE SKIP LOCKED` with a
//! lease, so two bridges never do the same job), reads the picture from the source, makes the
//! thumbnails off the async executor, uploads them and records the result for the shop. Stock
//! replication never waits for any of it.
//!
//! One job's path: superseded (the item's picture changed again, or is gone) → done at once; the
//! same picture already made for this pipeline version → its objects are shared; otherwise, holding
//! a per-picture lock so two workers never make the same picture, fetch → process → upload →
//! record with the job's end. The lock is a session's, not a transaction's: no transaction stays
//! open while a picture is fetched, made or uploaded (each write is a short one). A picture that
//! cannot be shown fails for good (never retried); a source or S3 failure retries with capped
//! exponential backoff and jitter, and after `max_attempts` the job goes to the dead letter.

use super::pipeline::{self, Limits, Processed};
use super::source::{Fetched, Pictures};
use super::store::Store;
use crate::config::Images;
use anyhow::Context;
use contracts::{ItemKey, StockChanged};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long an idle worker waits before looking for jobs again.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How long a job waits when another worker is making the same picture.
const BUSY_DELAY_SECS: f64 = 1.0;
/// Advisory lock class of "a worker is making this picture" (the two-key form: the leader's
/// one-key lock lives in a different key space).
const PICTURE_LOCK_CLASS: i32 = 0x494D_4721;

/// A claimed job.
#[derive(Debug, sqlx::FromRow)]
pub struct Job {
    pub id: i64,
    pub item_key: String,
    pub source_sha256: String,
    pub attempts: i32,
}

/// How a job ended.
#[derive(Debug)]
enum Outcome {
    /// The item shows the picture.
    Ready,
    /// Nothing to do: the item's picture changed again or is gone.
    Superseded,
    /// The picture cannot be shown (bad or unsupported); retrying would not help.
    Failed,
    /// Another worker is making the same picture right now.
    Busy,
}

pub struct Workers {
    pub db: PgPool,
    pub store: Store,
    pub pictures: Pictures,
    pub settings: Images,
}

impl Workers {
    fn limits(&self) -> Limits {
        Limits {
            max_bytes: self.settings.max_bytes,
            max_pixels: self.settings.max_pixels,
            ..Limits::default()
        }
    }

    /// Runs `images.workers` workers until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let workers: Vec<_> = (0..self.settings.workers.max(1))
            .map(|_| tokio::spawn(self.clone().work(stop.clone())))
            .collect();
        futures::future::join_all(workers).await;
    }

    async fn work(self: Arc<Self>, stop: CancellationToken) {
        let mut failures = 0u32;
        while !stop.is_cancelled() {
            match claim(&self.db, self.settings.lease_secs).await {
                Ok(Some(job)) => {
                    failures = 0;
                    self.handle(job).await;
                }
                Ok(None) => {
                    failures = 0;
                    pause(&stop, IDLE_POLL).await;
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(error = format!("{e:#}"), "cannot claim image jobs");
                    }
                    pause(&stop, backoff(failures, 0.5, 30.0)).await;
                }
            }
        }
    }

    async fn handle(&self, job: Job) {
        let started = std::time::Instant::now();
        let outcome = self.attempt(&job).await;
        let result = match outcome {
            Ok(Outcome::Busy) => release(&self.db, &job, BUSY_DELAY_SECS).await,
            Ok(Outcome::Ready | Outcome::Superseded | Outcome::Failed) => Ok(()),
            Err(error) => self.retry_or_bury(&job, &error).await,
        };
        if let Err(e) = result {
            // The job's lease runs out and another worker (or this one) takes it again.
            tracing::warn!(
                job = job.id,
                error = format!("{e:#}"),
                "cannot record an image job's end"
            );
        }
        metrics::histogram!("bridge_image_job_seconds").record(started.elapsed().as_secs_f64());
    }

    async fn attempt(&self, job: &Job) -> anyhow::Result<Outcome> {
        let sha = hex_to_bytes(&job.source_sha256).context("job hash")?;
        let mut conn = self.db.acquire().await.context("connect")?;
        if !is_current(&mut conn, job, &sha).await? {
            let mut tx = conn.begin().await.context("begin")?;
            finish(&mut tx, job, "done", None).await?;
            tx.commit().await?;
            metrics::counter!("bridge_image_jobs_superseded_total").increment(1);
            return Ok(Outcome::Superseded);
        }
        // Only one worker makes a given picture; the others wait for it and share the result.
        let Some(mut lock) = PictureLock::try_take(conn, &job.source_sha256).await? else {
            return Ok(Outcome::Busy);
        };
        let outcome = self.make(lock.conn(), job, &sha).await;
        lock.release().await;
        outcome
    }

    /// Makes the job's picture (or shares the one made before) and records it, holding the
    /// picture's lock. Each write is a short transaction of its own: none stays open while the
    /// picture is fetched, made or uploaded.
    async fn make(
        &self,
        conn: &mut PgConnection,
        job: &Job,
        sha: &[u8],
    ) -> anyhow::Result<Outcome> {
        let mut tx = conn.begin().await.context("begin")?;
        if let Some(made) = made_before(&mut tx, sha).await? {
            let outcome = self.record(&mut tx, job, sha, made).await?;
            tx.commit().await?;
            return Ok(outcome);
        }
        tx.commit().await?;
        let fetched = self
            .pictures
            .fetch(&job.item_key, &job.source_sha256, self.settings.max_bytes)
            .await?;
        let bytes = match fetched {
            Fetched::Gone => {
                // The item or its picture is gone from the source (deleted since): nothing to show
                // and nothing pending. The hash is forgotten, so a later insert of the same key
                // with the same picture is queued again.
                let mut tx = conn.begin().await.context("begin")?;
                sqlx::query(
                    "UPDATE stock.images SET status = 'none', source_sha256 = NULL, keys = '{}'::jsonb,
                            error = NULL, updated_at = now()
                     WHERE item_key = $1 AND source_sha256 = $2",
                )
                .bind(&job.item_key)
                .bind(sha)
                .execute(&mut *tx)
                .await
                .context("forgetting a picture that is gone")?;
                finish(&mut tx, job, "done", None).await?;
                tx.commit().await?;
                return Ok(Outcome::Superseded);
            }
            Fetched::TooLarge(bytes) => {
                let error = pipeline::PictureError::TooLarge {
                    bytes,
                    limit: self.settings.max_bytes,
                };
                let mut tx = conn.begin().await.context("begin")?;
                let made = self.remember_failure(&mut tx, sha, &error).await?;
                let outcome = self.record(&mut tx, job, sha, made).await?;
                tx.commit().await?;
                return Ok(outcome);
            }
            Fetched::Bytes(bytes) => bytes,
        };
        let limits = self.limits();
        let processed = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let processed = pipeline::process(&bytes, &limits);
            metrics::histogram!("bridge_image_process_seconds")
                .record(started.elapsed().as_secs_f64());
            processed
        })
        .await
        .context("picture processing panicked")?;
        let uploaded = match processed {
            Ok(processed) if processed.sha256.as_slice() != sha => {
                // The source row changed after the binlog event this job came from: the newer
                // change brings its own job.
                let mut tx = conn.begin().await.context("begin")?;
                finish(&mut tx, job, "done", None).await?;
                tx.commit().await?;
                return Ok(Outcome::Superseded);
            }
            Ok(processed) => Ok(self.upload(sha, processed).await?),
            Err(error) => Err(error),
        };
        let mut tx = conn.begin().await.context("begin")?;
        let made = match uploaded {
            Ok((made, bytes)) => remember_made(&mut tx, sha, made, bytes).await?,
            Err(error) => self.remember_failure(&mut tx, sha, &error).await?,
        };
        let outcome = self.record(&mut tx, job, sha, made).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Uploads every rendition; returns what was made and its size in bytes.
    async fn upload(&self, sha: &[u8], processed: Processed) -> anyhow::Result<(Made, i64)> {
        let base = format!(
            "{}/{}/{}",
            self.settings.prefix.trim_end_matches('/'),
            bytes_to_hex(sha),
            pipeline::PIPELINE_VERSION
        );
        let mut keys = serde_json::Map::new();
        let mut total = 0i64;
        for rendition in processed.renditions {
            let key = format!("{base}/{}", rendition.name);
            total += i64::try_from(rendition.bytes.len()).unwrap_or(i64::MAX);
            self.store
                .put(&key, rendition.content_type, rendition.bytes)
                .await?;
            keys.insert(rendition.name, serde_json::Value::String(key));
        }
        let made = Made::Ready {
            keys: serde_json::Value::Object(keys),
            width: i32::try_from(processed.width).unwrap_or(i32::MAX),
            height: i32::try_from(processed.height).unwrap_or(i32::MAX),
        };
        Ok((made, total))
    }

    /// A picture that cannot be shown is remembered by hash, so the same bad picture on another
    /// item is not decoded again.
    async fn remember_failure(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        sha: &[u8],
        error: &pipeline::PictureError,
    ) -> anyhow::Result<Made> {
        let message = error.to_string();
        sqlx::query(
            "INSERT INTO stock.image_objects (source_sha256, pipeline_version, status, error)
             VALUES ($1, $2, 'failed', $3)
             ON CONFLICT (source_sha256, pipeline_version) DO UPDATE SET status = 'failed', error = EXCLUDED.error",
        )
        .bind(sha)
        .bind(pipeline::PIPELINE_VERSION)
        .bind(&message)
        .execute(&mut **tx)
        .await
        .context("recording a picture that cannot be shown")?;
        metrics::counter!("bridge_image_failures_total", "reason" => failure_reason(error))
            .increment(1);
        tracing::warn!(sha256 = bytes_to_hex(sha), error = %message, "picture cannot be shown");
        Ok(Made::Failed(message))
    }

    /// Points the item at the made picture (ready or failed), ends the job, and tells the shop.
    async fn record(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        job: &Job,
        sha: &[u8],
        made: Made,
    ) -> anyhow::Result<Outcome> {
        let (status, error, outcome) = match &made {
            Made::Ready { .. } => ("ready", None, Outcome::Ready),
            Made::Failed(e) => ("failed", Some(e.clone()), Outcome::Failed),
        };
        sqlx::query(
            "UPDATE stock.images SET status = $3::stock.image_status, error = $4, keys = $5,
                    width = $6, height = $7, base_url = $8, updated_at = now()
             WHERE item_key = $1 AND source_sha256 = $2",
        )
        .bind(&job.item_key)
        .bind(sha)
        .bind(status)
        .bind(&error)
        .bind(made.keys())
        .bind(made.width())
        .bind(made.height())
        .bind(self.settings.public_base_url.trim_end_matches('/'))
        .execute(&mut **tx)
        .await
        .context("recording the item's picture")?;
        finish(
            tx,
            job,
            if error.is_some() { "failed" } else { "done" },
            error.as_deref(),
        )
        .await?;
        crate::sink::apply::notify(
            tx,
            &StockChanged::for_keys(
                format!("image:{}", job.id),
                [ItemKey::new(job.item_key.clone())],
            ),
        )
        .await?;
        Ok(outcome)
    }

    /// A failure that may pass (the source or S3 unreachable): back to the queue with backoff, or
    /// to the dead letter after `max_attempts`.
    async fn retry_or_bury(&self, job: &Job, error: &anyhow::Error) -> anyhow::Result<()> {
        let message = format!("{error:#}");
        let dead = job.attempts >= self.settings.max_attempts;
        let delay = backoff(
            u32::try_from(job.attempts).unwrap_or(u32::MAX),
            self.settings.retry_base_secs,
            self.settings.retry_max_secs,
        );
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "UPDATE stock.image_jobs SET state = $2::stock.image_job_state, lease_until = NULL,
                    not_before = now() + make_interval(secs => $3), last_error = $4,
                    finished_at = CASE WHEN $2 = 'dead' THEN now() END
             WHERE id = $1 AND state = 'running'",
        )
        .bind(job.id)
        .bind(if dead { "dead" } else { "queued" })
        .bind(delay.as_secs_f64())
        .bind(&message)
        .execute(&mut *tx)
        .await?;
        if dead {
            let shown = format!(
                "gave up after {} attempts (dead letter; `bridge images requeue` retries it): {message}",
                job.attempts
            );
            sqlx::query(
                "UPDATE stock.images SET status = 'failed', error = $3, updated_at = now()
                 WHERE item_key = $1 AND source_sha256 = decode($2, 'hex') AND status = 'pending'",
            )
            .bind(&job.item_key)
            .bind(&job.source_sha256)
            .bind(&shown)
            .execute(&mut *tx)
            .await?;
            metrics::counter!("bridge_image_jobs_dead_total").increment(1);
            tracing::error!(job = job.id, item = %job.item_key, error = %message, "image job gave up: dead letter");
        } else {
            metrics::counter!("bridge_image_job_retries_total").increment(1);
            tracing::warn!(job = job.id, item = %job.item_key, attempt = job.attempts, retry_in = ?delay, error = %message, "image job failed; will retry");
        }
        tx.commit().await?;
        Ok(())
    }
}

/// What was made of a picture: the objects, or why there are none.
#[derive(Debug)]
enum Made {
    Ready {
        keys: serde_json::Value,
        width: i32,
        height: i32,
    },
    Failed(String),
}

impl Made {
    fn keys(&self) -> serde_json::Value {
        match self {
            Self::Ready { keys, .. } => keys.clone(),
            Self::Failed(_) => serde_json::json!({}),
        }
    }
    const fn width(&self) -> Option<i32> {
        match self {
            Self::Ready { width, .. } => Some(*width),
            Self::Failed(_) => None,
        }
    }
    const fn height(&self) -> Option<i32> {
        match self {
            Self::Ready { height, .. } => Some(*height),
            Self::Failed(_) => None,
        }
    }
}

/// Claims the oldest runnable job: queued and due, or running with an expired lease (its worker
/// died). `SKIP LOCKED` lets any number of workers in any number of bridges claim side by side.
pub async fn claim(db: &PgPool, lease_secs: f64) -> anyhow::Result<Option<Job>> {
    let job = sqlx::query_as::<_, Job>(
        "UPDATE stock.image_jobs SET state = 'running', attempts = attempts + 1,
                lease_until = now() + make_interval(secs => $1)
         WHERE id = (
             SELECT id FROM stock.image_jobs
             WHERE (state = 'queued' AND (not_before IS NULL OR not_before <= now()))
                OR (state = 'running' AND lease_until < now())
             ORDER BY enqueued_at, id
             LIMIT 1
             FOR UPDATE SKIP LOCKED)
         RETURNING id, item_key, source_sha256, attempts",
    )
    .bind(lease_secs)
    .fetch_optional(db)
    .await
    .context("claiming an image job")?;
    Ok(job)
}

/// Is the job's picture still the item's current one?
async fn is_current(conn: &mut PgConnection, job: &Job, sha: &[u8]) -> anyhow::Result<bool> {
    let current: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT source_sha256 FROM stock.images WHERE item_key = $1")
            .bind(&job.item_key)
            .fetch_optional(&mut *conn)
            .await
            .context("reading the item's picture")?;
    Ok(current.flatten().as_deref() == Some(sha))
}

/// The picture as made before for this pipeline version, if it was.
async fn made_before(
    tx: &mut Transaction<'_, Postgres>,
    sha: &[u8],
) -> anyhow::Result<Option<Made>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        status: String,
        error: Option<String>,
        keys: serde_json::Value,
        width: Option<i32>,
        height: Option<i32>,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT status::text AS status, error, keys, width, height FROM stock.image_objects
         WHERE source_sha256 = $1 AND pipeline_version = $2 FOR SHARE",
    )
    .bind(sha)
    .bind(pipeline::PIPELINE_VERSION)
    .fetch_optional(&mut **tx)
    .await
    .context("looking for the picture made before")?;
    Ok(row.map(|r| match (r.status.as_str(), r.width, r.height) {
        ("ready", Some(width), Some(height)) => Made::Ready {
            keys: r.keys,
            width,
            height,
        },
        _ => Made::Failed(r.error.unwrap_or_else(|| "cannot be shown".to_owned())),
    }))
}

/// Records an uploaded picture as made, for every item that has it.
async fn remember_made(
    tx: &mut Transaction<'_, Postgres>,
    sha: &[u8],
    made: Made,
    bytes: i64,
) -> anyhow::Result<Made> {
    sqlx::query(
        "INSERT INTO stock.image_objects (source_sha256, pipeline_version, status, keys, width, height, bytes)
         VALUES ($1, $2, 'ready', $3, $4, $5, $6)
         ON CONFLICT (source_sha256, pipeline_version) DO UPDATE SET status = 'ready', error = NULL,
             keys = EXCLUDED.keys, width = EXCLUDED.width, height = EXCLUDED.height, bytes = EXCLUDED.bytes",
    )
    .bind(sha)
    .bind(pipeline::PIPELINE_VERSION)
    .bind(made.keys())
    .bind(made.width())
    .bind(made.height())
    .bind(bytes)
    .execute(&mut **tx)
    .await
    .context("recording the uploaded picture")?;
    metrics::counter!("bridge_images_made_total").increment(1);
    metrics::counter!("bridge_image_bytes_uploaded_total")
        .increment(u64::try_from(bytes).unwrap_or_default());
    Ok(made)
}

/// A session-level advisory lock on one picture ("a worker is making it"), held on a connection
/// of its own. Dropped without [`PictureLock::release`] (an error, a cancelled future), the
/// connection is closed instead of going back to the pool, so the lock ends with the session.
struct PictureLock {
    conn: Option<PoolConnection<Postgres>>,
    sha256_hex: String,
}

impl PictureLock {
    async fn try_take(
        mut conn: PoolConnection<Postgres>,
        sha256_hex: &str,
    ) -> anyhow::Result<Option<Self>> {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
            .bind(PICTURE_LOCK_CLASS)
            .bind(sha256_hex)
            .fetch_one(&mut *conn)
            .await
            .context("taking the picture's lock")?;
        Ok(locked.then(|| Self {
            conn: Some(conn),
            sha256_hex: sha256_hex.to_owned(),
        }))
    }

    fn conn(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("the lock holds its connection")
    }

    async fn release(mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let unlocked: Result<bool, _> =
            sqlx::query_scalar("SELECT pg_advisory_unlock($1, hashtext($2))")
                .bind(PICTURE_LOCK_CLASS)
                .bind(&self.sha256_hex)
                .fetch_one(&mut *conn)
                .await;
        if !matches!(unlocked, Ok(true)) {
            drop(conn.detach());
        }
    }
}

impl Drop for PictureLock {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    job: &Job,
    state: &str,
    error: Option<&str>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE stock.image_jobs SET state = $2::stock.image_job_state, lease_until = NULL,
                last_error = $3, finished_at = now()
         WHERE id = $1",
    )
    .bind(job.id)
    .bind(state)
    .bind(error)
    .execute(&mut **tx)
    .await
    .context("ending the image job")?;
    Ok(())
}

/// Gives a claimed job back without counting the attempt.
async fn release(db: &PgPool, job: &Job, delay_secs: f64) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE stock.image_jobs SET state = 'queued', attempts = attempts - 1, lease_until = NULL,
                not_before = now() + make_interval(secs => $2)
         WHERE id = $1 AND state = 'running'",
    )
    .bind(job.id)
    .bind(delay_secs)
    .execute(db)
    .await?;
    Ok(())
}

/// Capped exponential backoff with "equal jitter": with c = min(max, base × 2^(n−1)), a delay
/// from c/2 to c, so retries spread out but never come back at once.
pub fn backoff(attempt: u32, base_secs: f64, max_secs: f64) -> Duration {
    let exponent = i32::try_from(attempt.saturating_sub(1).min(30)).unwrap_or(30);
    let ceiling = (base_secs * 2f64.powi(exponent)).min(max_secs).max(0.0);
    Duration::from_secs_f64(ceiling / 2.0 * (1.0 + rand::random::<f64>()))
}

/// The `reason` label of `bridge_image_failures_total`.
const fn failure_reason(error: &pipeline::PictureError) -> &'static str {
    use pipeline::PictureError as E;
    match error {
        E::Empty => "empty",
        E::TooLarge { .. } => "too_large",
        E::TooManyPixels { .. } => "too_many_pixels",
        E::TooMuchMemory { .. } => "too_much_memory",
        E::Unsupported(_) => "unsupported",
        E::NotAnImage => "not_an_image",
        E::Corrupt(_) => "corrupt",
    }
}

async fn pause(stop: &CancellationToken, how_long: Duration) {
    tokio::select! {
        () = tokio::time::sleep(how_long) => {}
        () = stop.cancelled() => {}
    }
}

fn hex_to_bytes(hex: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        hex.len().is_multiple_of(2) && hex.is_ascii(),
        "not a hex string: {hex:?}"
    );
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&hex[i..i + 2], 16).with_context(|| format!("not hex: {hex:?}"))
        })
        .collect()
}

pub fn bytes_to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        for attempt in 1..20 {
            let d = backoff(attempt, 1.0, 60.0).as_secs_f64();
            let ceiling = 2f64.powi(i32::try_from(attempt).unwrap() - 1).min(60.0);
            assert!(d <= ceiling + 1e-9, "attempt {attempt}: {d} > {ceiling}");
            assert!(
                d >= ceiling / 2.0 - 1e-9,
                "attempt {attempt}: {d} too small"
            );
        }
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex_to_bytes(&bytes_to_hex(&bytes)).unwrap(), bytes);
        assert!(hex_to_bytes("abc").is_err());
        assert!(hex_to_bytes("zz").is_err());
    }
}
