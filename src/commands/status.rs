//! `iaup status`: what the resume journal knows: each run with its files uploaded, failed and
//! still pending, then every file that is not confirmed uploaded, with its last error.

use crate::cli::{GlobalArgs, StatusArgs};
use crate::error::{AppError, EXIT_FAILED, EXIT_OK};
use crate::journal::{self, Journal};
use crate::output;
use crate::settings::Env;

fn when(unix: i64) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
}

pub async fn run(_global: &GlobalArgs, args: &StatusArgs, _env: &Env) -> Result<u8, AppError> {
    let path = match &args.journal {
        Some(p) => p.clone(),
        None => journal::default_path()?,
    };
    let j = Journal::open_read(&path).map_err(journal::JournalError::into_app)?;
    let runs = j.runs()?;
    output::data(&format!("journal: {}", j.path().display()));
    if runs.is_empty() {
        output::data("no runs recorded");
        return Ok(EXIT_OK);
    }
    // A run without an outcome is running only while some run holds the journal; otherwise it
    // was killed, or its journal could not be written (a full disk).
    let live = Journal::in_use(&path);
    for r in &runs {
        let outcome = match r.outcome.as_deref() {
            Some(outcome) => outcome,
            None if live && r.id == runs[0].id => "running",
            None => {
                "stopped without recording an outcome: killed, or its journal could not be written"
            }
        };
        output::data(&format!(
            "run {}: {} ({}), started {}{}: {} uploaded, {} failed, {} pending",
            r.id,
            r.command,
            outcome,
            when(r.started_at),
            r.finished_at
                .map(|t| format!(", finished {}", when(t)))
                .unwrap_or_default(),
            r.uploaded,
            r.failed,
            r.pending
        ));
        output::data(&format!("  endpoint: {}", r.endpoint));
    }
    let problems = j.problems()?;
    if problems.is_empty() {
        output::data("every recorded file is uploaded");
        return Ok(EXIT_OK);
    }
    output::data(&format!(
        "{} file(s) not confirmed uploaded:",
        problems.len()
    ));
    for p in &problems {
        let state = match p.state.as_str() {
            "in_flight" => "in flight when the run stopped",
            "pending" => "not started",
            other => other,
        };
        output::data(&format!(
            "  {}/{} ({}): {state}, {} attempt(s){}",
            p.identifier,
            p.key,
            p.local_path,
            p.attempts,
            p.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
    }
    Ok(EXIT_FAILED)
}
