//! The command line: `bridge [--config FILE] run | status | verify | snapshot --table X |
//! images requeue | images gc`.

use std::path::PathBuf;

#[derive(Debug, clap::Parser)]
#[command(
    name = "bridge",
    version,
    about = "Replicates the legacy stock database into the shop database"
)]
pub struct Cli {
    /// Settings file (TOML); `FUNNYHAT_…` environment variables override it.
    #[arg(long, env = "FUNNYHAT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run until SIGTERM or Ctrl-C, serving /healthz and /metrics on the admin listener.
    Run,
    /// Check the connections to the source and the target once and print what was found.
    Status,
    /// Compare the replica with a consistent snapshot of the source; exit 0 equal, 1 drift, 2 error.
    Verify,
    /// Load one mapped table again (after a schema change stopped it): checks it against the
    /// mapping, then the running leader switches a fresh snapshot of it in and streams it again.
    Snapshot {
        /// The source table (as the mapping names it), e.g. `stock_levels`.
        #[arg(long)]
        table: String,
    },
    /// Item pictures: put dead-lettered jobs back in the queue, or collect garbage now.
    #[command(subcommand)]
    Images(ImagesCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum ImagesCommand {
    /// Put every dead-lettered image job back in the queue (after fixing S3, say).
    Requeue,
    /// Remove the objects of pictures unreferenced for longer than `images.gc_grace_secs`, now.
    Gc,
}
