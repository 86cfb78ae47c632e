//! The resume journal: an embedded SQLite database (WAL) that records every run and, per file
//! and direction (upload or download), what the server confirmed. A rerun skips a file, without
//! reading it, only when the same source was confirmed under the same key in the same
//! direction: (endpoint, direction, identifier, key), size, mtime, and the file's identity
//! (canonical path, inode, ctime). Files that were sent but never confirmed (in flight at a
//! kill) are checked against the server before they are sent again.
//!
//! One thread owns the connection while a run writes ([`Writer`]); it batches what arrives into
//! one transaction, so a `kill -9` at any instant leaves a consistent database that lost at
//! most the last few milliseconds of state (files then count as in flight and are re-sent).
//! The journal touches no local file and prints nothing: the run's owner task hears from the
//! writer ([`Note`]) what to say and which confirmations are on disk (so `--delete` may act).
//! Several runs may share a journal (two uploads at the same time on the default one): each
//! claims a file before sending it, so no file is sent by both ([`claims`]). The tables and
//! their migrations are in [`schema`], the writer in [`writer`], multipart uploads and their
//! parts in [`parts`]; what `iaup status` reads back (runs, unconfirmed files) in [`runs`].

mod claims;
mod parts;
mod runs;
mod schema;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod v4_tests;
mod writer;

pub use claims::{run_alive, Claim, Claims};
pub use parts::{MultipartUpload, Part};
pub use runs::{mask_args, shell_words, FileProblem, RunCounts, RunInfo, RunStart};
pub use writer::{Note, Op, Writer, OP_QUEUE};

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags};

use crate::plan::{FileIdentity, FilePlan};

/// `PRAGMA application_id`: "iaup" in ASCII, so a foreign SQLite file is recognised.
const APP_ID: i64 = 0x6961_7570;
use schema::SCHEMA_VERSION;

/// Which way a file goes. An upload and a download of the same identifier and key are two
/// records that never stand for each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Upload,
    Download,
}

impl Direction {
    /// As the journal stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upload => "upload",
            Direction::Download => "download",
        }
    }
}

impl rusqlite::ToSql for Direction {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {}: {what}", path.display())]
    Open {
        path: PathBuf,
        what: String,
        #[source]
        source: Option<rusqlite::Error>,
    },
    #[error("no journal at {}: no upload has used it", path.display())]
    Missing { path: PathBuf },
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
            JournalError::Access { hint, .. } => Some(hint.clone()),
            _ => None,
        }
    }
}

/// Opens the journal a command names (`--journal PATH`), else the default one; its errors are
/// the command's (exit 2: nothing was sent).
pub fn open_named(path: Option<&Path>) -> Result<Journal, crate::error::AppError> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => default_path().map_err(JournalError::into_app)?,
    };
    Journal::open(&path).map_err(JournalError::into_app)
}

