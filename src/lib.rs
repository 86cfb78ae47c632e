//! iaup: fast, resumable, ia-compatible bulk uploads to the Internet Archive.
//!
//! The binary is a thin shell around [`run`]; the parts are described in DESIGN.md: `cli`
//! (clap types), `settings`/`config` (flags + env + ia.ini), `plan` (validated input),
//! `ias3` (pure wire format), `engine` (scheduling, retries, streaming), `report` (display and
//! summary), `api` (archive.org metadata, login, check_limit), and one module per command.

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod error;
pub mod http;
pub mod ias3;
pub mod journal;
pub mod local_delete;
pub mod metadata_api;
pub mod output;
pub mod plan;
pub mod report;
pub mod secret;
pub mod settings;

use error::{AppError, EXIT_OK};

/// Runs one command line and returns the exit code.
pub fn run(cli: cli::Cli) -> Result<u8, AppError> {
    let env = settings::Env::from_process();
    if cli.global.show_settings {
        let s = settings::Settings::resolve(&cli.global, &env)?;
        output::data(&s.show());
        return Ok(EXIT_OK);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(AppError::failed)?;
    runtime.block_on(async {
        match &cli.command {
            cli::Command::Configure(a) => commands::configure::run(&cli.global, a, &env).await,
            cli::Command::Upload(a) => commands::upload::run(&cli.global, a, &env).await,
            cli::Command::Metadata(a) => commands::metadata::run(&cli.global, a, &env).await,
            cli::Command::Delete(a) => commands::delete::run(&cli.global, a, &env).await,
            cli::Command::Status(a) => commands::status::run(&cli.global, a, &env).await,
            cli::Command::Completions(a) => commands::completions::completions(a),
            cli::Command::Man(a) => commands::completions::man(a),
        }
    })
}
