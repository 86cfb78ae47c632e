//! `iaup verify`: proves that what upload would send is on the Archive. It builds the plan
//! exactly as upload does (`upload::build_plan`), then per item, items in parallel: one
//! metadata GET, the local MD5s of the files listed there, and, only when a planned file is not
//! listed (yet), one Tasks API summary to tell `pending` from `missing`. The verdicts are
//! `compare`'s. It never sends a write. `upload --wait` runs the same [`verify_plan`] over what
//! its run planned.

mod report;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::archive::{self, tasks::TasksApi};
use crate::cli::{GlobalArgs, VerifyArgs};
use crate::compare::{self, FieldDiff, FileCheck, FileVerdict};
use crate::error::{msg, AppError, ExitStatus};
use crate::hash;
use crate::plan::{ItemPlan, Plan};
use crate::printer::Printer;
use crate::reporter::{plural, ReportFormat};
use crate::run::{self, Interrupt};
use crate::secret::Credentials;
use crate::settings::{Env, Settings};
use crate::transport::{self, RetryPolicy};

/// How to read the items, and what to print.
pub(crate) struct Verifier {
    pub client: reqwest::Client,
    pub archive_url: String,
    /// For the Tasks API (`LOW` auth); without keys an unlisted file is `missing`.
    pub creds: Option<Credentials>,
    pub policy: RetryPolicy,
    pub jobs: usize,
    /// `--extra`: also list remote original files the plan does not have.
    pub extra: bool,
    pub printer: Printer,
}

/// One item's verdicts.
#[derive(Debug)]
pub(crate) struct ItemResult {
    pub identifier: String,
    /// The metadata API lists the item.
    pub exists: bool,
    pub files: Vec<FileCheck>,
    pub fields: Vec<FieldDiff>,
    /// The MD5 of each planned file, when it was needed (empty otherwise).
    pub local_md5: Vec<String>,
    /// Why the item could not be checked.
    pub error: Option<String>,
}

impl ItemResult {
    fn failed(item: &ItemPlan, reason: String) -> ItemResult {
        ItemResult {
            identifier: item.identifier.clone(),
            exists: false,
            files: Vec::new(),
            fields: Vec::new(),
            local_md5: Vec::new(),
            error: Some(reason),
        }
    }

    pub fn ok(&self) -> bool {
        self.error.is_none()
            && self.fields.is_empty()
            && self.files.iter().all(|c| c.verdict == FileVerdict::Ok)
    }
}

/// Every item's verdicts, in plan order; `None` for an item not checked (interrupted).
#[derive(Debug, Default)]
pub(crate) struct Verified {
    pub items: Vec<Option<ItemResult>>,
}

impl Verified {
    /// Every item checked, and nothing differs.
    pub fn all_ok(&self) -> bool {
        self.items
            .iter()
            .all(|r| r.as_ref().is_some_and(ItemResult::ok))
    }

    /// The summary line.
    pub fn summary(&self) -> String {
        let mut count = [0usize; 5]; // ok, missing, pending, different, extra
        let (mut fields, mut failed, mut unchecked, mut files) = (0, 0, 0, 0);
        for r in &self.items {
            let Some(r) = r else {
                unchecked += 1;
                continue;
            };
            failed += usize::from(r.error.is_some());
            fields += r.fields.len();
            for c in &r.files {
                let i = match c.verdict {
                    FileVerdict::Ok => 0,
                    FileVerdict::Missing => 1,
                    FileVerdict::Pending => 2,
                    FileVerdict::Different { .. } => 3,
                    FileVerdict::Extra => 4,
                };
                count[i] += 1;
                files += usize::from(i != 4);
            }
        }
        let mut s = format!(
            "verified {}, {}: ",
            plural(self.items.len() - unchecked, "item", "items"),
            plural(files, "file", "files")
        );
        if self.all_ok() {
            s.push_str("all ok");
            return s;
        }
        s.push_str(&format!(
            "{} ok, {} missing, {} pending, {} different",
            count[0], count[1], count[2], count[3]
        ));
        if count[4] > 0 {
            s.push_str(&format!(", {} extra", count[4]));
        }
        if fields > 0 {
            s.push_str(&format!(
                "; {} of metadata {}",
                plural(fields, "field", "fields"),
                if fields == 1 { "differs" } else { "differ" }
            ));
        }
        if failed > 0 {
            s.push_str(&format!(
                "; {} could not be checked",
                plural(failed, "item", "items")
            ));
        }
        if unchecked > 0 {
            s.push_str(&format!(
                "; {} not checked (interrupted)",
                plural(unchecked, "item", "items")
            ));
        }
        s
    }
}

