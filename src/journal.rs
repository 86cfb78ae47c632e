//! The resume journal: an embedded SQLite database (WAL) that records every run and, per file,
//! what the server confirmed. A rerun skips a file, without reading it, only when the same
//! source was confirmed under the same key: (endpoint, identifier, key), size, mtime, and the
//! file's identity (canonical path, inode, ctime). Files that were sent but never confirmed
//! (in flight at a kill) are checked against the server before they are sent again.
//!
//! One thread owns the connection while a run writes ([`Writer`]); it batches what arrives into
//! one transaction, so a `kill -9` at any instant leaves a consistent database that lost at
//! most the last few milliseconds of state (files then count as in flight and are re-sent).
//! A lock file beside the database makes a second run on the same journal refuse to start.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags};

use crate::plan::{FileIdentity, FilePlan};

/// `PRAGMA application_id`: "iaup" in ASCII, so a foreign SQLite file is recognised.
const APP_ID: i64 = 0x6961_7570;
/// 2 added the files' identity (canonical path, inode, ctime); v1 journals are migrated.
const SCHEMA_VERSION: i64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {what}", path.display())]
    Open {
        path: PathBuf,
        what: String,
        #[source]
        source: Option<rusqlite::Error>,
    },
    #[error("journal {} is in use by another iaup run", path.display())]
    Busy { path: PathBuf },
    #[error("journal {}: cannot create it: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {}: {source}", path.display())]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The file system refuses: no permission, a read-only or full disk, an I/O error.
    #[error("journal {}: {what}", path.display())]
    Access {
        path: PathBuf,
        what: String,
        hint: String,
        #[source]
        source: Box<rusqlite::Error>,
    },
    #[error("cannot find a state directory for the journal; pass --journal PATH")]
    NoStateDir,
}

impl JournalError {
    /// As the command's error: bad input (exit 2), with what to do.
    pub fn into_app(self) -> crate::error::AppError {
        let hint = self.hint();
        let err = crate::error::AppError::usage(self);
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }

    /// What a person should do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            JournalError::Open { path, .. } => Some(format!(
                "move {} aside (or delete it to forget past runs), or pass --journal with another path",
                path.display()
            )),
            JournalError::Busy { .. } => Some(
                "wait for the other run to finish, or give this one its own --journal".into(),
            ),
            JournalError::Access { hint, .. } => Some(hint.clone()),
            _ => None,
        }
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `$XDG_STATE_HOME/iaup/journal.sqlite` (or the platform's local data dir).
pub fn default_path() -> Result<PathBuf, JournalError> {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("iaup").join("journal.sqlite"))
        .ok_or(JournalError::NoStateDir)
}

pub struct Journal {
    conn: Connection,
    path: PathBuf,
    _lock: Option<File>,
}

/// What the journal says about one uploaded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    pub size: u64,
    pub mtime_ns: i64,
    pub md5: Option<String>,
    /// The local path as it was given.
    pub local_path: String,
    /// `None` for a record of a v1 journal, which did not keep it.
    pub identity: Option<FileIdentity>,
}

