//! One file's upload through the transport's retry loop: before each attempt the run-wide
//! gate (IAS3's global queue) and a limiter slot, then one streamed PUT (`attempt::put`);
//! redirects followed where the keys may go, a landed-check after an ambiguous failure, and
//! what the decision table decides shown as events: retries, SlowDowns (which lower the AIMD
//! limit when sustained), pauses of the whole run, the give-up reason, Ctrl-C.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::attempt::{self, AttemptError, AttemptResult, Progress, Source};
use super::landed::LANDING_WINDOW;
use super::{Engine, Event, FileOutcome, FileRef};
use crate::ias3::{self, Class, RequestSpec};
use crate::plan::{FilePlan, ItemPlan};
use crate::transport::client::{redirect_allowed, MAX_REDIRECTS};
use crate::transport::limiter::Permit;
use crate::transport::retry::{self, Budget, Failure, GiveUp, Outcome, Step, Transfer, Tried};
use crate::transport::watch::Watch;

/// Global-limit pauses one file may sit through before it is failed.
const MAX_GLOBAL_PAUSES: u32 = 50;

/// How the attempts of one file ended, when not by the decision table.
enum End {
    Stored {
        md5: String,
    },
    /// An attempt failed ambiguously (`reason`) but the server has the file.
    Landed {
        md5: String,
        reason: String,
    },
    /// A redirect that is not followed.
    Refused(String),
}

/// One file being sent: what its attempts share.
struct FilePut<'a> {
    engine: &'a Engine,
    item: &'a ItemPlan,
    fp: &'a FilePlan,
    file: FileRef,
    spec: RequestSpec,
    watch: Watch,
    redirects: u32,
    /// Set once the server stored damaged bytes under this name; only a success clears it.
    damaged_on_server: bool,
}

impl Engine {
    pub(super) async fn upload_file(
        &self,
        item: &ItemPlan,
        file: FileRef,
        derive: bool,
    ) -> FileOutcome {
        let fp = &item.files[file.file];
        let Some(content_md5) = self.content_md5(fp, file).await else {
            return FileOutcome::Failed;
        };
        let mut put = FilePut {
            engine: self,
            item,
            fp,
            file,
            spec: ias3::put_request(
                &self.s3_url,
                &self.creds,
                &self.opts.put_spec(item, fp, derive, content_md5.as_deref()),
            ),
            watch: Watch {
                stall: self.opts.stall_timeout,
                answer_timeout: self.opts.answer_timeout,
            },
            redirects: 0,
            damaged_on_server: false,
        };
        let mut budget = Budget::with_pauses(self.opts.policy, MAX_GLOBAL_PAUSES);
        let outcome = retry::run(&mut budget, &mut put).await;
        put.finish(outcome, budget.attempts()).await
    }

    /// `--verify`: the MD5 sent as Content-MD5. `None` when the file cannot be read (the
    /// failure is reported); `Some(None)` without `--verify`.
    async fn content_md5(&self, fp: &FilePlan, file: FileRef) -> Option<Option<String>> {
        if !self.opts.verify {
            return Some(None);
        }
        match crate::hash::md5_file(&fp.local).await {
            Ok(m) => Some(Some(m)),
            Err(e) => {
                self.emit(Event::Failed {
                    file,
                    reason: format!("cannot read {}: {e}", fp.local.display()),
                    attempts: 0,
                })
                .await;
                None
            }
        }
    }
}

