//! Live stock: one shared `LISTEN stock_changed` connection ([`listener`]) fans notifications out
//! over a broadcast channel to every open product page's Server-Sent Events stream, capped in total
//! and per client address ([`caps`]). Never one database connection per visitor.

pub mod caps;
pub mod listener;
pub mod stream;

use caps::StreamCaps;
use contracts::ItemKey;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Notifications buffered per stream; a stream that falls further behind re-reads everything.
const EVENT_BUFFER: usize = 1024;

/// What open pages are told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StockEvent {
    /// These items changed (the cache has already dropped them).
    Changed(Arc<[ItemKey]>),
    /// Anything may have changed: a `{"all":true}` notification, or the listener lost its
    /// connection or got it back. Every page re-reads and is sent its current state.
    Everything,
}

/// Shared by the listener task and the stream handlers.
pub struct Live {
    events: broadcast::Sender<StockEvent>,
    pub caps: Arc<StreamCaps>,
    pub keep_alive: Duration,
    /// Cancelled at shutdown: streams end so in-flight requests can finish.
    pub stop: CancellationToken,
}

impl Live {
    pub fn new(caps: StreamCaps, keep_alive: Duration, stop: CancellationToken) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Self {
            events,
            caps: Arc::new(caps),
            keep_alive,
            stop,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<StockEvent> {
        self.events.subscribe()
    }

    /// Tells every open stream; nobody listening is fine.
    pub fn publish(&self, event: StockEvent) {
        let _ = self.events.send(event);
    }
}
