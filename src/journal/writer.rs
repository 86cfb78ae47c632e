//! The journal's single writer: one thread owns the connection for the rest of a run and
//! applies each [`Op`] it receives, batching whatever is waiting into one transaction. A
//! `--delete` removal happens only after the commit that records its file as uploaded.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection};

use super::{now, sql, Journal, JournalError, RunCounts};
use crate::plan::FileIdentity;

impl Journal {
    /// Hands the connection to a writer thread for the rest of the run.
    pub fn into_writer(self, endpoint: String, run_id: i64) -> Writer {
        let (tx, rx) = mpsc::channel::<Op>();
        let path = self.path.clone();
        let thread = std::thread::Builder::new()
            .name("iaup-journal".into())
            .spawn(move || {
                let result = write_loop(self, endpoint, run_id, rx);
                if let Err(e) = &result {
                    // Said at once: from here on nothing is recorded, and the run goes on.
                    crate::output::note(&format!(
                        "warning: {e}; this run's progress is no longer recorded, so a rerun \
                         may send again what this run uploads from now on"
                    ));
                }
                result
            })
            .expect("spawning the journal thread");
        Writer {
            tx,
            thread: Some(thread),
            path,
        }
    }
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
    Uploaded {
        identifier: String,
        key: String,
        md5: String,
    },
    /// Found on the server with the same MD5 (`--checksum`): as good as uploaded.
    Verified {
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
    /// Cut off by Ctrl-C while being sent.
    Interrupted {
        identifier: String,
        key: String,
    },
    /// The run's counts as its owner has them at the end (they replace the running ones).
    Counts(RunCounts),
    Finish {
        outcome: String,
    },
    /// `--delete`: remove this local file once the ops before it are committed.
    DeleteLocal(PathBuf),
}

/// The single writer of a run.
pub struct Writer {
    tx: mpsc::Sender<Op>,
    thread: Option<JoinHandle<Result<(), JournalError>>>,
    path: PathBuf,
}

impl Writer {
    pub fn send(&self, op: Op) {
        let _ = self.tx.send(op);
    }

