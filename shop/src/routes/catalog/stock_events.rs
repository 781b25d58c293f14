//! `GET /hats/{item_key}/stock/events`: a Server-Sent Events stream of one hat's stock line. The
//! first event is the current state; then an event whenever a `stock_changed` notification names
//! the hat, whenever anything may have changed (`{"all":true}`, the shared listener lost or regained
//! its connection) and whenever the lag guard's verdict changes the words. A keep-alive comment
//! goes out every `live.keep_alive_secs`. Streams are capped in total (503) and per client address
//! (429), and end at shutdown.

use super::product::StockView;
use crate::catalog::Catalogue;
use crate::client_addr::ClientAddr;
use crate::error::AppError;
use crate::live::caps::StreamPermit;
use crate::live::{Live, StockEvent};
use crate::routes::PathText;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// How often an open stream re-checks its hat without being told: staleness grows by itself, and
/// the words change when it crosses a limit.
const RECHECK: Duration = Duration::from_secs(5);

pub async fn stream_stock(
    State(catalogue): State<Arc<Catalogue>>,
    State(live): State<Arc<Live>>,
    ClientAddr(client): ClientAddr,
    PathText(item_key): PathText,
) -> Result<Response, AppError> {
    if catalogue.product(&item_key).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let permit = live.caps.try_open(client)?;
    // Subscribe before the first read, so no change can fall between the two.
    let events = live.subscribe();
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watch = Watch {
        item_key,
        catalogue,
        events,
        recheck,
        stop: live.stop.clone(),
        last: None,
        todo: Todo::Send,
        _permit: permit,
    };
    let stream = futures::stream::unfold(watch, Watch::next);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(live.keep_alive))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies such as nginx must pass events on at once.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Todo {
    Wait,
    /// Re-read; send only if the words changed.
    Check,
    /// Re-read and send, changed or not (the first event; after "everything changed").
    Send,
}

struct Watch {
    item_key: String,
    catalogue: Arc<Catalogue>,
    events: Receiver<StockEvent>,
    recheck: tokio::time::Interval,
    stop: CancellationToken,
    last: Option<StockView>,
    todo: Todo,
    /// Held for the stream's life: dropping the stream frees its place under the caps.
    _permit: StreamPermit,
}

impl Watch {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if self.todo != Todo::Wait {
                let force = self.todo == Todo::Send;
                self.todo = Todo::Wait;
                match self.read().await {
                    Ok(view) if force || self.last.as_ref() != Some(&view) => {
                        let event = Event::default()
                            .event("stock")
                            .json_data(&view)
                            .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                        self.last = Some(view);
                        return Some((Ok(event), self));
                    }
                    Ok(_) => {}
                    // The next recheck tries again; the page keeps what it shows.
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "live stock read failed"),
                }
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                event = self.events.recv() => match event {
                    Ok(StockEvent::Changed(keys)) => {
                        if keys.iter().any(|k| k.as_str() == self.item_key) {
                            self.todo = Todo::Send;
                        }
                    }
                    Ok(StockEvent::Everything) | Err(RecvError::Lagged(_)) => self.todo = Todo::Send,
                    Err(RecvError::Closed) => return None,
                },
                _ = self.recheck.tick() => self.todo = Todo::Check,
            }
        }
    }

    async fn read(&self) -> anyhow::Result<StockView> {
        let product = self.catalogue.product(&self.item_key).await?;
        let lag = self.catalogue.lag().await?;
        Ok(StockView::new(
            &self.catalogue,
            product.as_ref().as_ref(),
            lag,
        ))
    }
}
