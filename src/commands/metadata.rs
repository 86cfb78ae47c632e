//! `iaup metadata`: read items' metadata (the JSON document, `--exists`, `--formats`), or change
//! it through the Metadata Write API for one item, several, or a spreadsheet of them, items in
//! parallel, one result line per item.
//!
//! Every input is validated before anything is sent (exit 2), and the keys are checked once
//! before the first write. A write reads the item, resolves the changes against it once, checks
//! the `--expect`ations (`expect`), and sends the JSON Patch (`patch`) with their `test`s first;
//! after a 429, 5xx or connection error it re-reads and re-diffs before trying again, so an
//! attempt that was applied after all is not applied twice. The wire side of the write is
//! `archive::metadata`; the retries are `transport::retry::run`'s.

mod expect;
mod patch;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::archive;
use crate::archive::metadata::{self, Posted, DEFAULT_PRIORITY};
use crate::cli::{GlobalArgs, MetadataArgs};
use crate::error::{AppError, ExitStatus};
use crate::plan::{self, parse_key_value, validate_identifier, Problem};
use crate::printer::Printer;
use crate::run::{self, Interrupt};
use crate::secret::Credentials;
use crate::settings::{Env, Settings};
use crate::transport::limiter::Limiter;
use crate::transport::retry::{self, Budget, Class, Failure, Step, Transfer, Tried};
use crate::transport::RetryPolicy;

use expect::Expectation;
use patch::Change;

pub(crate) use super::problems_error;

/// JSON for stdout: pretty for a person at a terminal, one line for a pipe.
pub(crate) fn json_text(v: &impl serde::Serialize) -> String {
    if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .expect("JSON values serialize")
}

pub(crate) fn invalid_identifier(id: &str, why: &str) -> Problem {
    Problem::new(format!("invalid identifier `{id}`: {why}")).with_hint(
        "identifiers use only letters, digits, `_`, `-` and `.`, start with a letter or digit, \
         and are 3 to 100 characters long",
    )
}

/// A problem for each identifier that is not a valid one.
pub(crate) fn invalid_identifiers(ids: &[String]) -> Vec<Problem> {
    ids.iter()
        .filter_map(|id| {
            validate_identifier(id)
                .err()
                .map(|why| invalid_identifier(id, &why))
        })
        .collect()
}

pub async fn run(
    global: &GlobalArgs,
    args: &MetadataArgs,
    env: &Env,
) -> Result<ExitStatus, AppError> {
    let settings = Settings::resolve(global, env)?;
    let transfer = settings.transfer(&args.transfer)?;
    let policy = transfer.policy;
    // No bars: one line per item.
    let printer = Printer::new(transfer.quiet, true);
    let mut problems = invalid_identifiers(&args.identifiers);
    let writing = args.spreadsheet.is_some()
        || !(args.modify.is_empty()
            && args.insert.is_empty()
            && args.append.is_empty()
            && args.append_list.is_empty()
            && args.remove.is_empty());
    if !writing {
        problems.extend(write_flags_without_changes(args));
        if !problems.is_empty() {
            return Err(problems_error(problems));
        }
        return read(&settings, args, &transfer, &printer).await;
    }

    let (flag_changes, more) = patch::parse_flags(patch::Flags {
        modify: &args.modify,
        insert: &args.insert,
        append: &args.append,
        append_list: &args.append_list,
        remove: &args.remove,
    });
    problems.extend(more);
    let (expectations, more) = expect::parse(&args.expect);
    problems.extend(more);
    let headers = parse_headers(&args.headers, &mut problems);
    let target = args.target.clone().unwrap_or_else(|| "metadata".to_owned());
    let target_ok = target == "metadata"
        || target
            .strip_prefix("files/")
            .is_some_and(|name| plan::validate_key(name).is_ok());
    if !target_ok {
        problems.push(
            Problem::new(format!(
                "--target `{target}` is not a target of the Metadata Write API"
            ))
            .with_hint("use `metadata` (the default) or `files/NAME` with a file of the item"),
        );
    }
    let jobs = jobs_of(args, &flag_changes, &mut problems);
    if !problems.is_empty() {
        return Err(problems_error(problems));
    }
    let creds = super::credentials(&settings)?;
    let client = crate::transport::client(transfer.jobs);
    if !args.dry_run {
        archive::check_keys_before_writing(&client, &settings.archive_url, None, &creds).await?;
    }
    let ctx = WriteCtx {
        client,
        archive_url: settings.archive_url.clone(),
        creds,
        policy,
        target,
        priority: args.priority.unwrap_or(DEFAULT_PRIORITY),
        expectations,
        headers,
        dry_run: args.dry_run,
        printer,
        limiter: Limiter::new(transfer.jobs),
    };
    write_all(ctx, jobs, transfer.jobs).await
}

