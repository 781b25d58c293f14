//! `demo-load`: creates the demo legacy stock database (schema, hats, stock levels, pictures) once.

use clap::Parser;
use tests::legacy::load::{LoadOptions, LoadOutcome, load};

/// Create the legacy schema and load the seeded demo data, unless it is there already.
#[derive(Parser)]
struct Args {
    /// Admin URL of the legacy database, e.g. mysql://admin:admin-dev@127.0.0.1:18110/legacy
    #[arg(long, env = "LEGACY_MYSQL_ADMIN_URL")]
    url: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Drop the app's tables and load again even if the demo data is there.
    #[arg(long)]
    force: bool,
    /// CA certificate to verify the server with (requires TLS); the local stack's is LEGACY_MYSQL_CA.
    #[arg(long, env = "LEGACY_MYSQL_CA")]
    ca: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = LoadOptions {
        url: args.url,
        seed: args.seed,
        force: args.force,
        ca: args.ca,
    };
    match load(&options).await? {
        LoadOutcome::AlreadyLoaded { seed } => println!("demo data already loaded (seed {seed})"),
        LoadOutcome::Loaded(summary) => println!("{summary}"),
    }
    Ok(())
}
