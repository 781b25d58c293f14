//! `GET /metrics`: the Prometheus text exposition.

use axum::extract::State;
use metrics_exporter_prometheus::PrometheusHandle;

pub async fn show_metrics(State(handle): State<PrometheusHandle>) -> String {
    handle.render()
}
