//! The upload engine: items in parallel (`--jobs`), the files of one item in order, each file
//! retried on its own budget with full-jitter backoff, AIMD concurrency on overload SlowDown, a
//! run-wide pause while the global task queue is full, a landed-check after ambiguous failures,
//! and a graceful stop on Ctrl-C.
//!
//! The engine prints nothing: it sends [`Event`]s over a bounded channel to the one task that
//! owns the display, the journal and the report.

pub mod attempt;
mod file;
mod landed;
pub mod multipart;
mod part;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::archive;
use crate::ias3::check_limit::{over_limit, Gate};
use crate::ias3::PutSpec;
use crate::journal::MultipartUpload;
use crate::plan::{ItemPlan, Plan};
use crate::secret::Credentials;
use crate::transport::expect::PutClient;
use crate::transport::limiter::Limiter;
use crate::transport::RetryPolicy;

/// How to upload, resolved from flags.
#[derive(Clone, Debug)]
pub struct UploadOptions {
    pub derive: bool,
    pub size_hint: Option<u64>,
    pub keep_old_version: bool,
    pub verify: bool,
    pub status_check: bool,
    pub policy: RetryPolicy,
    pub jobs: usize,
    pub answer_timeout: Duration,
    pub stall_timeout: Duration,
    /// `--expect-continue-threshold`: PUTs of at least this many bytes wait for `100 Continue`
    /// before the body (0: none do).
    pub expect_continue_threshold: u64,
    pub extra_headers: Vec<(String, String)>,
    /// `--checksum`: compare with the item's remote MD5s before sending.
    pub checksum: bool,
    /// `--delete`: ask for the local file's removal once the server confirmed it (see
    /// [`Event::DeleteLocal`]).
    pub delete_local: bool,
    pub archive_url: String,
    /// `None`: `--no-multipart`.
    pub multipart: Option<multipart::MultipartOptions>,
}

impl UploadOptions {
    /// The PUT of one file of `item` under these options: what the engine sends, `--dry-run`
    /// prints and the header checks measure.
    pub fn put_spec<'a>(
        &'a self,
        item: &'a ItemPlan,
        file: &'a crate::plan::FilePlan,
        derive: bool,
        content_md5: Option<&'a str>,
    ) -> PutSpec<'a> {
        PutSpec {
            identifier: &item.identifier,
            key: &file.key,
            size: file.size,
            metadata: &item.metadata,
            file_metadata: &file.file_metadata,
            derive,
            size_hint: Some(self.size_hint.unwrap_or(item.total_bytes)),
            keep_old_version: self.keep_old_version,
            content_md5,
            extra_headers: &self.extra_headers,
        }
    }
}

/// check_limit polls that may fail in a row before the gate reopens and per-file budgets decide.
const MAX_POLL_ERRORS: u32 = 5;

/// Items open at once per `--jobs` slot.
const OPEN_ITEMS_PER_JOB: usize = 8;

pub use crate::events::{Event, FileRef};

/// Everything one run shares.
pub struct Engine {
    pub client: reqwest::Client,
    /// The client of file PUTs (`Expect: 100-continue`); every other request uses `client`.
    pub put_client: PutClient,
    pub s3_url: String,
    pub creds: Credentials,
    pub opts: UploadOptions,
    pub plan: Arc<Plan>,
    pub events: mpsc::Sender<Event>,
    /// Set by the first Ctrl-C: start nothing new.
    pub stop: CancellationToken,
    /// Set after the grace period: abort what is in flight.
    pub abort: CancellationToken,
    /// Bytes confirmed uploaded (for throughput).
    pub bytes_done: Arc<AtomicU64>,
    limiter: Limiter,
    gate: Gate,
    /// With a journal: each file is claimed before it is sent, so a run sharing the journal
    /// never sends it too.
    pub claims: Option<Arc<crate::journal::Claims>>,
    /// `--checksum`: the metadata of each item its metadata GET found, by item index (the
    /// metadata that follows the sheet is compared with it, without a second GET).
    pub found: Arc<std::sync::Mutex<std::collections::HashMap<usize, serde_json::Value>>>,
    /// Multipart uploads earlier runs left unfinished (from the journal), by (item, key): a
    /// file's upload is taken from here to be resumed.
    pub resumable: std::sync::Mutex<std::collections::HashMap<(String, String), MultipartUpload>>,
}

