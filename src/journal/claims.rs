//! Runs that share one journal. Two uploads at the same time on the default journal both run:
//! each holds a shared lock on the journal's lock file (so `iaup status` can tell that some run
//! is alive) and an exclusive lock on a lock file of its own (so any run can tell whether
//! another one is alive, or was killed). Before a file is sent, the run claims it (in its
//! direction) in the journal, in one SQLite write transaction: a file another live run has
//! claimed, or has confirmed meanwhile, is left to it. The same file is never sent by both.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{sql, Confirmed, Direction, JournalError, CONFIRMED_COLUMNS};
use crate::plan::FilePlan;

/// `<journal>.run-<id>.lock`: held (exclusively) by run `id` while it runs.
pub(super) fn run_lock_path(journal: &Path, run_id: i64) -> PathBuf {
    let mut s = journal.as_os_str().to_owned();
    s.push(format!(".run-{run_id}.lock"));
    PathBuf::from(s)
}

/// Takes run `run_id`'s own lock, for as long as the returned file is open.
pub(super) fn lock_run(journal: &Path, run_id: i64) -> Result<File, JournalError> {
    let path = run_lock_path(journal, run_id);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| JournalError::Create {
            path: path.clone(),
            source,
        })?;
    // Blocking: `status` or a starting run may hold it for an instant to see if it is alive.
    file.lock()
        .map_err(|source| JournalError::Create { path, source })?;
    Ok(file)
}

/// True while run `run_id` holds its lock. A run without a lock file is not running.
pub fn run_alive(journal: &Path, run_id: i64) -> bool {
    let Ok(file) = File::options()
        .write(true)
        .open(run_lock_path(journal, run_id))
    else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Removes the lock files of runs that are over (killed runs leave theirs): only of runs in
/// `ended`, never of a run that is still starting (its row not yet committed).
pub(super) fn remove_stale_run_locks(journal: &Path, ended: &std::collections::HashSet<i64>) {
    let (Some(dir), Some(name)) = (journal.parent(), journal.file_name()) else {
        return;
    };
    let prefix = format!("{}.run-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".lock"))
            .and_then(|id| id.parse::<i64>().ok())
        else {
            continue;
        };
        if ended.contains(&id) && !run_alive(journal, id) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This run sends the file.
    Mine,
    /// Another run confirmed this very source meanwhile (its MD5).
    Confirmed(Option<String>),
    /// Another live run is sending it.
    Busy(i64),
}

/// One run's claims, on a connection of their own (the writer thread owns the other).
pub struct Claims {
    conn: Mutex<Connection>,
    path: PathBuf,
    endpoint: String,
    direction: Direction,
    run_id: i64,
    /// With `--checksum` the journal does not decide what is confirmed: no shortcut.
    trust_confirmed: bool,
}

impl Claims {
    pub(super) fn open(
        path: &Path,
        endpoint: &str,
        direction: Direction,
        run_id: i64,
        trust_confirmed: bool,
    ) -> Result<Claims, JournalError> {
        let conn = Connection::open(path).map_err(sql(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql(path))?;
        Ok(Claims {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            endpoint: endpoint.to_owned(),
            direction,
            run_id,
            trust_confirmed,
        })
    }

    /// Claims `fp` under (identifier, key) for this run, unless another run has it.
    pub fn claim(&self, identifier: &str, fp: &FilePlan) -> Result<Claim, JournalError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql(&self.path))?;
        let key = &fp.key;
        let direction = self.direction;
        if self.trust_confirmed {
            let done = tx
                .query_row(
                    &format!(
                        "SELECT {CONFIRMED_COLUMNS} FROM files
                         WHERE endpoint = ?1 AND direction = ?2 AND identifier = ?3 AND key = ?4
                           AND state = 'confirmed'"
                    ),
                    params![self.endpoint, direction, identifier, key],
                    |r| Confirmed::from_row(r, 0),
                )
                .optional()
                .map_err(sql(&self.path))?;
            if let Some(done) = done.filter(|u| u.matches(fp)) {
                tx.commit().map_err(sql(&self.path))?;
                return Ok(Claim::Confirmed(done.md5));
            }
        }
        let holder: Option<i64> = tx
            .query_row(
                "SELECT run_id FROM claims
                 WHERE endpoint = ?1 AND direction = ?2 AND identifier = ?3 AND key = ?4",
                params![self.endpoint, direction, identifier, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql(&self.path))?;
        if let Some(other) = holder.filter(|&r| r != self.run_id) {
            if run_alive(&self.path, other) {
                tx.commit().map_err(sql(&self.path))?;
                return Ok(Claim::Busy(other));
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO claims (endpoint, direction, identifier, key, run_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![self.endpoint, direction, identifier, key, self.run_id],
        )
        .map_err(sql(&self.path))?;
        // On disk before the first byte goes out: a kill right after the body reached the
        // kernel's buffers (which takes milliseconds) must still leave the file marked as sent,
        // so a resume checks the server before sending it again. The writer thread's batches
        // may come too late for that.
        let t = super::now();
        tx.execute(
            "INSERT INTO files (endpoint, direction, identifier, key, local_path, size, mtime_ns,
               state, attempts, run_id, created_at, updated_at, canonical_path, inode, ctime_ns)
             VALUES (?1, ?12, ?2, ?3, ?4, ?5, ?6, 'in_flight', 0, ?7, ?8, ?8, ?9, ?10, ?11)
             ON CONFLICT (endpoint, direction, identifier, key) DO UPDATE SET
               local_path = excluded.local_path, size = excluded.size,
               mtime_ns = excluded.mtime_ns, md5 = NULL, etag = NULL, state = 'in_flight',
               run_id = excluded.run_id,
               updated_at = excluded.updated_at, canonical_path = excluded.canonical_path,
               inode = excluded.inode, ctime_ns = excluded.ctime_ns",
            params![
                self.endpoint,
                identifier,
                key,
                fp.local.display().to_string(),
                fp.size as i64,
                fp.mtime_ns,
                self.run_id,
                t,
                fp.identity.canonical,
                fp.identity.inode,
                fp.identity.ctime_ns,
                direction
            ],
        )
        .map_err(sql(&self.path))?;
        tx.commit().map_err(sql(&self.path))?;
        Ok(Claim::Mine)
    }
}
