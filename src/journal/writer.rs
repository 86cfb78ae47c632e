//! The journal's single writer: one thread owns the connection for the rest of a run and
//! applies each [`Op`] it receives, batching whatever is waiting into one transaction. Ops
//! arrive on a bounded channel ([`OP_QUEUE`]); what the writer has to say goes back to the
//! run's owner as [`Note`]s, which it prints through its display: the writer never prints
//! (that would tear the progress bars) and never touches a local file. `--delete` waits for
//! [`Note::Committed`]: the owner removes a file only once its confirmation is on disk.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection};
use tokio::sync::{mpsc, oneshot};

use super::{now, sql, Direction, Journal, JournalError, RunCounts};
use crate::plan::FileIdentity;

/// Ops that may wait for the writer. An op is a few hundred bytes, so a full queue holds a
/// few MiB at most; the writer applies tens of thousands a second in batches, while the engine
/// makes about five per file, so in practice the queue never fills and the engine never waits.
/// When the disk does stall, the owner waits here instead of queueing without limit.
pub const OP_QUEUE: usize = 16_384;

impl Journal {
    /// Hands the connection to a writer thread for the rest of the run, which moves files in
    /// `direction`.
    pub fn into_writer(self, endpoint: String, direction: Direction, run_id: i64) -> Writer {
        let (tx, rx) = mpsc::channel::<Op>(OP_QUEUE);
        let (note_tx, notes) = std_mpsc::channel::<Note>();
        let path = self.path.clone();
        let thread = std::thread::Builder::new()
            .name("iaup-journal".into())
            .spawn(move || {
                let to = Scope {
                    endpoint: &endpoint,
                    direction,
                    run_id,
                };
                write_loop(self, to, rx, &note_tx)
            })
            .expect("spawning the journal thread");
        Writer {
            tx,
            notes: std::sync::Mutex::new(notes),
            thread: Some(thread),
            path,
        }
    }
}

/// What the writer tells the run's owner.
#[derive(Debug, PartialEq, Eq)]
pub enum Note {
    /// A line for the user, printed by the owner through its display.
    Warning(String),
    /// Every op sent before [`Op::AfterCommit`] with this path is on disk.
    Committed(PathBuf),
}

/// A change to record.
#[derive(Debug)]
pub enum Op {
    Pending {
        identifier: String,
        key: String,
        local_path: String,
        size: u64,
        mtime_ns: i64,
        identity: FileIdentity,
    },
    InFlight {
        identifier: String,
        key: String,
    },
    Retry {
        identifier: String,
        key: String,
        error: String,
    },
    /// The server confirmed the file: uploaded and stored with this MD5 (or downloaded and
    /// verified).
    Confirmed {
        identifier: String,
        key: String,
        md5: String,
    },
    /// Not sent: the server has the same file, by its MD5 (`--checksum`). As good as
    /// confirmed.
    SameOnServer {
        identifier: String,
        key: String,
        local_path: String,
        size: u64,
        mtime_ns: i64,
        identity: FileIdentity,
        md5: String,
    },
    Failed {
        identifier: String,
        key: String,
        error: String,
    },
    /// A download is verified and in place as this local file; `md5` is what the item
    /// published for it (else the MD5 of what arrived). Counted as confirmed.
    Downloaded {
        identifier: String,
        key: String,
        local_path: String,
        size: u64,
        mtime_ns: i64,
        identity: FileIdentity,
        md5: String,
    },
    /// Cut off by Ctrl-C while being sent.
    Interrupted {
        identifier: String,
        key: String,
    },
    /// A multipart upload was begun for the file, from this source (see [`super::parts`]).
    MultipartBegun {
        identifier: String,
        key: String,
        upload_id: String,
        part_size: u64,
        size: u64,
        mtime_ns: i64,
        identity: FileIdentity,
    },
    /// The server confirmed one part of a multipart upload.
    PartConfirmed {
        upload_id: String,
        number: u32,
        size: u64,
        md5: String,
        etag: Option<String>,
    },
    /// A multipart upload was completed or aborted: it and its parts are forgotten.
    MultipartEnded {
        upload_id: String,
    },
    /// The run's counts as its owner has them at the end (they replace the running ones).
    Counts(RunCounts),
    Finish {
        outcome: String,
    },
    /// Hand this path back as [`Note::Committed`] once the ops before it are committed.
    AfterCommit(PathBuf),
    /// Answer once the ops before it are committed ([`Writer::flush`]).
    Flush(oneshot::Sender<()>),
}