impl Uploaded {
    /// True when `fp` is the source that was confirmed: same size, mtime and identity (a v1
    /// record, without identity, needs the same path as given).
    pub fn matches(&self, fp: &FilePlan) -> bool {
        self.size == fp.size
            && self.mtime_ns == fp.mtime_ns
            && match &self.identity {
                Some(id) => *id == fp.identity,
                None => self.local_path == fp.local.display().to_string(),
            }
    }
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
    move |source| JournalError::Sql {
        path: path.to_path_buf(),
        source,
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    endpoint TEXT NOT NULL,
    command TEXT NOT NULL,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS files (
    endpoint TEXT NOT NULL,
    identifier TEXT NOT NULL,
    key TEXT NOT NULL,
    local_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    md5 TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'in_flight', 'uploaded', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    etag TEXT,
    run_id INTEGER REFERENCES runs(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    canonical_path TEXT,
    inode INTEGER,
    ctime_ns INTEGER,
    PRIMARY KEY (endpoint, identifier, key)
);
CREATE INDEX IF NOT EXISTS files_run ON files(run_id, state);
";

/// From schema 1 to 2: the identity columns (NULL for old records).
const MIGRATE_1_TO_2: &str = "
ALTER TABLE files ADD COLUMN canonical_path TEXT;
ALTER TABLE files ADD COLUMN inode INTEGER;
ALTER TABLE files ADD COLUMN ctime_ns INTEGER;
";

impl Journal {
    /// Opens (creating if needed) for a run: takes the lock, checks it is iaup's, migrates.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| JournalError::Create {
                path: path.to_path_buf(),
                source,
            })?;
        }
        // Lock (and open) the file itself, whatever link or relative path names it, so two
        // runs can never write one journal through two names.
        let real = canonical(path);
        let path = real.as_path();
        let lock_path = lock_path(path);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| JournalError::Create {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Busy {
                    path: path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(JournalError::Create {
                    path: lock_path,
                    source,
                })
            }
        }
        let conn = Connection::open(path).map_err(|e| damaged(path, e))?;
        let mut j = Journal {
            conn,
            path: path.to_path_buf(),
            _lock: Some(lock),
        };
        j.prepare(true)?;
        Ok(j)
    }

    /// True while a run holds the journal's lock.
    pub fn in_use(path: &Path) -> bool {
        let Ok(lock) = File::options()
            .write(true)
            .open(lock_path(&canonical(path)))
        else {
            return false;
        };
        matches!(lock.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// Opens an existing journal read-only (for `iaup status`), without the run lock.
    pub fn open_read(path: &Path) -> Result<Journal, JournalError> {
        if !path.exists() {
            return Err(JournalError::Open {
                path: path.to_path_buf(),
                what: "no journal here yet (no upload has run with it)".into(),
                source: None,
            });
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| damaged(path, e))?;
        let mut j = Journal {
            conn,
            path: path.to_path_buf(),
            _lock: None,
        };
        j.prepare(false)?;
        Ok(j)
    }

    fn prepare(&mut self, write: bool) -> Result<(), JournalError> {
        let path = self.path.clone();
        let c = &self.conn;
        // Any read fails on a file that is not SQLite: report it as damaged, not as an SQL error.
        let app_id: i64 = c
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| damaged(&path, e))?;
        let tables: i64 = c
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| damaged(&path, e))?;
        if app_id != APP_ID && (app_id != 0 || tables > 0) {
            return Err(JournalError::Open {
                path,
                what: "this SQLite database is not an iaup journal".into(),
                source: None,
            });
        }
        let version: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql_or_access(&path))?;
        if version > SCHEMA_VERSION {
            return Err(JournalError::Open {
                path,
                what: format!(
                    "written by a newer iaup (schema {version}, this one knows {SCHEMA_VERSION})"
                ),
                source: None,
            });
        }
        if write {
            c.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(sql_or_access(&path))?;
            c.pragma_update(None, "journal_mode", "WAL")
                .map_err(sql_or_access(&path))?;
            c.pragma_update(None, "synchronous", "NORMAL")
                .map_err(sql_or_access(&path))?;
            if app_id == 0 {
                c.execute_batch(SCHEMA).map_err(sql_or_access(&path))?;
                c.pragma_update(None, "application_id", APP_ID)
                    .map_err(sql_or_access(&path))?;
                c.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(sql_or_access(&path))?;
            } else if version == 1 {
                c.execute_batch(&format!(
                    "BEGIN; {MIGRATE_1_TO_2} PRAGMA user_version = 2; COMMIT;"
                ))
                .map_err(sql_or_access(&path))?;
            }
            // Runs that never finished were killed: say so, and their in-flight files are
            // unconfirmed.
            c.execute(
                "UPDATE runs SET outcome = 'killed' WHERE outcome IS NULL",
                [],
            )
            .map_err(sql_or_access(&path))?;
        } else if app_id == 0 {
            return Err(JournalError::Open {
                path,
                what: "empty journal (no upload has run with it)".into(),
                source: None,
            });
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every uploaded file of `endpoint`, by (identifier, key).
    pub fn uploaded(
        &self,
        endpoint: &str,
    ) -> Result<HashMap<(String, String), Uploaded>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT identifier, key, size, mtime_ns, md5, local_path, canonical_path, inode,
                   ctime_ns
                 FROM files WHERE endpoint = ?1 AND state = 'uploaded'",
            )
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map([endpoint], |r| {
                let canonical: Option<String> = r.get(6)?;
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    Uploaded {
                        size: r.get::<_, i64>(2)? as u64,
                        mtime_ns: r.get(3)?,
                        md5: r.get(4)?,
                        local_path: r.get(5)?,
                        identity: match canonical {
                            Some(canonical) => Some(FileIdentity {
                                canonical,
                                inode: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
                                ctime_ns: r.get::<_, Option<i64>>(8)?.unwrap_or(0),
                            }),
                            None => None,
                        },
                    },
                ))
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql(&self.path))
    }

    /// Files of `endpoint` that were sent at least once and never confirmed: in flight at a
    /// kill, interrupted, or failed after their body went out. They may have landed, so a
    /// resume checks the server before sending them again.
    ///
    /// For a file whose last attempt got no answer (its run was killed or interrupted, or iaup
    /// gave up waiting), the value is the last time (Unix seconds) its run wrote to the
    /// journal: about when that run stopped, after which a body still in the network's
    /// buffers may yet land. A file whose last attempt was answered has `None`.
    pub fn maybe_landed(
        &self,
        endpoint: &str,
    ) -> Result<HashMap<(String, String), Option<i64>>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.identifier, f.key,
                   max(f.updated_at, coalesce((SELECT max(g.updated_at) FROM files g
                                               WHERE g.run_id = f.run_id), 0)),
                   f.state = 'in_flight' OR coalesce(f.last_error LIKE 'interrupted%'
                     OR f.last_error LIKE 'no answer%' OR f.last_error LIKE 'stalled%', 0)
                 FROM files f
                 WHERE f.endpoint = ?1 AND f.state != 'uploaded' AND f.attempts > 0",
            )
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map([endpoint], |r| {
                let unanswered: bool = r.get(3)?;
                Ok((
                    (r.get(0)?, r.get(1)?),
                    unanswered.then_some(r.get::<_, i64>(2)?),
                ))
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql(&self.path))
    }

    /// The local paths of every uploaded file of `endpoint`, as they were given.
    pub fn uploaded_paths(
        &self,
        endpoint: &str,
    ) -> Result<std::collections::HashSet<String>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT local_path FROM files WHERE endpoint = ?1 AND state = 'uploaded'")
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map([endpoint], |r| r.get::<_, String>(0))
            .map_err(sql(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql(&self.path))
    }

    pub fn begin_run(&mut self, endpoint: &str, command: &str) -> Result<i64, JournalError> {
        self.conn
            .execute(
                "INSERT INTO runs (started_at, endpoint, command) VALUES (?1, ?2, ?3)",
                params![now(), endpoint, command],
            )
            .map_err(sql(&self.path))?;
        Ok(self.conn.last_insert_rowid())
    }

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

    /// Runs, newest first, with per-state file counts.
    pub fn runs(&self) -> Result<Vec<RunInfo>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.started_at, r.finished_at, r.endpoint, r.command, r.outcome,
                   (SELECT count(*) FROM files f WHERE f.run_id = r.id AND f.state = 'uploaded'),
                   (SELECT count(*) FROM files f WHERE f.run_id = r.id AND f.state = 'failed'),
                   (SELECT count(*) FROM files f WHERE f.run_id = r.id
                      AND f.state IN ('pending', 'in_flight'))
                 FROM runs r ORDER BY r.id DESC",
            )
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunInfo {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    endpoint: r.get(3)?,
                    command: r.get(4)?,
                    outcome: r.get(5)?,
                    uploaded: r.get(6)?,
                    failed: r.get(7)?,
                    pending: r.get(8)?,
                })
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql(&self.path))
    }

    /// Every file whose last state is failed (or unconfirmed), with its reason.
    pub fn problems(&self) -> Result<Vec<FileProblem>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT identifier, key, local_path, state, attempts, last_error, run_id FROM files
                 WHERE state != 'uploaded' ORDER BY run_id, identifier, key",
            )
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(FileProblem {
                    identifier: r.get(0)?,
                    key: r.get(1)?,
                    local_path: r.get(2)?,
                    state: r.get(3)?,
                    attempts: r.get(4)?,
                    last_error: r.get(5)?,
                    run_id: r.get(6)?,
                })
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql(&self.path))
    }
}

