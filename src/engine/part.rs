//! One part of a multipart upload through the transport's retry loop, as a whole file goes
//! (`file.rs`): the gate and a limiter slot before each attempt, one streamed PUT of the part's
//! byte range (`attempt::put`, hashing while it sends, ETag checked against the part's MD5),
//! redirects followed where the keys may go, SlowDowns and retries shown on the file's line.
//! A part's answer lost after its body went out is simply sent again: a part sent twice
//! replaces itself and costs one part, never the file. `404 NoSuchBucket` is worth a retry
//! here: IAS3 creates a new item's bucket a while after the create call answered.

use std::sync::Arc;
use std::time::Duration;

use super::attempt::{self, AttemptResult, Source};
use super::{Engine, Event, FileRef};
use crate::events::Progress;
use crate::ias3::multipart::{self as mp, Cut};
use crate::ias3::{Class, RequestSpec};
use crate::transport::retry::{self, Budget, Failure, Outcome, Step, Transfer, Tried};
use crate::transport::watch::Watch;

/// Global-limit pauses one part may sit through before it is failed.
const MAX_GLOBAL_PAUSES: u32 = 50;

/// How one part ended.
pub(super) enum PartOutcome {
    Stored { number: u32, md5: String },
    Failed(String),
    Stopped,
}

/// One part to send: number, where its bytes are, and how many parts there are (if known).
pub(super) struct PartSpec {
    pub number: u32,
    pub of: Option<u32>,
    pub offset: u64,
    pub len: u64,
    pub memory: Option<bytes::Bytes>,
}

impl PartSpec {
    /// Part `number` of a file cut as `cut`.
    pub fn of_file(cut: Cut, number: u32) -> PartSpec {
        let (offset, len) = cut.range(number);
        PartSpec {
            number,
            of: Some(cut.parts()),
            offset,
            len,
            memory: None,
        }
    }

    /// Part `number` of a stream, held in memory.
    pub fn in_memory(number: u32, data: bytes::Bytes) -> PartSpec {
        PartSpec {
            number,
            of: None,
            offset: 0,
            len: data.len() as u64,
            memory: Some(data),
        }
    }
}

struct PartPut<'a> {
    engine: &'a Engine,
    file: FileRef,
    number: u32,
    /// How many parts the file has, when known (not for a stream).
    of: Option<u32>,
    spec: RequestSpec,
    offset: u64,
    len: u64,
    /// The part's bytes, when they are not read from the file (stdin streamed in parts).
    memory: Option<bytes::Bytes>,
    watch: Watch,
    progress: Arc<Progress>,
    redirects: u32,
}

impl Engine {
    /// Sends part `number` of the file (cut as `cut`) to `upload_id`, and records it.
    pub(super) async fn send_part(
        &self,
        file: FileRef,
        upload_id: &str,
        part: PartSpec,
        progress: Arc<Progress>,
    ) -> PartOutcome {
        let item = &self.plan.items[file.item];
        let fp = &item.files[file.file];
        let PartSpec {
            number,
            of,
            offset,
            len,
            memory,
        } = part;
        let mut put = PartPut {
            engine: self,
            file,
            number,
            of,
            spec: RequestSpec {
                method: "PUT",
                url: mp::part_url(&self.s3_url, &item.identifier, &fp.key, upload_id, number),
                headers: vec![
                    (
                        "authorization".to_owned(),
                        self.creds.authorization_masked(),
                    ),
                    ("content-length".to_owned(), len.to_string()),
                ],
            },
            offset,
            len,
            memory,
            watch: Watch {
                stall: self.opts.stall_timeout,
                answer_timeout: self.opts.answer_timeout,
            },
            progress,
            redirects: 0,
        };
        let mut budget = Budget::with_pauses(self.opts.policy, MAX_GLOBAL_PAUSES);
        match retry::run(&mut budget, &mut put).await {
            Outcome::Done(Ok(md5)) => {
                self.emit(Event::PartConfirmed {
                    upload_id: upload_id.to_owned(),
                    number,
                    size: len,
                    md5: md5.clone(),
                })
                .await;
                PartOutcome::Stored { number, md5 }
            }
            Outcome::Done(Err(reason)) => PartOutcome::Failed(format!("part {number}: {reason}")),
            Outcome::Stopped => PartOutcome::Stopped,
            Outcome::GaveUp { last, attempts, .. } => PartOutcome::Failed(format!(
                "part {number}: {} (gave up after {})",
                last.reason,
                crate::reporter::plural(attempts as usize, "attempt", "attempts")
            )),
        }
    }
}

impl Transfer for PartPut<'_> {
    /// The part's MD5, or why a redirect was not followed.
    type Output = Result<String, String>;

    async fn attempt(&mut self, _attempt: u32) -> Tried<Self::Output> {
        let e = self.engine;
        let Some(permit) = e.slot().await else {
            return Tried::Stopped;
        };
        let fp = &e.plan.items[self.file.item].files[self.file.file];
        let source = match &self.memory {
            Some(b) => Source::Memory(b.clone()),
            None => Source::File {
                local: &fp.local,
                file_size: fp.size,
                offset: self.offset,
                len: self.len,
            },
        };
        let progress = Arc::new(Progress::part_of(&self.progress));
        let result = tokio::select! {
            r = attempt::put(&e.put_client, &e.creds, &self.spec, source, &self.watch, progress.clone()) => r,
            _ = e.abort.cancelled() => {
                progress.discard();
                return Tried::Stopped;
            }
        };
        drop(permit);
        match result {
            AttemptResult::Stored { md5 } => {
                e.limiter.on_success();
                Tried::Done(Ok(md5))
            }
            AttemptResult::Redirect { location, status } => {
                progress.discard();
                match super::file::follow(&mut self.spec, &mut self.redirects, location, status) {
                    Ok(()) => Tried::Again,
                    Err(refused) => Tried::Done(Err(refused)),
                }
            }
            AttemptResult::Failed(err) => {
                progress.discard();
                let class = if err.s3_code.as_deref() == Some("NoSuchBucket") {
                    Class::Transient
                } else {
                    err.class
                };
                Tried::Failed(Failure {
                    class,
                    reason: err.reason,
                    retry_after: err.retry_after,
                })
            }
        }
    }

    async fn on_step(&mut self, step: &Step, failed: &Failure, attempt: u32) {
        let e = self.engine;
        let id = &e.plan.items[self.file.item].identifier;
        let reason = match self.of {
            Some(of) => format!("part {} of {of}: {}", self.number, failed.reason),
            None => format!("part {}: {}", self.number, failed.reason),
        };
        e.after_failure(self.file, id, step, failed, attempt, &reason)
            .await;
    }

    async fn wait(&mut self, delay: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = self.engine.stop.cancelled() => {}
        }
    }
}
