//! `iaup tasks ID...`: the items' catalog tasks (queued, running, in error; `--history` adds
//! the finished ones) from the Tasks API (`archive::tasks`), newest first, as an aligned table
//! or as the API's rows in JSON lines. `--wait` first waits, for every item at once, until no
//! task is queued or running (`tasks::wait_idle`, the same wait `upload --wait` runs), with a
//! line each time an item's counts change.
//!
//! Exit codes: 0 no task in error (and everything finished in time), 1 a task is in error
//! (each one named) or the wait timed out, 2 bad input or no keys.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::metadata::{invalid_identifiers, problems_error};
use crate::archive::tasks::{wait_idle, Summary, Task, TasksApi, Waited};
use crate::cli::{GlobalArgs, TasksArgs};
use crate::error::{msg, AppError, ExitStatus};
use crate::printer::Printer;
use crate::run::{self, Interrupt};
use crate::secret::Credentials;
use crate::settings::{Env, Settings};
use crate::transport::{self, RetryPolicy};

/// The table's columns.
const HEADER: [&str; 5] = ["identifier", "task_id", "state", "cmd", "submittime"];

/// One table row of a task.
fn table_row(id: &str, t: &Task) -> Vec<String> {
    vec![
        id.to_owned(),
        t.task_id().unwrap_or_default(),
        t.state().to_owned(),
        t.cmd(),
        t.submittime(),
    ]
}

/// Rows padded to their column's width, two spaces apart (the last column unpadded).
fn aligned(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(have) => *have = (*have).max(w),
                None => widths.push(w),
            }
        }
    }
    rows.iter()
        .map(|row| {
            let last = row.len().saturating_sub(1);
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == last {
                        c.clone()
                    } else {
                        format!("{c:<w$}", w = widths[i])
                    }
                })
                .collect();
            cells.join("  ")
        })
        .collect()
}

/// `ID: 1 queued, 2 running` (and errors, when there are any).
fn counts(id: &str, s: &Summary) -> String {
    let mut line = format!("{id}: {} queued, {} running", s.queued, s.running);
    if s.error > 0 {
        line.push_str(&format!(", {} in error", s.error));
    }
    line
}

pub async fn run(global: &GlobalArgs, args: &TasksArgs, env: &Env) -> Result<ExitStatus, AppError> {
    let settings = Settings::resolve(global, env)?;
    let transfer = settings.transfer(&args.transfer)?;
    let problems = invalid_identifiers(&args.identifiers);
    if !problems.is_empty() {
        return Err(problems_error(problems));
    }
    let wait_timeout = Duration::try_from_secs_f64(args.wait_timeout).map_err(|_| {
        AppError::usage(msg(format!(
            "--wait-timeout {}: give a number of seconds",
            args.wait_timeout
        )))
    })?;
    let printer = Printer::new(transfer.quiet, true);
    let asker = Arc::new(Asker {
        client: transport::client(transfer.jobs),
        archive_url: settings.archive_url.clone(),
        creds: super::credentials(&settings)?,
        policy: transfer.policy,
        printer: printer.clone(),
    });
    let interrupt = Interrupt::install(printer.clone(), "reads");
    let mut code = ExitStatus::Success;
    if args.wait {
        // Every item is waited for at once: a wait is mostly sleeping between polls.
        let width = args.identifiers.len();
        code = wait_all(&asker, &args.identifiers, width, wait_timeout, &interrupt).await;
    }
    let listed = list_all(&asker, args, transfer.jobs, &interrupt).await;
    Ok(if interrupt.interrupted() {
        ExitStatus::Interrupted
    } else {
        code.max(listed)
    })
}

/// What asking the Tasks API needs, owned, for the worker pool.
struct Asker {
    client: reqwest::Client,
    archive_url: String,
    creds: Credentials,
    policy: RetryPolicy,
    printer: Printer,
}

impl Asker {
    fn api(&self) -> TasksApi<'_> {
        TasksApi {
            client: &self.client,
            archive_url: &self.archive_url,
            creds: &self.creds,
            policy: &self.policy,
        }
    }
}

