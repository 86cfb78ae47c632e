//! `iaup upload`: build and validate the whole plan, then run the engine and report.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::cli::{GlobalArgs, PlanArgs, UploadArgs};
use crate::engine::stream::{StdinStream, DEFAULT_STREAM_PART};
use crate::engine::{Engine, ItemWork, UploadOptions};
use crate::error::{msg, AppError, ExitStatus};
use crate::ias3;
use crate::journal::{self, Direction, Journal, Op};
use crate::local_delete::{LocalDeletes, Removal};
use crate::output;
use crate::plan::{self, Plan, PlanOptions, Problem};
use crate::printer::Printer;
use crate::reporter::{self, FileStatus, ReportFile, ReportFormat, Reporter, RunRecord};
use crate::run::{self, Interrupt};
use crate::settings::{self, Env, Settings};
use crate::transport;

mod after;
mod checks;
pub mod multipart;

use checks::{
    check_collections, header_problems, private_file_problems, private_files, status_check_only,
    OWNED_HEADERS,
};

/// `iaup upload ID - --remote-name NAME`: stdin copied to a temporary file in the state
/// folder (IAS3 needs the length before the body), removed when the returned handle drops.
/// With multipart on, stdin that holds more than one part is not copied: the file stays empty
/// (the plan's stand-in for stdin) and the stream, its first part read, goes to the engine.
fn read_stdin(
    args: &UploadArgs,
    printer: &Printer,
    multipart: Option<crate::engine::multipart::MultipartOptions>,
) -> Result<(Option<tempfile::NamedTempFile>, Option<StdinStream>), AppError> {
    use std::io::Read;
    if !args.plan.files.iter().any(|f| f.as_os_str() == "-") {
        return Ok((None, None));
    }
    if args.plan.files.len() != 1 || args.plan.remote_name.is_none() {
        return Err(AppError::usage(msg(
            "reading stdin (`-`) needs --remote-name, and no other file",
        ))
        .hint("e.g. `tar c dir | iaup upload ID - --remote-name dir.tar`"));
    }
    let dir = journal::default_path()
        .ok()
        .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).map_err(AppError::usage)?;
    let cannot = |e: std::io::Error| {
        AppError::usage(msg(format!("cannot spool stdin in {}: {e}", dir.display())))
    };
    let mut spool = tempfile::Builder::new()
        .prefix("stdin-")
        .tempfile_in(&dir)
        .map_err(cannot)?;
    let mut stdin = std::io::stdin().lock();
    let mut n = 0;
    if let Some(m) = multipart {
        let part_size = m.part_size.unwrap_or(DEFAULT_STREAM_PART);
        let mut first = Vec::new();
        (&mut stdin)
            .take(part_size)
            .read_to_end(&mut first)
            .map_err(|e| AppError::usage(msg(format!("cannot read stdin: {e}"))))?;
        if first.len() as u64 == part_size {
            printer.note(&format!(
                "streaming stdin in parts of {}",
                indicatif::HumanBytes(part_size)
            ));
            return Ok((Some(spool), Some(StdinStream { first, part_size })));
        }
        std::io::Write::write_all(spool.as_file_mut(), &first).map_err(cannot)?;
        n = first.len() as u64;
    }
    n += std::io::copy(&mut stdin, spool.as_file_mut()).map_err(cannot)?;
    printer.note(&format!("read {} from stdin", indicatif::HumanBytes(n)));
    Ok((Some(spool), None))
}