/// Sets fields of items to exactly the given values through the Metadata Write API, as
/// `iaup metadata ID -m KEY:VALUE...` would: the keys checked once, then one patch per item
/// (items `jobs` at a time, each retried as any write), `ID: updated (task N)` per item and a
/// summary. `upload --update-metadata` applies the sheet's values with it. Exit 0 when every
/// item was updated or had nothing to change, 1 otherwise.
pub(crate) async fn set_fields(
    archive_url: &str,
    creds: Credentials,
    policy: RetryPolicy,
    jobs: usize,
    printer: Printer,
    items: Vec<(String, plan::Metadata)>,
) -> Result<ExitStatus, AppError> {
    let client = crate::transport::client(jobs);
    archive::check_keys_before_writing(&client, archive_url, None, &creds).await?;
    let ctx = WriteCtx {
        client,
        archive_url: archive_url.to_owned(),
        creds,
        policy,
        target: "metadata".to_owned(),
        priority: DEFAULT_PRIORITY,
        expectations: Vec::new(),
        headers: Vec::new(),
        dry_run: false,
        printer,
        limiter: Limiter::new(jobs),
    };
    let work = items
        .into_iter()
        .map(|(identifier, fields)| Job {
            identifier,
            changes: fields
                .0
                .into_iter()
                .map(|(key, values)| Change::Set { key, values })
                .collect(),
        })
        .collect();
    write_all(ctx, work, jobs).await
}

/// `--target`, `--priority`, `--dry-run`, `--expect` and `--header` given without a change.
fn write_flags_without_changes(args: &MetadataArgs) -> Vec<Problem> {
    [
        ("--target", args.target.is_some()),
        ("--priority", args.priority.is_some()),
        ("--dry-run", args.dry_run),
        ("--expect", !args.expect.is_empty()),
        ("--header", !args.headers.is_empty()),
    ]
    .into_iter()
    .filter(|(_, given)| *given)
    .map(|(flag, _)| {
        Problem::new(format!("{flag} applies to changes, and none were given"))
            .with_hint("add --modify, --insert, --append, --append-list, --remove or --spreadsheet")
    })
    .collect()
}

/// One job per item: a spreadsheet's rows (their cells set, then the flags' changes), or the
/// identifiers with the flags' changes.
fn jobs_of(args: &MetadataArgs, flag_changes: &[Change], problems: &mut Vec<Problem>) -> Vec<Job> {
    let Some(sheet) = &args.spreadsheet else {
        return args
            .identifiers
            .iter()
            .map(|id| Job {
                identifier: id.clone(),
                changes: flag_changes.to_vec(),
            })
            .collect();
    };
    match plan::metadata_from_spreadsheet(sheet) {
        Ok(plan) => plan
            .items
            .into_iter()
            .map(|item| {
                let mut changes: Vec<Change> = item
                    .metadata
                    .iter()
                    .map(|(key, values)| Change::Set {
                        key: key.to_owned(),
                        values: values.to_vec(),
                    })
                    .collect();
                changes.extend(flag_changes.iter().cloned());
                Job {
                    identifier: item.identifier,
                    changes,
                }
            })
            .collect(),
        Err(more) => {
            problems.extend(more);
            Vec::new()
        }
    }
}

