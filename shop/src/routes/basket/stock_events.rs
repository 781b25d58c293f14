//! `GET /basket/stock/events`: a Server-Sent Events stream of the visitor's basket lines' stock
//! flags ("Only N available now", "No longer available") and the lag guard's banner, so an open
//! basket page follows the legacy stock like a product page does. The first event is the current
//! state; then one whenever a notification names a hat in the basket, whenever anything may have
//! changed, and on a 5 s recheck when the flags differ. Reads the replica uncached, per basket.
//! Same caps, keep-alive and shutdown as the product streams. No session or basket: 404.

use super::show::LineView;
use crate::catalog::Catalogue;
use crate::client_addr::ClientAddr;
use crate::db::basket;
use crate::domain::stock::Lag;
use crate::error::AppError;
use crate::live::caps::StreamPermit;
use crate::live::{Live, StockEvent};
use crate::session::Visitor;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

const RECHECK: Duration = Duration::from_secs(5);

/// What an open basket page is told.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BasketStock {
    /// (item key, flag text; empty when the line is fine).
    pub lines: Vec<(String, String)>,
    pub refreshing: bool,
}

pub async fn stream_basket_stock(
    State(db): State<PgPool>,
    State(catalogue): State<Arc<Catalogue>>,
    State(live): State<Arc<Live>>,
    visitor: Visitor,
    ClientAddr(client): ClientAddr,
) -> Result<Response, AppError> {
    let basket_id = visitor.basket_id().ok_or(AppError::NotFound)?;
    let permit = live.caps.try_open(client)?;
    let events = live.subscribe();
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watch = Watch {
        basket_id,
        db,
        catalogue,
        events,
        recheck,
        stop: live.stop.clone(),
        last: None,
        send: true,
        _permit: permit,
    };
    let stream = futures::stream::unfold(watch, Watch::next);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(live.keep_alive))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

struct Watch {
    basket_id: i64,
    db: PgPool,
    catalogue: Arc<Catalogue>,
    events: Receiver<StockEvent>,
    recheck: tokio::time::Interval,
    stop: CancellationToken,
    last: Option<BasketStock>,
    /// Read and send when it differs from `last` (always, for the first).
    send: bool,
    _permit: StreamPermit,
}

impl Watch {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if std::mem::take(&mut self.send) {
                match self.read().await {
                    Ok(state) if self.last.as_ref() != Some(&state) => {
                        let event = Event::default()
                            .event("basket")
                            .json_data(&state)
                            .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                        self.last = Some(state);
                        return Some((Ok(event), self));
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "live basket read failed"),
                }
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                event = self.events.recv() => match event {
                    Ok(StockEvent::Changed(keys)) => {
                        let mine = self.last.as_ref().is_none_or(|l| {
                            l.lines.iter().any(|(k, _)| keys.iter().any(|c| c.as_str() == k))
                        });
                        self.send = mine;
                    }
                    Ok(StockEvent::Everything) | Err(RecvError::Lagged(_)) => self.send = true,
                    Err(RecvError::Closed) => return None,
                },
                _ = self.recheck.tick() => self.send = true,
            }
        }
    }

    async fn read(&self) -> anyhow::Result<BasketStock> {
        let rows = basket::lines(&self.db, self.basket_id).await?;
        let lag = self.catalogue.lag().await?;
        Ok(BasketStock {
            lines: rows
                .into_iter()
                .map(|row| {
                    let (view, _) = LineView::new(row);
                    let flag = view.flag();
                    (view.item_key, flag)
                })
                .collect(),
            refreshing: lag == Lag::Hard,
        })
    }
}