/// The plan from upload's (and verify's) inputs: identifier and files, `--spreadsheet`,
/// `--folders`, or `--file-metadata`, with `--shard` applied; every problem at once, exit 2.
pub fn build_plan(
    args: &PlanArgs,
    uploaded_paths: Option<plan::UploadedPaths>,
    stdin: Option<&std::path::Path>,
) -> Result<Plan, AppError> {
    let mut errs = Vec::new();
    let mut metadata = Vec::new();
    for m in &args.metadata {
        match plan::parse_key_value(m, "--metadata") {
            Ok(kv) => metadata.push(kv),
            Err(p) => errs.push(p),
        }
    }
    let opts = PlanOptions {
        keep_directories: args.keep_directories,
        metadata,
        uploaded_paths,
        delimiter: args.delimiter,
        allow_multiline_rows: args.allow_multiline_rows,
    };
    let result = match (&args.spreadsheet, &args.identifier) {
        _ if args.folders.is_some() => plan::from_folders(
            args.folders.as_deref().unwrap_or(std::path::Path::new("")),
            &opts,
        ),
        (Some(sheet), _) => {
            if !args.files.is_empty() {
                errs.push(
                    Problem::new("file arguments cannot be combined with --spreadsheet")
                        .with_hint("list the files in the spreadsheet's `file` column"),
                );
            }
            plan::from_spreadsheet(sheet, &opts)
        }
        (None, Some(id)) if args.file_metadata.is_some() => {
            let path = args
                .file_metadata
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            if !args.files.is_empty() {
                errs.push(
                    Problem::new("file arguments cannot be combined with --file-metadata")
                        .with_hint("name every file in the --file-metadata file"),
                );
            }
            match plan::file_meta::read(path) {
                Ok(records) => {
                    let files: Vec<_> = records.iter().map(|r| r.name.clone()).collect();
                    plan::from_args(id, &files, None, &opts).map(|mut p| {
                        plan::file_meta::apply(&mut p, &records);
                        p
                    })
                }
                Err(problems) => Err(problems),
            }
        }
        (None, Some(id)) => {
            if args.files.is_empty() {
                errs.push(
                    Problem::new(format!("no files given to upload to {id}"))
                        .with_hint("usage: iaup upload IDENTIFIER FILE..., or --spreadsheet FILE"),
                );
            }
            let files: Vec<std::path::PathBuf> = match stdin {
                Some(spool) => vec![spool.to_path_buf()],
                None => args.files.clone(),
            };
            plan::from_args(id, &files, args.remote_name.as_deref(), &opts)
        }
        (None, None) => {
            return Err(AppError::usage(msg(
                "give an identifier and files, --spreadsheet, or --folders",
            )));
        }
    };
    let shard = match args.shard.as_deref().map(plan::Shard::parse).transpose() {
        Ok(s) => s,
        Err(p) => {
            errs.push(p);
            None
        }
    };
    let result = result.map(|mut p| {
        if let Some(s) = shard {
            p.retain_shard(s);
        }
        p
    });
    match result {
        Ok(plan) if errs.is_empty() => Ok(plan),
        Ok(_) => Err(super::problems_error(errs)),
        Err(mut more) => {
            errs.append(&mut more);
            Err(super::problems_error(errs))
        }
    }
}

fn options(args: &UploadArgs, transfer: &settings::Transfer) -> Result<UploadOptions, AppError> {
    let mut extra_headers = Vec::new();
    let mut errs = Vec::new();
    for h in &args.headers {
        match plan::parse_key_value(h, "--header") {
            Ok((k, v)) => {
                let (k, v) = (k.trim().to_owned(), v.trim_start().to_owned());
                // Checked here, not per PUT: a bad header would fail every file after planning.
                let owned = OWNED_HEADERS
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(&k));
                let problem = if let Some((_, how)) = owned {
                    Some(
                        Problem::new(format!(
                            "--header `{k}`: iaup sets this header itself, so it cannot be given"
                        ))
                        .with_hint(*how),
                    )
                } else if k.eq_ignore_ascii_case("authorization") {
                    // The keys come from the config; one given here would be printed by
                    // --dry-run and sent to every host a redirect names.
                    Some(Problem::new("--header cannot set Authorization").with_hint(
                        "iaup sends `LOW access:secret` from ia.ini or IA_ACCESS_KEY_ID / \
                         IA_SECRET_ACCESS_KEY; set the keys there (`iaup configure`)",
                    ))
                } else if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    Some(
                        Problem::new(format!("--header `{h}`: `{k}` is not a valid header name"))
                            .with_hint(
                                "header names are ASCII letters, digits and `-`, e.g. \
                                 -H x-archive-interactive-priority:1",
                            ),
                    )
                } else if reqwest::header::HeaderValue::from_str(&v).is_err() {
                    Some(
                        Problem::new(format!(
                            "--header `{k}`: the value is not valid in a header"
                        ))
                        .with_hint(
                            "header values are visible ASCII; send non-ASCII metadata with \
                                 -m, which encodes it as IA expects",
                        ),
                    )
                } else {
                    None
                };
                match problem {
                    Some(p) => errs.push(p),
                    None => extra_headers.push((k, v)),
                }
            }
            Err(p) => errs.push(p),
        }
    }
    let multipart = multipart::options(args).unwrap_or_else(|p| {
        errs.push(p);
        None
    });
    if !errs.is_empty() {
        return Err(super::problems_error(errs));
    }
    Ok(UploadOptions {
        derive: !args.no_derive,
        size_hint: args.size_hint,
        keep_old_version: !args.no_backup,
        verify: args.verify,
        status_check: args.status_check,
        policy: transfer.policy,
        jobs: transfer.jobs,
        answer_timeout: transfer.answer_timeout,
        stall_timeout: transfer.stall_timeout,
        expect_continue_threshold: args
            .expect_continue_threshold
            .unwrap_or(crate::settings::DEFAULT_EXPECT_CONTINUE_THRESHOLD),
        extra_headers,
        checksum: args.checksum,
        delete_local: args.delete,
        archive_url: String::new(),
        multipart,
    })
}

