//! `cip-runner` entry point; see the library documentation (`src/lib.rs`).

use std::process::ExitCode;

use clap::Parser;

use cip_runner::cli::{Cli, Command};
use cip_runner::commands;

/// Runs the subcommand and turns its result into the exit code.
///
/// An error is printed as one `Error: <message>: <cause>: …` text on stderr (anyhow's `{:#}`,
/// the message with all its causes) and exits with code 1. kwctl's `main` returns its
/// `anyhow::Result` instead (kubewarden-controller `crates/kwctl/src/main.rs` L61), which prints
/// the same first line for an error without causes but appends a `Stack backtrace:` section
/// whenever `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` is set; here nothing depends on them.
/// Success is 0, or the subcommand's own code (`migrate`: [`cip_runner::migrate::EXIT_DROPPED`]).
/// clap's usage errors exit with 2 before any of this.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => commands::run(args).map(|()| 0),
        Command::ValidateSettings(args) => commands::validate_settings(args).map(|()| 0),
        Command::Request(args) => cip_runner::manifest::run(args).map(|()| 0),
        Command::Annotate(args) => commands::annotate(args).map(|()| 0),
        Command::Migrate(args) => commands::migrate(args),
        Command::Bench(args) => cip_runner::bench::run(args).map(|()| 0),
        Command::Preinit(args) => cip_runner::preinit::run(args).map(|()| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("{}", commands::error_text(&error));
            ExitCode::from(commands::EXIT_ERROR)
        }
    }
}