/// `path` with every link resolved; a file that does not exist yet resolves its folder.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
        .map(|d| d.join(name))
        .unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

fn damaged(path: &Path, e: rusqlite::Error) -> JournalError {
    match access_error(path, e) {
        Ok(access) => access,
        Err(e) => JournalError::Open {
            path: path.to_path_buf(),
            what: "cannot be read as an iaup journal (damaged, or not a journal)".into(),
            source: Some(e),
        },
    }
}

/// Like [`sql`], but says what is wrong when the file system refuses.
fn sql_or_access(path: &Path) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
    move |e| access_error(path, e).unwrap_or_else(|e| sql(path)(e))
}

/// An error of the file system (permission, read-only, full disk, I/O) as what it is; any
/// other error back unchanged.
fn access_error(path: &Path, e: rusqlite::Error) -> Result<JournalError, rusqlite::Error> {
    use rusqlite::ErrorCode;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .display()
        .to_string();
    let (what, hint) = match e.sqlite_error_code() {
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => (
            "cannot be opened for writing (no permission, or a read-only file system)".to_owned(),
            format!(
                "iaup needs to write the journal and files beside it in {dir}: check its \
                 permissions, or pass --journal with a path you can write"
            ),
        ),
        Some(ErrorCode::DiskFull) => (
            "the disk is full".to_owned(),
            format!("free some space on the disk that holds {dir}, or pass --journal elsewhere"),
        ),
        Some(ErrorCode::SystemIoFailure) => (
            "disk I/O error (the disk may be full, or failing)".to_owned(),
            format!("check the free space where {dir} is (`df -h {dir}`), then run again"),
        ),
        _ => return Err(e),
    };
    Ok(JournalError::Access {
        path: path.to_path_buf(),
        what,
        hint,
        source: Box::new(e),
    })
}

