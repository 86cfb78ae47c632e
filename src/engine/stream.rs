//! Data from stdin (`iaup upload ID - --remote-name NAME`) streamed as a multipart upload,
//! without spooling it to disk: a reader thread cuts stdin into parts of `--part-size` held in
//! memory and hashes the whole stream in order as it reads; each part goes through the same
//! part PUT as a file's (`part.rs`: its own retry budget, ETag checked), `--part-jobs` at a
//! time, so at most `part-jobs + 2` parts are in memory. Nothing of a stream can be read twice:
//! a part that fails for good, or Ctrl-C, aborts the upload on the server instead of leaving it
//! to resume. The upload command hands the engine a stream only when stdin holds more than one
//! part; smaller input is spooled and sent in one PUT as before.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::part::{PartOutcome, PartSpec};
use super::{Engine, Event, FileOutcome, FileRef};
use crate::events::Progress;
use crate::plan::ItemPlan;

/// Stdin past its first part, which was read to tell a stream from small input.
#[derive(Debug)]
pub struct StdinStream {
    /// The first `part_size` bytes.
    pub first: Vec<u8>,
    pub part_size: u64,
}

/// The source the journal records for an upload from stdin: no file has that name, so the
/// upload shows as stale (`--abort-stale` aborts it) once its run is gone.
pub const STDIN_NAME: &str = "(stdin)";

/// The default part size of a stream: its size is unknown, and its parts are held in memory.
pub const DEFAULT_STREAM_PART: u64 = 64 << 20;

/// What the reader thread found at the end: the stream's MD5 and size, or why it stopped.
type ReadEnd = std::io::Result<(String, u64)>;

impl Engine {
    /// Takes the stream the upload command handed over, if any (there is one file then).
    pub(super) fn take_stream(&self) -> Option<StdinStream> {
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Uploads stdin as file `file` of `item`, in parts.
    pub(super) async fn upload_stream(
        self: &Arc<Self>,
        item: &ItemPlan,
        file: FileRef,
        derive: bool,
        stream: StdinStream,
    ) -> FileOutcome {
        let part_size = stream.part_size;
        let fp = &item.files[file.file];
        let earlier = self
            .resumable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(item.identifier.clone(), fp.key.clone()));
        if let Some(up) = earlier {
            // An earlier upload of this name cannot be resumed from a new stream.
            self.abort_upload(&item.identifier, &fp.key, &up.upload_id)
                .await;
        }
        let upload_id = match self.create(item, file, derive, part_size, true).await {
            Ok(u) => u,
            Err(stop) => return self.stopped(file, stop).await,
        };
        if let Err(stop) = self.wait_for_bucket(&item.identifier).await {
            return self.abandon(item, file, &upload_id, stop).await;
        }
        let progress = Arc::new(Progress::default());
        self.emit(Event::Started {
            file,
            attempt: 1,
            progress: progress.clone(),
        })
        .await;
        let (parts, end) = read_parts(stream);
        let sent = self.send_stream(file, &upload_id, parts, progress).await;
        // A failed stream is abandoned at once, not after the reader's next part of stdin.
        let parts = match sent {
            Ok(p) => p,
            Err(stop) => return self.abandon(item, file, &upload_id, stop).await,
        };
        let (md5, size) = match end.await {
            Ok(Ok(end)) => end,
            Ok(Err(e)) => {
                let stop = super::multipart::Stop::Failed(format!("reading stdin failed: {e}"));
                return self.abandon(item, file, &upload_id, stop).await;
            }
            Err(_) => {
                let stop = super::multipart::Stop::Failed("reading stdin failed".into());
                return self.abandon(item, file, &upload_id, stop).await;
            }
        };
        let fp = &item.files[file.file];
        let done = self
            .complete(item, fp, &upload_id, &parts, &md5, Some(size))
            .await;
        if let Err(stop) = done {
            return self.abandon(item, file, &upload_id, stop).await;
        }
        self.emit(Event::MultipartEnded { upload_id }).await;
        self.emit(Event::Notice(format!(
            "{}/{}: streamed {} from stdin in {}",
            item.identifier,
            fp.key,
            indicatif::HumanBytes(size),
            crate::reporter::plural(parts.len(), "part", "parts")
        )))
        .await;
        self.bytes_done
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        self.confirmed(item, file, md5, 1).await;
        FileOutcome::Done
    }