pub async fn run(
    global: &GlobalArgs,
    args: &UploadArgs,
    env: &Env,
) -> Result<ExitStatus, AppError> {
    let settings = Settings::resolve(global, env)?;
    let args = &settings.upload_args(args); // config.toml's profile and [defaults] filled in
    let printer = Printer::new(args.transfer.quiet, args.transfer.no_progress);
    if let (true, Some(id), true, None) = (
        args.status_check,
        &args.plan.identifier,
        args.plan.files.is_empty(),
        &args.plan.spreadsheet,
    ) {
        return status_check_only(&settings, id, &printer).await;
    }
    let Some(mut ready) = prepare(&settings, args, env, &printer)? else {
        return Ok(ExitStatus::Success); // a dry run
    };
    let creds = super::credentials(&settings)?;
    let plan = Arc::new(ready.plan);
    let resume = Resume::sort(&plan, ready.journal.as_ref(), &settings, args)?;
    resume.tell(&plan, ready.deletes.as_ref(), &printer);
    let client = transport::client(ready.opts.jobs);
    if !resume.work.is_empty() {
        preflight(&client, &settings, &plan, args, &creds, &printer).await?;
    }
    let unfinished = match &ready.journal {
        Some(j) => j
            .multipart_uploads(&settings.s3_url, Direction::Upload)
            .map_err(AppError::from)?,
        None => Vec::new(),
    };
    let unfinished = multipart::Unfinished::sort(unfinished, &plan);
    let (writer, claims) = match ready.journal.take() {
        Some(j) => {
            let (w, c) = start_journal(j, &settings, args, &plan, &resume).await?;
            (Some(w), Some(c))
        }
        None => (None, None),
    };
    let interrupt = Interrupt::install(printer.clone(), "files");
    let (tx, rx) = mpsc::channel(1024);
    let mut engine = Engine::new(
        client,
        settings.s3_url.clone(),
        creds,
        ready.opts,
        plan.clone(),
        tx,
        interrupt.stop.clone(),
        interrupt.abort.clone(),
    );
    engine.claims = claims;
    engine.stdin = std::sync::Mutex::new(ready.stream.take());
    // For the steps after the run (the engine goes with it, closing the event channel).
    let (client, creds, found) = (
        engine.client.clone(),
        engine.creds.clone(),
        engine.found.clone(),
    );
    let engine = Arc::new(engine);
    let reporter = Reporter::new(
        printer.clone(),
        plan.clone(),
        resume.record,
        ready.report_file,
    );
    let owner =
        tokio::spawn(reporter.own_events(rx, engine.bytes_done.clone(), writer, ready.deletes));
    unfinished.settle(&engine, args.abort_stale, &printer).await;
    engine.run(resume.work).await;
    let (mut reporter, writer) = owner
        .await
        .map_err(|e| AppError::failed(msg(format!("the report task failed: {e}"))))?;
    let status = run::finish(&mut reporter, writer, &interrupt, &settings.archive_url).await;
    // The metadata that follows the sheet, and --wait.
    let after = after::After {
        settings: &settings,
        args,
        transfer: &ready.transfer,
        plan: plan.clone(),
        record: reporter.record(),
        client,
        creds,
        printer,
        in_journal: resume.in_journal,
        checked: resume.metadata_checked,
        found: std::mem::take(&mut *found.lock().unwrap_or_else(|e| e.into_inner())),
        stop: interrupt.stop.clone(),
    };
    Ok(after::finish(after, status).await)
}

/// What a run needs once its input is read and checked.
struct Ready {
    opts: UploadOptions,
    transfer: settings::Transfer,
    plan: Plan,
    journal: Option<Journal>,
    report_file: Option<ReportFile>,
    deletes: Option<LocalDeletes>,
    /// Keeps the stdin spool until the run ends.
    _stdin: Option<tempfile::NamedTempFile>,
    /// Stdin to stream in parts, past its first part.
    stream: Option<StdinStream>,
}