/// The single writer of a run.
pub struct Writer {
    tx: mpsc::Sender<Op>,
    /// In a mutex only so that the owner's future, which holds the writer, can be `Send`.
    notes: std::sync::Mutex<std_mpsc::Receiver<Note>>,
    thread: Option<JoinHandle<Result<(), JournalError>>>,
    path: PathBuf,
}

impl Writer {
    /// Queues `op`; waits only while the queue is full. After the writer failed (it said so
    /// in a [`Note::Warning`]) the op is dropped.
    pub async fn send(&self, op: Op) {
        let _ = self.tx.send(op).await;
    }

    /// [`Writer::send`] from a thread outside the async runtime.
    pub fn send_blocking(&self, op: Op) {
        let _ = self.tx.blocking_send(op);
    }

    /// What the writer said since last asked.
    pub fn notes(&self) -> Vec<Note> {
        let notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        notes.try_iter().collect()
    }

    /// Waits until everything sent so far is committed (or the writer has failed), then
    /// returns what the writer said since last asked.
    pub async fn flush(&self) -> Vec<Note> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Op::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.notes()
    }

    /// Records the run's outcome and waits for everything to be on disk. Blocks: call it
    /// outside the async runtime (e.g. in `spawn_blocking`).
    pub fn finish(mut self, outcome: &str) -> Result<(), JournalError> {
        self.send_blocking(Op::Finish {
            outcome: outcome.to_owned(),
        });
        let (tx, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, tx));
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(JournalError::Open {
                path: self.path.clone(),
                what: "the journal writer stopped unexpectedly; recent progress may be missing"
                    .into(),
                source: None,
            }),
            None => Ok(()),
        }
    }
}

/// Where a run's ops go: its endpoint, direction and run.
#[derive(Clone, Copy)]
pub(super) struct Scope<'a> {
    pub endpoint: &'a str,
    pub direction: Direction,
    pub run_id: i64,
}

fn write_loop(
    j: Journal,
    to: Scope<'_>,
    rx: mpsc::Receiver<Op>,
    notes: &std_mpsc::Sender<Note>,
) -> Result<(), JournalError> {
    let path = j.path.clone();
    let Journal {
        conn,
        _lock: journal_lock,
        run_lock,
        ..
    } = j;
    let result = write_all(conn, &path, to, rx, notes);
    if result.is_err() {
        // The run goes on sending without a record: it must still count as alive to runs
        // sharing the journal (its claims hold), so its locks stay held until it exits.
        std::mem::forget(journal_lock);
        std::mem::forget(run_lock);
    }
    result
}

fn write_all(
    mut conn: rusqlite::Connection,
    path: &std::path::Path,
    to: Scope<'_>,
    mut rx: mpsc::Receiver<Op>,
    notes: &std_mpsc::Sender<Note>,
) -> Result<(), JournalError> {
    let mut committed = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        if let Err(e) = write_batch(&mut conn, to, first, &mut rx, &mut committed, &mut flushes) {
            let e = sql(path)(e);
            // Said at once, before anyone waiting for a flush is let go: from here on nothing
            // is recorded, and the run goes on.
            let _ = notes.send(Note::Warning(format!(
                "warning: {e}; this run's progress is no longer recorded, so a rerun may send \
                 again what this run transfers from now on"
            )));
            return Err(e);
        }
        // Only now is the confirmation on disk: a kill before this line keeps the file.
        for p in committed.drain(..) {
            let _ = notes.send(Note::Committed(p));
        }
        for reply in flushes.drain(..) {
            let _ = reply.send(());
        }
    }
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
    // The run is over: other runs may take what it claimed.
    let _ = std::fs::remove_file(super::claims::run_lock_path(path, to.run_id));
    Ok(())
}

/// Applies `first` and whatever else is waiting (up to a bound) in one transaction.
fn write_batch(
    conn: &mut rusqlite::Connection,
    to: Scope<'_>,
    first: Op,
    rx: &mut mpsc::Receiver<Op>,
    committed: &mut Vec<PathBuf>,
    flushes: &mut Vec<oneshot::Sender<()>>,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut next = Some(first);
    let mut batched = 0;
    while let Some(op) = next.take() {
        match op {
            Op::AfterCommit(p) => committed.push(p),
            Op::Flush(reply) => flushes.push(reply),
            op => apply(&tx, to, op)?,
        }
        batched += 1;
        if batched < 4096 {
            next = rx.try_recv().ok();
        }
    }
    tx.commit()
}

