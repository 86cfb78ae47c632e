//! One file's download through the transport's retry loop: `--checksum` first (an existing
//! local file with the item's MD5 is skipped), then attempts (`fetch::attempt`) each under a
//! limiter slot, into `NAME.part` resumed from what an earlier attempt or run kept. A complete
//! body is checked by size and MD5; a mismatch discards the `.part` and spends a retry, never
//! keeps the file. A right one gets its mtime (the item's, else `Last-Modified`) and is renamed
//! into place. A partial is never removed because the budget ran out: it stays for the next
//! run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use tokio::sync::mpsc;

use super::fetch::{self, Sink};
use super::select::Wanted;
use crate::events::{Event, FileRef, LocalStamp, Progress};
use crate::hash::PartSink;
use crate::plan::{FileIdentity, Plan};
use crate::run::Interrupt;
use crate::settings;
use crate::transport::limiter::Limiter;
use crate::transport::retry::{self, Budget, Failure, GiveUp, Outcome, Step, Transfer, Tried};
use crate::transport::Class;

/// Everything the downloads of one run share.
pub struct Run {
    pub client: reqwest::Client,
    pub archive_url: String,
    /// `LOW access:secret` when keys are configured.
    pub authorization: Option<String>,
    pub plan: Arc<Plan>,
    /// What each planned file is checked against, in the plan's order.
    pub wanted: Vec<Vec<Wanted>>,
    pub events: mpsc::Sender<Event>,
    pub interrupt: Interrupt,
    pub limiter: Limiter,
    pub bytes_done: Arc<AtomicU64>,
    pub transfer: settings::Transfer,
    pub checksum: bool,
    pub stdout: bool,
}

/// How the attempts of a file ended well.
struct Landed {
    md5: String,
    verified: bool,
}

/// One file being fetched: what its attempts share.
struct FileGet<'a> {
    run: &'a Run,
    file: FileRef,
    want: &'a Wanted,
    url: String,
    sink: Option<Sink>,
}

impl Run {
    async fn emit(&self, ev: Event) {
        let _ = self.events.send(ev).await;
    }

    /// Downloads one planned file and reports how it ended.
    pub async fn download(&self, file: FileRef) {
        let want = &self.wanted[file.item][file.file];
        if self.checksum && self.same_md5(file, want).await {
            return;
        }
        let mut get = FileGet {
            run: self,
            file,
            want,
            url: crate::ias3::join(&self.archive_url, &want.path),
            sink: None,
        };
        let mut budget = Budget::new(self.transfer.policy);
        let outcome = retry::run(&mut budget, &mut get).await;
        get.finish(outcome, budget.attempts()).await;
    }

    /// `--checksum`: the local file is there with the item's MD5 (reported as skipped).
    async fn same_md5(&self, file: FileRef, want: &Wanted) -> bool {
        let local = &self.plan.items[file.item].files[file.file].local;
        let Some(theirs) = &want.md5 else {
            return false;
        };
        match crate::hash::md5_file(local).await {
            Ok(ours) if ours.eq_ignore_ascii_case(theirs) => {
                self.emit(Event::Skipped {
                    file,
                    reason: "already here with the same MD5 (--checksum)".into(),
                    md5: ours,
                })
                .await;
                true
            }
            _ => false,
        }
    }
}

impl Transfer for FileGet<'_> {
    type Output = Landed;

    async fn attempt(&mut self, attempt: u32) -> Tried<Landed> {
        let run = self.run;
        let stop = &run.interrupt;
        let permit = tokio::select! {
            p = run.limiter.acquire() => p,
            _ = stop.stop.cancelled() => {
                run.emit(Event::NotStarted { file: self.file }).await;
                return Tried::Stopped;
            }
        };
        if let Err(f) = self.open_sink() {
            return Tried::Failed(f);
        }
        let progress = Arc::new(Progress::default());
        run.emit(Event::Started {
            file: self.file,
            attempt,
            progress: progress.clone(),
        })
        .await;
        let req = fetch::Request {
            client: &run.client,
            url: &self.url,
            authorization: run.authorization.as_deref(),
            size: self.want.size,
            answer_timeout: run.transfer.answer_timeout,
            stall: run.transfer.stall_timeout,
        };
        let Some(sink) = self.sink.as_mut() else {
            return Tried::Failed(Failure::new(Class::Fatal, "no sink"));
        };
        let result = tokio::select! {
            r = fetch::attempt(&req, sink, &progress) => r,
            _ = stop.abort.cancelled() => {
                drop(permit);
                run.emit(Event::Interrupted { file: self.file, attempts: attempt }).await;
                return Tried::Stopped;
            }
        };
        drop(permit);
        match result {
            Ok(last_modified) => self.complete(last_modified),
            Err(f) => Tried::Failed(f),
        }
    }

    async fn on_step(&mut self, step: &Step, failed: &Failure, attempt: u32) {
        let run = self.run;
        if failed.class == Class::Overload {
            if let Some(n) = run.limiter.on_overload() {
                run.emit(Event::Notice(format!(
                    "the server asks to slow down: lowering concurrency to {n}"
                )))
                .await;
            }
        }
        if let Step::Retry { delay } = step {
            run.emit(Event::Retry {
                file: self.file,
                attempt,
                delay: *delay,
                reason: failed.reason.clone(),
                slowdown: failed.class == Class::Overload,
            })
            .await;
        }
    }

    async fn wait(&mut self, delay: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.run.interrupt.stop.cancelled() => {}
        }
    }
}

