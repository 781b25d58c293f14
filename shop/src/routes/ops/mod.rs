//! Operator endpoints on the admin listener: liveness and Prometheus metrics.

pub mod healthz;
pub mod metrics;
