//! What `upload` does after its last file: the metadata that follows the sheet, then `--wait`.
//!
//! IA applies `x-archive-meta` headers only when a PUT creates the item, so a value edited in
//! the sheet (or `-m`, or `_meta.xml`) after the item exists never reaches it. The rule: an
//! item is compared when the run knows it existed before its first PUT: the journal holds a
//! file of it confirmed by an earlier run, or `--checksum`'s metadata GET found it (that
//! document is reused; otherwise one GET per item). An item this run may have created is not
//! compared: its metadata is the headers just sent, it may not be listed yet, and a MARC
//! record's crosswalk may rewrite it on purpose; `iaup verify` (or `--wait`) compares every
//! item. Differences are a warning with the exact `iaup metadata` command that applies them
//! (exit code unchanged); `--update-metadata` applies them through `iaup metadata`'s write path,
//! one patch per item, and a failed write exits 1.
//!
//! `--wait`: once the upload completed, wait until no task of the run's items is queued or
//! running (`archive::tasks::wait_idle`, items in parallel, one deadline for all), then run
//! `iaup verify`'s check over the plan; exit 1 when anything differs or the wait timed out.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::archive::{self, tasks};
use crate::cli::UploadArgs;
use crate::commands::verify::{self, list_text, Verifier};
use crate::compare;
use crate::error::ExitStatus;
use crate::plan::{Metadata, Plan};
use crate::printer::Printer;
use crate::reporter::{plural, FileStatus, RunRecord};
use crate::secret::Credentials;
use crate::settings::{Settings, Transfer};

/// What the run leaves for the steps after it.
pub(super) struct After<'a> {
    pub settings: &'a Settings,
    pub args: &'a UploadArgs,
    pub transfer: &'a Transfer,
    pub plan: Arc<Plan>,
    pub record: &'a RunRecord,
    pub client: reqwest::Client,
    pub creds: Credentials,
    pub printer: Printer,
    /// Items the journal holds a file of, confirmed by an earlier run.
    pub in_journal: HashSet<String>,
    /// `--checksum`: the metadata of the items its GET found, by item index.
    pub found: HashMap<usize, Value>,
    /// The journal's digests of items' planned metadata last seen stored as planned: an item
    /// whose plan has the same digest now is not compared again.
    pub checked: HashMap<String, String>,
    pub stop: CancellationToken,
}

/// Runs the steps after the upload and returns the final exit code, `code` being the upload's.
pub(super) async fn finish(a: After<'_>, code: ExitStatus) -> ExitStatus {
    if code == ExitStatus::Interrupted || a.stop.is_cancelled() {
        return code;
    }
    let mut out = code;
    if !follow_sheet(&a).await {
        out = ExitStatus::Failed;
    }
    if a.args.wait {
        if code != ExitStatus::Success {
            a.printer
                .always("--wait: not waiting, as the upload did not complete");
        } else if !wait_and_verify(&a).await {
            out = ExitStatus::Failed;
        }
    }
    if a.stop.is_cancelled() {
        return ExitStatus::Interrupted;
    }
    out
}