impl Op {
    /// A file about to be transferred, as a run records it when it starts.
    pub fn pending(identifier: &str, fp: &FilePlan) -> Op {
        Op::Pending {
            identifier: identifier.to_owned(),
            key: fp.key.clone(),
            local_path: fp.local.display().to_string(),
            size: fp.size,
            mtime_ns: fp.mtime_ns,
            identity: fp.identity.clone(),
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
    /// The schema of the file as it stands (after any migration).
    version: i64,
    _lock: Option<File>,
    /// This run's own lock ([`claims`]), from `begin_run` until the writer ends.
    run_lock: Option<File>,
}

/// What the journal says about one confirmed file (uploaded, or downloaded and verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmed {
    pub size: u64,
    pub mtime_ns: i64,
    pub md5: Option<String>,
    /// The local path as it was given.
    pub local_path: String,
    /// `None` for a record of a v1 journal, which did not keep it.
    pub identity: Option<FileIdentity>,
}

/// The columns [`Confirmed::from_row`] reads, in its order.
pub(crate) const CONFIRMED_COLUMNS: &str =
    "size, mtime_ns, md5, local_path, canonical_path, inode, ctime_ns";

impl Confirmed {
    /// A confirmed record from [`CONFIRMED_COLUMNS`], starting at column `at`.
    pub(crate) fn from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Confirmed> {
        let canonical: Option<String> = r.get(at + 4)?;
        Ok(Confirmed {
            size: r.get::<_, i64>(at)? as u64,
            mtime_ns: r.get(at + 1)?,
            md5: r.get(at + 2)?,
            local_path: r.get(at + 3)?,
            identity: match canonical {
                Some(canonical) => Some(FileIdentity {
                    canonical,
                    inode: r.get::<_, Option<i64>>(at + 5)?.unwrap_or(0),
                    ctime_ns: r.get::<_, Option<i64>>(at + 6)?.unwrap_or(0),
                }),
                None => None,
            },
        })
    }

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
        // Shared: other runs may use the journal too (each claims its files); `status` takes
        // it exclusively for an instant to see whether any run is alive.
        lock.lock_shared().map_err(|source| JournalError::Create {
            path: lock_path,
            source,
        })?;
        let conn = Connection::open(path).map_err(|e| damaged(path, e))?;
        // Before the first read: another run may be creating or migrating the file.
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql_or_access(path))?;
        let mut j = Journal {
            conn,
            path: path.to_path_buf(),
            version: 0,
            _lock: Some(lock),
            run_lock: None,
        };
        j.prepare(true)?;
        Ok(j)
    }

    /// This run's claims, on a connection of their own (see [`claims`]). With
    /// `trust_confirmed` false (`--checksum`), a file another run confirmed is not skipped.
    pub fn claims(
        &self,
        endpoint: &str,
        direction: Direction,
        run_id: i64,
        trust_confirmed: bool,
    ) -> Result<Claims, JournalError> {
        Claims::open(&self.path, endpoint, direction, run_id, trust_confirmed)
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
            return Err(JournalError::Missing {
                path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            });
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| damaged(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql_or_access(path))?;
        let mut j = Journal {
            conn,
            path: path.to_path_buf(),
            version: 0,
            _lock: None,
            run_lock: None,
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
            c.pragma_update(None, "journal_mode", "WAL")
                .map_err(sql_or_access(&path))?;
            c.pragma_update(None, "synchronous", "NORMAL")
                .map_err(sql_or_access(&path))?;
            // Creating and migrating happen once: under the write lock, with the version read
            // again inside it, so two runs starting together do not both migrate.
            c.execute_batch("BEGIN IMMEDIATE")
                .map_err(sql_or_access(&path))?;
            let app_id: i64 = c
                .query_row("PRAGMA application_id", [], |r| r.get(0))
                .map_err(sql_or_access(&path))?;
            let version: i64 = c
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(sql_or_access(&path))?;
            let ready = if app_id == 0 {
                c.execute_batch(&schema::schema())
                    .and_then(|()| c.pragma_update(None, "application_id", APP_ID))
                    .and_then(|()| c.pragma_update(None, "user_version", SCHEMA_VERSION))
            } else if version < SCHEMA_VERSION {
                c.execute_batch(&schema::migration(version))
            } else {
                Ok(())
            };
            if let Err(e) = ready {
                let _ = c.execute_batch("ROLLBACK");
                return Err(sql_or_access(&path)(e));
            }
            c.execute_batch("COMMIT").map_err(sql_or_access(&path))?;
            self.version = SCHEMA_VERSION;
            // Runs that never finished and hold no lock were killed: say so, and their
            // in-flight files are unconfirmed. A run still holding its lock is alive.
            let open_runs: Vec<i64> = {
                let mut stmt = c
                    .prepare("SELECT id FROM runs WHERE outcome IS NULL")
                    .map_err(sql_or_access(&path))?;
                let rows = stmt
                    .query_map([], |r| r.get(0))
                    .map_err(sql_or_access(&path))?;
                rows.collect::<Result<_, _>>()
                    .map_err(sql_or_access(&path))?
            };
            for id in open_runs {
                if !claims::run_alive(&path, id) {
                    c.execute("UPDATE runs SET outcome = 'killed' WHERE id = ?1", [id])
                        .map_err(sql_or_access(&path))?;
                }
            }
            let ended: std::collections::HashSet<i64> = {
                let mut stmt = c
                    .prepare("SELECT id FROM runs WHERE outcome IS NOT NULL")
                    .map_err(sql_or_access(&path))?;
                let rows = stmt
                    .query_map([], |r| r.get(0))
                    .map_err(sql_or_access(&path))?;
                rows.collect::<Result<_, _>>()
                    .map_err(sql_or_access(&path))?
            };
            claims::remove_stale_run_locks(&path, &ended);
        } else if app_id == 0 {
            return Err(JournalError::Open {
                path,
                what: "empty journal (no upload has run with it)".into(),
                source: None,
            });
        } else {
            self.version = version;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every confirmed file of `endpoint` in `direction`, by (identifier, key).
    pub fn confirmed(
        &self,
        endpoint: &str,
        direction: Direction,
    ) -> Result<HashMap<(String, String), Confirmed>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT identifier, key, {CONFIRMED_COLUMNS} FROM files
                 WHERE endpoint = ?1 AND direction = ?2 AND state = 'confirmed'"
            ))
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map(params![endpoint, direction], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                    Confirmed::from_row(r, 2)?,
                ))
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql(&self.path))
    }

    /// Uploads to `endpoint` that were sent at least once and never confirmed: in flight at a
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
                 WHERE f.endpoint = ?1 AND f.direction = 'upload' AND f.state != 'confirmed'
                   AND (f.attempts > 0 OR f.state = 'in_flight')",
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

    /// The digests of items' planned metadata last seen stored as planned (see
    /// [`Journal::metadata_checked`]), by identifier.
    pub fn metadata_digests(
        &self,
        endpoint: &str,
    ) -> Result<std::collections::HashMap<String, String>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT identifier, digest FROM item_metadata WHERE endpoint = ?1")
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map(params![endpoint], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql(&self.path))
    }

    /// Records that the Archive stores exactly the planned metadata of these items (identifier,
    /// digest of the plan's metadata), so a rerun with the same plan need not compare again.
    pub fn metadata_checked(
        &mut self,
        endpoint: &str,
        items: &[(String, String)],
    ) -> Result<(), JournalError> {
        let tx = self.conn.transaction().map_err(sql(&self.path))?;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO item_metadata (endpoint, identifier, digest, checked_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (endpoint, identifier) DO UPDATE SET
                       digest = excluded.digest, checked_at = excluded.checked_at",
                )
                .map_err(sql(&self.path))?;
            for (id, digest) in items {
                stmt.execute(params![endpoint, id, digest, now()])
                    .map_err(sql(&self.path))?;
            }
        }
        tx.commit().map_err(sql(&self.path))
    }

    /// The local paths of every confirmed file of `endpoint` in `direction`, as they were
    /// given.
    pub fn confirmed_paths(
        &self,
        endpoint: &str,
        direction: Direction,
    ) -> Result<std::collections::HashSet<String>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT local_path FROM files
                 WHERE endpoint = ?1 AND direction = ?2 AND state = 'confirmed'",
            )
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map(params![endpoint, direction], |r| r.get::<_, String>(0))
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
