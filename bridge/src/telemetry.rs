//! Logging (tracing, JSON or text) and the Prometheus recorder behind `/metrics`. Errors are logged
//! with the source position they concern; secrets and row contents never are.

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

pub fn init_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    metrics::describe_gauge!(
        "bridge_build_info",
        "Always 1; the version label says which build runs"
    );
    metrics::describe_gauge!(
        "bridge_source_up",
        "1 when the last probe of the legacy database succeeded"
    );
    metrics::describe_gauge!(
        "bridge_target_up",
        "1 when the last probe of the shop database succeeded"
    );
    metrics::describe_gauge!(
        "bridge_source_binlog_position_bytes",
        metrics::Unit::Bytes,
        "Offset in the source's current binlog file"
    );
    metrics::gauge!("bridge_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}
