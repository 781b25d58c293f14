//! `simulate`: stock staff at work on the legacy database, at a fixed rate, from a seed.

use clap::Parser;
use tests::legacy::simulate::{Rate, SimulateOptions, rate::parse_duration, run};

/// Write realistic stock transactions to the legacy database (open loop, deterministic per seed).
#[derive(Parser)]
struct Args {
    /// The stock app's URL, e.g. mysql://stockapp:stockapp-dev@127.0.0.1:18110/legacy
    #[arg(long, env = "LEGACY_MYSQL_APP_URL")]
    url: String,
    /// Transactions started per second (5/s, 300/m), whether or not earlier ones have finished.
    #[arg(long, default_value = "5/s")]
    rate: Rate,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after this long (60s, 2m); without it and --count, run until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Stop after this many transactions.
    #[arg(long)]
    count: Option<u64>,
    #[arg(long, default_value_t = 8)]
    max_in_flight: usize,
    /// CA certificate to verify the server with (requires TLS); the local stack's is LEGACY_MYSQL_CA.
    #[arg(long, env = "LEGACY_MYSQL_CA")]
    ca: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let options = SimulateOptions {
        url: a.url,
        ca: a.ca,
        seed: a.seed,
        rate: a.rate,
        duration: a.duration,
        count: a.count,
        max_in_flight: a.max_in_flight,
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    print!("{}", run(options, shutdown).await?);
    Ok(())
}