/// Headers the write request sets itself, which `--header` cannot give.
const OWNED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
];

/// `--header KEY:VALUE`s, checked now rather than failing every item's write.
fn parse_headers(args: &[String], problems: &mut Vec<Problem>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for h in args {
        let (k, v) = match parse_key_value(h, "--header") {
            Ok((k, v)) => (k.trim().to_owned(), v.trim_start().to_owned()),
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let problem = if OWNED_HEADERS.iter().any(|o| o.eq_ignore_ascii_case(&k)) {
            Problem::new(format!(
                "--header `{k}`: iaup sets this header itself, so it cannot be given"
            ))
            .with_hint("the keys come from ia.ini or IA_ACCESS_KEY_ID / IA_SECRET_ACCESS_KEY")
        } else if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            Problem::new(format!("--header `{h}`: `{k}` is not a valid header name"))
                .with_hint("header names are ASCII letters, digits and `-`")
        } else if reqwest::header::HeaderValue::from_str(&v).is_err() {
            Problem::new(format!(
                "--header `{k}`: the value is not valid in a header"
            ))
            .with_hint("header values are visible ASCII on one line")
        } else {
            out.push((k, v));
            continue;
        };
        problems.push(problem);
    }
    out
}

/// One item to change.
#[derive(Debug)]
struct Job {
    identifier: String,
    changes: Vec<Change>,
}

struct WriteCtx {
    client: reqwest::Client,
    archive_url: String,
    creds: Credentials,
    policy: RetryPolicy,
    target: String,
    priority: i32,
    expectations: Vec<Expectation>,
    headers: Vec<(String, String)>,
    dry_run: bool,
    printer: Printer,
    /// Paces the writes (AIMD): 429s and 503s lower how many are in flight.
    limiter: Limiter,
}

/// What `--dry-run` prints for one item, fields in this order.
#[derive(serde::Serialize)]
struct DryRunLine<'a> {
    identifier: &'a str,
    target: &'a str,
    patch: &'a json_patch::Patch,
}

/// What happened to one item.
#[derive(Debug)]
enum Outcome {
    Updated {
        task_id: Option<u64>,
        /// An attempt that failed ambiguously had been applied; the re-read showed it.
        earlier: bool,
    },
    Unchanged,
    DryRun(json_patch::Patch),
    Failed(String),
}

