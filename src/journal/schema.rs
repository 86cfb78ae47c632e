//! The journal's tables as SQL: the current schema (4), and the steps that bring a journal of
//! schema 1, 2 or 3 up to it. Each step runs inside the `BEGIN IMMEDIATE` transaction that
//! [`super::Journal::open`] holds, so two runs starting together never both migrate, and a
//! step that fails leaves the file as it was.
//!
//! Why a `direction` column on the files table rather than a second (`transfers`) table: an
//! upload and a download record the same things (where the local file is and which file it is,
//! what the server confirmed, attempts, last error, the run), and every query a resume makes
//! (confirmed, maybe landed, claims, problems) is the same for both but for the direction. One
//! table with the direction in its key keeps one set of statements, parametrised by direction,
//! so an upload and a download of the same identifier and key are two records that never match
//! each other. Multipart uploads have tables of their own (`multipart` and `parts`), keyed to
//! the file's record, because a file has any number of parts.

/// The current schema version (`PRAGMA user_version`).
pub(super) const SCHEMA_VERSION: i64 = 4;

/// The files table of schema 4, as `CREATE TABLE {name}`. `state` is `confirmed` once the
/// server confirmed the file (an upload stored with its MD5, a download written and verified).
fn files_table(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
    endpoint TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('upload', 'download')),
    identifier TEXT NOT NULL,
    key TEXT NOT NULL,
    local_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    md5 TEXT,
    state TEXT NOT NULL
      CHECK (state IN ('pending', 'in_flight', 'confirmed', 'failed', 'interrupted')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    etag TEXT,
    run_id INTEGER REFERENCES runs(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    canonical_path TEXT,
    inode INTEGER,
    ctime_ns INTEGER,
    PRIMARY KEY (endpoint, direction, identifier, key)
);"
    )
}

/// The claims table: at most one claimant per file and direction; a dead claimant's claim is
/// taken over (see [`super::claims`]).
fn claims_table(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
    endpoint TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('upload', 'download')),
    identifier TEXT NOT NULL,
    key TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    PRIMARY KEY (endpoint, direction, identifier, key)
);"
    )
}

/// The digest of each item's planned metadata the last time the Archive was seen to store
/// exactly it (compared after an upload, or applied by `--update-metadata`): a rerun with the
/// same sheet does not read the item's metadata again to compare it.
const ITEM_METADATA_TABLE: &str = "
CREATE TABLE IF NOT EXISTS item_metadata (
    endpoint TEXT NOT NULL,
    identifier TEXT NOT NULL,
    digest TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (endpoint, identifier)
);";

/// Multipart uploads begun and not yet completed or aborted, with the source they were begun
/// for (a changed local file must never complete an old upload), and their confirmed parts.
/// The foreign keys say what belongs to what; SQLite does not enforce them by default, and
/// the writer only records parts of an upload it recorded.
const MULTIPART_TABLES: &str = "
CREATE TABLE IF NOT EXISTS multipart (
    endpoint TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('upload', 'download')),
    identifier TEXT NOT NULL,
    key TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_size INTEGER NOT NULL,
    size INTEGER,
    mtime_ns INTEGER,
    canonical_path TEXT,
    inode INTEGER,
    ctime_ns INTEGER,
    run_id INTEGER REFERENCES runs(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (endpoint, upload_id),
    FOREIGN KEY (endpoint, direction, identifier, key) REFERENCES files
);
CREATE TABLE IF NOT EXISTS parts (
    endpoint TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    size INTEGER NOT NULL,
    md5 TEXT NOT NULL,
    etag TEXT,
    confirmed_at INTEGER NOT NULL,
    PRIMARY KEY (endpoint, upload_id, part_number),
    FOREIGN KEY (endpoint, upload_id) REFERENCES multipart ON DELETE CASCADE
);";

/// The current schema. A run's `n_*` counts start when it begins and follow each file's last
/// word, so they stay as they were when the run stopped, however it stopped.
pub(super) fn schema() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    endpoint TEXT NOT NULL,
    command TEXT NOT NULL,
    outcome TEXT,
    command_line TEXT,
    cwd TEXT,
    spreadsheet TEXT,
    n_confirmed INTEGER,
    n_skipped INTEGER,
    n_failed INTEGER,
    n_interrupted INTEGER,
    n_not_started INTEGER
);
{}
CREATE INDEX IF NOT EXISTS files_run ON files(run_id, state);
{}
{MULTIPART_TABLES}
{ITEM_METADATA_TABLE}",
        files_table("files"),
        claims_table("claims")
    )
}