/// Reads and checks everything before a byte is sent: options, journal, plan, report file,
/// header sizes, private files. A dry run prints its plan here and gives `None`.
fn prepare(
    settings: &Settings,
    args: &UploadArgs,
    env: &Env,
    printer: &Printer,
) -> Result<Option<Ready>, AppError> {
    let transfer = settings.transfer(&args.transfer)?;
    let mut opts = options(args, &transfer)?;
    opts.archive_url = settings.archive_url.clone();
    let report_format = args
        .report
        .as_deref()
        .map(ReportFormat::from_path)
        .transpose()?;
    let journal = if args.no_journal || args.dry_run {
        None
    } else {
        Some(journal::open_named(args.journal.as_deref())?)
    };
    // With --delete, what an earlier run uploaded and removed is missing now, and that is fine.
    let uploaded_paths = match (&journal, args.delete) {
        (Some(j), true) => Some(plan::UploadedPaths(
            j.confirmed_paths(&settings.s3_url, Direction::Upload)?,
        )),
        _ => None,
    };
    let (stdin, stream) = read_stdin(args, printer, opts.multipart)?;
    let plan = build_plan(&args.plan, uploaded_paths, stdin.as_ref().map(|s| s.path()))?;
    let report_file = match (&args.report, report_format, args.dry_run) {
        (Some(path), Some(format), false) => {
            Some(ReportFile::create(path, format).map_err(|e| {
                AppError::usage(e)
                    .hint("nothing was sent; give --report a path that can be written")
            })?)
        }
        _ => None,
    };
    let mut problems = header_problems(&plan, &opts, args.plan.spreadsheet.as_deref());
    problems.extend(private_file_problems(
        &plan,
        &private_files(settings, env, journal.as_ref().map(Journal::path)),
        args.plan.spreadsheet.as_deref(),
    ));
    if !problems.is_empty() {
        return Err(super::problems_error(problems));
    }
    for note in &plan.notes {
        printer.note(note);
    }
    if args.dry_run {
        // Needs no keys: a sheet can be checked before `iaup configure`.
        print_dry_run(printer, &plan, settings, &opts);
        return Ok(None);
    }
    let deletes = args
        .delete
        .then(|| LocalDeletes::new(&plan, stdin.as_ref().map(|s| s.path())));
    Ok(Some(Ready {
        opts,
        transfer,
        plan,
        journal,
        report_file,
        deletes,
        _stdin: stdin,
        stream,
    }))
}

/// The plan against the journal: what is done already, what to send, and what to check on
/// the server first.
struct Resume {
    work: Vec<ItemWork>,
    record: RunRecord,
    /// Files the journal saw confirmed and unchanged since.
    resumed: usize,
    /// Their local paths, for `--delete`.
    confirmed_before: Vec<std::path::PathBuf>,
    /// Items the journal holds a file of, confirmed by an earlier run (they existed before).
    in_journal: std::collections::HashSet<String>,
    /// Digests of items' planned metadata the journal saw stored as planned.
    metadata_checked: std::collections::HashMap<String, String>,
}

impl Resume {
    fn sort(
        plan: &Plan,
        journal: Option<&Journal>,
        settings: &Settings,
        args: &UploadArgs,
    ) -> Result<Resume, AppError> {
        // Files the journal saw confirmed, unchanged since (same size, mtime and identity): not
        // even read. With --checksum the server's file list decides, never the journal alone.
        let done = match journal {
            Some(j) if !args.checksum => j.confirmed(&settings.s3_url, Direction::Upload)?,
            _ => Default::default(),
        };
        // Sent by an earlier run and never confirmed: checked on the server before a resend.
        let maybe_landed = match journal {
            Some(j) => j.maybe_landed(&settings.s3_url)?,
            None => Default::default(),
        };
        let mut out = Resume {
            work: Vec::new(),
            record: RunRecord::new(plan),
            resumed: 0,
            confirmed_before: Vec::new(),
            in_journal: done.keys().map(|(id, _)| id.clone()).collect(),
            metadata_checked: match journal {
                Some(j) => j.metadata_digests(&settings.s3_url)?,
                None => Default::default(),
            },
        };
        for (i, it) in plan.items.iter().enumerate() {
            let mut files = Vec::new();
            let mut check = std::collections::HashMap::new();
            for (f, fp) in it.files.iter().enumerate() {
                let id_key = (it.identifier.clone(), fp.key.clone());
                if let Some(u) = done.get(&id_key).filter(|u| u.matches(fp)) {
                    out.resumed += 1;
                    out.record.status[i][f] = FileStatus::Skipped {
                        reason: "already uploaded (journal)".into(),
                        md5: u.md5.clone(),
                    };
                    out.confirmed_before.push(fp.local.clone());
                } else {
                    if let Some(&since) = maybe_landed.get(&id_key) {
                        check.insert(f, since);
                    }
                    files.push(f);
                }
            }
            if !files.is_empty() {
                out.work.push(ItemWork {
                    item: i,
                    files,
                    check,
                });
            }
        }
        Ok(out)
    }