impl Transfer for FilePut<'_> {
    type Output = End;

    async fn attempt(&mut self, attempt: u32) -> Tried<End> {
        let Some(permit) = self.slot().await else {
            return Tried::Stopped;
        };
        let e = self.engine;
        let progress = Arc::new(Progress::default());
        e.emit(Event::Started {
            file: self.file,
            attempt,
            progress: progress.clone(),
        })
        .await;
        let (fp, creds) = (self.fp, &e.creds);
        let result = tokio::select! {
            r = attempt::put(&e.put_client, creds, &self.spec, Source::whole(&fp.local, fp.size), &self.watch, progress) => r,
            _ = e.abort.cancelled() => {
                drop(permit);
                e.emit(Event::Interrupted { file: self.file, attempts: attempt }).await;
                return Tried::Stopped;
            }
        };
        drop(permit);
        match result {
            AttemptResult::Stored { md5 } => Tried::Done(End::Stored { md5 }),
            AttemptResult::Redirect { location, status } => self.redirect(location, status),
            AttemptResult::Failed(err) => self.failed(err).await,
        }
    }

    async fn on_step(&mut self, step: &Step, failed: &Failure, attempt: u32) {
        let id = &self.item.identifier;
        self.engine
            .after_failure(self.file, id, step, failed, attempt, &failed.reason)
            .await;
    }

    async fn wait(&mut self, delay: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.engine.stop.cancelled() => {}
        }
    }
}

impl FilePut<'_> {
    /// Waits for the gate to be open and a limiter slot; `None` (reported) when Ctrl-C came
    /// first.
    async fn slot(&self) -> Option<Permit<'_>> {
        let permit = self.engine.slot().await;
        if permit.is_none() {
            self.engine
                .emit(Event::NotStarted { file: self.file })
                .await;
        }
        permit
    }

    /// A redirect is not a failure: resend there at once, with the same keys, where allowed.
    fn redirect(&mut self, location: String, status: u16) -> Tried<End> {
        match follow(&mut self.spec, &mut self.redirects, location, status) {
            Ok(()) => Tried::Again,
            Err(refused) => Tried::Done(End::Refused(refused)),
        }
    }

    /// A failed attempt; when every byte went out and then the answer failed, the server is
    /// asked before anything is resent.
    async fn failed(&mut self, err: AttemptError) -> Tried<End> {
        self.damaged_on_server |= err.stored_damaged;
        if let (Some(md5), Class::Transient) = (&err.sent_md5, err.class) {
            // An attempt iaup abandoned may still be stored: give the server time.
            let window = if err.abandoned {
                LANDING_WINDOW
            } else {
                Duration::ZERO
            };
            let (id, key) = (&self.item.identifier, &self.fp.key);
            if self.engine.landed(id, key, md5, None, window).await {
                return Tried::Done(End::Landed {
                    md5: md5.clone(),
                    reason: err.reason,
                });
            }
        }
        Tried::Failed(Failure {
            class: err.class,
            reason: err.reason,
            retry_after: err.retry_after,
        })
    }

    /// Reports how the file ended.
    async fn finish(self, outcome: Outcome<End>, attempts: u32) -> FileOutcome {
        let e = self.engine;
        let file = self.file;
        let reason = match outcome {
            Outcome::Done(End::Stored { md5 }) => {
                e.confirmed(self.item, file, md5, attempts).await;
                return FileOutcome::Done;
            }
            Outcome::Done(End::Landed { md5, reason }) => {
                e.emit(Event::Notice(format!(
                    "{}/{}: the answer was lost ({reason}) but the file is there with the right MD5",
                    self.item.identifier, self.fp.key
                )))
                .await;
                e.confirmed(self.item, file, md5, attempts).await;
                return FileOutcome::Done;
            }
            Outcome::Stopped => return FileOutcome::Interrupted,
            Outcome::Done(End::Refused(reason)) => reason,
            Outcome::GaveUp {
                why: GiveUp::FatalForGroup,
                last,
                attempts,
            } => {
                let reason = format!(
                    "IA refused the item as spam, retrying will not help: {}",
                    last.reason
                );
                e.emit(Event::Failed {
                    file,
                    reason: reason.clone(),
                    attempts,
                })
                .await;
                return FileOutcome::ItemFatal(reason);
            }
            Outcome::GaveUp { why, last, .. } => self.give_up_reason(why, last.reason, attempts),
        };
        e.emit(Event::Failed {
            file,
            reason,
            attempts,
        })
        .await;
        FileOutcome::Failed
    }

    fn give_up_reason(&self, why: GiveUp, reason: String, attempts: u32) -> String {
        match why {
            GiveUp::TooManyPauses => {
                format!("{reason} (still refused after {MAX_GLOBAL_PAUSES} pauses)")
            }
            GiveUp::Exhausted => self.damaged(format!(
                "{reason} (gave up after {})",
                crate::reporter::plural(attempts as usize, "attempt", "attempts")
            )),
            GiveUp::Fatal | GiveUp::FatalForGroup => self.damaged(reason),
        }
    }

    /// `reason`, and when the server now holds a damaged copy, what to do about it.
    fn damaged(&self, reason: String) -> String {
        if self.damaged_on_server {
            format!(
                "{reason}; the server now holds a damaged copy of {id}/{key}: rerun to send \
                 it again, or remove it with `iaup delete {id} {key}`",
                id = self.item.identifier,
                key = self.fp.key
            )
        } else {
            reason
        }
    }
}

