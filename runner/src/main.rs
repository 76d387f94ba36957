//! `cip-runner` entry point; see the library documentation (`src/lib.rs`).

use anyhow::Result;
use clap::Parser;

use cip_runner::cli::{Cli, Command};
use cip_runner::commands;

/// Errors are printed as `Error: <message>` on stderr with exit code 1, as
/// kwctl's `main` (which also returns an `anyhow::Result`) does.
fn main() -> Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Run(args) => commands::run(args),
        Command::ValidateSettings(args) => commands::validate_settings(args),
        Command::Annotate(args) => commands::annotate(args),
        Command::Migrate(args) => commands::migrate(args),
        Command::Bench(args) => cip_runner::bench::run(args),
    }
}
