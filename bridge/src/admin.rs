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
    /// What this bridge is doing, for `/readyz`.
    pub role: std::sync::Mutex<Role>,
}

/// This bridge's part, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Role {
    /// Starting: checks, mapping, waiting for nothing yet.
    #[default]
    Starting,
    /// Another bridge leads; this one holds no binlog connection and can take over.
    Standby,
    /// Leading; `staleness` is the replica's (None: no snapshot finished, or unknown).
    Leader { staleness: Option<f64> },
}

impl Health {
    pub fn set_role(&self, role: Role) {
        *self
            .role
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = role;
    }

    fn role(&self) -> Role {
        *self
            .role
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Ready: a healthy standby, or a leader whose replica is within the hard limit.
fn readiness(role: Role, target_up: bool, hard_limit: f64) -> (bool, &'static str) {
    match role {
        Role::Starting => (false, "starting"),
        Role::Standby if target_up => (true, "standby"),
        Role::Standby => (false, "standby without its database"),
        Role::Leader { staleness: Some(s) } if s <= hard_limit => (true, "leader, replica current"),
        Role::Leader { staleness: Some(_) } => (false, "leader, replica past the hard limit"),
        Role::Leader { staleness: None } => (false, "leader, no finished snapshot yet"),
    }
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
    hard_limit: f64,
}

pub fn router(health: Arc<Health>, metrics: PrometheusHandle, hard_limit_secs: f64) -> Router {
    Router::new()
        .route("/healthz", get(show_health))
        .route("/readyz", get(show_readiness))
        .route("/metrics", get(show_metrics))
        .with_state(AdminState {
            health,
            metrics,
            hard_limit: hard_limit_secs,
        })
}

/// Readiness: 200 for a healthy standby or a leader within the hard limit, 503 otherwise.
async fn show_readiness(State(state): State<AdminState>) -> (StatusCode, Json<serde_json::Value>) {
    let (ready, why) = readiness(
        state.health.role(),
        state.health.target.is_up(),
        state.hard_limit,
    );
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({ "ready": ready, "state": why })),
    )
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
    fn readiness_follows_role_and_staleness() {
        assert!(!readiness(Role::Starting, true, 120.0).0);
        assert!(readiness(Role::Standby, true, 120.0).0);
        assert!(!readiness(Role::Standby, false, 120.0).0);
        assert!(
            readiness(
                Role::Leader {
                    staleness: Some(0.2)
                },
                true,
                120.0
            )
            .0
        );
        assert!(
            !readiness(
                Role::Leader {
                    staleness: Some(121.0)
                },
                true,
                120.0
            )
            .0
        );
        assert!(!readiness(Role::Leader { staleness: None }, true, 120.0).0);
    }

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