    /// Says what an earlier run did, and with `--delete` removes what it confirmed (a shared
    /// path or the stdin spool stays, silently).
    fn tell(&self, plan: &Plan, deletes: Option<&LocalDeletes>, printer: &Printer) {
        if let Some(d) = deletes {
            for p in &self.confirmed_before {
                if let Removal::Failed(warning) = d.remove(p) {
                    output::note(&warning);
                }
            }
        }
        if !plan.gone.is_empty() {
            printer.note(&format!(
                "--delete: {} gone, uploaded and removed by an earlier run (journal): {}",
                reporter::plural(plan.gone.len(), "given path is", "given paths are"),
                plan.gone
                    .iter()
                    .take(5)
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if plan.gone.len() > 5 { ", ..." } else { "" }
            ));
        }
        if self.resumed > 0 {
            printer.note(&reporter::resume_note(
                Direction::Upload,
                self.resumed,
                plan.file_count(),
            ));
        }
    }
}

/// The checks before the journal records a run (refused keys leave no trace of one): the
/// keys, and that each `collection` exists.
async fn preflight(
    client: &reqwest::Client,
    settings: &Settings,
    plan: &Plan,
    args: &UploadArgs,
    creds: &crate::secret::Credentials,
    printer: &Printer,
) -> Result<(), AppError> {
    crate::archive::check_keys_before_writing(
        client,
        &settings.archive_url,
        Some(&settings.s3_url),
        creds,
    )
    .await?;
    if !args.no_collection_check {
        check_collections(
            client,
            settings,
            plan,
            args.plan.spreadsheet.as_deref(),
            printer,
        )
        .await?;
    }
    Ok(())
}

/// Begins the run in the journal: its claims, and every file to send recorded as pending.
async fn start_journal(
    mut j: Journal,
    settings: &Settings,
    args: &UploadArgs,
    plan: &Plan,
    resume: &Resume,
) -> Result<(journal::Writer, Arc<journal::Claims>), AppError> {
    let start = journal::RunStart::upload(args.plan.spreadsheet.as_deref(), resume.resumed);
    let run_id = j.begin_run(&settings.s3_url, &start)?;
    let claims = Arc::new(j.claims(&settings.s3_url, Direction::Upload, run_id, !args.checksum)?);
    let w = j.into_writer(settings.s3_url.clone(), Direction::Upload, run_id);
    for wk in &resume.work {
        let it = &plan.items[wk.item];
        for &f in &wk.files {
            w.send(Op::pending(&it.identifier, &it.files[f])).await;
        }
    }
    Ok((w, claims))
}

fn print_dry_run(printer: &Printer, plan: &Plan, settings: &Settings, opts: &UploadOptions) {
    let placeholder = crate::secret::Credentials {
        access: "(no keys configured)".into(),
        secret: crate::secret::Secret::new(""),
    };
    let creds = settings.credentials.as_ref().unwrap_or(&placeholder);
    for item in &plan.items {
        let last = item.files.len().saturating_sub(1);
        for (i, f) in item.files.iter().enumerate() {
            let put = opts.put_spec(
                item,
                f,
                opts.derive && i == last,
                opts.verify.then_some("(md5 of the file)"),
            );
            printer.data(&format!("# {}", f.local.display()));
            match opts.multipart.filter(|m| m.applies(f.size)) {
                Some(m) => {
                    let cut = m.cut(f.size);
                    let spec = ias3::multipart::create_request(&settings.s3_url, creds, &put);
                    printer.data(spec.render().trim_end());
                    printer.data(&format!(
                        "  then {} of {} ({} at a time), and the Complete call",
                        reporter::plural(cut.parts() as usize, "part", "parts"),
                        indicatif::HumanBytes(cut.part_size),
                        m.part_jobs
                    ));
                }
                None => {
                    let spec = ias3::put_request(&settings.s3_url, creds, &put);
                    printer.data(spec.render().trim_end());
                }
            }
        }
    }
    printer.always(&format!(
        "dry run: {}, {}, {}; nothing was sent",
        reporter::plural(plan.items.len(), "item", "items"),
        reporter::plural(plan.file_count(), "file", "files"),
        reporter::plural(plan.total_bytes() as usize, "byte", "bytes")
    ));
    if settings.credentials.is_none() {
        printer.always(
            "no S3 keys are configured: a real run would stop here (exit 2); \
             run `iaup configure`, or set IA_ACCESS_KEY_ID and IA_SECRET_ACCESS_KEY",
        );
    }
}
