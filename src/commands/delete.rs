//! `iaup delete`: delete files of one item, named or selected from its file list (`--glob`,
//! `--format`, `--all`), with retries on SlowDown and transient errors, one result line per file.
//!
//! Unlike `ia`, nothing is deleted implicitly: `iaup delete ID` alone is refused (exit 2), the
//! selection flags pick original files only (never IA's `_meta.xml`/`_files.xml`, never history
//! copies), and derivatives go only with `--cascade`. The request itself is
//! [`ias3::delete_request`]; retries are [`transport::send`]'s, reading answers with the S3 face.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;
use std::sync::Arc;

use super::metadata::problems_error;
use crate::archive;
use crate::cli::{DeleteArgs, GlobalArgs};
use crate::error::{msg, AppError, ExitStatus};
use crate::ias3;
use crate::plan::{validate_identifier, validate_key, Problem};
use crate::printer::Printer;
use crate::run::{self, Interrupt};
use crate::secret::Credentials;
use crate::select::Patterns;
use crate::settings::{Env, Settings};
use crate::transport::limiter::Limiter;
use crate::transport::{self, RetryPolicy};

/// IA's own files of an item, which iaup never deletes.
fn is_ia_record(id: &str, name: &str) -> bool {
    name == format!("{id}_meta.xml") || name == format!("{id}_files.xml")
}

/// What the flags select from a listed file.
struct Selector<'a> {
    all: bool,
    globs: Option<Patterns>,
    formats: &'a [String],
}

impl Selector<'_> {
    /// Original files only, and not IA's records or history copies.
    fn picks(&self, id: &str, file: &Value) -> bool {
        let (Some(name), Some(source)) = (file["name"].as_str(), file["source"].as_str()) else {
            return false;
        };
        if source != "original" || is_ia_record(id, name) || name.starts_with("history/") {
            return false;
        }
        let format = file["format"].as_str().unwrap_or("");
        self.all
            || self.globs.as_ref().is_some_and(|g| g.is_match(name))
            || self.formats.iter().any(|f| f.eq_ignore_ascii_case(format))
    }
}

/// The arguments checked before anything is sent (all problems at once), and the selection
/// they make.
fn check_args(args: &DeleteArgs) -> Result<Selector<'_>, AppError> {
    let id = args.identifier.as_str();
    if args.files.is_empty() && args.glob.is_empty() && args.format.is_empty() && !args.all {
        return Err(AppError::usage(msg(format!(
            "no files to delete: `iaup delete {id}` alone deletes nothing"
        )))
        .hint(
            "name the files (iaup delete ID FILE...), select them with --glob or --format, or \
             delete every original file with --all; add --cascade to delete their derivatives",
        ));
    }
    let mut problems = Vec::new();
    if let Err(why) = validate_identifier(id) {
        problems.push(super::metadata::invalid_identifier(id, &why));
    }
    for name in &args.files {
        if let Err(why) = validate_key(name) {
            problems.push(Problem::new(format!("invalid file name `{name}`: {why}")));
        } else if is_ia_record(id, name) {
            problems.push(
                Problem::new(format!("`{name}` is IA's own record of the item"))
                    .with_hint("it goes away only with the item; iaup does not delete it"),
            );
        }
    }
    let selector = Selector {
        all: args.all,
        globs: Patterns::compile("--glob", &args.glob, &mut problems),
        formats: &args.format,
    };
    if !problems.is_empty() {
        return Err(problems_error(problems));
    }
    Ok(selector)
}

pub async fn run(
    global: &GlobalArgs,
    args: &DeleteArgs,
    env: &Env,
) -> Result<ExitStatus, AppError> {
    let settings = Settings::resolve(global, env)?;
    let transfer = settings.transfer(&args.transfer)?;
    let policy = transfer.policy;
    let id = args.identifier.as_str();
    let selector = check_args(args)?;
    let creds = super::credentials(&settings)?;
    let client = transport::client(transfer.jobs);
    // No bars: one line per file.
    let printer = Printer::new(transfer.quiet, true);
    let on_retry = |attempt: u32, delay: Duration, reason: &str| {
        printer.note(&format!(
            "retry: reading {id} attempt {attempt} failed ({reason}); retrying in {:.1}s",
            delay.as_secs_f64()
        ));
    };

    if !args.dry_run {
        archive::check_keys_before_writing(
            &client,
            &settings.archive_url,
            Some(&settings.s3_url),
            &creds,
        )
        .await?;
    }

    let selecting = args.all || !args.glob.is_empty() || !args.format.is_empty();
    let listing: Vec<Value> = if selecting || args.dry_run {
        match archive::item_metadata(&client, &settings.archive_url, id, &policy, &on_retry).await {
            Ok(Some(doc)) => doc["files"].as_array().cloned().unwrap_or_default(),
            Ok(None) => return Err(AppError::failed(msg(format!("{id}: no such item")))),
            Err(e) => return Err(AppError::failed(e)),
        }
    } else {
        Vec::new()
    };
    let mut keys: Vec<String> = Vec::new();
    for name in &args.files {
        if !keys.contains(name) {
            keys.push(name.clone());
        }
    }
    if selecting {
        for f in &listing {
            if selector.picks(id, f) {
                let name = f["name"].as_str().unwrap_or_default().to_owned();
                if !keys.contains(&name) {
                    keys.push(name);
                }
            }
        }
    }
    if keys.is_empty() {
        printer.always(&format!(
            "nothing to delete: no original file of {id} matches (derivatives are selected only \
             through their originals, with --cascade)"
        ));
        return Ok(ExitStatus::Success);
    }
    if args.dry_run {
        return Ok(dry_run(&printer, id, &keys, &listing, args.cascade));
    }
    let ctx = DeleteCtx {
        client,
        s3_url: settings.s3_url.clone(),
        creds,
        policy,
        cascade: args.cascade,
        keep_old_version: !args.no_backup,
        printer: printer.clone(),
        limiter: Limiter::new(transfer.jobs),
    };
    delete_all(ctx, id, keys, transfer.jobs).await
}

