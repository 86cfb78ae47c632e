//! One big file as an S3 multipart upload: created once (the create call carries the item's
//! metadata headers, size hint, derive and backup flags), its parts sent `--part-jobs` at a
//! time (each through [`super::part`] on its own retry budget, ETag checked against its MD5),
//! then completed. Every step is told to the journal (upload id, each confirmed part), so a
//! killed run resumes the same upload: the server's list of parts is reconciled with the
//! journal, and only parts it lacks are sent. An upload begun for another version of the file
//! (size, mtime, inode or ctime changed) is aborted, never completed. The whole file's MD5 is
//! read alongside the parts and is what the run records; the Complete answer's ETag must be it,
//! or S3's `md5(part md5s)-N` form of the parts sent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::landed::LANDING_WINDOW;
use super::part::{PartOutcome, PartSpec};
use super::{Engine, Event, FileOutcome, FileRef};
use crate::events::Progress;
use crate::ias3::multipart::{self as mp, Cut, ListedPart};
use crate::ias3::{self, S3};
use crate::journal::MultipartUpload;
use crate::plan::{FilePlan, ItemPlan};
use crate::transport::{self, Answer, Face, HttpError};

/// How long to wait for a new item's bucket after the create call (IAS3 answers the create
/// before the item exists; parts sent meanwhile fail `404 NoSuchBucket`).
const BUCKET_WAIT: Duration = Duration::from_secs(600);

/// How `--multipart-threshold`, `--part-size` and `--part-jobs` resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultipartOptions {
    /// Files of at least this many bytes go in parts.
    pub threshold: u64,
    /// `None`: [`mp::default_part_size`] of each file.
    pub part_size: Option<u64>,
    /// Parts of one file in flight at once.
    pub part_jobs: usize,
}

/// 4 GiB: the smallest file the default 1 GiB parts keep 4 part jobs busy for. Each part is a
/// task on the item's queue at IA, so smaller files go in one PUT (which 100-continue
/// protects); above it a drop costs at most the parts in flight instead of the whole file.
pub const DEFAULT_THRESHOLD: u64 = 4 << 30;

/// Parts of one file in flight at once, by default.
pub const DEFAULT_PART_JOBS: usize = 4;

impl MultipartOptions {
    /// Whether a file of `size` bytes goes in parts.
    pub fn applies(&self, size: u64) -> bool {
        size >= self.threshold && size > 0
    }

    /// The cut of a file of `size` bytes.
    pub fn cut(&self, size: u64) -> Cut {
        Cut::new(
            size,
            self.part_size
                .unwrap_or_else(|| mp::default_part_size(size)),
        )
    }
}

/// Why a multipart upload did not finish; the upload stays in the journal to resume.
pub(super) enum Stop {
    Failed(String),
    Interrupted,
}