/// `--wait`: until no task of any item is queued or running, a line each time an item's
/// counts change; `Failed` when a wait timed out or could not ask.
async fn wait_all(
    asker: &Arc<Asker>,
    ids: &[String],
    width: usize,
    timeout: Duration,
    interrupt: &Interrupt,
) -> ExitStatus {
    let a = asker.clone();
    let rx = run::pool(
        ids.to_vec(),
        width,
        interrupt.stop.clone(),
        move |id: String| {
            let a = a.clone();
            async move {
                let last: Mutex<Option<Summary>> = Mutex::new(None);
                let on_poll = |s: &Summary| {
                    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                    if last.as_ref() != Some(s) {
                        a.printer.note(&format!("waiting: {}", counts(&id, s)));
                        *last = Some(*s);
                    }
                };
                let on_retry = a.printer.retry_note("reading tasks");
                wait_idle(&a.api(), &id, timeout, &on_retry, &on_poll).await
            }
        },
    );
    let mut code = ExitStatus::Success;
    run::in_order(rx, |i, waited| match waited {
        Some(Ok(Waited::Idle { .. })) | None => {}
        Some(Ok(Waited::TimedOut(s))) => {
            asker.printer.always(&format!(
                "{} after waiting {:.0}s",
                counts(&ids[i], &s).replacen(": ", ": still ", 1),
                timeout.as_secs_f64()
            ));
            code = ExitStatus::Failed;
        }
        Some(Err(e)) => {
            asker.printer.always(&format!("{}: {e}", ids[i]));
            code = ExitStatus::Failed;
        }
    })
    .await;
    code
}

/// The items' tasks as a table (or JSON lines), items `jobs` at a time; `Failed` when an item
/// could not be read or a task is in error.
async fn list_all(
    asker: &Arc<Asker>,
    args: &TasksArgs,
    jobs: usize,
    interrupt: &Interrupt,
) -> ExitStatus {
    let (a, history) = (asker.clone(), args.history);
    let rx = run::pool(
        args.identifiers.clone(),
        jobs,
        interrupt.stop.clone(),
        move |id: String| {
            let a = a.clone();
            async move {
                let on_retry = a.printer.retry_note("reading tasks");
                a.api().list(&id, history, &on_retry).await
            }
        },
    );
    let printer = &asker.printer;
    let mut code = ExitStatus::Success;
    let mut rows = vec![HEADER.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    let mut in_error = Vec::new();
    run::in_order(rx, |i, listed| {
        let id = &args.identifiers[i];
        let tasks = match listed {
            Some(Ok(tasks)) => tasks,
            None => return,
            Some(Err(e)) => {
                printer.always(&format!("{id}: {e}"));
                code = ExitStatus::Failed;
                return;
            }
        };
        if tasks.is_empty() {
            printer.note(&format!(
                "{id}: no task queued, running or in error{}",
                if args.history {
                    ", and none finished"
                } else {
                    ""
                }
            ));
        }
        for t in &tasks {
            if t.state() == "error" {
                in_error.push(format!(
                    "{id}: task {} ({}, submitted {}) is in error",
                    t.task_id().unwrap_or_else(|| "?".into()),
                    t.cmd(),
                    t.submittime()
                ));
            }
            if args.json {
                printer.data(&Value::Object(t.row.clone()).to_string());
            } else {
                rows.push(table_row(id, t));
            }
        }
    })
    .await;
    if rows.len() > 1 {
        aligned(&rows).iter().for_each(|l| printer.data(l));
    }
    for line in &in_error {
        printer.always(line);
    }
    if !in_error.is_empty() {
        printer.always(
            "hint: a task in error does not finish by waiting; it stays red until archive.org's \
             staff look at it",
        );
        code = ExitStatus::Failed;
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_and_rows_come_from_tasks() {
        let t = Task {
            row: json!({"task_id": 1004, "cmd": "book_op.php", "wait_admin": 2,
                        "submittime": "2026-12-01 14:31:00"})
            .as_object()
            .unwrap()
            .clone(),
        };
        let rows = vec![
            HEADER.iter().map(|h| (*h).to_owned()).collect(),
            table_row("tk1", &t),
        ];
        assert_eq!(
            aligned(&rows),
            [
                "identifier  task_id  state  cmd          submittime",
                "tk1         1004     error  book_op.php  2026-12-01 14:31:00",
            ]
        );
        let s = Summary {
            queued: 1,
            running: 2,
            error: 1,
            paused: 0,
        };
        assert_eq!(counts("x", &s), "x: 1 queued, 2 running, 1 in error");
        assert_eq!(counts("x", &Summary::default()), "x: 0 queued, 0 running");
    }
}