fn apply(c: &Connection, to: Scope<'_>, op: Op) -> rusqlite::Result<()> {
    // A file's last word ends this run's claim on it: a run sharing the journal that waits for
    // it may go on (send it after a failure, or skip it once confirmed).
    if let Op::Confirmed {
        identifier, key, ..
    }
    | Op::SameOnServer {
        identifier, key, ..
    }
    | Op::Failed {
        identifier, key, ..
    }
    | Op::Downloaded {
        identifier, key, ..
    }
    | Op::Interrupted {
        identifier, key, ..
    } = &op
    {
        c.prepare_cached(
            "DELETE FROM claims WHERE endpoint = ?1 AND direction = ?2 AND identifier = ?3
               AND key = ?4 AND run_id = ?5",
        )?
        .execute(params![
            to.endpoint,
            to.direction,
            identifier,
            key,
            to.run_id
        ])?;
    }
    apply_op(c, to, op)
}

/// The file's row: `?1` endpoint, `?2` direction, `?3` identifier, `?4` key.
const THE_FILE: &str = "endpoint = ?1 AND direction = ?2 AND identifier = ?3 AND key = ?4";

/// Applies one op at time `now()`: each kind of op to the table it changes.
fn apply_op(c: &Connection, to: Scope<'_>, op: Op) -> rusqlite::Result<()> {
    let t = now();
    match op {
        op @ (Op::Pending { .. } | Op::SameOnServer { .. } | Op::Downloaded { .. }) => {
            upsert_file(c, to, op, t)
        }
        op @ (Op::InFlight { .. }
        | Op::Retry { .. }
        | Op::Confirmed { .. }
        | Op::Failed { .. }
        | Op::Interrupted { .. }) => file_state(c, to, op, t),
        op @ (Op::MultipartBegun { .. } | Op::PartConfirmed { .. } | Op::MultipartEnded { .. }) => {
            super::parts::apply(c, to, op, t)
        }
        op @ (Op::Counts(_) | Op::Finish { .. }) => run_row(c, to, op, t),
        // Handled by the writer around its commit.
        Op::AfterCommit(_) | Op::Flush(_) => Ok(()),
    }
}

/// A file's last word moves it from the run's not-started count to `column`.
fn count(c: &Connection, run_id: i64, column: &str) -> rusqlite::Result<()> {
    c.prepare_cached(&format!(
        "UPDATE runs SET {column} = {column} + 1, n_not_started = n_not_started - 1
         WHERE id = ?1"
    ))?
    .execute([run_id])?;
    Ok(())
}

/// The ops that write a file's whole row: [`Op::Pending`], [`Op::SameOnServer`] and
/// [`Op::Downloaded`].
fn upsert_file(c: &Connection, to: Scope<'_>, op: Op, t: i64) -> rusqlite::Result<()> {
    // A download's confirmation shares the upsert of `SameOnServer` but counts as confirmed.
    let column = if matches!(op, Op::Downloaded { .. }) {
        "n_confirmed"
    } else {
        "n_skipped"
    };
    match op {
        Op::Pending {
            identifier,
            key,
            local_path,
            size,
            mtime_ns,
            identity,
        } => {
            // `attempts` is kept: a file sent by an earlier run that never confirmed it may
            // have landed, and a resume checks such files before sending them again.
            c.prepare_cached(
                "INSERT INTO files (endpoint, direction, identifier, key, local_path, size,
                   mtime_ns, state, attempts, run_id, created_at, updated_at, canonical_path,
                   inode, ctime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?9, ?9, ?10, ?11, ?12)
                 ON CONFLICT (endpoint, direction, identifier, key) DO UPDATE SET
                   local_path = excluded.local_path, size = excluded.size,
                   mtime_ns = excluded.mtime_ns, md5 = NULL, etag = NULL,
                   state = CASE files.state WHEN 'in_flight' THEN 'in_flight' ELSE 'pending' END,
                   last_error = CASE files.state WHEN 'in_flight' THEN files.last_error END,
                   run_id = CASE files.state WHEN 'in_flight' THEN files.run_id
                     ELSE excluded.run_id END,
                   updated_at = excluded.updated_at, canonical_path = excluded.canonical_path,
                   inode = excluded.inode, ctime_ns = excluded.ctime_ns
                 WHERE NOT (files.state = 'confirmed' AND files.size = excluded.size
                   AND files.mtime_ns = excluded.mtime_ns
                   AND files.canonical_path IS excluded.canonical_path
                   AND files.inode IS excluded.inode AND files.ctime_ns IS excluded.ctime_ns)",
            )?
            .execute(params![
                to.endpoint,
                to.direction,
                identifier,
                key,
                local_path,
                size as i64,
                mtime_ns,
                to.run_id,
                t,
                identity.canonical,
                identity.inode,
                identity.ctime_ns
            ])?;
            c.prepare_cached("UPDATE runs SET n_not_started = n_not_started + 1 WHERE id = ?1")?
                .execute([to.run_id])?;
        }
        Op::SameOnServer {
            identifier,
            key,
            local_path,
            size,
            mtime_ns,
            identity,
            md5,
        }
        | Op::Downloaded {
            identifier,
            key,
            local_path,
            size,
            mtime_ns,
            identity,
            md5,
        } => {
            c.prepare_cached(
                "INSERT INTO files (endpoint, direction, identifier, key, local_path, size,
                   mtime_ns, md5, state, attempts, run_id, created_at, updated_at,
                   canonical_path, inode, ctime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'confirmed', 0, ?9, ?10, ?10, ?11, ?12,
                   ?13)
                 ON CONFLICT (endpoint, direction, identifier, key) DO UPDATE SET
                   local_path = excluded.local_path, size = excluded.size,
                   mtime_ns = excluded.mtime_ns, md5 = excluded.md5, state = 'confirmed',
                   last_error = NULL, run_id = excluded.run_id, updated_at = excluded.updated_at,
                   canonical_path = excluded.canonical_path, inode = excluded.inode,
                   ctime_ns = excluded.ctime_ns",
            )?
            .execute(params![
                to.endpoint,
                to.direction,
                identifier,
                key,
                local_path,
                size as i64,
                mtime_ns,
                md5,
                to.run_id,
                t,
                identity.canonical,
                identity.inode,
                identity.ctime_ns
            ])?;
            count(c, to.run_id, column)?;
        }
        _ => unreachable!("not an op that writes a file's row: {op:?}"),
    }
    Ok(())
}