impl Engine {
    /// Whether `fp` of `item` goes in parts: it is big enough, or an earlier run began an
    /// upload of it in parts (which is resumed, or aborted if the file changed).
    pub(super) fn goes_in_parts(&self, item: &ItemPlan, fp: &FilePlan) -> bool {
        let Some(m) = self.opts.multipart else {
            return false;
        };
        m.applies(fp.size)
            || self
                .resumable
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&(item.identifier.clone(), fp.key.clone()))
    }

    /// Uploads one file in parts; `maybe_landed`: an earlier run may have finished it.
    pub(super) async fn upload_multipart(
        self: &Arc<Self>,
        item: &ItemPlan,
        file: FileRef,
        derive: bool,
        maybe_landed: Option<Option<i64>>,
    ) -> FileOutcome {
        let fp = &item.files[file.file];
        let opts = self.opts.multipart.expect("only called with multipart on");
        let cut = opts.cut(fp.size);
        let result = self
            .multipart_steps(item, file, derive, cut, maybe_landed)
            .await;
        match result {
            Ok(Some(md5)) => {
                self.confirmed(item, file, md5, 1).await;
                FileOutcome::Done
            }
            Ok(None) => FileOutcome::Done,
            Err(stop) => self.stopped(file, stop).await,
        }
    }

    /// Reports how a multipart upload stopped short.
    pub(super) async fn stopped(&self, file: FileRef, stop: Stop) -> FileOutcome {
        match stop {
            Stop::Interrupted => {
                self.emit(Event::Interrupted { file, attempts: 1 }).await;
                FileOutcome::Interrupted
            }
            Stop::Failed(reason) => {
                self.emit(Event::Failed {
                    file,
                    reason,
                    attempts: 1,
                })
                .await;
                FileOutcome::Failed
            }
        }
    }

    /// The steps; `Ok(None)` when an earlier run's upload was found complete (reported).
    async fn multipart_steps(
        self: &Arc<Self>,
        item: &ItemPlan,
        file: FileRef,
        derive: bool,
        mut cut: Cut,
        maybe_landed: Option<Option<i64>>,
    ) -> Result<Option<String>, Stop> {
        let fp = &item.files[file.file];
        let id = &item.identifier;
        let earlier = self.resumable_upload(item, fp).await;
        // An upload's parts can be neither listed nor sent before its item exists.
        let mut bucket_seen = false;
        if earlier.is_some() {
            self.wait_for_bucket(id).await?;
            bucket_seen = true;
        }
        let (upload_id, mut done) = match earlier {
            Some(up) => match self.reconcile(item, fp, &up, cut).await? {
                Some(done) => {
                    // The upload goes on in the parts it was begun with.
                    cut = Cut::new(fp.size, up.part_size);
                    (up.upload_id, done)
                }
                None => {
                    // Gone from the server: completed by the run that was killed (IA may
                    // show the file only a while later: the landed-check polls), or aborted.
                    if self.landed_before(item, file, Some(unix_now())).await {
                        self.emit(Event::MultipartEnded {
                            upload_id: up.upload_id,
                        })
                        .await;
                        return Ok(None);
                    }
                    self.emit(Event::MultipartEnded {
                        upload_id: up.upload_id,
                    })
                    .await;
                    let id = self
                        .create(item, file, derive, cut.part_size, false)
                        .await?;
                    (id, BTreeMap::new())
                }
            },
            None => {
                if let Some(since) = maybe_landed {
                    if self.landed_before(item, file, since).await {
                        return Ok(None);
                    }
                }
                let id = self
                    .create(item, file, derive, cut.part_size, false)
                    .await?;
                (id, BTreeMap::new())
            }
        };
        if !bucket_seen {
            self.wait_for_bucket(id).await?;
        }
        let progress = Arc::new(Progress::default());
        progress.add(done.values().map(|(size, _)| *size).sum());
        self.emit(Event::Started {
            file,
            attempt: 1,
            progress: progress.clone(),
        })
        .await;
        let local = fp.local.clone();
        // Stops the whole-file read when the upload stops short (on drop).
        let reading = CancelOnDrop::default();
        let cancel = reading.0.clone();
        let whole =
            tokio::spawn(
                async move { crate::hash::md5_range_until(&local, 0, u64::MAX, cancel).await },
            );
        let sent = self
            .send_parts(file, &upload_id, cut, &done, progress)
            .await?;
        done.extend(sent);
        let whole_md5 = match whole.await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                return Err(Stop::Failed(format!(
                    "cannot read {}: {e}",
                    fp.local.display()
                )))
            }
            Err(e) => return Err(Stop::Failed(e.to_string())),
        };
        drop(reading);
        if let Some(why) =
            crate::plan::files::changed(&fp.local, fp.size, fp.mtime_ns, &fp.identity)
        {
            // Its parts and its MD5 may be of two versions: never complete that.
            self.abort_upload(id, &fp.key, &upload_id).await;
            return Err(Stop::Failed(format!(
                "{} {why} while it was being uploaded; the upload was aborted, run again",
                fp.local.display()
            )));
        }
        self.complete(item, fp, &upload_id, &done, &whole_md5, Some(fp.size))
            .await?;
        self.emit(Event::MultipartEnded { upload_id }).await;
        Ok(Some(whole_md5))
    }

    /// The journal's unfinished upload of this file, if any; one begun for another version of
    /// the file is aborted (and forgotten) instead.
    async fn resumable_upload(&self, item: &ItemPlan, fp: &FilePlan) -> Option<MultipartUpload> {
        let up = self
            .resumable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(item.identifier.clone(), fp.key.clone()))?;
        if up.matches(fp) {
            return Some(up);
        }
        self.emit(Event::Notice(format!(
            "{}/{}: the file changed since its multipart upload {} began; aborting that upload \
             and starting again",
            item.identifier, fp.key, up.upload_id
        )))
        .await;
        self.abort_upload(&item.identifier, &fp.key, &up.upload_id)
            .await;
        None
    }

    /// Aborts an upload on the server (one already gone is fine) and forgets it.
    pub async fn abort_upload(&self, id: &str, key: &str, upload_id: &str) {
        match self.abort_call(id, key, upload_id).await {
            // Forgotten only once the server has let it go: else a later run tries again.
            Ok(()) => {
                self.emit(Event::MultipartEnded {
                    upload_id: upload_id.to_owned(),
                })
                .await
            }
            Err(reason) => {
                self.emit(Event::Notice(format!(
                    "{id}/{key}: could not abort multipart upload {upload_id} ({reason}); \
                     `iaup status` still lists it and `--abort-stale` tries again"
                )))
                .await
            }
        }
    }

    /// `DELETE ...?uploadId=U`: an upload aborted, or already gone (`NoSuchUpload`).
    async fn abort_call(&self, id: &str, key: &str, upload_id: &str) -> Result<(), String> {
        let url = mp::upload_id_url(&self.s3_url, id, key, upload_id);
        let answer = self
            .s3_call("abort multipart upload", || self.client.delete(&url))
            .await?;
        match (answer.status, s3_code(&answer).as_deref()) {
            (200..=299, _) | (404, Some("NoSuchUpload")) => Ok(()),
            _ => Err(S3.describe(&answer)),
        }
    }

    /// The parts of `up` the server holds as the journal (or a hash of the local bytes) says
    /// they should be, by number; `None` when the server no longer knows the upload.
    async fn reconcile(
        &self,
        item: &ItemPlan,
        fp: &FilePlan,
        up: &MultipartUpload,
        cut: Cut,
    ) -> Result<Option<BTreeMap<u32, (u64, String)>>, Stop> {
        let listed = match self
            .list_parts(&item.identifier, &fp.key, &up.upload_id)
            .await
        {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Stop::Failed(e)),
        };
        let journal: BTreeMap<u32, &str> = up
            .parts
            .iter()
            .map(|p| (p.number, p.md5.as_str()))
            .collect();
        let cut = Cut::new(cut.size, up.part_size);
        let mut done = BTreeMap::new();
        for p in listed {
            if p.number == 0 || p.number > cut.parts() {
                continue;
            }
            let (offset, len) = cut.range(p.number);
            if p.size != len {
                continue;
            }
            let md5 = match journal.get(&p.number) {
                Some(m) => (*m).to_owned(),
                // Stored but not yet in the journal (the run died before writing it down):
                // the local bytes decide.
                None => match crate::hash::md5_range(&fp.local, offset, len).await {
                    Ok(m) => m,
                    Err(_) => continue,
                },
            };
            if p.etag.eq_ignore_ascii_case(&md5) {
                done.insert(p.number, (len, md5));
            }
        }
        self.emit(Event::Notice(format!(
            "{}/{}: resuming multipart upload {}: {} of {} parts already stored",
            item.identifier,
            fp.key,
            up.upload_id,
            done.len(),
            cut.parts()
        )))
        .await;
        Ok(Some(done))
    }

    /// Every part the server lists for the upload; `Ok(None)`: `404 NoSuchUpload`.
    async fn list_parts(
        &self,
        id: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<ListedPart>>, String> {
        let base = mp::upload_id_url(&self.s3_url, id, key, upload_id);
        let mut all = Vec::new();
        let mut marker: Option<u32> = None;
        loop {
            let url = match marker {
                Some(m) => format!("{base}&part-number-marker={m}"),
                None => base.clone(),
            };
            let answer = self.s3_call("list parts", || self.client.get(&url)).await?;
            if answer.status == 404 && s3_code(&answer).as_deref() == Some("NoSuchUpload") {
                return Ok(None);
            }
            if answer.status != 200 {
                return Err(format!("list parts: {}", S3.describe(&answer)));
            }
            let (parts, next) = mp::parse_parts(&answer.body).ok_or_else(|| {
                format!(
                    "list parts: not a ListPartsResult: {}",
                    answer.describe_plain()
                )
            })?;
            all.extend(parts);
            match next {
                Some(n) if marker != Some(n) => marker = Some(n),
                _ => return Ok(Some(all)),
            }
        }
    }

    /// Creates the upload and records it. A `stream`'s size is unknown: no size hint is sent
    /// unless `--size-hint` gave one.
    pub(super) async fn create(
        &self,
        item: &ItemPlan,
        file: FileRef,
        derive: bool,
        part_size: u64,
        stream: bool,
    ) -> Result<String, Stop> {
        let fp = &item.files[file.file];
        let mut put = self.opts.put_spec(item, fp, derive, None);
        if stream && self.opts.size_hint.is_none() {
            put.size_hint = None;
        }
        let spec = mp::create_request(&self.s3_url, &self.creds, &put);
        let answer = self
            .s3_call("create multipart upload", || {
                let mut req = self.client.post(&spec.url);
                // The keys are added by `s3_call`, as to every control call.
                for (k, v) in spec.headers.iter().filter(|(k, _)| k != "authorization") {
                    req = req.header(k, v);
                }
                req
            })
            .await
            .map_err(Stop::Failed)?;
        if answer.status != 200 {
            return Err(Stop::Failed(format!(
                "create multipart upload: {}",
                S3.describe(&answer)
            )));
        }
        let upload_id = mp::parse_created(&answer.body).ok_or_else(|| {
            Stop::Failed(format!(
                "create multipart upload: no UploadId in the answer ({})",
                answer.describe_plain()
            ))
        })?;
        self.emit(Event::MultipartBegun {
            file,
            upload_id: upload_id.clone(),
            part_size,
            stream,
        })
        .await;
        Ok(upload_id)
    }

    /// Polls `HEAD {s3}/{id}` until the bucket exists: IAS3 creates a new item's bucket a while
    /// after the create call answered.
    pub(super) async fn wait_for_bucket(&self, id: &str) -> Result<(), Stop> {
        let url = ias3::join(&self.s3_url, &ias3::quote(id));
        let started = tokio::time::Instant::now();
        let mut wait = Duration::from_millis(250);
        let mut told = false;
        loop {
            let answer = self
                .s3_call("bucket check", || self.client.head(&url))
                .await;
            match answer {
                Ok(a) if a.status == 404 && started.elapsed() < BUCKET_WAIT => {}
                // Anything else: the parts' own answers decide.
                _ => return Ok(()),
            }
            if !told {
                told = true;
                self.emit(Event::Notice(format!(
                    "{id}: waiting for IA to create the item before sending parts"
                )))
                .await;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.cancelled() => return Err(Stop::Interrupted),
            }
            wait = (wait * 2).min(Duration::from_secs(15));
        }
    }

    /// Sends the parts not in `done`, `--part-jobs` at a time; returns the ones stored.
    async fn send_parts(
        self: &Arc<Self>,
        file: FileRef,
        upload_id: &str,
        cut: Cut,
        done: &BTreeMap<u32, (u64, String)>,
        progress: Arc<Progress>,
    ) -> Result<BTreeMap<u32, (u64, String)>, Stop> {
        let todo: Vec<u32> = (1..=cut.parts())
            .filter(|n| !done.contains_key(n))
            .collect();
        let jobs = self.opts.multipart.map_or(1, |m| m.part_jobs).max(1);
        let me = self.clone();
        let upload: Arc<str> = upload_id.into();
        let mut results = crate::run::pool(todo, jobs, self.stop.clone(), move |n| {
            let (me, upload, progress) = (me.clone(), upload.clone(), progress.clone());
            async move {
                me.send_part(file, &upload, PartSpec::of_file(cut, n), progress)
                    .await
            }
        });
        let mut sent = BTreeMap::new();
        let mut failed: Vec<String> = Vec::new();
        let mut stopped = false;
        while let Some((_, r)) = results.recv().await {
            match r {
                Some(PartOutcome::Stored { number, md5 }) => {
                    sent.insert(number, (cut.range(number).1, md5));
                }
                Some(PartOutcome::Failed(reason)) => failed.push(reason),
                Some(PartOutcome::Stopped) | None => stopped = true,
            }
        }
        if let Some(first) = failed.first() {
            return Err(Stop::Failed(format!(
                "{} of {} parts failed ({first}); {} parts are stored and a rerun sends only the \
                 rest",
                failed.len(),
                cut.parts(),
                done.len() + sent.len()
            )));
        }
        if stopped {
            return Err(Stop::Interrupted);
        }
        Ok(sent)
    }

    /// Completes the upload; success only when the answer vouches for the file.
    pub(super) async fn complete(
        &self,
        item: &ItemPlan,
        fp: &FilePlan,
        upload_id: &str,
        parts: &BTreeMap<u32, (u64, String)>,
        whole_md5: &str,
        size: Option<u64>,
    ) -> Result<(), Stop> {
        let id = &item.identifier;
        let list: Vec<(u32, String)> = parts.iter().map(|(n, (_, m))| (*n, m.clone())).collect();
        let body = mp::complete_body(&list);
        let url = mp::upload_id_url(&self.s3_url, id, &fp.key, upload_id);
        let answer = self
            .s3_call("complete multipart upload", || {
                self.client
                    .post(&url)
                    .header("content-type", "application/xml")
                    .body(body.clone())
            })
            .await
            .map_err(Stop::Failed)?;
        let md5s: Vec<&str> = list.iter().map(|(_, m)| m.as_str()).collect();
        match (answer.status, mp::parse_completed(&answer.body)) {
            (200, Some(etag)) if mp::completed_etag_ok(&etag, whole_md5, &md5s) => Ok(()),
            (200, Some(etag)) => Err(Stop::Failed(format!(
                "complete multipart upload: ETag {etag} is neither the file's MD5 ({whole_md5}) \
                 nor that of the parts sent: the server assembled other bytes"
            ))),
            // An earlier attempt completed it and its answer was lost (IA may show the file
            // only a while later: polled).
            (404, _)
                if self
                    .landed(id, &fp.key, whole_md5, size, LANDING_WINDOW)
                    .await =>
            {
                Ok(())
            }
            _ => Err(Stop::Failed(format!(
                "complete multipart upload: {}",
                S3.describe(&answer)
            ))),
        }
    }

    /// A small S3 call with the keys, retried on transport errors, 5xx and SlowDown, paced by
    /// the limiter, each attempt bounded by `--timeout` (a server that never answers must not
    /// hold the file forever).
    async fn s3_call(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, String> {
        let noop = |_: u32, _: Duration, _: &str| {};
        let authorized = || {
            build()
                .header("authorization", self.creds.authorization())
                .timeout(self.opts.answer_timeout)
        };
        transport::send_paced(
            what,
            &self.opts.policy,
            &S3,
            Some(&self.limiter),
            authorized,
            &noop,
        )
        .await
        .map_err(|e: HttpError| e.to_string())
    }
}

/// The S3 error code of an answer, if it has one.
fn s3_code(answer: &Answer) -> Option<String> {
    crate::ias3::S3Error::parse(&answer.body).map(|e| e.code)
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A flag set when dropped: what watches it stops.
#[derive(Default)]
struct CancelOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