pub async fn run(
    global: &GlobalArgs,
    args: &VerifyArgs,
    env: &Env,
) -> Result<ExitStatus, AppError> {
    let settings = Settings::resolve(global, env)?;
    let transfer = settings.transfer(&args.transfer)?;
    // No bars: one line per item.
    let printer = Printer::new(transfer.quiet, true);
    let format = args
        .report
        .as_deref()
        .map(ReportFormat::from_path)
        .transpose()
        .map_err(AppError::usage)?;
    let plan_args = settings.plan_args(&args.plan);
    if plan_args.files.iter().any(|f| f.as_os_str() == "-") {
        return Err(AppError::usage(msg(
            "verify cannot read stdin (`-`): there is nothing to hash afterwards",
        ))
        .hint("verify the file that was piped in: `iaup verify ID FILE --remote-name NAME`"));
    }
    let plan = super::upload::build_plan(&plan_args, None, None)?;
    for note in &plan.notes {
        printer.note(note);
    }
    // Created before anything is read, so a path that cannot be written costs nothing.
    let report_file = match (&args.report, format) {
        (Some(path), Some(format)) => Some(report::Report::create(path, format)?),
        _ => None,
    };
    let verifier = Verifier {
        client: transport::client(transfer.jobs),
        archive_url: settings.archive_url.clone(),
        creds: settings.credentials.clone(),
        policy: transfer.policy,
        jobs: transfer.jobs,
        extra: args.extra,
        printer: printer.clone(),
    };
    let interrupt = Interrupt::install(printer, "reads");
    let plan = Arc::new(plan);
    let verified = verify_plan(
        Arc::new(verifier),
        plan.clone(),
        Vec::new(),
        interrupt.stop.clone(),
    )
    .await;
    let mut code = if interrupt.interrupted() {
        ExitStatus::Interrupted
    } else if verified.all_ok() {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    };
    if let Some(r) = report_file {
        if let Err(e) = r.write(&plan, &verified) {
            crate::output::note(&format!("error: {e}"));
            code = code.max(ExitStatus::Failed);
        }
    }
    Ok(code)
}

/// Checks every item of `plan`, `v.jobs` at a time, printing each item's lines as it is done
/// and the summary at the end. `known_md5[item][file]` gives MD5s already known (by the
/// upload that just sent the files); the others are hashed when needed.
pub(crate) async fn verify_plan(
    v: Arc<Verifier>,
    plan: Arc<Plan>,
    known_md5: Vec<Vec<Option<String>>>,
    stop: CancellationToken,
) -> Verified {
    let known = Arc::new(known_md5);
    let width = v.jobs;
    let (vv, pp) = (v.clone(), plan.clone());
    let mut rx = run::pool(
        (0..plan.items.len()).collect(),
        width,
        stop,
        move |i: usize| {
            let (v, plan, known) = (vv.clone(), pp.clone(), known.clone());
            async move {
                let item = &plan.items[i];
                let known = known.get(i).map(Vec::as_slice).unwrap_or_default();
                check_item(&v, item, known).await
            }
        },
    );
    let mut out = Verified {
        items: (0..plan.items.len()).map(|_| None).collect(),
    };
    while let Some((i, result)) = rx.recv().await {
        if let Some(r) = &result {
            print_item(&v.printer, &plan.items[i], r);
        }
        out.items[i] = result;
    }
    v.printer.always(&out.summary());
    out
}