/// Work for one item: which of its files to send (the rest were skipped before).
#[derive(Clone, Debug)]
pub struct ItemWork {
    pub item: usize,
    pub files: Vec<usize>,
    /// Files an earlier run sent without a confirmation: they may have landed, so the server
    /// is asked (HEAD, then size and MD5) before they are sent. With the time (Unix seconds)
    /// the run stopped when that attempt got no answer: its body may still land for a while.
    pub check: std::collections::HashMap<usize, Option<i64>>,
}

enum FileOutcome {
    Done,
    Failed,
    /// The item cannot succeed (spam): fail its other files with this reason.
    ItemFatal(String),
    Interrupted,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: reqwest::Client,
        s3_url: String,
        creds: Credentials,
        opts: UploadOptions,
        plan: Arc<Plan>,
        events: mpsc::Sender<Event>,
        stop: CancellationToken,
        abort: CancellationToken,
    ) -> Engine {
        let limiter = Limiter::new(opts.jobs);
        Engine {
            client,
            put_client: PutClient::new(opts.jobs, opts.expect_continue_threshold),
            s3_url,
            creds,
            opts,
            plan,
            events,
            stop,
            abort,
            bytes_done: Arc::new(AtomicU64::new(0)),
            limiter,
            gate: Gate::default(),
            claims: None,
            found: Default::default(),
            resumable: Default::default(),
        }
    }

    /// Runs every item of `work`, `--jobs` at a time.
    pub async fn run(self: Arc<Self>, work: Vec<ItemWork>) {
        let files: Vec<(usize, Vec<usize>)> =
            work.iter().map(|w| (w.item, w.files.clone())).collect();
        // More items open than PUT slots: a file sleeping in backoff holds no slot, so other
        // items use it. PUTs in flight stay <= --jobs (the limiter), one per item at a time.
        let width = self.opts.jobs.max(1) * OPEN_ITEMS_PER_JOB;
        let me = self.clone();
        let mut done = crate::run::pool(work, width, self.stop.clone(), move |w| {
            let me = me.clone();
            async move { me.run_item(w).await }
        });
        while let Some((i, ran)) = done.recv().await {
            if ran.is_none() {
                let (item, files) = &files[i];
                self.not_started(*item, files).await;
            }
        }
    }

    /// Files of an item the run will not start (Ctrl-C).
    async fn not_started(&self, item: usize, files: &[usize]) {
        for &file in files {
            self.emit(Event::NotStarted {
                file: FileRef { item, file },
            })
            .await;
        }
    }

    async fn emit(&self, ev: Event) {
        let _ = self.events.send(ev).await;
    }

    async fn run_item(self: &Arc<Self>, work: ItemWork) {
        let item = &self.plan.items[work.item];
        if self.opts.status_check && !self.stop.is_cancelled() {
            self.check_limit_before(item).await;
        }
        let files = if self.opts.checksum && !self.stop.is_cancelled() {
            self.skip_matching(work.item, item, work.files).await
        } else {
            work.files
        };
        let work = ItemWork {
            item: work.item,
            files,
            check: work.check,
        };
        let mut fatal: Option<String> = None;
        let last = work.files.len().saturating_sub(1);
        for (n, &f) in work.files.iter().enumerate() {
            let file = FileRef {
                item: work.item,
                file: f,
            };
            if let Some(reason) = &fatal {
                self.emit(Event::Failed {
                    file,
                    reason: reason.clone(),
                    attempts: 0,
                })
                .await;
                continue;
            }
            if self.stop.is_cancelled() {
                self.not_started(work.item, &work.files[n..]).await;
                return;
            }
            // Derive once per item, on the last file this run sends (ia derives on every row).
            let derive = self.opts.derive && n == last;
            if !self.claim(item, file).await {
                continue;
            }
            let outcome = if self.goes_in_parts(&item.files[f]) {
                // Checks an earlier run's upload itself (resumed, completed, or landed).
                let check = work.check.get(&f).copied();
                self.upload_multipart(item, file, derive, check).await
            } else {
                if let Some(&since) = work.check.get(&f) {
                    if self.landed_before(item, file, since).await {
                        continue;
                    }
                }
                self.upload_file(item, file, derive).await
            };
            match outcome {
                FileOutcome::Done => {}
                FileOutcome::Failed => {
                    if derive && n > 0 {
                        self.emit(Event::Notice(format!(
                            "{}: no derive was queued because its last file failed; rerun to finish the item",
                            item.identifier
                        )))
                        .await;
                    }
                }
                FileOutcome::ItemFatal(reason) => fatal = Some(reason),
                FileOutcome::Interrupted => {
                    self.not_started(work.item, &work.files[n + 1..]).await;
                    return;
                }
            }
        }
    }

    /// `--checksum`: one metadata GET for the item; files whose MD5 equals the remote file of
    /// the same key are skipped. Returns the files still to send.
    async fn skip_matching(&self, idx: usize, item: &ItemPlan, files: Vec<usize>) -> Vec<usize> {
        let noop = |_: u32, _: Duration, _: &str| {};
        let remote = match archive::item_metadata(
            &self.client,
            &self.opts.archive_url,
            &item.identifier,
            &self.opts.policy,
            &noop,
        )
        .await
        {
            Ok(Some(v)) => {
                let metadata = serde_json::json!({ "metadata": v["metadata"] });
                self.found
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(idx, metadata);
                v
            }
            Ok(None) => return files,
            Err(e) => {
                self.emit(Event::Notice(format!(
                    "--checksum: cannot read {}'s file list ({e}); sending every file",
                    item.identifier
                )))
                .await;
                return files;
            }
        };
        if let Some(tasks) = remote["tasks"].as_array().filter(|t| !t.is_empty()) {
            self.emit(Event::Notice(format!(
                "--checksum: {} has {}; files not listed yet cannot be compared and will be sent",
                item.identifier,
                crate::reporter::plural(tasks.len(), "pending task", "pending tasks")
            )))
            .await;
        }
        let remote_md5: std::collections::HashMap<&str, &str> = remote["files"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| Some((f["name"].as_str()?, f["md5"].as_str()?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut keep = Vec::new();
        for f in files {
            let fp = &item.files[f];
            let Some(theirs) = remote_md5.get(fp.key.as_str()) else {
                keep.push(f);
                continue;
            };
            match crate::hash::md5_file(&fp.local).await {
                Ok(ours) if ours.eq_ignore_ascii_case(theirs) => {
                    self.emit(Event::Skipped {
                        file: FileRef { item: idx, file: f },
                        reason: "already on the server with the same MD5".into(),
                        md5: ours,
                    })
                    .await;
                    self.delete_local(item, f).await;
                }
                _ => keep.push(f),
            }
        }
        keep
    }

    /// `--delete`: after a file's confirmation event, asks the owner to remove its local copy
    /// (which it does only once the confirmation is safe; see [`crate::local_delete`]).
    async fn delete_local(&self, item: &ItemPlan, f: usize) {
        if self.opts.delete_local {
            self.emit(Event::DeleteLocal(item.files[f].local.clone()))
                .await;
        }
    }

    async fn check_limit_before(&self, item: &ItemPlan) {
        let noop = |_: u32, _: Duration, _: &str| {};
        match over_limit(
            &self.client,
            &self.s3_url,
            &self.creds,
            &item.identifier,
            &self.opts.policy,
            &noop,
        )
        .await
        {
            Ok(true) => {
                if self.gate.pause() {
                    self.emit(Event::Notice(format!(
                        "{} is over its task limit: waiting for it to clear before uploading",
                        item.identifier
                    )))
                    .await;
                    self.poll_until_clear(&item.identifier).await;
                }
            }
            Ok(false) => {}
            Err(e) => {
                self.emit(Event::Notice(format!(
                    "could not check the task limit of {}: {e}",
                    item.identifier
                )))
                .await
            }
        }
    }

    /// Polls check_limit until the bucket (and the global queue) is under its limit.
    async fn poll_until_clear(&self, bucket: &str) {
        let mut wait = self.opts.policy.base.max(Duration::from_millis(500));
        let noop = |_: u32, _: Duration, _: &str| {};
        let mut errors = 0u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.cancelled() => { self.gate.open(); return; }
            }
            match over_limit(
                &self.client,
                &self.s3_url,
                &self.creds,
                bucket,
                &self.opts.policy,
                &noop,
            )
            .await
            {
                Ok(false) => {
                    self.gate.open();
                    self.emit(Event::Notice(
                        "the task queue has room again: resuming uploads".into(),
                    ))
                    .await;
                    return;
                }
                Ok(true) => errors = 0,
                Err(e) => {
                    errors += 1;
                    self.emit(Event::Notice(format!("check_limit failed: {e}")))
                        .await;
                    if errors >= MAX_POLL_ERRORS {
                        self.emit(Event::Notice(
                            "check_limit keeps failing: resuming uploads; each file's retry budget decides".into(),
                        ))
                        .await;
                        self.gate.open();
                        return;
                    }
                }
            }
            wait = (wait * 2).min(self.opts.policy.cap.max(Duration::from_secs(1)));
        }
    }
}