/// Writes every item on the shared worker pool (`parallel` wide, paced by the limiter), results
/// printed in the order of the items; after Ctrl-C nothing new starts (exit 130).
async fn write_all(ctx: WriteCtx, jobs: Vec<Job>, parallel: usize) -> Result<ExitStatus, AppError> {
    let total = jobs.len();
    let ids: Vec<String> = jobs.iter().map(|j| j.identifier.clone()).collect();
    let ctx = Arc::new(ctx);
    let interrupt = Interrupt::install(ctx.printer.clone(), "writes");
    let c = ctx.clone();
    let rx = run::pool(jobs, parallel, interrupt.stop.clone(), move |job: Job| {
        let c = c.clone();
        async move { write_item(&c, &job).await }
    });
    let (mut updated, mut unchanged, mut with_changes, mut not_started) = (0, 0, 0, 0);
    let mut failed: Vec<(String, String)> = Vec::new();
    run::in_order(rx, |i, outcome| {
        let id = ids[i].clone();
        let Some(outcome) = outcome else {
            not_started += 1;
            return;
        };
        match outcome {
            Outcome::Updated { task_id, earlier } => {
                updated += 1;
                let how = match (task_id, earlier) {
                    (Some(t), _) => format!("task {t}"),
                    (None, true) => "applied by an earlier attempt".to_owned(),
                    (None, false) => "no task id".to_owned(),
                };
                ctx.printer.result(&format!("{id}: updated ({how})"));
            }
            Outcome::Unchanged => {
                unchanged += 1;
                ctx.printer.result(&format!("{id}: no changes"));
            }
            Outcome::DryRun(p) => {
                if p.0.is_empty() {
                    unchanged += 1;
                } else {
                    with_changes += 1;
                }
                ctx.printer.data(&json_text(&DryRunLine {
                    identifier: &id,
                    target: &ctx.target,
                    patch: &p,
                }));
            }
            Outcome::Failed(reason) => {
                ctx.printer.data(&format!("{id}: failed: {reason}"));
                failed.push((id, reason));
            }
        }
    })
    .await;
    let plural = |n: usize| if n == 1 { "item" } else { "items" };
    let mut summary = if ctx.dry_run {
        format!(
            "dry run: {total} {}: {with_changes} with changes, {unchanged} unchanged, {} failed; \
             nothing was sent",
            plural(total),
            failed.len()
        )
    } else {
        format!(
            "done: {total} {}: {updated} updated, {unchanged} unchanged, {} failed",
            plural(total),
            failed.len()
        )
    };
    if not_started > 0 {
        summary.push_str(&format!(", {not_started} not started (interrupted)"));
    }
    if !failed.is_empty() {
        summary.push_str("\nfailed items:");
        for (id, reason) in &failed {
            summary.push_str(&format!("\n  {id}: {reason}"));
        }
    }
    ctx.printer.always(&summary);
    Ok(if interrupt.interrupted() {
        ExitStatus::Interrupted
    } else if failed.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    })
}

/// Reads, resolves once, then diffs and posts until the write is applied, found already there,
/// refused, or the retry budget is spent.
async fn write_item(ctx: &WriteCtx, job: &Job) -> Outcome {
    let id = job.identifier.as_str();
    let on_retry = |attempt: u32, delay: Duration, reason: &str| {
        ctx.printer.note(&format!(
            "retry: {id} attempt {attempt} failed ({reason}); retrying in {:.1}s",
            delay.as_secs_f64()
        ));
    };
    let mut budget = Budget::new(ctx.policy);
    let mut transfer = Write {
        ctx,
        job,
        assignments: None,
        on_retry: &on_retry,
    };
    match retry::run(&mut budget, &mut transfer).await {
        retry::Outcome::Done(outcome) => outcome,
        retry::Outcome::GaveUp { last, attempts, .. } => Outcome::Failed(format!(
            "{} (gave up after {attempts} attempts; the change may have been applied: read the \
             item to check)",
            last.reason
        )),
        retry::Outcome::Stopped => unreachable!("a metadata write is never stopped"),
    }
}

/// One item's write, attempt after attempt.
struct Write<'a> {
    ctx: &'a WriteCtx,
    job: &'a Job,
    /// The changes resolved against the item as first read; kept across attempts.
    assignments: Option<Vec<patch::Assignment>>,
    on_retry: crate::transport::OnRetry<'a>,
}

impl Transfer for Write<'_> {
    type Output = Outcome;

    // Every attempt after the first follows an ambiguous failure: it may have been applied.
    async fn attempt(&mut self, attempt: u32) -> Tried<Outcome> {
        let (ctx, job, on_retry) = (self.ctx, self.job, self.on_retry);
        write_attempt(ctx, job, &mut self.assignments, attempt > 1, on_retry).await
    }

    async fn on_step(&mut self, step: &Step, failed: &Failure, attempt: u32) {
        if let Step::Retry { delay } = step {
            (self.on_retry)(attempt, *delay, &failed.reason);
        }
    }
}

