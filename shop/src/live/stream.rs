//! One Server-Sent Events stream of what an open page shows (a hat's stock line, a basket's flags).
//! The first event is the current state; then one whenever a notification concerns the page or
//! anything may have changed (`{"all":true}`, the shared listener lost or regained its connection),
//! and on a periodic recheck when the state differs from what was sent last (staleness grows by
//! itself, and the lag guard's words change when it crosses a limit). A keep-alive comment goes out
//! every `live.keep_alive_secs`; streams end at shutdown. The caller has taken the stream's place
//! under the caps.

use super::caps::StreamPermit;
use super::{Live, StockEvent};
use axum::http::{HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use contracts::ItemKey;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// How often an open stream re-reads without being told.
const RECHECK: Duration = Duration::from_secs(5);

/// What one kind of page watches.
pub trait Watched: Send + 'static {
    type State: PartialEq + serde::Serialize + Send;
    /// The event's name (`event:` line).
    const EVENT: &'static str;

    /// The page's current state, read from the catalogue or the database.
    fn read(&self) -> impl Future<Output = anyhow::Result<Self::State>> + Send;

    /// Whether a change to `keys` concerns the page (`last`: what it was sent last, if anything).
    fn concerns(&self, keys: &[ItemKey], last: Option<&Self::State>) -> bool;
}

/// The `text/event-stream` response for `watched`, subscribed before its first read so no change
/// can fall between the two.
pub fn respond<W: Watched>(live: &Live, watched: W, permit: StreamPermit) -> Response {
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watch = Watch {
        watched,
        events: live.subscribe(),
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
    response
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Todo {
    Wait,
    /// Re-read; send only if the state changed.
    Check,
    /// Re-read and send, changed or not (the first event; after a notification for the page).
    Send,
}

struct Watch<W: Watched> {
    watched: W,
    events: Receiver<StockEvent>,
    recheck: tokio::time::Interval,
    stop: CancellationToken,
    last: Option<W::State>,
    todo: Todo,
    /// Held for the stream's life: dropping the stream frees its place under the caps.
    _permit: StreamPermit,
}

impl<W: Watched> Watch<W> {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if self.todo != Todo::Wait {
                let force = self.todo == Todo::Send;
                self.todo = Todo::Wait;
                match self.watched.read().await {
                    Ok(state) if force || self.last.as_ref() != Some(&state) => {
                        let event = Event::default()
                            .event(W::EVENT)
                            .json_data(&state)
                            .unwrap_or_else(|_| Event::default().comment("unserialisable"));
                        self.last = Some(state);
                        return Some((Ok(event), self));
                    }
                    Ok(_) => {}
                    // The next recheck tries again; the page keeps what it shows.
                    Err(e) => tracing::warn!(
                        error = format!("{e:#}"),
                        stream = W::EVENT,
                        "live read failed"
                    ),
                }
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                event = self.events.recv() => match event {
                    Ok(StockEvent::Changed(keys)) => {
                        if self.watched.concerns(&keys, self.last.as_ref()) {
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
}