impl FileGet<'_> {
    fn local(&self) -> &std::path::Path {
        &self.run.plan.items[self.file.item].files[self.file.file].local
    }

    /// The sink of the next attempt: kept from the last one, else the `.part` file a killed
    /// run or a failed attempt left (continued), else a new one.
    fn open_sink(&mut self) -> Result<(), Failure> {
        if self.sink.is_some() {
            return Ok(());
        }
        if self.run.stdout {
            self.sink = Some(Sink::Stdout {
                hash: Md5::new(),
                written: 0,
            });
            return Ok(());
        }
        let local = self.local().to_path_buf();
        let fatal = |e: std::io::Error| {
            Failure::new(
                Class::Fatal,
                format!("cannot write {}.part: {e}", local.display()),
            )
        };
        if let Some(dir) = local.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fatal)?;
        }
        let mut part = PartSink::resume(&local).map_err(fatal)?;
        if self.want.size.is_some_and(|s| part.written() > s) {
            part.restart().map_err(fatal)?;
        }
        self.sink = Some(Sink::Part(part));
        Ok(())
    }

    /// Every byte arrived: checked by size and MD5, then put in place with its mtime.
    fn complete(&mut self, last_modified: Option<SystemTime>) -> Tried<Landed> {
        let Some(sink) = self.sink.take() else {
            return Tried::Failed(Failure::new(Class::Fatal, "no sink"));
        };
        let written = sink.written();
        if let Some(size) = self.want.size.filter(|s| *s != written) {
            if let Sink::Part(p) = sink {
                p.discard();
            }
            return Tried::Failed(Failure::new(
                Class::Transient,
                format!("{written} bytes arrived, the item lists {size}; fetching it again"),
            ));
        }
        let expected = self.want.md5.as_deref();
        let verified = expected.is_some();
        match sink {
            Sink::Stdout { hash, .. } => {
                let md5 = hex::encode(hash.finalize());
                match expected {
                    Some(want) if !want.eq_ignore_ascii_case(&md5) => Tried::Failed(Failure::new(
                        Class::Fatal,
                        format!("MD5 {md5} of what was written to stdout is not the item's {want}"),
                    )),
                    _ => Tried::Done(Landed { md5, verified }),
                }
            }
            Sink::Part(part) => {
                let mtime = self
                    .want
                    .mtime
                    .and_then(|s| u64::try_from(s).ok())
                    .map(|s| UNIX_EPOCH + Duration::from_secs(s))
                    .or(last_modified);
                if let Some(when) = mtime {
                    let _ = part.set_modified(when);
                }
                match part.finish(expected) {
                    Ok(md5) => Tried::Done(Landed { md5, verified }),
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Tried::Failed(
                        Failure::new(Class::Transient, format!("{e}; fetching it again")),
                    ),
                    Err(e) => Tried::Failed(Failure::new(
                        Class::Fatal,
                        format!("cannot put {} in place: {e}", self.local().display()),
                    )),
                }
            }
        }
    }

    /// Reports how the file ended.
    async fn finish(self, outcome: Outcome<Landed>, attempts: u32) {
        let run = self.run;
        let file = self.file;
        let reason = match outcome {
            Outcome::Done(Landed { md5, verified }) => {
                run.limiter.on_success();
                let size = run.plan.items[file.item].files[file.file].size;
                run.bytes_done.fetch_add(size, Ordering::Relaxed);
                let local = self.stamp();
                run.emit(Event::Downloaded {
                    file,
                    md5,
                    verified,
                    attempts,
                    local,
                })
                .await;
                return;
            }
            Outcome::Stopped => return,
            Outcome::GaveUp {
                why: GiveUp::Exhausted | GiveUp::TooManyPauses,
                last,
                attempts,
            } => format!(
                "{} (gave up after {}; what arrived is kept for the next run)",
                last.reason,
                crate::reporter::plural(attempts as usize, "attempt", "attempts")
            ),
            Outcome::GaveUp { last, .. } => last.reason,
        };
        run.emit(Event::Failed {
            file,
            reason,
            attempts,
        })
        .await;
    }

    /// The local file as it now stands, for the journal.
    fn stamp(&self) -> LocalStamp {
        let local = self.local();
        let meta = (!self.run.stdout)
            .then(|| std::fs::metadata(local).ok())
            .flatten();
        LocalStamp {
            size: meta.as_ref().map(|m| m.len()).unwrap_or(0),
            mtime_ns: meta.as_ref().map(crate::plan::files::mtime_ns).unwrap_or(0),
            identity: meta
                .as_ref()
                .map(|m| FileIdentity::of(local, m))
                .unwrap_or_default(),
            remote_md5: self.want.listed_md5.clone(),
        }
    }
}
