//! The admin listener: `/healthz` (the process is alive and what it last saw of its two databases)
//! and `/metrics`. Private by default (loopback); nothing here changes state.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// What the probes last saw, shared with the admin handlers.
#[derive(Debug, Default)]
pub struct Health {
    pub source: Reachability,
    pub target: Reachability,
}

/// Whether a database answered the last probe; unknown until the first one.
#[derive(Debug)]
pub struct Reachability(AtomicU8);

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

impl Reachability {
    /// Records a probe; true when this changes what is known (so it is logged once, not every second).
    pub fn set(&self, up: bool) -> bool {
        let new = if up { UP } else { DOWN };
        self.0.swap(new, Ordering::Relaxed) != new
    }

    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed) == UP
    }
}

impl Default for Reachability {
    fn default() -> Self {
        Self(AtomicU8::new(UNKNOWN))
    }
}

#[derive(Clone)]
struct AdminState {
    health: Arc<Health>,
    metrics: PrometheusHandle,
}

pub fn router(health: Arc<Health>, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(show_health))
        .route("/metrics", get(show_metrics))
        .with_state(AdminState { health, metrics })
}

/// Liveness: 200 while the process runs its loop. The body says what it can reach.
async fn show_health(State(state): State<AdminState>) -> (StatusCode, Json<serde_json::Value>) {
    let source = state.health.source.is_up();
    let target = state.health.target.is_up();
    (
        StatusCode::OK,
        Json(serde_json::json!({ "status": "ok", "source": source, "target": target })),
    )
}

async fn show_metrics(State(state): State<AdminState>) -> String {
    state.metrics.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability_reports_changes_once() {
        let r = Reachability::default();
        assert!(!r.is_up());
        assert!(r.set(false), "unknown → down is news");
        assert!(!r.set(false), "down → down is not");
        assert!(r.set(true));
        assert!(!r.set(true));
        assert!(r.is_up());
    }
}
