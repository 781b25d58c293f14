use bridge::{cli::Cli, config, telemetry};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    bridge::allocator::fix_mmap_threshold();
    let cli = Cli::parse();
    let settings = match config::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("bridge: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(&settings.log);
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    match runtime.block_on(bridge::run(
        cli.command,
        settings,
        bridge::shutdown_signal(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "bridge stopped");
            eprintln!("bridge: {e:#}");
            ExitCode::from(bridge::exit_code(&e))
        }
    }
}