    /// Records the run's outcome and waits for everything to be on disk.
    pub fn finish(mut self, outcome: &str) -> Result<(), JournalError> {
        self.send(Op::Finish {
            outcome: outcome.to_owned(),
        });
        let (tx, _) = mpsc::channel();
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

fn write_loop(
    j: Journal,
    endpoint: String,
    run_id: i64,
    rx: mpsc::Receiver<Op>,
) -> Result<(), JournalError> {
    let path = j.path.clone();
    let Journal {
        conn,
        _lock: journal_lock,
        run_lock,
        ..
    } = j;
    let result = write_all(conn, &path, &endpoint, run_id, rx);
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
    endpoint: &str,
    run_id: i64,
    rx: mpsc::Receiver<Op>,
) -> Result<(), JournalError> {
    let path = path.to_path_buf();
    let mut deletes = Vec::new();
    while let Ok(first) = rx.recv() {
        let tx = conn.transaction().map_err(sql(&path))?;
        // Batch whatever else is waiting into the same transaction.
        let mut next = Some(first);
        let mut batched = 0;
        while let Some(op) = next.take() {
            match op {
                Op::DeleteLocal(p) => deletes.push(p),
                op => apply(&tx, endpoint, run_id, op).map_err(sql(&path))?,
            }
            batched += 1;
            if batched < 4096 {
                next = rx.try_recv().ok();
            }
        }
        tx.commit().map_err(sql(&path))?;
        // Only now is the confirmation on disk: a kill before this line keeps the file.
        for p in deletes.drain(..) {
            if let Err(e) = std::fs::remove_file(&p) {
                crate::output::note(&format!("--delete: could not remove {}: {e}", p.display()));
            }
        }
    }
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
    // The run is over: other runs may take what it claimed.
    let _ = std::fs::remove_file(super::claims::run_lock_path(&path, run_id));
    Ok(())
}

fn apply(c: &Connection, endpoint: &str, run_id: i64, op: Op) -> rusqlite::Result<()> {
    // A file's last word ends this run's claim on it: a run sharing the journal that waits for
    // it may go on (send it after a failure, or skip it once confirmed).
    if let Op::Uploaded {
        identifier, key, ..
    }
    | Op::Verified {
        identifier, key, ..
    }
    | Op::Failed {
        identifier, key, ..
    }
    | Op::Interrupted {
        identifier, key, ..
    } = &op
    {
        c.prepare_cached(
            "DELETE FROM claims
             WHERE endpoint = ?1 AND identifier = ?2 AND key = ?3 AND run_id = ?4",
        )?
        .execute(params![endpoint, identifier, key, run_id])?;
    }
    apply_op(c, endpoint, run_id, op)
}

fn apply_op(c: &Connection, endpoint: &str, run_id: i64, op: Op) -> rusqlite::Result<()> {
    let t = now();
    // A file's last word moves it from the run's not-started count to another.
    let count = |column: &str| -> rusqlite::Result<()> {
        c.prepare_cached(&format!(
            "UPDATE runs SET {column} = {column} + 1, n_not_started = n_not_started - 1
             WHERE id = ?1"
        ))?
        .execute([run_id])?;
        Ok(())
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
                "INSERT INTO files (endpoint, identifier, key, local_path, size, mtime_ns, state,
                   attempts, run_id, created_at, updated_at, canonical_path, inode, ctime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8, ?8, ?9, ?10, ?11)
                 ON CONFLICT (endpoint, identifier, key) DO UPDATE SET
                   local_path = excluded.local_path, size = excluded.size,
                   mtime_ns = excluded.mtime_ns, md5 = NULL, etag = NULL,
                   state = CASE files.state WHEN 'in_flight' THEN 'in_flight' ELSE 'pending' END,
                   last_error = CASE files.state WHEN 'in_flight' THEN files.last_error END,
                   run_id = CASE files.state WHEN 'in_flight' THEN files.run_id
                     ELSE excluded.run_id END,
                   updated_at = excluded.updated_at, canonical_path = excluded.canonical_path,
                   inode = excluded.inode, ctime_ns = excluded.ctime_ns
                 WHERE NOT (files.state = 'uploaded' AND files.size = excluded.size
                   AND files.mtime_ns = excluded.mtime_ns
                   AND files.canonical_path IS excluded.canonical_path
                   AND files.inode IS excluded.inode AND files.ctime_ns IS excluded.ctime_ns)",
            )?
            .execute(params![
                endpoint,
                identifier,
                key,
                local_path,
                size as i64,
                mtime_ns,
                run_id,
                t,
                identity.canonical,
                identity.inode,
                identity.ctime_ns
            ])?;
            c.prepare_cached("UPDATE runs SET n_not_started = n_not_started + 1 WHERE id = ?1")?
                .execute([run_id])?;
        }
        Op::InFlight { identifier, key } => {
            c.prepare_cached(
                "UPDATE files SET state = 'in_flight', attempts = attempts + 1, updated_at = ?4
                 WHERE endpoint = ?1 AND identifier = ?2 AND key = ?3",
            )?
            .execute(params![endpoint, identifier, key, t])?;
        }
        Op::Retry {
            identifier,
            key,
            error,
        } => {
            c.prepare_cached(
                "UPDATE files SET last_error = ?4, updated_at = ?5
                 WHERE endpoint = ?1 AND identifier = ?2 AND key = ?3",
            )?
            .execute(params![endpoint, identifier, key, error, t])?;
        }
        Op::Uploaded {
            identifier,
            key,
            md5,
        } => {
            c.prepare_cached(
                "UPDATE files SET state = 'uploaded', md5 = ?4, etag = ?4, last_error = NULL,
                   updated_at = ?5
                 WHERE endpoint = ?1 AND identifier = ?2 AND key = ?3",
            )?
            .execute(params![endpoint, identifier, key, md5, t])?;
            count("n_uploaded")?;
        }
        Op::Verified {
            identifier,
            key,
            local_path,
            size,
            mtime_ns,
            identity,
            md5,
        } => {
            c.prepare_cached(
                "INSERT INTO files (endpoint, identifier, key, local_path, size, mtime_ns, md5,
                   state, attempts, run_id, created_at, updated_at, canonical_path, inode,
                   ctime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'uploaded', 0, ?8, ?9, ?9, ?10, ?11, ?12)
                 ON CONFLICT (endpoint, identifier, key) DO UPDATE SET
                   local_path = excluded.local_path, size = excluded.size,
                   mtime_ns = excluded.mtime_ns, md5 = excluded.md5, state = 'uploaded',
                   last_error = NULL, run_id = excluded.run_id, updated_at = excluded.updated_at,
                   canonical_path = excluded.canonical_path, inode = excluded.inode,
                   ctime_ns = excluded.ctime_ns",
            )?
            .execute(params![
                endpoint,
                identifier,
                key,
                local_path,
                size as i64,
                mtime_ns,
                md5,
                run_id,
                t,
                identity.canonical,
                identity.inode,
                identity.ctime_ns
            ])?;
            count("n_skipped")?;
        }
        Op::Failed {
            identifier,
            key,
            error,
        } => {
            c.prepare_cached(
                "UPDATE files SET state = 'failed', last_error = ?4, updated_at = ?5
                 WHERE endpoint = ?1 AND identifier = ?2 AND key = ?3",
            )?
            .execute(params![endpoint, identifier, key, error, t])?;
            count("n_failed")?;
        }
        Op::Interrupted { identifier, key } => {
            // `last_error` says it too: a resume checks the server first, as for any
            // attempt that got no answer (see `maybe_landed`).
            c.prepare_cached(
                "UPDATE files SET state = 'interrupted', last_error = 'interrupted while sending',
                   updated_at = ?4
                 WHERE endpoint = ?1 AND identifier = ?2 AND key = ?3",
            )?
            .execute(params![endpoint, identifier, key, t])?;
            count("n_interrupted")?;
        }
        Op::Counts(n) => {
            c.execute(
                "UPDATE runs SET n_uploaded = ?2, n_skipped = ?3, n_failed = ?4,
                   n_interrupted = ?5, n_not_started = ?6
                 WHERE id = ?1",
                params![
                    run_id,
                    n.uploaded,
                    n.skipped,
                    n.failed,
                    n.interrupted,
                    n.not_started
                ],
            )?;
        }
        Op::DeleteLocal(_) => {} // done by the writer after its commit
        Op::Finish { outcome } => {
            c.execute(
                "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE id = ?1",
                params![run_id, t, outcome],
            )?;
            c.execute("DELETE FROM claims WHERE run_id = ?1", params![run_id])?;
        }
    }
    Ok(())
}
