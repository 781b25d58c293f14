//! Item pictures: the processing pipeline (decode, orient, resize, encode) and the workers that
//! claim image jobs, upload the results to S3 and record them for the shop, off the stock path.

pub mod gc;
pub mod pipeline;
pub mod source;
pub mod store;
pub mod worker;

use crate::config::Images;
use crate::mapping::Mapping;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the queue gauges are refreshed.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(2);
/// How long to wait before trying again when the workers cannot start (source unreachable).
const SETUP_RETRY: Duration = Duration::from_secs(10);

/// Runs the image workers, garbage collection and the queue gauges until `stop`. A failure to
/// start (the source unreachable) is retried; stock replication never waits for any of it.
pub async fn run(
    settings: Images,
    mapping: Arc<Mapping>,
    source: mysql_async::Opts,
    db: sqlx::PgPool,
    stop: CancellationToken,
) {
    let workers = loop {
        match setup(&settings, &mapping, source.clone(), db.clone()).await {
            Ok(Some(workers)) => break Arc::new(workers),
            Ok(None) => {
                tracing::info!("the mapping has no picture column: no image workers");
                return;
            }
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "image workers cannot start yet");
                tokio::select! {
                    () = tokio::time::sleep(SETUP_RETRY) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    };
    tracing::info!(
        workers = settings.workers,
        bucket = %settings.bucket,
        prefix = %settings.prefix,
        "image workers running"
    );
    let housekeeping = tokio::spawn(housekeeping(workers.clone(), stop.clone()));
    workers.clone().run(stop).await;
    housekeeping.await.ok();
    if let Ok(workers) = Arc::try_unwrap(workers) {
        workers.pictures.close().await;
    }
}

async fn setup(
    settings: &Images,
    mapping: &Mapping,
    source: mysql_async::Opts,
    db: sqlx::PgPool,
) -> anyhow::Result<Option<worker::Workers>> {
    let Some(pictures) = source::Pictures::new(source, mapping, settings.workers).await? else {
        return Ok(None);
    };
    Ok(Some(worker::Workers {
        db,
        store: store::Store::connect(settings).await?,
        pictures,
        settings: settings.clone(),
    }))
}

/// The queue gauges every few seconds; garbage collection every `gc_interval_secs`.
async fn housekeeping(workers: Arc<worker::Workers>, stop: CancellationToken) {
    let mut sample = tokio::time::interval(SAMPLE_INTERVAL);
    let mut collect = tokio::time::interval(Duration::from_secs_f64(
        workers.settings.gc_interval_secs.max(1.0),
    ));
    loop {
        tokio::select! {
            _ = sample.tick() => {
                if let Err(e) = gc::sample_queue(&workers.db).await {
                    tracing::debug!(error = format!("{e:#}"), "cannot sample the image queue");
                }
            }
            _ = collect.tick() => {
                match gc::collect(&workers.db, &workers.store, workers.settings.gc_grace_secs).await {
                    Ok(done) if done != gc::Collected::default() => tracing::info!(?done, "image garbage collection"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "image garbage collection failed; next pass retries"),
                }
            }
            () = stop.cancelled() => break,
        }
    }
}

/// `bridge images gc`: one garbage-collection pass now.
pub async fn collect_once(settings: &Images, db: &sqlx::PgPool) -> anyhow::Result<gc::Collected> {
    let store = store::Store::connect(settings).await?;
    gc::collect(db, &store, settings.gc_grace_secs).await
}

/// The `[images]` section, or a clear error for the commands that need it.
pub fn require(settings: Option<&Images>) -> anyhow::Result<&Images> {
    settings.context("the settings have no [images] section (bucket, public_base_url, …)")
}
