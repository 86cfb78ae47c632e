//! The upload command's side of multipart uploads: `--multipart-threshold`, `--part-size`,
//! `--part-jobs` and `--no-multipart` resolved; the journal's unfinished uploads sorted into
//! those this run resumes (their file is in the plan: the engine takes them) and the stale ones
//! (their local file changed or is gone: they can never be completed), which `--abort-stale`
//! aborts and which are otherwise pointed out once.

use std::collections::HashMap;

use crate::cli::UploadArgs;
use crate::engine::multipart::{MultipartOptions, DEFAULT_PART_JOBS, DEFAULT_THRESHOLD};
use crate::engine::Engine;
use crate::journal::MultipartUpload;
use crate::plan::{files::changed, Plan, Problem};
use crate::printer::Printer;

/// The smallest `--part-size`.
const MIN_PART_SIZE: u64 = 1 << 20;

/// The multipart options of `args`; `None` with `--no-multipart`.
pub(super) fn options(args: &UploadArgs) -> Result<Option<MultipartOptions>, Problem> {
    if args.no_multipart {
        return Ok(None);
    }
    let part_size = args.part_size.map(|b| b.0);
    if part_size.is_some_and(|p| p < MIN_PART_SIZE) {
        return Err(Problem::new(format!(
            "--part-size {} is too small",
            args.part_size.unwrap_or_default()
        ))
        .with_hint("parts are at least 1MiB (IA, like S3, may refuse parts under 5MiB)"));
    }
    Ok(Some(MultipartOptions {
        threshold: args
            .multipart_threshold
            .map_or(DEFAULT_THRESHOLD, |b| b.0.max(1)),
        part_size,
        part_jobs: args.part_jobs.map_or(DEFAULT_PART_JOBS, |n| n as usize),
    }))
}

/// The journal's unfinished uploads, sorted.
pub(super) struct Unfinished {
    /// Of files in this run's plan, by (identifier, key).
    pub resumable: HashMap<(String, String), MultipartUpload>,
    /// Of files not in the plan whose local file changed or is gone.
    pub stale: Vec<MultipartUpload>,
}

impl Unfinished {
    pub(super) fn sort(uploads: Vec<MultipartUpload>, plan: &Plan) -> Unfinished {
        let planned: std::collections::HashSet<(&str, &str)> = plan
            .items
            .iter()
            .flat_map(|i| {
                i.files
                    .iter()
                    .map(|f| (i.identifier.as_str(), f.key.as_str()))
            })
            .collect();
        let mut resumable = HashMap::new();
        let mut stale = Vec::new();
        for up in uploads {
            if planned.contains(&(up.identifier.as_str(), up.key.as_str())) {
                // Oldest first: a newer upload of the same file is the one to resume, and an
                // older one can never complete.
                let key = (up.identifier.clone(), up.key.clone());
                if let Some(older) = resumable.insert(key, up) {
                    stale.push(older);
                }
            } else if is_stale(&up) {
                stale.push(up);
            }
        }
        Unfinished { resumable, stale }
    }

    /// Hands the resumable ones to the engine; aborts the stale ones with `--abort-stale`,
    /// else says how.
    pub(super) async fn settle(self, engine: &Engine, abort_stale: bool, printer: &Printer) {
        *engine.resumable.lock().unwrap_or_else(|e| e.into_inner()) = self.resumable;
        if self.stale.is_empty() {
            return;
        }
        if !abort_stale {
            printer.note(&format!(
                "{} begun by earlier runs can never be completed: their file changed, is \
                 gone, or has a newer upload ({}); `--abort-stale` aborts them",
                crate::reporter::plural(
                    self.stale.len(),
                    "multipart upload was",
                    "multipart uploads were"
                ),
                names(&self.stale)
            ));
            return;
        }
        for up in &self.stale {
            engine
                .abort_upload(&up.identifier, &up.key, &up.upload_id)
                .await;
        }
        printer.note(&format!(
            "aborted {}: {}",
            crate::reporter::plural(
                self.stale.len(),
                "stale multipart upload",
                "stale multipart uploads"
            ),
            names(&self.stale)
        ));
    }
}

/// `ID/KEY, ID/KEY, ...` (the first few).
fn names(uploads: &[MultipartUpload]) -> String {
    let mut s: Vec<String> = uploads
        .iter()
        .take(5)
        .map(|u| format!("{}/{}", u.identifier, u.key))
        .collect();
    if uploads.len() > 5 {
        s.push(format!("and {} more", uploads.len() - 5));
    }
    s.join(", ")
}

/// Whether the file an upload was begun for changed or is gone.
pub fn is_stale(up: &MultipartUpload) -> bool {
    let path = std::path::Path::new(&up.identity.canonical);
    changed(path, up.size, up.mtime_ns, &up.identity).is_some()
}
