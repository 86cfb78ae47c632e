//! `iaup download`: the harvest direction. The items come from arguments, `--itemlist` or
//! `--search` ([`sources`]); their listings are read in parallel and turned into a plan of
//! files with local paths ([`build`], [`select`], [`dest`]); files the journal saw verified in
//! place are skipped without a request; the rest are fetched `--jobs` at a time across all
//! items ([`file`], one attempt in [`fetch`]) on the shared transport (retry loop, limiter),
//! with the upload's display, journal (direction download) and report.

mod build;
mod dest;
mod fetch;
mod file;
mod select;
mod sources;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::cli::{DownloadArgs, GlobalArgs};
use crate::error::{msg, AppError, ExitStatus};
use crate::events::FileRef;
use crate::journal::{self, Direction, Journal, Op, RunStart};
use crate::plan::Problem;
use crate::printer::Printer;
use crate::reporter::{self, FileStatus, ReportFile, ReportFormat, Reporter, RunRecord};
use crate::run::Interrupt;
use crate::settings::{Env, Settings};
use crate::transport::limiter::Limiter;

use build::{Built, Layout};
use select::Selection;
use sources::ItemRequest;

/// File downloads open at once per `--jobs` slot: a file sleeping in backoff holds no slot of
/// the limiter, so others use it.
const OPEN_PER_JOB: usize = 2;

/// What the flags ask for, checked before anything is sent.
struct Checked {
    selection: Selection,
    destdir: PathBuf,
    report: Option<ReportFormat>,
}

fn check(args: &DownloadArgs) -> Result<Checked, AppError> {
    let mut problems = Vec::new();
    let filter = args.filter.filter(&mut problems);
    let named = !args.files.is_empty()
        || args
            .identifier
            .as_deref()
            .is_some_and(|i| i.split_once('/').is_some_and(|(_, f)| !f.is_empty()));
    if named && (!filter.is_empty() || args.on_the_fly) {
        problems.push(
            Problem::new(
                "named files cannot be combined with --glob, --exclude, --format, \
                          --source or --on-the-fly",
            )
            .with_hint("name the files, or select them with the filters"),
        );
    }
    let report = match args.report.as_deref().map(ReportFormat::from_path) {
        Some(Err(e)) => {
            problems.push(Problem::new(e.to_string()));
            None
        }
        Some(Ok(f)) => Some(f),
        None => None,
    };
    if !problems.is_empty() {
        return Err(crate::commands::problems_error(problems));
    }
    let destdir = std::path::absolute(args.destdir.as_deref().unwrap_or(".".as_ref()))
        .map_err(AppError::usage)?;
    Ok(Checked {
        selection: Selection {
            filter,
            on_the_fly: args.on_the_fly,
        },
        destdir,
        report,
    })
}

/// The items to read: from the arguments, the item list, or a search.
async fn requests(
    args: &DownloadArgs,
    client: &reqwest::Client,
    settings: &Settings,
    policy: &crate::transport::RetryPolicy,
) -> Result<Vec<ItemRequest>, AppError> {
    if let Some(q) = &args.search {
        let ids = sources::search_identifiers(client, &settings.archive_url, q, policy).await?;
        if ids.is_empty() {
            return Err(AppError::failed(msg(format!(
                "the search `{q}` found no items"
            ))));
        }
        return Ok(ids.iter().map(|id| sources::from_args(id, &[])).collect());
    }
    if let Some(list) = &args.itemlist {
        return sources::from_itemlist(list);
    }
    let id = args.identifier.as_deref().unwrap_or_default();
    Ok(vec![sources::from_args(id, &args.files)])
}

/// Reads the items' listings (in parallel) and plans their files.
async fn plan(
    args: &DownloadArgs,
    checked: &Checked,
    client: &reqwest::Client,
    settings: &Settings,
    transfer: &crate::settings::Transfer,
    interrupt: &Interrupt,
) -> Result<Built, AppError> {
    let requests = requests(args, client, settings, &transfer.policy).await?;
    let ids = requests.iter().map(|r| r.identifier.clone()).collect();
    let docs = build::listings(
        client,
        &settings.archive_url,
        ids,
        transfer.jobs,
        transfer.policy,
        interrupt.stop.clone(),
    )
    .await;
    let layout = Layout {
        destdir: &checked.destdir,
        no_directories: args.no_directories,
        selection: &checked.selection,
    };
    Ok(build::build(&requests, docs, &layout))
}