/// One read, diff and post. `ambiguous`: an earlier attempt failed after it may have been
/// applied.
async fn write_attempt(
    ctx: &WriteCtx,
    job: &Job,
    assignments: &mut Option<Vec<patch::Assignment>>,
    ambiguous: bool,
    on_retry: crate::transport::OnRetry<'_>,
) -> Tried<Outcome> {
    let id = job.identifier.as_str();
    let failed = |reason: String| Tried::Done(Outcome::Failed(reason));
    let doc = match archive::item_metadata(&ctx.client, &ctx.archive_url, id, &ctx.policy, on_retry)
        .await
    {
        Ok(Some(doc)) => doc,
        Ok(None) => return failed("no such item".to_owned()),
        Err(e) => return failed(e.to_string()),
    };
    let current = match metadata::target_doc(&doc, &ctx.target) {
        Ok(c) => c,
        Err(e) => return failed(e),
    };
    let assigned = match assignments {
        Some(a) => a,
        None => match patch::resolve(&job.changes, &current) {
            Ok(a) => &*assignments.insert(a),
            Err(e) => return failed(e),
        },
    };
    let p = patch::diff(&current, assigned);
    let done = || {
        Tried::Done(if ambiguous {
            Outcome::Updated {
                task_id: None,
                earlier: true,
            }
        } else {
            Outcome::Unchanged
        })
    };
    if p.0.is_empty() && ambiguous {
        // An earlier attempt landed; its expectations may no longer hold because of it.
        return done();
    }
    if let Err(e) = expect::check(&ctx.expectations, &current) {
        let when = if ambiguous {
            " (changed after it was read)"
        } else {
            ""
        };
        return failed(format!("{e}{when}"));
    }
    // Nothing to change sends nothing; otherwise the tests go first, as in ia.
    if p.0.is_empty() {
        return if ctx.dry_run {
            Tried::Done(Outcome::DryRun(p))
        } else {
            done()
        };
    }
    let mut ops = expect::tests(&ctx.expectations);
    ops.extend(p.0);
    let p = json_patch::Patch(ops);
    if ctx.dry_run {
        return Tried::Done(Outcome::DryRun(p));
    }
    let fields = metadata::form_fields(&ctx.target, &p, ctx.priority);
    let permit = ctx.limiter.acquire().await;
    let posted = metadata::post_patch(metadata::write_request(
        &ctx.client,
        &ctx.archive_url,
        &ctx.creds,
        id,
        &fields,
        &ctx.headers,
    ))
    .await;
    drop(permit);
    match &posted {
        Posted::Applied { .. } | Posted::NoChanges => ctx.limiter.on_success(),
        Posted::Transient { overload: true, .. } => {
            ctx.limiter.on_overload();
        }
        _ => {}
    }
    Tried::Done(match posted {
        Posted::Applied { task_id } => Outcome::Updated {
            task_id,
            earlier: false,
        },
        Posted::NoChanges => return done(),
        Posted::NoSuchItem => Outcome::Failed("no such item".to_owned()),
        Posted::Refused { reason } => {
            Outcome::Failed(explain_refusal(ctx, id, reason, on_retry).await)
        }
        Posted::Transient {
            reason,
            retry_after,
            ..
        } => {
            return Tried::Failed(Failure {
                class: Class::Transient,
                reason,
                retry_after,
            })
        }
    })
}

/// A refused write with `--expect`ations: when a re-read shows one no longer holds, that is
/// the reason (the server's `test` failed); otherwise the server's own.
async fn explain_refusal(
    ctx: &WriteCtx,
    id: &str,
    reason: String,
    on_retry: crate::transport::OnRetry<'_>,
) -> String {
    if ctx.expectations.is_empty() {
        return reason;
    }
    let reread =
        archive::item_metadata(&ctx.client, &ctx.archive_url, id, &ctx.policy, on_retry).await;
    let current = match reread {
        Ok(Some(doc)) => metadata::target_doc(&doc, &ctx.target),
        _ => return reason,
    };
    match current.map(|c| expect::check(&ctx.expectations, &c)) {
        Ok(Err(e)) => format!("{e} (changed after it was read)"),
        _ => reason,
    }
}

