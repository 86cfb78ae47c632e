//! The download's plan: every item's listing read in parallel (one metadata GET per item),
//! the files each selection takes, their local paths, and what is decided before any file is
//! fetched: names the item lacks and names that would escape the destination (failed), and
//! files the journal saw verified in place, unchanged since (skipped without a request).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::dest::local_path;
use super::select::{select, Selection, Wanted};
use super::sources::ItemRequest;
use crate::events::FileRef;
use crate::item_doc::remote_files;
use crate::journal::Confirmed;
use crate::plan::{FileIdentity, FilePlan, ItemPlan, Plan};
use crate::reporter::FileStatus;
use crate::transport::{ApiError, RetryPolicy};

/// The plan and what goes with it.
pub struct Built {
    pub plan: Plan,
    /// What each planned file is checked against, in the plan's order.
    pub wanted: Vec<Vec<Wanted>>,
    /// Files settled before the run: failed (not in the item, unsafe name) or skipped.
    pub decided: Vec<(FileRef, FileStatus)>,
    /// Items that do not exist or could not be read, with why.
    pub missing_items: Vec<(String, String)>,
}

/// `GET /metadata/ID` of every item, `jobs` at a time, in the order given. `None` for an item
/// not read because of Ctrl-C.
pub async fn listings(
    client: &reqwest::Client,
    archive_url: &str,
    ids: Vec<String>,
    jobs: usize,
    policy: RetryPolicy,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<Option<Result<Option<Value>, ApiError>>> {
    let n = ids.len();
    let (client, url) = (client.clone(), Arc::new(archive_url.to_owned()));
    let mut rx = crate::run::pool(ids, jobs, stop, move |id: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let noop = |_: u32, _: Duration, _: &str| {};
            crate::archive::item_metadata(&client, &url, &id, &policy, &noop).await
        }
    });
    let mut out: Vec<_> = (0..n).map(|_| None).collect();
    while let Some((i, r)) = rx.recv().await {
        out[i] = r;
    }
    out
}

/// Where and how the files go.
pub struct Layout<'a> {
    pub destdir: &'a Path,
    pub no_directories: bool,
    pub selection: &'a Selection,
}

/// The plan of `requests` from their listings (as [`listings`] returns them).
pub fn build(
    requests: &[ItemRequest],
    docs: Vec<Option<Result<Option<Value>, ApiError>>>,
    layout: &Layout<'_>,
) -> Built {
    let mut built = Built {
        plan: Plan {
            items: Vec::new(),
            gone: Vec::new(),
            notes: Vec::new(),
        },
        wanted: Vec::new(),
        decided: Vec::new(),
        missing_items: Vec::new(),
    };
    for (req, doc) in requests.iter().zip(docs) {
        let doc = match doc {
            Some(Ok(Some(doc))) => doc,
            Some(Ok(None)) => {
                let why = "no such item on archive.org".to_owned();
                built.missing_items.push((req.identifier.clone(), why));
                continue;
            }
            Some(Err(e)) => {
                built
                    .missing_items
                    .push((req.identifier.clone(), e.to_string()));
                continue;
            }
            None => continue, // interrupted before it was read
        };
        add_item(&mut built, req, &doc, layout);
    }
    built
}

fn add_item(built: &mut Built, req: &ItemRequest, doc: &Value, layout: &Layout<'_>) {
    let id = &req.identifier;
    let (found, missing) = select(id, &remote_files(doc), &req.named, layout.selection);
    let item = built.plan.items.len();
    let mut files = Vec::new();
    let mut wanted = Vec::new();
    let fail = |built: &mut Built, f: usize, reason: String| {
        built.decided.push((
            FileRef { item, file: f },
            FileStatus::Failed {
                reason,
                attempts: 0,
            },
        ));
    };
    let mut entries: Vec<(Wanted, Option<String>)> = found.into_iter().map(|w| (w, None)).collect();
    for name in missing {
        let w = Wanted {
            name: name.clone(),
            size: None,
            md5: None,
            listed_md5: None,
            mtime: None,
            path: String::new(),
        };
        entries.push((w, Some(format!("{id} has no file named `{name}`"))));
    }
    for (w, problem) in entries {
        let f = files.len();
        let local = local_path(layout.destdir, id, &w.name, layout.no_directories);
        let problem = problem.or_else(|| local.as_ref().err().cloned());
        let local = local.unwrap_or_default();
        files.push(file_plan(&local, &w));
        wanted.push(w);
        if let Some(reason) = problem {
            fail(built, f, reason);
        }
    }
    built.plan.items.push(ItemPlan {
        identifier: id.clone(),
        metadata: Default::default(),
        total_bytes: files.iter().map(|f| f.size).sum(),
        files,
    });
    built.wanted.push(wanted);
}

/// The plan entry of a file: its destination, remote name and listed size, with the local
/// file's mtime and identity when it is there already (what `--checksum` records).
fn file_plan(local: &Path, w: &Wanted) -> FilePlan {
    let meta = std::fs::metadata(local).ok().filter(|m| m.is_file());
    FilePlan {
        local: local.to_path_buf(),
        key: w.name.clone(),
        size: w.size.unwrap_or(0),
        mtime_ns: meta.as_ref().map(crate::plan::files::mtime_ns).unwrap_or(0),
        row: None,
        identity: meta
            .as_ref()
            .map(|m| FileIdentity::of(local, m))
            .unwrap_or_default(),
        file_metadata: Default::default(),
    }
}

/// True when the journal saw `w` verified at `local` and the file is as it left it: same path,
/// size and mtime, and the item still lists the same MD5 (or, without one, the same size).
pub fn unchanged(record: &Confirmed, local: &Path, w: &Wanted) -> bool {
    let Ok(meta) = std::fs::metadata(local) else {
        return false;
    };
    let same_remote = match (&w.listed_md5, &record.md5, w.size) {
        (Some(listed), Some(kept), _) => listed.eq_ignore_ascii_case(kept),
        (None, _, Some(size)) => size == record.size,
        _ => true,
    };
    meta.is_file()
        && record.local_path == local.display().to_string()
        && meta.len() == record.size
        && crate::plan::files::mtime_ns(&meta) == record.mtime_ns
        && same_remote
}

/// Marks every planned file the journal's `done` records show in place as skipped.
pub fn skip_unchanged(built: &mut Built, done: &HashMap<(String, String), Confirmed>) -> usize {
    let failed: std::collections::HashSet<FileRef> = built.decided.iter().map(|d| d.0).collect();
    let mut skipped = 0;
    for (i, item) in built.plan.items.iter().enumerate() {
        for (f, fp) in item.files.iter().enumerate() {
            let at = FileRef { item: i, file: f };
            let key = (item.identifier.clone(), fp.key.clone());
            let hit = done.get(&key);
            if failed.contains(&at)
                || !hit.is_some_and(|r| unchanged(r, &fp.local, &built.wanted[i][f]))
            {
                continue;
            }
            skipped += 1;
            built.decided.push((
                at,
                FileStatus::Skipped {
                    reason: "already downloaded (journal)".into(),
                    md5: hit.and_then(|r| r.md5.clone()),
                },
            ));
        }
    }
    skipped
}