#[derive(Clone, Debug)]
pub struct RunInfo {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub endpoint: String,
    pub command: String,
    pub outcome: Option<String>,
    pub uploaded: i64,
    pub failed: i64,
    pub pending: i64,
}

#[derive(Clone, Debug)]
pub struct FileProblem {
    pub identifier: String,
    pub key: String,
    pub local_path: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub run_id: Option<i64>,
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
    let mut conn = j.conn;
    let mut deletes = Vec::new();
    while let Ok(first) = rx.recv() {
        let tx = conn.transaction().map_err(sql(&path))?;
        // Batch whatever else is waiting into the same transaction.
        let mut next = Some(first);
        let mut batched = 0;
        while let Some(op) = next.take() {
            match op {
                Op::DeleteLocal(p) => deletes.push(p),
                op => apply(&tx, &endpoint, run_id, op).map_err(sql(&path))?,
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
    Ok(())
}

fn apply(c: &Connection, endpoint: &str, run_id: i64, op: Op) -> rusqlite::Result<()> {
    let t = now();
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
                   mtime_ns = excluded.mtime_ns, md5 = NULL, etag = NULL, state = 'pending',
                   last_error = NULL, run_id = excluded.run_id,
                   updated_at = excluded.updated_at, canonical_path = excluded.canonical_path,
                   inode = excluded.inode, ctime_ns = excluded.ctime_ns",
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
        }
        Op::DeleteLocal(_) => {} // done by the writer after its commit
        Op::Finish { outcome } => {
            c.execute(
                "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE id = ?1",
                params![run_id, t, outcome],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str, key: &str) -> Op {
        Op::Pending {
            identifier: id.into(),
            key: key.into(),
            local_path: format!("/l/{key}"),
            size: 10,
            mtime_ns: 5,
            identity: FileIdentity {
                canonical: format!("/l/{key}"),
                inode: 7,
                ctime_ns: 9,
            },
        }
    }

    #[test]
    fn records_and_resumes() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("j/journal.sqlite");
        let mut j = Journal::open(&p).unwrap();
        let run = j.begin_run("http://e", "upload").unwrap();
        let w = j.into_writer("http://e".into(), run);
        w.send(pending("item", "a"));
        w.send(pending("item", "b"));
        w.send(Op::InFlight {
            identifier: "item".into(),
            key: "a".into(),
        });
        w.send(Op::Uploaded {
            identifier: "item".into(),
            key: "a".into(),
            md5: "m".into(),
        });
        w.send(Op::Failed {
            identifier: "item".into(),
            key: "b".into(),
            error: "403 AccessDenied".into(),
        });
        w.finish("partial").unwrap();

        let j = Journal::open(&p).unwrap();
        let up = j.uploaded("http://e").unwrap();
        assert_eq!(up.len(), 1);
        assert_eq!(
            up[&("item".to_string(), "a".to_string())],
            Uploaded {
                size: 10,
                mtime_ns: 5,
                md5: Some("m".into()),
                local_path: "/l/a".into(),
                identity: Some(FileIdentity {
                    canonical: "/l/a".into(),
                    inode: 7,
                    ctime_ns: 9,
                }),
            }
        );
        assert!(j.uploaded("http://other").unwrap().is_empty());
        let runs = j.runs().unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].uploaded, runs[0].failed), (1, 1));
        assert_eq!(runs[0].outcome.as_deref(), Some("partial"));
        let probs = j.problems().unwrap();
        assert_eq!(probs.len(), 1);
        assert_eq!(probs[0].last_error.as_deref(), Some("403 AccessDenied"));
    }

    #[test]
    fn second_run_on_one_journal_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("journal.sqlite");
        let _first = Journal::open(&p).unwrap();
        match Journal::open(&p) {
            Err(JournalError::Busy { .. }) => {}
            other => panic!("expected Busy, got {:?}", other.err()),
        }
        // Reading for `status` still works.
        Journal::open_read(&p).unwrap();
    }

    #[test]
    fn garbage_and_foreign_files_are_refused_with_a_hint() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("garbage.sqlite");
        std::fs::write(&p, b"this is not a database, just text that is long enough to matter....................................").unwrap();
        let e = Journal::open(&p).err().expect("garbage must be refused");
        assert!(e.to_string().contains("garbage.sqlite"), "{e}");
        assert!(e.hint().unwrap().contains("--journal"));
        let f = t.path().join("foreign.sqlite");
        let c = Connection::open(&f).unwrap();
        c.execute_batch("CREATE TABLE t(x)").unwrap();
        drop(c);
        let e = Journal::open(&f).err().expect("foreign db must be refused");
        assert!(e.to_string().contains("not an iaup journal"), "{e}");
    }

    #[test]
    fn a_v1_journal_is_migrated_and_its_records_match_by_path() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("v1.sqlite");
        {
            // The v1 schema, as iaup 0.1 wrote it.
            let c = Connection::open(&p).unwrap();
            c.execute_batch(&SCHEMA.replace(
                "    canonical_path TEXT,\n    inode INTEGER,\n    ctime_ns INTEGER,\n",
                "",
            ))
            .unwrap();
            c.pragma_update(None, "application_id", APP_ID).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO files (endpoint, identifier, key, local_path, size, mtime_ns, md5,
                   state, created_at, updated_at)
                 VALUES ('e', 'item', 'a.txt', 'dir/a.txt', 3, 7, 'm', 'uploaded', 1, 1)",
                [],
            )
            .unwrap();
        }
        let j = Journal::open(&p).unwrap();
        let version: i64 = j
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let up = j.uploaded("e").unwrap();
        let rec = &up[&("item".to_string(), "a.txt".to_string())];
        assert_eq!(rec.identity, None);
        let fp = |local: &str| FilePlan {
            local: PathBuf::from(local),
            key: "a.txt".into(),
            size: 3,
            mtime_ns: 7,
            row: None,
            identity: FileIdentity {
                canonical: "/abs/dir/a.txt".into(),
                inode: 1,
                ctime_ns: 1,
            },
            file_metadata: Default::default(),
        };
        assert!(rec.matches(&fp("dir/a.txt")));
        assert!(!rec.matches(&fp("dir/b.txt")), "another source is a change");
    }

    #[test]
    fn file_system_refusals_say_what_is_wrong() {
        use rusqlite::ffi;
        let err = |code| rusqlite::Error::SqliteFailure(ffi::Error::new(code), None);
        let p = Path::new("/state/iaup/journal.sqlite");
        for (code, want, hint) in [
            (
                ffi::SQLITE_CANTOPEN,
                "cannot be opened for writing",
                "permissions",
            ),
            (ffi::SQLITE_READONLY, "read-only", "permissions"),
            (ffi::SQLITE_FULL, "the disk is full", "free some space"),
            (ffi::SQLITE_IOERR, "disk I/O error", "df -h /state/iaup"),
        ] {
            let e = damaged(p, err(code));
            assert!(e.to_string().contains(want), "{e}");
            assert!(!e.to_string().contains("damaged"), "{e}");
            assert!(e.hint().unwrap().contains(hint), "{:?}", e.hint());
        }
        let e = damaged(p, err(ffi::SQLITE_NOTADB));
        assert!(e.to_string().contains("damaged"), "{e}");
    }

    #[test]
    fn a_journal_is_in_use_only_while_a_run_holds_it() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("journal.sqlite");
        assert!(!Journal::in_use(&p));
        let j = Journal::open(&p).unwrap();
        assert!(Journal::in_use(&p));
        drop(j);
        assert!(!Journal::in_use(&p));
    }

    #[test]
    fn unfinished_runs_are_marked_killed() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("journal.sqlite");
        {
            let mut j = Journal::open(&p).unwrap();
            j.begin_run("e", "upload").unwrap();
        }
        let j = Journal::open(&p).unwrap();
        assert_eq!(j.runs().unwrap()[0].outcome.as_deref(), Some("killed"));
    }
}