/// The read modes: the document, `--exists`, `--formats`.
async fn read(
    settings: &Settings,
    args: &MetadataArgs,
    transfer: &crate::settings::Transfer,
    printer: &Printer,
) -> Result<ExitStatus, AppError> {
    let reads = archive::metadata::ManyItems {
        client: crate::transport::client(transfer.jobs),
        archive_url: settings.archive_url.clone(),
        policy: transfer.policy,
        jobs: transfer.jobs,
        printer: printer.clone(),
    };
    let interrupt = Interrupt::install(printer.clone(), "reads");
    let rx = reads.read(args.identifiers.clone(), interrupt.stop.clone());
    let several = args.identifiers.len() > 1;
    let mut ok = true;
    run::in_order(rx, |i, result| {
        let id = &args.identifiers[i];
        let Some(result) = result else {
            ok = false;
            return;
        };
        let doc = match result {
            Ok(doc) => doc,
            Err(e) => {
                printer.always(&format!("error: {e}"));
                ok = false;
                return;
            }
        };
        if args.exists {
            let is = if doc.is_some() {
                "exists"
            } else {
                "does not exist"
            };
            printer.note(&format!("{id} {is}"));
            ok &= doc.is_some();
            return;
        }
        let Some(doc) = doc else {
            printer.always(&format!("error: {id}: no such item"));
            ok = false;
            return;
        };
        if args.formats {
            for format in formats(&doc) {
                if several {
                    printer.data(&format!("{id}\t{format}"));
                } else {
                    printer.data(&format);
                }
            }
        } else {
            printer.data(&json_text(&doc));
        }
    })
    .await;
    Ok(if interrupt.interrupted() {
        ExitStatus::Interrupted
    } else if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    })
}

/// The distinct `format`s of an item's files, in file order.
fn formats(doc: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in doc["files"].as_array().into_iter().flatten() {
        if let Some(format) = f["format"].as_str() {
            if !out.iter().any(|x| x == format) {
                out.push(format.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_are_distinct_in_file_order() {
        let doc = json!({"files": [
            {"name": "a.pdf", "format": "Text PDF"},
            {"name": "b.txt", "format": "Text"},
            {"name": "c.pdf", "format": "Text PDF"},
            {"name": "x_meta.xml", "format": "Metadata"},
        ]});
        assert_eq!(formats(&doc), ["Text PDF", "Text", "Metadata"]);
        assert!(formats(&json!({})).is_empty());
    }

    #[test]
    fn metadata_sheet_reuses_the_upload_column_rules() {
        let dir = tempfile::tempdir().unwrap();
        let sheet = dir.path().join("m.csv");
        std::fs::write(
            &sheet,
            "identifier,file,Title,subject[1],subject[0],REMOTE_NAME\n\
             item-one,,Заголовок,b,a,ignored\n\
             ,x.pdf,,,,\n\
             item-two,,T2,,,\n",
        )
        .unwrap();
        let plan = plan::metadata_from_spreadsheet(&sheet).unwrap();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(plan.items.len(), 2);
        assert_eq!(plan.items[0].identifier, "item-one");
        assert_eq!(
            plan.items[0].metadata,
            plan::Metadata(vec![
                ("title".into(), s(&["Заголовок"])),
                ("subject".into(), s(&["a", "b"])),
            ])
        );
        assert!(plan.items[0].files.is_empty(), "file cells are ignored");
        assert_eq!(
            plan.items[1].metadata,
            plan::Metadata(vec![("title".into(), s(&["T2"]))])
        );

        std::fs::write(&sheet, "title,bad name\nx,y\n").unwrap();
        let problems = plan::metadata_from_spreadsheet(&sheet).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains(":1: column `bad name`")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|t| t.contains("no `identifier`")),
            "{text:#?}"
        );
        assert!(!text.iter().any(|t| t.contains("`file`")), "{text:#?}");
    }
}
