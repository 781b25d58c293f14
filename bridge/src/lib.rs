//! The bridge: the only program that talks to the legacy stock database, and only with replication
//! grants + SELECT. It replicates stock into the shop database's schema `stock` (see
//! `docs/ARCHITECTURE.md`).
//!
//! Status: the foundation. It loads its settings, serves `/healthz` and `/metrics`, and probes both
//! databases every second; snapshot and binlog replication are the next slice (README's status table).

pub mod admin;
pub mod cli;
pub mod config;
pub mod sink;
pub mod source;
pub mod telemetry;

use anyhow::Context;
use cli::Command;
use config::Settings;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the source's binlog head and the target are probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long the admin listener may take to finish in-flight requests after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub async fn run(
    command: Command,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match command {
        Command::Run => run_until_stopped(settings, shutdown).await,
        Command::Status => print_status(&settings).await,
    }
}

async fn run_until_stopped(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = telemetry::init_metrics()?;
    let source_opts = source::connect_opts(&settings.source)?;
    let target = sink::pool(&settings.target)?;
    let health = Arc::new(admin::Health::default());
    let listener = tokio::net::TcpListener::bind(settings.admin.listen)
        .await
        .with_context(|| format!("cannot listen on admin.listen = {}", settings.admin.listen))?;
    let admin_addr = listener
        .local_addr()
        .context("admin listener has no address")?;
    tracing::info!(admin = %admin_addr, flavour = ?settings.source.flavour, "bridge listening");

    let stop = CancellationToken::new();
    let admin = axum::serve(listener, admin::router(health.clone(), metrics))
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    let admin = tokio::spawn(admin);

    let probe_stop = stop.clone();
    let probes = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => probe(&source_opts, &target, &health).await,
                () = probe_stop.cancelled() => break,
            }
        }
        target.close().await;
    });

    shutdown.await;
    tracing::info!("shutdown requested");
    stop.cancel();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { tokio::join!(admin, probes) }).await;
    if drained.is_err() {
        tracing::warn!("shutdown took too long; exiting anyway");
    }
    Ok(())
}

/// One probe of each database; failures are logged once per change of state, not every second.
async fn probe(source_opts: &mysql_async::Opts, target: &sqlx::PgPool, health: &admin::Health) {
    let source = source::binlog_head(source_opts).await;
    if let Ok(head) = &source {
        metrics::gauge!("bridge_source_binlog_position_bytes").set(head.position as f64);
    }
    report("source", &health.source, source.map(drop));
    report("target", &health.target, sink::ping(target).await);
}

fn report(what: &'static str, seen: &admin::Reachability, result: anyhow::Result<()>) {
    let now_up = result.is_ok();
    let changed = seen.set(now_up);
    metrics::gauge!(format!("bridge_{what}_up")).set(if now_up { 1.0 } else { 0.0 });
    match result {
        Err(e) if changed => tracing::warn!(error = format!("{e:#}"), "{what} unreachable"),
        Ok(()) if changed => tracing::info!("{what} reachable"),
        _ => {}
    }
}

async fn print_status(settings: &Settings) -> anyhow::Result<()> {
    let head = source::binlog_head(&source::connect_opts(&settings.source)?).await?;
    println!(
        "source: reachable, binlog at {}:{}",
        head.file, head.position
    );
    let target = sink::pool(&settings.target)?;
    sink::ping(&target).await?;
    println!("target: reachable");
    println!("replication: not implemented yet (foundation build)");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