/// Lists what would go, with the derivatives `--cascade` would take along (or leave), and
/// returns the exit code the real run would give: a named file the item's file list does not
/// have would be "not found" (exit 1), so it is named and not counted.
fn dry_run(
    printer: &Printer,
    id: &str,
    keys: &[String],
    listing: &[Value],
    cascade: bool,
) -> ExitStatus {
    let derivatives_of = |key: &str| -> Vec<String> {
        listing
            .iter()
            .filter(|f| f["source"] == "derivative" && f["original"].as_str() == Some(key))
            .filter_map(|f| f["name"].as_str().map(str::to_owned))
            .collect()
    };
    let mut derived = 0;
    let (present, missing): (Vec<&String>, Vec<&String>) = keys
        .iter()
        .partition(|key| listing.iter().any(|f| f["name"].as_str() == Some(key)));
    for key in &present {
        printer.data(&format!("{id}/{key}"));
        for d in derivatives_of(key) {
            derived += 1;
            if cascade {
                printer.data(&format!("{id}/{d} (derivative of {key})"));
            }
        }
    }
    let n = present.len();
    let mut s = format!(
        "dry run: {n} file{} of {id} would be deleted",
        if n == 1 { "" } else { "s" }
    );
    let derivatives = if derived == 1 {
        "derivative"
    } else {
        "derivatives"
    };
    if cascade {
        s.push_str(&format!(", with {derived} {derivatives}"));
    } else if derived > 0 {
        s.push_str(&format!(
            "; {derived} {derivatives} would stay (add --cascade to delete them too)"
        ));
    }
    s.push_str("; nothing was sent");
    if !missing.is_empty() {
        let m = missing.len();
        s.push_str(&format!(
            "\n{m} named file{} {} not in the item's file list (the real run would report {} \
             not found and exit 1):",
            if m == 1 { "" } else { "s" },
            if m == 1 { "is" } else { "are" },
            if m == 1 { "it" } else { "them" },
        ));
        for key in &missing {
            s.push_str(&format!("\n  {id}/{key}"));
        }
    }
    printer.always(&s);
    if missing.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    }
}

struct DeleteCtx {
    client: reqwest::Client,
    s3_url: String,
    creds: Credentials,
    policy: RetryPolicy,
    cascade: bool,
    keep_old_version: bool,
    printer: Printer,
    limiter: Limiter,
}

#[derive(Debug)]
enum Outcome {
    Deleted,
    /// A retry found the file gone: an earlier attempt that reported an error (a 5xx after
    /// the work was done, a reset before the answer) may have deleted it. The goal is met, so
    /// it counts as deleted.
    GoneOnRetry,
    NotFound,
    Failed(String),
}