/// The lines of one item: a line per difference, or `ID: ok (N files)`.
fn print_item(printer: &Printer, item: &ItemPlan, r: &ItemResult) {
    let id = &r.identifier;
    if let Some(e) = &r.error {
        printer.data(&format!("{id}: failed: {e}"));
        return;
    }
    if !r.exists {
        printer.data(&format!("{id}: no such item"));
    }
    for c in &r.files {
        let what = match &c.verdict {
            FileVerdict::Ok => continue,
            FileVerdict::Missing => "missing".to_owned(),
            FileVerdict::Pending => "pending".to_owned(),
            FileVerdict::Extra => "extra".to_owned(),
            FileVerdict::Different {
                what,
                local,
                remote,
            } => format!("different ({what} local {local}, remote {remote})"),
        };
        printer.data(&format!("{id}/{}: {what}", c.key));
    }
    for d in &r.fields {
        printer.data(&format!(
            "{id}: metadata {} differs: local {} remote {}",
            d.field,
            list_text(&d.local),
            list_text(&d.remote)
        ));
    }
    if r.ok() {
        printer.result(&format!(
            "{id}: ok ({})",
            plural(item.files.len(), "file", "files")
        ));
    }
}

/// A list of values as a JSON array: `["a","b"]`.
pub(crate) fn list_text(values: &[String]) -> String {
    serde_json::to_string(values).expect("strings serialize")
}

/// One metadata GET, the MD5s of the listed files, and the tasks summary when a planned file
/// is not listed.
async fn check_item(v: &Verifier, item: &ItemPlan, known: &[Option<String>]) -> ItemResult {
    let id = item.identifier.as_str();
    let on_retry = |attempt: u32, delay: Duration, reason: &str| {
        v.printer.note(&format!(
            "retry: reading {id} attempt {attempt} failed ({reason}); retrying in {:.1}s",
            delay.as_secs_f64()
        ));
    };
    let doc =
        match archive::item_metadata(&v.client, &v.archive_url, id, &v.policy, &on_retry).await {
            Ok(doc) => doc,
            Err(e) => return ItemResult::failed(item, e.to_string()),
        };
    let remote = doc.as_ref().map(compare::remote_files).unwrap_or_default();
    // Hashed only when the verdict needs it: listed, with an MD5, and the same size.
    let mut local_md5 = vec![String::new(); item.files.len()];
    let mut unlisted = false;
    for (i, f) in item.files.iter().enumerate() {
        let listed = remote.iter().find(|r| r.name == f.key);
        let Some(r) = listed.filter(|r| r.md5.is_some()) else {
            unlisted = true;
            continue;
        };
        if r.size.is_some_and(|s| s != f.size) {
            continue;
        }
        local_md5[i] = match known.get(i).cloned().flatten() {
            Some(m) => m,
            None => match hash::md5_file(&f.local).await {
                Ok(m) => m,
                Err(e) => {
                    return ItemResult::failed(
                        item,
                        format!("cannot read {}: {e}", f.local.display()),
                    )
                }
            },
        };
    }
    let pending = unlisted && has_tasks(v, id, &on_retry).await;
    ItemResult {
        identifier: id.to_owned(),
        exists: doc.is_some(),
        files: compare::check_files(item, &local_md5, &remote, pending, v.extra),
        fields: doc
            .as_ref()
            .map(|d| compare::check_metadata(&item.metadata, d))
            .unwrap_or_default(),
        local_md5,
        error: None,
    }
}

/// Whether the item has queued or running tasks (so a file not listed yet may still be).
/// Without keys, or when the Tasks API cannot be read, it says so and answers no.
async fn has_tasks(v: &Verifier, id: &str, on_retry: transport::OnRetry<'_>) -> bool {
    let Some(creds) = &v.creds else {
        v.printer.note(&format!(
            "{id}: files are not listed, and without S3 keys the tasks cannot be read to tell \
             `pending` from `missing` (run `iaup configure`)"
        ));
        return false;
    };
    let api = TasksApi {
        client: &v.client,
        archive_url: &v.archive_url,
        creds,
        policy: &v.policy,
    };
    match api.summary(id, on_retry).await {
        Ok(s) => !s.idle(),
        Err(e) => {
            v.printer.always(&format!(
                "warning: {e}; files not listed are reported missing"
            ));
            false
        }
    }
}
