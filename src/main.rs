//! The `iaup` binary: parse, run, turn the result into an exit code. Nothing else.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = iaup::cli::Cli::parse();
    match iaup::run(cli) {
        Ok(status) => ExitCode::from(status.code()),
        Err(e) => {
            iaup::output::note(&e.render());
            ExitCode::from(e.status.code())
        }
    }
}