/// Deletes `keys` on the shared worker pool (`--jobs` wide, paced by the AIMD limiter), results
/// printed in the order of the keys; after Ctrl-C nothing new starts (exit 130).
async fn delete_all(
    ctx: DeleteCtx,
    id: &str,
    keys: Vec<String>,
    jobs: usize,
) -> Result<ExitStatus, AppError> {
    let total = keys.len();
    let ctx = Arc::new(ctx);
    let interrupt = Interrupt::install(ctx.printer.clone(), "deletes");
    let (c, owned_id, work) = (ctx.clone(), id.to_owned(), keys.clone());
    let rx = run::pool(work, jobs, interrupt.stop.clone(), move |key: String| {
        let (c, id) = (c.clone(), owned_id.clone());
        async move { delete_one(&c, &id, &key).await }
    });
    let mut deleted = 0;
    let mut not_found = 0;
    let mut not_started = 0;
    let mut failed: Vec<(String, String)> = Vec::new();
    let with = if ctx.cascade { " (cascade)" } else { "" };
    run::in_order(rx, |i, outcome| {
        let key = keys[i].clone();
        let Some(outcome) = outcome else {
            not_started += 1;
            return;
        };
        match outcome {
            Outcome::Deleted => {
                deleted += 1;
                ctx.printer.result(&format!("{id}/{key}: deleted{with}"));
            }
            Outcome::GoneOnRetry => {
                deleted += 1;
                ctx.printer.result(&format!(
                    "{id}/{key}: gone (not found on retry: an earlier attempt that reported an \
                     error may have deleted it)"
                ));
            }
            Outcome::NotFound => {
                not_found += 1;
                ctx.printer.data(&format!("{id}/{key}: not found"));
                failed.push((key, "not found".to_owned()));
            }
            Outcome::Failed(reason) => {
                ctx.printer.data(&format!("{id}/{key}: failed: {reason}"));
                failed.push((key, reason));
            }
        }
    })
    .await;
    let mut summary = format!(
        "done: {total} file{} of {id}: {deleted} deleted, {not_found} not found, {} failed",
        if total == 1 { "" } else { "s" },
        failed.len() - not_found
    );
    if not_started > 0 {
        summary.push_str(&format!(", {not_started} not started (interrupted)"));
    }
    if !failed.is_empty() {
        summary.push_str("\nnot deleted:");
        for (key, reason) in &failed {
            summary.push_str(&format!("\n  {id}/{key}: {reason}"));
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

/// One DELETE, retried on SlowDown, 429, 5xx and connection errors.
async fn delete_one(ctx: &DeleteCtx, id: &str, key: &str) -> Outcome {
    let spec = ias3::delete_request(
        &ctx.s3_url,
        &ctx.creds,
        id,
        key,
        ctx.cascade,
        ctx.keep_old_version,
    );
    let headers = spec.headers_with_auth(&ctx.creds);
    let retries = AtomicU32::new(0);
    let on_retry = |attempt: u32, delay: Duration, reason: &str| {
        retries.fetch_add(1, Ordering::Relaxed);
        ctx.printer.note(&format!(
            "retry: {id}/{key} attempt {attempt} failed ({reason}); retrying in {:.1}s",
            delay.as_secs_f64()
        ));
    };
    let build = || {
        headers
            .iter()
            .fold(ctx.client.delete(&spec.url), |b, (k, v)| b.header(k, v))
    };
    let sent = transport::send_paced(
        "DELETE",
        &ctx.policy,
        &ias3::S3,
        Some(&ctx.limiter),
        build,
        &on_retry,
    )
    .await;
    let answer = match sent {
        Ok(a) => a,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    match answer.status {
        200..=299 => Outcome::Deleted,
        404 => match ias3::S3Error::parse(&answer.body) {
            Some(e) if e.code == "NoSuchBucket" => Outcome::Failed("no such item".to_owned()),
            _ if retries.load(Ordering::Relaxed) > 0 => Outcome::GoneOnRetry,
            _ => Outcome::NotFound,
        },
        _ => Outcome::Failed(transport::Face::describe(&ias3::S3, &answer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_line_definition_is_consistent() {
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
    }

    #[test]
    fn selection_takes_originals_only_and_never_ia_records() {
        let mut problems = Vec::new();
        let sel = Selector {
            all: false,
            globs: Patterns::compile("--glob", &["*.txt|docs/*".into()], &mut problems),
            formats: &["jpeg".into()],
        };
        assert!(problems.is_empty());
        let f = |name: &str, source: &str, format: &str| json!({"name": name, "source": source, "format": format});
        assert!(sel.picks("it", &f("a.txt", "original", "Text")));
        assert!(
            sel.picks("it", &f("sub/b.txt", "original", "Text")),
            "* crosses /"
        );
        assert!(sel.picks("it", &f("docs/x.pdf", "original", "Text PDF")));
        assert!(sel.picks("it", &f("p.jpg", "original", "JPEG")));
        assert!(!sel.picks("it", &f("a_derived.txt", "derivative", "Text")));
        assert!(!sel.picks("it", &f("p.png", "original", "PNG")));
        assert!(!sel.picks("it", &f("history/files/a.txt.~1~", "original", "Unknown")));
        let all = Selector {
            all: true,
            globs: None,
            formats: &[],
        };
        assert!(all.picks("it", &f("p.png", "original", "PNG")));
        assert!(!all.picks("it", &f("it_meta.xml", "metadata", "Metadata")));
        assert!(!all.picks("it", &f("it_files.xml", "original", "Metadata")));
        Patterns::compile("--glob", &["a[".into()], &mut problems);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("invalid pattern `a[`"));
    }
}
