//! One module per subcommand. Each turns its clap args into settings and a plan, runs it, and
//! returns an exit code; `lib::run` maps errors to codes in one place.

pub mod completions;
pub mod configure;
pub mod delete;
pub mod list;
pub mod metadata;
pub mod search;
pub mod status;
pub mod tasks;
pub mod upload;
pub mod verify;

use crate::error::{msg, AppError};
use crate::plan::Problem;
use crate::secret::Credentials;
use crate::settings::Settings;

/// Problems of one kind shown before the rest are only counted.
const SHOWN_PER_KIND: usize = 20;

/// Renders every validation problem as one exit-2 error: nothing was sent. Problems of one
/// kind (the same hint) are grouped: the first [`SHOWN_PER_KIND`] in full, a count of the rest,
/// then the hint once. The total is the last line, where a long list ends.
pub(crate) fn problems_error(list: Vec<Problem>) -> AppError {
    let n = list.len();
    // Kinds in order of first appearance.
    let mut kinds: Vec<(Option<String>, Vec<Problem>)> = Vec::new();
    for p in list {
        match kinds.iter_mut().find(|(hint, _)| *hint == p.hint) {
            Some((_, group)) => group.push(p),
            None => kinds.push((p.hint.clone(), vec![p])),
        }
    }
    let mut body = Vec::new();
    for (hint, group) in kinds {
        for p in group.iter().take(SHOWN_PER_KIND) {
            let mut p = p.clone();
            p.hint = None;
            body.push(format!("  {p}"));
        }
        if group.len() > SHOWN_PER_KIND {
            body.push(format!(
                "  ... and {} more like this",
                group.len() - SHOWN_PER_KIND
            ));
        }
        if let Some(h) = hint {
            body.push(format!("  hint: {h}"));
        }
    }
    let total = format!(
        "{n} problem{} found; nothing was sent",
        if n == 1 { "" } else { "s" }
    );
    // A long list repeats the total at its end, where the eye lands.
    let end = if body.len() > 10 {
        format!("\n{total}")
    } else {
        String::new()
    };
    AppError::usage(msg(format!("{total}:\n{}{end}", body.join("\n"))))
}

/// The S3 keys, or exit 2 with how to get them.
pub(crate) fn credentials(settings: &Settings) -> Result<Credentials, AppError> {
    settings.require_credentials().cloned().map_err(|e| {
        AppError::usage(e)
            .hint("run `iaup configure`, or set IA_ACCESS_KEY_ID and IA_SECRET_ACCESS_KEY")
    })
}