/// Points `spec` at a redirect's `location` where the keys may go (the `redirects` followed so
/// far counted); else why it is not followed.
pub(super) fn follow(
    spec: &mut RequestSpec,
    redirects: &mut u32,
    location: String,
    status: u16,
) -> Result<(), String> {
    *redirects += 1;
    if *redirects > MAX_REDIRECTS || !redirect_allowed(&spec.url, &location) {
        return Err(format!(
            "HTTP {status} redirect to {location} not followed ({})",
            if *redirects > MAX_REDIRECTS {
                "too many redirects"
            } else {
                "another site would receive your keys"
            }
        ));
    }
    spec.url = location;
    Ok(())
}

impl Engine {
    /// The server has the file: count it, report it, and `--delete` the local copy.
    pub(super) async fn confirmed(
        &self,
        item: &ItemPlan,
        file: FileRef,
        md5: String,
        attempts: u32,
    ) {
        self.limiter.on_success();
        self.bytes_done
            .fetch_add(item.files[file.file].size, Ordering::Relaxed);
        self.emit(Event::Confirmed {
            file,
            md5,
            attempts,
        })
        .await;
        self.delete_local(item, file.file).await;
    }
    /// Waits for the gate to be open and a limiter slot: one PUT (a whole file or a part) may
    /// start. `None` when Ctrl-C came first.
    pub(super) async fn slot(&self) -> Option<Permit<'_>> {
        loop {
            tokio::select! {
                _ = self.gate.wait_open() => {}
                _ = self.stop.cancelled() => {}
            }
            if self.stop.is_cancelled() {
                return None;
            }
            let permit = tokio::select! {
                p = self.limiter.acquire() => p,
                _ = self.stop.cancelled() => return None,
            };
            if !self.gate.is_paused() {
                return Some(permit);
            }
            // The run paused (global task limit) while this PUT waited for a slot.
        }
    }

    /// What a failed PUT of `file` (of item `id`) leads to, shown as `reason`: SlowDowns
    /// counted and lowering the AIMD limit, the retry announced, the whole run paused while
    /// IAS3's global queue is full.
    pub(super) async fn after_failure(
        &self,
        file: FileRef,
        id: &str,
        step: &Step,
        failed: &Failure,
        attempt: u32,
        reason: &str,
    ) {
        let slowdown = ias3::is_slowdown(failed.class);
        if slowdown {
            self.emit(Event::SlowDown).await;
        }
        if failed.class == Class::Overload {
            if let Some(n) = self.limiter.on_overload() {
                self.emit(Event::Notice(format!(
                    "SlowDown: lowering concurrency to {n}"
                )))
                .await;
            }
        }
        let delay = match step {
            Step::Retry { delay } => *delay,
            // Not this file's fault: no retry spent; everyone holds until it clears.
            Step::Pause => Duration::ZERO,
            Step::Done | Step::GiveUp(_) => return,
        };
        self.emit(Event::Retry {
            file,
            attempt,
            delay,
            reason: reason.to_owned(),
            slowdown,
        })
        .await;
        if matches!(step, Step::Pause) && self.gate.pause() {
            self.emit(Event::Notice(
                "IAS3's global task queue is full: pausing new uploads until check_limit clears"
                    .into(),
            ))
            .await;
            self.poll_until_clear(id).await;
        }
    }
}
