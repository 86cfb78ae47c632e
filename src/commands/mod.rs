//! One module per subcommand. Each turns its clap args into settings and a plan, runs it, and
//! returns an exit code; `lib::run` maps errors to codes in one place.

pub mod configure;
pub mod delete;
pub mod metadata;
pub mod status;
pub mod upload;
