//! Logging (tracing, JSON or text) and the Prometheus recorder behind `/metrics`.
//! No personal data and no secrets in logs: handlers log ids, never bodies or credentials.

use contracts::settings::{Log, LogFormat};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

pub fn init_logging(log: &Log) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// Installs the global metrics recorder; the handle renders the text exposition format.
pub fn init_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ])?
        .install_recorder()?;
    metrics::describe_counter!(
        "shop_http_requests_total",
        "HTTP requests answered, by route and status"
    );
    metrics::describe_histogram!(
        "shop_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency"
    );
    metrics::describe_gauge!(
        "shop_build_info",
        "Always 1; the version label says which build runs"
    );
    metrics::describe_gauge!(
        "shop_live_streams",
        "Open live-stock streams (Server-Sent Events)"
    );
    metrics::describe_gauge!(
        "shop_stock_listener_connected",
        "1 while the shared LISTEN stock_changed connection is up"
    );
    metrics::describe_counter!(
        "shop_stock_notifications_total",
        "stock_changed notifications received"
    );
    metrics::describe_counter!(
        "shop_stock_listener_reconnects_total",
        "Times the stock listener lost its connection"
    );
    metrics::gauge!("shop_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// Counts and times every public request by its route pattern (never the raw path, which would
/// make one series per URL and could carry personal data).
pub async fn record_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("shop_http_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("shop_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