pub async fn run(
    global: &GlobalArgs,
    args: &DownloadArgs,
    env: &Env,
) -> Result<ExitStatus, AppError> {
    let settings = Settings::resolve(global, env)?;
    let transfer = settings.transfer(&args.transfer)?;
    let printer = Printer::new(transfer.quiet, transfer.no_progress);
    let checked = check(args)?;
    let mut journal = if args.no_journal || args.dry_run || args.stdout {
        None
    } else {
        Some(journal::open_named(args.journal.as_deref())?)
    };
    let report_file = match (&args.report, checked.report) {
        (Some(path), Some(format)) => Some(ReportFile::create(path, format).map_err(|e| {
            AppError::usage(e).hint("nothing was sent; give --report a path that can be written")
        })?),
        _ => None,
    };
    let client = crate::transport::client(transfer.jobs);
    let interrupt = Interrupt::install(printer.clone(), "downloads");
    let mut built = plan(args, &checked, &client, &settings, &transfer, &interrupt).await?;
    for (id, why) in &built.missing_items {
        printer.always(&format!("error: {id}: {why}"));
    }
    if args.stdout && built.plan.file_count() != 1 {
        return Err(AppError::usage(msg(format!(
            "--stdout writes one file, and {} selected",
            reporter::plural(built.plan.file_count(), "file is", "files are")
        )))
        .hint("name the one file: iaup download --stdout ID FILE"));
    }
    if args.dry_run {
        return Ok(dry_run(&printer, &built, &settings.archive_url));
    }
    if !args.checksum {
        skip_journaled(
            journal.as_ref(),
            &mut built,
            &settings.archive_url,
            &printer,
        )?;
    }
    let Built {
        plan,
        wanted,
        decided,
        missing_items,
    } = built;
    let plan = Arc::new(plan);
    let mut record = RunRecord::new(&plan);
    for (at, status) in &decided {
        record.status[at.item][at.file] = status.clone();
    }
    let work: Vec<FileRef> = pending(&record);
    let writer = match journal.take() {
        Some(j) => {
            Some(start_journal(j, &settings.archive_url, &plan, &work, decided.len()).await?)
        }
        None => None,
    };
    for (at, status) in &decided {
        if let FileStatus::Failed { reason, .. } = status {
            let it = &plan.items[at.item];
            printer.always(&format!(
                "error: {}/{}: {reason}",
                it.identifier, it.files[at.file].key
            ));
        }
    }
    let (tx, rx) = mpsc::channel(1024);
    let bytes_done = Arc::new(AtomicU64::new(0));
    let reporter = Reporter::new(printer.clone(), plan.clone(), record, report_file)
        .with_direction(Direction::Download);
    let owner = tokio::spawn(reporter.own_events(rx, bytes_done.clone(), writer, None));
    let run = Arc::new(file::Run {
        client,
        archive_url: settings.archive_url.clone(),
        authorization: settings.credentials.as_ref().map(|c| c.authorization()),
        plan: plan.clone(),
        wanted,
        events: tx,
        interrupt: interrupt.clone(),
        limiter: Limiter::new(transfer.jobs),
        bytes_done,
        checksum: args.checksum,
        stdout: args.stdout,
        transfer,
    });
    run_files(run, work).await;
    let (mut reporter, writer) = owner
        .await
        .map_err(|e| AppError::failed(msg(format!("the report task failed: {e}"))))?;
    let status = crate::run::finish(&mut reporter, writer, &interrupt, &settings.archive_url).await;
    Ok(
        if status == ExitStatus::Success && !missing_items.is_empty() {
            ExitStatus::Failed
        } else {
            status
        },
    )
}

/// Marks the files the journal saw verified in place, unchanged since, as skipped.
fn skip_journaled(
    journal: Option<&Journal>,
    built: &mut Built,
    endpoint: &str,
    printer: &Printer,
) -> Result<(), AppError> {
    let Some(j) = journal else { return Ok(()) };
    let done = j.confirmed(endpoint, Direction::Download)?;
    let skipped = build::skip_unchanged(built, &done);
    if skipped > 0 {
        printer.note(&reporter::resume_note(
            Direction::Download,
            skipped,
            built.plan.file_count(),
        ));
    }
    Ok(())
}

/// The files still to fetch.
fn pending(record: &RunRecord) -> Vec<FileRef> {
    let mut work = Vec::new();
    for (item, files) in record.status.iter().enumerate() {
        for (file, st) in files.iter().enumerate() {
            if *st == FileStatus::Pending {
                work.push(FileRef { item, file });
            }
        }
    }
    work
}

/// Fetches every file of `work`, `--jobs` at a time (more open, so a file in backoff holds
/// no slot), files of all items mixed.
async fn run_files(run: Arc<file::Run>, work: Vec<FileRef>) {
    let width = run.transfer.jobs * OPEN_PER_JOB;
    let stop = run.interrupt.stop.clone();
    let me = run.clone();
    let mut rx = crate::run::pool(work, width, stop, move |f: FileRef| {
        let me = me.clone();
        async move { me.download(f).await }
    });
    // A file never started (Ctrl-C) stays pending: the record counts it as not started.
    while rx.recv().await.is_some() {}
}

/// Records the run and the files it will fetch.
async fn start_journal(
    mut j: Journal,
    endpoint: &str,
    plan: &crate::plan::Plan,
    work: &[FileRef],
    decided: usize,
) -> Result<journal::Writer, AppError> {
    let start = RunStart {
        command: "download".into(),
        ..RunStart::upload(None, decided)
    };
    let run_id = j.begin_run(endpoint, &start)?;
    let w = j.into_writer(endpoint.to_owned(), Direction::Download, run_id);
    for f in work {
        let it = &plan.items[f.item];
        w.send(Op::pending(&it.identifier, &it.files[f.file])).await;
    }
    Ok(w)
}

/// `--dry-run`: each file's URL and local path on stdout; nothing fetched.
fn dry_run(printer: &Printer, built: &Built, archive_url: &str) -> ExitStatus {
    let failed: std::collections::HashMap<FileRef, &FileStatus> =
        built.decided.iter().map(|(f, s)| (*f, s)).collect();
    let mut bad = !built.missing_items.is_empty();
    for (i, item) in built.plan.items.iter().enumerate() {
        for (f, fp) in item.files.iter().enumerate() {
            if let Some(FileStatus::Failed { reason, .. }) =
                failed.get(&FileRef { item: i, file: f })
            {
                printer.always(&format!("error: {}/{}: {reason}", item.identifier, fp.key));
                bad = true;
                continue;
            }
            let url = crate::ias3::join(archive_url, &built.wanted[i][f].path);
            printer.data(&format!("{url}\t{}", fp.local.display()));
        }
    }
    printer.always(&format!(
        "dry run: {}, {}; nothing was downloaded",
        reporter::plural(built.plan.items.len(), "item", "items"),
        reporter::plural(built.plan.file_count(), "file", "files"),
    ));
    if bad {
        ExitStatus::Failed
    } else {
        ExitStatus::Success
    }
}
