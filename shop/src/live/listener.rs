//! The one listening connection of this process: `LISTEN stock_changed` and `session_changed`. For
//! each stock notification it first drops the cached entries the payload names
//! (`contracts::StockChanged::parse_or_all`: unreadable means everything), then tells the open
//! streams; a session notification drops that session from the session cache. When the connection
//! drops it stops both caches (nothing is served from them while changes could go unseen), tells
//! open pages to re-read, and reconnects with backoff; once listening again it empties the caches
//! and tells pages to re-read once more.

use super::{Live, StockEvent};
use crate::catalog::Catalogue;
use crate::session_cache::{SESSION_CHANGED_CHANNEL, SessionCache};
use contracts::StockChanged;
use contracts::stock::STOCK_CHANGED_CHANNEL;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// The PostgreSQL `application_name` of the listener connection, so operators (and tests) can
/// find it in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "funnyhat-shop-stock-listener";

/// Runs until `live.stop` is cancelled. `pool` is a one-connection pool of its own.
pub async fn run(
    pool: PgPool,
    catalogue: Arc<Catalogue>,
    sessions: Arc<SessionCache>,
    live: Arc<Live>,
) {
    let mut retry = FIRST_RETRY;
    let mut failures: u32 = 0;
    loop {
        let connected = tokio::select! {
            () = live.stop.cancelled() => return,
            c = connect(&pool) => c,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(e) => {
                failures += 1;
                // Once, then every 20th attempt: a database outage must not flood the log.
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(error = %e, failures, "cannot listen for stock changes; retrying");
                }
                tokio::select! {
                    () = live.stop.cancelled() => return,
                    () = tokio::time::sleep(retry) => {}
                }
                retry = (retry * 2).min(MAX_RETRY);
                continue;
            }
        };
        retry = FIRST_RETRY;
        failures = 0;
        catalogue.set_listening(true);
        sessions.set_listening(true);
        metrics::gauge!("shop_stock_listener_connected").set(1.0);
        tracing::info!("listening for stock changes");
        live.publish(StockEvent::Everything);
        loop {
            let received = tokio::select! {
                () = live.stop.cancelled() => return,
                r = listener.try_recv() => r,
            };
            match received {
                Ok(Some(notification)) if notification.channel() == SESSION_CHANGED_CHANNEL => {
                    sessions.apply(notification.payload());
                }
                Ok(Some(notification)) => {
                    let change = StockChanged::parse_or_all(notification.payload());
                    catalogue.apply(&change).await;
                    metrics::counter!("shop_stock_notifications_total").increment(1);
                    live.publish(match change {
                        StockChanged::Keys { keys, .. } => StockEvent::Changed(keys.into()),
                        StockChanged::All { .. } => StockEvent::Everything,
                    });
                }
                Ok(None) | Err(_) => {
                    catalogue.set_listening(false);
                    sessions.set_listening(false);
                    metrics::gauge!("shop_stock_listener_connected").set(0.0);
                    metrics::counter!("shop_stock_listener_reconnects_total").increment(1);
                    tracing::warn!(
                        "stock listener lost its connection; cache emptied, reconnecting"
                    );
                    live.publish(StockEvent::Everything);
                    break;
                }
            }
        }
        // Dropping the listener gives its (dead) connection back to the pool before reconnecting.
        drop(listener);
    }
}

async fn connect(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    // We reconnect ourselves (to flush the cache in between), never silently inside recv.
    listener.eager_reconnect(false);
    listener
        .listen_all([STOCK_CHANGED_CHANNEL, SESSION_CHANGED_CHANNEL])
        .await?;
    Ok(listener)
}