/// The SQL that brings a journal of schema `from` (1, 2 or 3) to the current one, each step
/// ending by setting its version.
pub(super) fn migration(from: i64) -> String {
    let mut sql = String::new();
    if from <= 1 {
        sql.push_str(MIGRATE_1_TO_2);
        sql.push_str("PRAGMA user_version = 2;\n");
    }
    if from <= 2 {
        sql.push_str(&migrate_2_to_3());
        sql.push_str("PRAGMA user_version = 3;\n");
    }
    if from <= 3 {
        sql.push_str(&migrate_3_to_4());
        sql.push_str("PRAGMA user_version = 4;\n");
    }
    sql
}

/// From schema 1 to 2: the identity columns (NULL for old records).
const MIGRATE_1_TO_2: &str = "
ALTER TABLE files ADD COLUMN canonical_path TEXT;
ALTER TABLE files ADD COLUMN inode INTEGER;
ALTER TABLE files ADD COLUMN ctime_ns INTEGER;
";

/// The files columns schemas 2 and 3 share.
const V3_FILE_COLUMNS: &str = "endpoint, identifier, key, local_path, size, mtime_ns, md5, state, \
     attempts, last_error, etag, run_id, created_at, updated_at, canonical_path, inode, ctime_ns";

/// The files table of schema 3 (as it was), for the step from 2 to 3.
fn files_table_v3(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
    endpoint TEXT NOT NULL,
    identifier TEXT NOT NULL,
    key TEXT NOT NULL,
    local_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    md5 TEXT,
    state TEXT NOT NULL
      CHECK (state IN ('pending', 'in_flight', 'uploaded', 'failed', 'interrupted')),
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
);"
    )
}

/// From schema 2 to 3: the runs' new columns (NULL for old runs: their counts are not known),
/// and the files table rebuilt for its new `interrupted` state (SQLite cannot alter a CHECK).
/// A file an old run recorded as failed because it was interrupted becomes interrupted.
fn migrate_2_to_3() -> String {
    let cols = V3_FILE_COLUMNS;
    format!(
        "ALTER TABLE runs ADD COLUMN command_line TEXT;
ALTER TABLE runs ADD COLUMN cwd TEXT;
ALTER TABLE runs ADD COLUMN spreadsheet TEXT;
ALTER TABLE runs ADD COLUMN n_uploaded INTEGER;
ALTER TABLE runs ADD COLUMN n_skipped INTEGER;
ALTER TABLE runs ADD COLUMN n_failed INTEGER;
ALTER TABLE runs ADD COLUMN n_interrupted INTEGER;
ALTER TABLE runs ADD COLUMN n_not_started INTEGER;
{}
INSERT INTO files_v3 ({cols}) SELECT {cols} FROM files;
UPDATE files_v3 SET state = 'interrupted'
  WHERE state = 'failed' AND last_error LIKE 'interrupted%';
DROP TABLE files;
ALTER TABLE files_v3 RENAME TO files;
CREATE INDEX IF NOT EXISTS files_run ON files(run_id, state);
",
        files_table_v3("files_v3")
    )
}

/// From schema 3 to 4: every record so far is an upload; `uploaded` becomes `confirmed` (a
/// state, and the runs' count); the files and claims tables are rebuilt with the direction in
/// their key (SQLite cannot alter a key or a CHECK); the multipart tables appear. A journal
/// of schema 3 written before claims existed has no claims table: it gets an empty one first.
fn migrate_3_to_4() -> String {
    let cols = V3_FILE_COLUMNS;
    let new_cols = cols.replace("endpoint, ", "endpoint, direction, ");
    let select = cols.replace("endpoint, ", "endpoint, 'upload', ").replace(
        "state,",
        "CASE state WHEN 'uploaded' THEN 'confirmed' ELSE state END,",
    );
    format!(
        "ALTER TABLE runs RENAME COLUMN n_uploaded TO n_confirmed;
{}
INSERT INTO files_v4 ({new_cols}) SELECT {select} FROM files;
DROP TABLE files;
ALTER TABLE files_v4 RENAME TO files;
CREATE INDEX IF NOT EXISTS files_run ON files(run_id, state);
CREATE TABLE IF NOT EXISTS claims (
    endpoint TEXT NOT NULL,
    identifier TEXT NOT NULL,
    key TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    PRIMARY KEY (endpoint, identifier, key)
);
{}
INSERT INTO claims_v4 (endpoint, direction, identifier, key, run_id)
  SELECT endpoint, 'upload', identifier, key, run_id FROM claims;
DROP TABLE claims;
ALTER TABLE claims_v4 RENAME TO claims;
{MULTIPART_TABLES}
{ITEM_METADATA_TABLE}
",
        files_table("files_v4"),
        claims_table("claims_v4")
    )
}