    /// Sends the parts the reader hands over, `--part-jobs` at a time; stops taking more at
    /// the first part that fails for good, or at Ctrl-C.
    async fn send_stream(
        self: &Arc<Self>,
        file: FileRef,
        upload_id: &str,
        mut parts: mpsc::Receiver<(u32, Bytes)>,
        progress: Arc<Progress>,
    ) -> Result<BTreeMap<u32, (u64, String)>, super::multipart::Stop> {
        use super::multipart::Stop;
        let jobs = self.opts.multipart.map_or(1, |m| m.part_jobs).max(1);
        let slots = Arc::new(Semaphore::new(jobs));
        let upload: Arc<str> = upload_id.into();
        let mut running = tokio::task::JoinSet::new();
        let mut done = BTreeMap::new();
        let mut failed: Option<String> = None;
        let mut stopped = false;
        loop {
            let slot = tokio::select! {
                s = slots.clone().acquire_owned() => s.expect("never closed"),
                _ = self.stop.cancelled() => { stopped = true; break; }
            };
            let next = tokio::select! {
                p = parts.recv() => p,
                _ = self.stop.cancelled() => { stopped = true; break; }
            };
            let Some((number, data)) = next else {
                break;
            };
            let (me, upload, progress) = (self.clone(), upload.clone(), progress.clone());
            let len = data.len() as u64;
            running.spawn(async move {
                let out = me
                    .send_part(file, &upload, PartSpec::in_memory(number, data), progress)
                    .await;
                drop(slot);
                (len, out)
            });
            // Collect what finished, without waiting.
            while let Some(r) = running.try_join_next() {
                collect(r, &mut done, &mut failed, &mut stopped);
            }
            if failed.is_some() || stopped {
                break;
            }
        }
        drop(parts); // the reader stops at its next part
        while let Some(r) = running.join_next().await {
            collect(r, &mut done, &mut failed, &mut stopped);
        }
        match (failed, stopped) {
            (Some(reason), _) => Err(Stop::Failed(reason)),
            (None, true) => Err(Stop::Interrupted),
            (None, false) => Ok(done),
        }
    }

    /// A stream that cannot finish: its upload is aborted (nothing of it can be resumed).
    async fn abandon(
        &self,
        item: &ItemPlan,
        file: FileRef,
        upload_id: &str,
        stop: super::multipart::Stop,
    ) -> FileOutcome {
        let fp = &item.files[file.file];
        self.abort_upload(&item.identifier, &fp.key, upload_id)
            .await;
        self.stopped(file, stop).await
    }
}

/// One part's result into the tally.
fn collect(
    r: Result<(u64, PartOutcome), tokio::task::JoinError>,
    done: &mut BTreeMap<u32, (u64, String)>,
    failed: &mut Option<String>,
    stopped: &mut bool,
) {
    match r {
        Ok((len, PartOutcome::Stored { number, md5 })) => {
            done.insert(number, (len, md5));
        }
        Ok((_, PartOutcome::Failed(reason))) => {
            failed.get_or_insert(reason);
        }
        Ok((_, PartOutcome::Stopped)) => *stopped = true,
        Err(e) => {
            failed.get_or_insert(e.to_string());
        }
    }
}

/// Starts the reader thread: parts of stdin in order (the first one already read), at most
/// one waiting; then the MD5 and size of all it read.
fn read_parts(stream: StdinStream) -> (mpsc::Receiver<(u32, Bytes)>, oneshot::Receiver<ReadEnd>) {
    let (tx, rx) = mpsc::channel(1);
    let (end_tx, end_rx) = oneshot::channel();
    std::thread::spawn(move || {
        let mut h = Md5::new();
        let mut total = 0u64;
        let mut next = stream.first;
        let mut number = 1u32;
        let mut stdin = std::io::stdin().lock();
        let end = loop {
            if next.is_empty() {
                break Ok((hex::encode(h.finalize_reset()), total));
            }
            h.update(&next);
            total += next.len() as u64;
            if tx.blocking_send((number, Bytes::from(next))).is_err() {
                return; // the sender gave up
            }
            number += 1;
            if u64::from(number) > crate::ias3::multipart::MAX_PARTS {
                let more = (&mut stdin).take(1).read(&mut [0u8; 1]);
                if !matches!(more, Ok(0)) {
                    break Err(std::io::Error::other(format!(
                        "stdin holds more than {} parts of {}: give a larger --part-size",
                        crate::ias3::multipart::MAX_PARTS,
                        indicatif::HumanBytes(stream.part_size)
                    )));
                }
            }
            let mut buf = Vec::with_capacity(stream.part_size as usize);
            if let Err(e) = (&mut stdin).take(stream.part_size).read_to_end(&mut buf) {
                break Err(e);
            }
            next = buf;
        };
        let _ = end_tx.send(end);
    });
    (rx, end_rx)
}
