//! The Funny Hat web shop: an axum site over the shop's PostgreSQL. It reads the stock replica the
//! bridge writes (schema `stock`) and never talks to the legacy MySQL. See `docs/ARCHITECTURE.md`.

pub mod accounts;
pub mod catalog;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod csp;
pub mod db;
pub mod domain;
pub mod error;
pub mod jobs;
pub mod live;
pub mod migrate;
pub mod oauth;
pub mod password;
pub mod rate_limit;
pub mod routes;
pub mod session;
pub mod session_cache;
pub mod startup;
pub mod state;
pub mod telemetry;

use cli::Command;
use config::Settings;
use std::future::Future;

/// Runs one command of the CLI to completion.
pub async fn run(
    command: Command,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let metrics = telemetry::init_metrics()?;
            let app = startup::Application::build(&settings, metrics).await?;
            app.run_until_stopped(shutdown).await
        }
        Command::Migrate => {
            let applied = migrate::migrate(&settings).await?;
            if applied.is_empty() {
                println!("database schema is up to date");
            } else {
                println!(
                    "applied {} migration(s): {}",
                    applied.len(),
                    applied.join(", ")
                );
            }
            Ok(())
        }
    }
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
