//! What a transfer tells the run's owner task, in either direction: the engine (upload today,
//! download later) sends [`Event`]s naming files by their place in the plan ([`FileRef`]), and
//! the owner (`reporter`) turns them into the display, the run's record and the journal.
//!
//! Nothing here prints or decides; it is the vocabulary both sides share, so the display never
//! reaches into the engine's internals.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A file by its place in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileRef {
    pub item: usize,
    pub file: usize,
}

/// Bytes of the current attempt that went over the wire (sent for an upload, received for a
/// download), readable by the progress display while the attempt runs.
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    /// The whole file's progress, when this one counts one part of it (multipart upload).
    pub parent: Option<Arc<Progress>>,
}

impl Progress {
    /// The progress of one part of the file `parent` counts: what it moves counts there too.
    pub fn part_of(parent: &Arc<Progress>) -> Progress {
        Progress {
            sent: AtomicU64::new(0),
            parent: Some(parent.clone()),
        }
    }

    /// `n` more bytes moved.
    pub fn add(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
        if let Some(p) = &self.parent {
            p.add(n);
        }
    }

    /// This attempt failed: what it moved no longer counts for the file.
    pub fn discard(&self) {
        let n = self.sent.swap(0, Ordering::Relaxed);
        if let Some(p) = &self.parent {
            p.sent.fetch_sub(n.min(p.bytes()), Ordering::Relaxed);
        }
    }

    /// The bytes moved so far by this attempt.
    pub fn bytes(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

/// A downloaded file as it stands on disk once in place, and the MD5 the item published for
/// it (a rerun compares that with the item's listing then: a changed file is fetched again).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalStamp {
    /// Its size: for a file the item lists no size of (`_files.xml`, a ZIP member), the plan
    /// knows none.
    pub size: u64,
    pub mtime_ns: i64,
    pub identity: crate::plan::FileIdentity,
    pub remote_md5: Option<String>,
}

/// What a transfer tells the run's owner task.
#[derive(Debug)]
pub enum Event {
    Started {
        file: FileRef,
        attempt: u32,
        progress: Arc<Progress>,
    },
    Retry {
        file: FileRef,
        attempt: u32,
        delay: Duration,
        reason: String,
        slowdown: bool,
    },
    /// The transfer is confirmed: the server's ETag matched the MD5 of what was sent (upload),
    /// or the bytes received hash to the published MD5 (download). `attempts: 0` means nothing
    /// was transferred because the file was found already there.
    Confirmed {
        file: FileRef,
        md5: String,
        attempts: u32,
    },
    Failed {
        file: FileRef,
        reason: String,
        attempts: u32,
    },
    /// A download is in place: renamed from its `.part` file, its mtime set. `verified`: its
    /// bytes hash to the published MD5 (else only its size could be checked: `_files.xml`, a
    /// ZIP member, a file on the fly). `local` is the file as it now stands, so the journal
    /// can skip it on a rerun without reading it.
    Downloaded {
        file: FileRef,
        md5: String,
        verified: bool,
        attempts: u32,
        local: LocalStamp,
    },
    /// Cut off by Ctrl-C while being transferred (neither failed nor confirmed).
    Interrupted { file: FileRef, attempts: u32 },
    /// Not transferred: already there with the same MD5 (`--checksum`).
    Skipped {
        file: FileRef,
        reason: String,
        md5: String,
    },
    /// Not attempted because the run was interrupted.
    NotStarted { file: FileRef },
    /// Something a person should know about the run as a whole.
    Notice(String),
    /// One `503 SlowDown` answer, of any kind (counted in the summary).
    SlowDown,
    /// `--delete` with a journal: remove this local file once the journal has committed the
    /// confirmation sent just before (a kill in between must not lose an unrecorded file).
    DeleteLocal(std::path::PathBuf),
    /// A multipart upload of the file was created on the server (recorded so a later run
    /// resumes it instead of sending the file again).
    MultipartBegun {
        file: FileRef,
        upload_id: String,
        part_size: u64,
        /// Of stdin: nothing of it can be resumed (recorded as `(stdin)`, always stale).
        stream: bool,
    },
    /// One part of a multipart upload is stored: its ETag matched the MD5 of its bytes.
    PartConfirmed {
        upload_id: String,
        number: u32,
        size: u64,
        md5: String,
    },
    /// A multipart upload is over (completed or aborted): nothing of it is left to resume.
    MultipartEnded { upload_id: String },
}
