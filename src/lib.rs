//! iaup: fast, resumable, ia-compatible bulk uploads to the Internet Archive.
//!
//! The binary is a thin shell around [`run`]; the parts are described in DESIGN.md: `cli`
//! (clap types), `settings`/`config` (flags + env + ia.ini), `plan` (validated input),
//! `transport` (the HTTP client, the one retry loop and its decision table, error
//! classification, timeouts, the AIMD limiter), the API faces `ias3` (S3: wire format, error
//! classes, check_limit) and `archive` (metadata read and write, login, key checks), `hash`
//! (MD5 helpers, the hashing upload body, the download `.part` sink), `engine` (upload
//! scheduling), `events` (what a transfer tells the run's owner), `reporter` (display, summary
//! and report file), `printer` (the one way a command prints, -q honoured), `journal`, and one
//! module per command.

pub mod archive;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod config;
pub mod download;
pub mod engine;
pub mod error;
pub mod events;
pub mod hash;
pub mod ias3;
pub mod item_doc;
pub mod journal;
pub mod local_delete;
pub mod output;
pub mod plan;
pub mod printer;
pub mod reporter;
pub mod run;
pub mod secret;
pub mod select;
pub mod settings;
pub mod transport;

use error::{AppError, ExitStatus};

/// Runs one command line and returns the exit code.
pub fn run(cli: cli::Cli) -> Result<ExitStatus, AppError> {
    let env = settings::Env::from_process();
    if cli.global.show_settings {
        let s = settings::Settings::resolve(&cli.global, &env)?;
        let upload = match &cli.command {
            cli::Command::Upload(a) => Some(&**a),
            _ => None,
        };
        output::data(&s.show_with(cli.command.transfer(), upload));
        return Ok(ExitStatus::Success);
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
            cli::Command::Download(a) => download::run(&cli.global, a, &env).await,
            cli::Command::Search(a) => commands::search::run(&cli.global, a, &env).await,
            cli::Command::List(a) => commands::list::run(&cli.global, a, &env).await,
            cli::Command::Tasks(a) => commands::tasks::run(&cli.global, a, &env).await,
            cli::Command::Verify(a) => commands::verify::run(&cli.global, a, &env).await,
        }
    })
}
