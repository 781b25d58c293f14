//! The command line: `shop [--config FILE] serve | migrate`.

use std::path::PathBuf;

#[derive(Debug, clap::Parser)]
#[command(name = "shop", version, about = "The Funny Hat web shop")]
pub struct Cli {
    /// Settings file (TOML); `FUNNYHAT_…` environment variables override it.
    #[arg(long, env = "FUNNYHAT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the web site and the admin listener until SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations as the migrator role, then exit.
    Migrate,
}
