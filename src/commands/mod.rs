//! One module per subcommand. Each turns its clap args into settings and a plan, runs it, and
//! returns an exit code; `lib::run` maps errors to codes in one place.

pub mod completions;
pub mod configure;
pub mod delete;
pub mod metadata;
pub mod status;
pub mod upload;

use crate::error::{msg, AppError};
use crate::plan::Problem;
use crate::secret::Credentials;
use crate::settings::Settings;

/// Renders every validation problem as one exit-2 error: nothing was sent.
pub(crate) fn problems_error(list: Vec<Problem>) -> AppError {
    let n = list.len();
    let body: Vec<String> = list.iter().map(|p| format!("  {p}")).collect();
    AppError::usage(msg(format!(
        "{n} problem{} found; nothing was sent:\n{}",
        if n == 1 { "" } else { "s" },
        body.join("\n")
    )))
}

/// The S3 keys, or exit 2 with how to get them.
pub(crate) fn credentials(settings: &Settings) -> Result<Credentials, AppError> {
    settings.require_credentials().cloned().map_err(|e| {
        AppError::usage(e)
            .hint("run `iaup configure`, or set IA_ACCESS_KEY_ID and IA_SECRET_ACCESS_KEY")
    })
}
