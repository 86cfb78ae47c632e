//! `iaup status`: what the resume journal knows. Each run, newest first: its command line
//! (secrets masked), working directory and spreadsheet, when it started and ended, and its
//! file counts as they stood when it stopped; then every file that is not confirmed uploaded,
//! by its absolute local path, with its last error; and the multipart uploads begun and not
//! completed: how many parts are stored, and whether the local file is still the one they
//! were begun for (else `iaup upload --abort-stale` aborts them).

use crate::cli::{GlobalArgs, StatusArgs};
use crate::error::{AppError, ExitStatus};
use crate::journal::{self, Journal, RunInfo};
use crate::output;
use crate::reporter::plural;
use crate::settings::Env;

fn when(unix: i64) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
}

/// `0 uploaded, 1 skipped, 2 failed`, then interrupted and not started when there are any.
fn counts(r: &RunInfo) -> String {
    let n = &r.counts;
    let mut s = format!(
        "{} uploaded, {} skipped, {} failed",
        n.confirmed, n.skipped, n.failed
    );
    if n.interrupted > 0 {
        s.push_str(&format!(", {} interrupted", n.interrupted));
    }
    if n.not_started > 0 {
        s.push_str(&format!(", {} not started", n.not_started));
    }
    if !r.frozen {
        s.push_str(
            " (counted now: this run predates per-run counts, so files a later run sent \
             count there)",
        );
    }
    s
}

pub async fn run(
    _global: &GlobalArgs,
    args: &StatusArgs,
    _env: &Env,
) -> Result<ExitStatus, AppError> {
    let path = match &args.journal {
        Some(p) => p.clone(),
        None => journal::default_path()?,
    };
    let j = Journal::open_read(&path).map_err(journal::JournalError::into_app)?;
    let runs = j.runs()?;
    output::data(&format!("journal: {}", j.path().display()));
    if runs.is_empty() {
        output::data("no runs recorded");
        return Ok(ExitStatus::Success);
    }
    // A run without an outcome is running only while it holds its lock; otherwise it was
    // killed, or its journal could not be written (a full disk).
    let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    for r in &runs {
        let outcome = match r.outcome.as_deref() {
            Some(outcome) => outcome,
            None if journal::run_alive(&real, r.id) => "running",
            None => {
                "stopped without recording an outcome: killed, or its journal could not be written"
            }
        };
        output::data(&format!("run {}: {} ({outcome})", r.id, r.command));
        if let Some(line) = &r.command_line {
            output::data(&format!("  command: {line}"));
        }
        if let Some(dir) = &r.cwd {
            output::data(&format!("  directory: {dir}"));
        }
        if let Some(sheet) = &r.spreadsheet {
            output::data(&format!("  spreadsheet: {sheet}"));
        }
        output::data(&format!("  endpoint: {}", r.endpoint));
        output::data(&format!(
            "  started {}, {}",
            when(r.started_at),
            match r.finished_at {
                Some(t) => format!("ended {}", when(t)),
                None if outcome == "running" => "still running".to_owned(),
                None => "its end was not recorded".to_owned(),
            }
        ));
        output::data(&format!("  files: {}", counts(r)));
    }
    show_multipart(&j, &runs)?;
    let problems = j.problems()?;
    if problems.is_empty() {
        output::data("every recorded file is uploaded");
        return Ok(ExitStatus::Success);
    }
    output::data(&format!(
        "{} not confirmed uploaded:",
        plural(problems.len(), "file", "files")
    ));
    for p in &problems {
        let state = match p.state.as_str() {
            "in_flight" => "in flight when the run stopped",
            "pending" => "not started",
            other => other,
        };
        // An interrupted file's error only says it was interrupted.
        let error = match (&p.last_error, p.state.as_str()) {
            (Some(e), s) if s != "interrupted" => format!(": {e}"),
            _ => String::new(),
        };
        output::data(&format!(
            "  {}/{} ({}): {state}, {}{error}",
            p.identifier,
            p.key,
            p.local_path,
            plural(p.attempts.max(0) as usize, "attempt", "attempts"),
        ));
    }
    Ok(ExitStatus::Failed)
}

/// The unfinished multipart uploads of every endpoint the runs used.
fn show_multipart(j: &Journal, runs: &[RunInfo]) -> Result<(), AppError> {
    let mut endpoints: Vec<&str> = runs.iter().map(|r| r.endpoint.as_str()).collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    let mut uploads = Vec::new();
    for ep in endpoints {
        uploads.extend(j.multipart_uploads(ep, journal::Direction::Upload)?);
    }
    if uploads.is_empty() {
        return Ok(());
    }
    output::data(&format!(
        "{} not completed:",
        plural(uploads.len(), "multipart upload", "multipart uploads")
    ));
    for up in &uploads {
        let cut = crate::ias3::multipart::Cut::new(up.size, up.part_size);
        let stored: u64 = up.parts.iter().map(|p| p.size).sum();
        let state = if crate::commands::upload::multipart::is_stale(up) {
            "its file changed or is gone: `iaup upload --abort-stale` aborts it"
        } else {
            "rerun the upload to resume it"
        };
        output::data(&format!(
            "  {}/{} ({}): upload {}, begun {}, {} of {} parts stored ({} of {}); {state}",
            up.identifier,
            up.key,
            up.identity.canonical,
            up.upload_id,
            when(up.created_at),
            up.parts.len(),
            cut.parts(),
            indicatif::HumanBytes(stored),
            indicatif::HumanBytes(up.size),
        ));
    }
    Ok(())
}