/// The ops that move a file from one state to the next, or note its last error.
fn file_state(c: &Connection, to: Scope<'_>, op: Op, t: i64) -> rusqlite::Result<()> {
    let Scope {
        endpoint,
        direction,
        run_id,
    } = to;
    match op {
        Op::InFlight { identifier, key } => {
            c.prepare_cached(&format!(
                "UPDATE files SET state = 'in_flight', attempts = attempts + 1, updated_at = ?5
                 WHERE {THE_FILE}"
            ))?
            .execute(params![endpoint, direction, identifier, key, t])?;
        }
        Op::Retry {
            identifier,
            key,
            error,
        } => {
            c.prepare_cached(&format!(
                "UPDATE files SET last_error = ?5, updated_at = ?6 WHERE {THE_FILE}"
            ))?
            .execute(params![endpoint, direction, identifier, key, error, t])?;
        }
        Op::Confirmed {
            identifier,
            key,
            md5,
        } => {
            c.prepare_cached(&format!(
                "UPDATE files SET state = 'confirmed', md5 = ?5, etag = ?5, last_error = NULL,
                   updated_at = ?6
                 WHERE {THE_FILE}"
            ))?
            .execute(params![endpoint, direction, identifier, key, md5, t])?;
            count(c, run_id, "n_confirmed")?;
        }
        Op::Failed {
            identifier,
            key,
            error,
        } => {
            c.prepare_cached(&format!(
                "UPDATE files SET state = 'failed', last_error = ?5, updated_at = ?6
                 WHERE {THE_FILE}"
            ))?
            .execute(params![endpoint, direction, identifier, key, error, t])?;
            count(c, run_id, "n_failed")?;
        }
        Op::Interrupted { identifier, key } => {
            // `last_error` says it too: a resume checks the server first, as for any
            // attempt that got no answer (see `maybe_landed`).
            c.prepare_cached(&format!(
                "UPDATE files SET state = 'interrupted', last_error = 'interrupted while sending',
                   updated_at = ?5
                 WHERE {THE_FILE}"
            ))?
            .execute(params![endpoint, direction, identifier, key, t])?;
            count(c, run_id, "n_interrupted")?;
        }
        _ => unreachable!("not a file state op: {op:?}"),
    }
    Ok(())
}

/// The ops on the run's own row: its final counts, its end (which drops its claims).
fn run_row(c: &Connection, to: Scope<'_>, op: Op, t: i64) -> rusqlite::Result<()> {
    let run_id = to.run_id;
    match op {
        Op::Counts(n) => {
            c.execute(
                "UPDATE runs SET n_confirmed = ?2, n_skipped = ?3, n_failed = ?4,
                   n_interrupted = ?5, n_not_started = ?6
                 WHERE id = ?1",
                params![
                    run_id,
                    n.confirmed,
                    n.skipped,
                    n.failed,
                    n.interrupted,
                    n.not_started
                ],
            )?;
        }
        Op::Finish { outcome } => {
            c.execute(
                "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE id = ?1",
                params![run_id, t, outcome],
            )?;
            c.execute("DELETE FROM claims WHERE run_id = ?1", params![run_id])?;
        }
        _ => unreachable!("not a run op: {op:?}"),
    }
    Ok(())
}