/// The metadata that follows the sheet (see the module text). False when a write failed.
async fn follow_sheet(a: &After<'_>) -> bool {
    let docs = stored_docs(a).await;
    let mut updates = Vec::new();
    // Items the Archive stores as planned: recorded, so a rerun does not compare them again.
    let mut as_planned = Vec::new();
    for (i, doc) in docs {
        let item = &a.plan.items[i];
        let id = &item.identifier;
        let doc = match doc {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                a.printer.always(&format!(
                    "warning: cannot compare the stored metadata of {id} with the plan's: {e}"
                ));
                continue;
            }
        };
        let diffs = compare::check_metadata(&item.metadata, &doc);
        if diffs.is_empty() {
            as_planned.push((id.clone(), item.metadata.digest()));
            continue;
        }
        let fields: Vec<(String, Vec<String>)> = diffs
            .iter()
            .map(|d| (d.field.clone(), d.local.clone()))
            .collect();
        let listed = diffs
            .iter()
            .map(|d| {
                format!(
                    "{} (stored {}, planned {})",
                    d.field,
                    list_text(&d.remote),
                    list_text(&d.local)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        if a.args.update_metadata {
            a.printer
                .note(&format!("{id}: updating metadata that differs: {listed}"));
        } else {
            a.printer.always(&format!(
                "warning: {id}: the stored metadata differs from the plan's (IA applies upload \
                 metadata only when it creates an item): {listed}\n  apply with: {}",
                apply_command(id, &fields)
            ));
        }
        updates.push((id.clone(), Metadata(fields)));
    }
    let updated: Vec<(String, String)> = updates
        .iter()
        .map(|(id, _)| {
            let item = a.plan.items.iter().find(|it| &it.identifier == id);
            (
                id.clone(),
                item.map(|it| it.metadata.digest()).unwrap_or_default(),
            )
        })
        .collect();
    if updates.is_empty() {
        remember_checked(a, &as_planned);
        return true;
    }
    if !a.args.update_metadata {
        a.printer.always(&format!(
            "hint: rerun with --update-metadata to apply the plan's metadata to {}",
            plural(updates.len(), "item", "items")
        ));
        return true;
    }
    let written = crate::commands::metadata::set_fields(
        &a.settings.archive_url,
        a.creds.clone(),
        a.transfer.policy,
        a.transfer.jobs,
        a.printer.clone(),
        updates,
    )
    .await;
    match written {
        Ok(code) => {
            if code == ExitStatus::Success {
                as_planned.extend(updated);
            }
            remember_checked(a, &as_planned);
            code == ExitStatus::Success
        }
        Err(e) => {
            a.printer
                .always(&format!("--update-metadata: {}", e.render()));
            false
        }
    }
}

/// The stored metadata of the items the run knows existed before it and whose plan sets
/// metadata: `--checksum`'s documents, the rest read now (items in parallel).
async fn stored_docs(a: &After<'_>) -> Vec<(usize, archive::metadata::ItemRead)> {
    let candidates: Vec<usize> = a
        .plan
        .items
        .iter()
        .enumerate()
        .filter(|(i, it)| {
            !it.metadata.0.is_empty()
                && (a.found.contains_key(i) || a.in_journal.contains(&it.identifier))
                && a.checked.get(&it.identifier) != Some(&it.metadata.digest())
        })
        .map(|(i, _)| i)
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    // `--checksum` read some already; the rest are read now.
    let unread: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|i| !a.found.contains_key(i))
        .collect();
    let reads = archive::metadata::ManyItems {
        client: a.client.clone(),
        archive_url: a.settings.archive_url.clone(),
        policy: a.transfer.policy,
        jobs: a.transfer.jobs,
        printer: Printer::new(true, true),
    };
    let ids = unread
        .iter()
        .map(|&i| a.plan.items[i].identifier.clone())
        .collect();
    let mut read: HashMap<usize, archive::metadata::ItemRead> = HashMap::new();
    crate::run::in_order(reads.read(ids, a.stop.clone()), |n, doc| {
        if let Some(doc) = doc {
            read.insert(unread[n], doc);
        }
    })
    .await;
    candidates
        .into_iter()
        .filter_map(|i| match a.found.get(&i) {
            Some(d) => Some((i, Ok(Some(d.clone())))),
            None => read.remove(&i).map(|doc| (i, doc)),
        })
        .collect()
}

/// Records in the journal (when the run keeps one) the items whose stored metadata is the
/// plan's. A journal that cannot be written only costs a comparison next time: a warning.
fn remember_checked(a: &After<'_>, items: &[(String, String)]) {
    if items.is_empty() || a.args.no_journal {
        return;
    }
    let recorded = crate::journal::open_named(a.args.journal.as_deref()).and_then(|mut j| {
        j.metadata_checked(&a.settings.s3_url, items)
            .map_err(crate::journal::JournalError::into_app)
    });
    if let Err(e) = recorded {
        a.printer.always(&format!(
            "warning: could not record the compared metadata in the journal: {}",
            e.render()
        ));
    }
}

/// `iaup metadata ID -m KEY:VALUE...`, quoted for a POSIX shell.
fn apply_command(id: &str, fields: &[(String, Vec<String>)]) -> String {
    let mut cmd = format!("iaup metadata {}", shell_word(id));
    for (key, values) in fields {
        for v in values {
            cmd.push_str(&format!(" -m {}", shell_word(&format!("{key}:{v}"))));
        }
    }
    cmd
}

/// `s` as one POSIX shell word: as is when it has only safe characters, else single-quoted.
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.,:/=@+%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `--wait`: waits for the items' tasks, then verifies the plan. False when waiting timed out
/// or failed, or anything differs.
async fn wait_and_verify(a: &After<'_>) -> bool {
    let timeout = Duration::from_secs(a.args.wait_timeout);
    let deadline = Instant::now() + timeout;
    let ids: Vec<String> = a.plan.items.iter().map(|i| i.identifier.clone()).collect();
    a.printer.note(&format!(
        "--wait: waiting until {} no queued or running tasks (up to {}s)",
        if ids.len() == 1 {
            "the item has".to_owned()
        } else {
            format!("{} items have", ids.len())
        },
        timeout.as_secs()
    ));
    let shared = Arc::new((
        a.client.clone(),
        a.settings.archive_url.clone(),
        a.creds.clone(),
        a.transfer.policy,
        a.stop.clone(),
    ));
    let mut rx = crate::run::pool(ids.clone(), a.transfer.jobs, a.stop.clone(), move |id| {
        let shared = shared.clone();
        async move {
            let (client, archive_url, creds, policy, stop) = &*shared;
            let api = tasks::TasksApi {
                client,
                archive_url,
                creds,
                policy,
            };
            let noop = |_: u32, _: Duration, _: &str| {};
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::select! {
                w = tasks::wait_idle(&api, &id, left, &noop, &|_| {}) => Some(w),
                () = stop.cancelled() => None,
            }
        }
    });
    let mut ok = true;
    while let Some((i, waited)) = rx.recv().await {
        let id = &ids[i];
        match waited.flatten() {
            None => ok = false,
            Some(Ok(tasks::Waited::Idle { errors: 0 })) => {}
            Some(Ok(tasks::Waited::Idle { errors })) => a.printer.always(&format!(
                "warning: {id} has {} in error (they wait for an admin at IA)",
                plural(errors as usize, "task", "tasks")
            )),
            Some(Ok(tasks::Waited::TimedOut(s))) => {
                ok = false;
                a.printer.always(&format!(
                    "--wait: {id} still has tasks after {}s ({} queued, {} running)",
                    timeout.as_secs(),
                    s.queued,
                    s.running
                ));
            }
            Some(Err(e)) => {
                ok = false;
                a.printer.always(&format!("--wait: {e}"));
            }
        }
    }
    if a.stop.is_cancelled() {
        return false;
    }
    let verifier = Verifier {
        client: a.client.clone(),
        archive_url: a.settings.archive_url.clone(),
        creds: Some(a.creds.clone()),
        policy: a.transfer.policy,
        jobs: a.transfer.jobs,
        extra: false,
        printer: a.printer.clone(),
    };
    // The MD5s this run (or the journal) confirmed; the rest are hashed.
    let known = a
        .record
        .status
        .iter()
        .map(|files| {
            files
                .iter()
                .map(|s| match s {
                    FileStatus::Confirmed { md5, .. } => Some(md5.clone()),
                    FileStatus::Skipped { md5, .. } => md5.clone(),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let verified =
        verify::verify_plan(Arc::new(verifier), a.plan.clone(), known, a.stop.clone()).await;
    ok && verified.all_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apply_command_is_quoted_for_a_shell() {
        let fields = vec![
            ("title".to_owned(), vec!["It's new".to_owned()]),
            ("subject".to_owned(), vec!["a".to_owned(), "b c".to_owned()]),
        ];
        assert_eq!(
            apply_command("my-item", &fields),
            r"iaup metadata my-item -m 'title:It'\''s new' -m subject:a -m 'subject:b c'"
        );
    }
}
