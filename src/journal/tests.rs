//! The journal's unit tests: recording and resuming, refusals, locking, migrations from
//! every older schema, and the run counts a killed run keeps.

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

fn start(skipped: usize) -> RunStart {
    RunStart {
        command: "upload".into(),
        command_line: "iaup upload item a b".into(),
        cwd: Some("/work".into()),
        spreadsheet: None,
        skipped,
    }
}

#[test]
fn records_and_resumes() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("j/journal.sqlite");
    let mut j = Journal::open(&p).unwrap();
    let run = j.begin_run("http://e", &start(1)).unwrap();
    let w = j.into_writer("http://e".into(), Direction::Upload, run);
    w.send_blocking(pending("item", "a"));
    w.send_blocking(pending("item", "b"));
    w.send_blocking(Op::InFlight {
        identifier: "item".into(),
        key: "a".into(),
    });
    w.send_blocking(Op::Confirmed {
        identifier: "item".into(),
        key: "a".into(),
        md5: "m".into(),
    });
    w.send_blocking(Op::Failed {
        identifier: "item".into(),
        key: "b".into(),
        error: "403 AccessDenied".into(),
    });
    w.finish("partial").unwrap();

    let j = Journal::open(&p).unwrap();
    let up = j.confirmed("http://e", Direction::Upload).unwrap();
    assert_eq!(up.len(), 1);
    assert_eq!(
        up[&("item".to_string(), "a".to_string())],
        Confirmed {
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
    assert!(j
        .confirmed("http://other", Direction::Upload)
        .unwrap()
        .is_empty());
    let runs = j.runs().unwrap();
    assert_eq!(runs.len(), 1);
    // Counted as each file's last word arrived: the run's own, whatever later runs do.
    assert_eq!(
        runs[0].counts,
        RunCounts {
            confirmed: 1,
            skipped: 1,
            failed: 1,
            interrupted: 0,
            not_started: 0
        }
    );
    assert!(runs[0].frozen);
    assert_eq!(
        runs[0].command_line.as_deref(),
        Some("iaup upload item a b")
    );
    assert_eq!(runs[0].outcome.as_deref(), Some("partial"));
    let probs = j.problems().unwrap();
    assert_eq!(probs.len(), 1);
    assert_eq!(probs[0].last_error.as_deref(), Some("403 AccessDenied"));
}

fn plan_file(key: &str) -> FilePlan {
    FilePlan {
        local: PathBuf::from(format!("/l/{key}")),
        key: key.into(),
        size: 10,
        mtime_ns: 5,
        row: None,
        identity: FileIdentity {
            canonical: format!("/l/{key}"),
            inode: 7,
            ctime_ns: 9,
        },
        file_metadata: Default::default(),
    }
}

#[test]
fn two_runs_share_a_journal_and_never_claim_one_file_twice() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("journal.sqlite");
    let mut first = Journal::open(&p).unwrap();
    let mut second = Journal::open(&p).expect("a second run opens the journal too");
    let start = RunStart::upload(None, 0);
    let run1 = first.begin_run("e", &start).unwrap();
    let run2 = second.begin_run("e", &start).unwrap();
    let claims1 = first.claims("e", Direction::Upload, run1, true).unwrap();
    let claims2 = second.claims("e", Direction::Upload, run2, true).unwrap();
    let a = plan_file("a");
    assert_eq!(claims1.claim("item", &a).unwrap(), Claim::Mine);
    assert_eq!(
        claims1.claim("item", &a).unwrap(),
        Claim::Mine,
        "again: still mine"
    );
    assert_eq!(claims2.claim("item", &a).unwrap(), Claim::Busy(run1));
    assert_eq!(claims2.claim("item", &plan_file("b")).unwrap(), Claim::Mine);
    // Reading for `status` still works, and sees a live run.
    Journal::open_read(&p).unwrap();
    assert!(Journal::in_use(&p));
    // The first run dies (its lock goes): its claim is taken over.
    drop(claims1);
    drop(first);
    assert_eq!(claims2.claim("item", &a).unwrap(), Claim::Mine);
}

#[test]
fn a_file_another_run_confirmed_meanwhile_is_not_claimed() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("journal.sqlite");
    let mut first = Journal::open(&p).unwrap();
    let mut second = Journal::open(&p).unwrap();
    let start = RunStart::upload(None, 0);
    let run1 = first.begin_run("e", &start).unwrap();
    let run2 = second.begin_run("e", &start).unwrap();
    let claims2 = second.claims("e", Direction::Upload, run2, true).unwrap();
    let checksum2 = second.claims("e", Direction::Upload, run2, false).unwrap();
    let w = first.into_writer("e".into(), Direction::Upload, run1);
    w.send_blocking(pending("item", "a"));
    w.send_blocking(Op::Confirmed {
        identifier: "item".into(),
        key: "a".into(),
        md5: "m".into(),
    });
    w.finish("complete").unwrap();
    assert_eq!(
        claims2.claim("item", &plan_file("a")).unwrap(),
        Claim::Confirmed(Some("m".into()))
    );
    assert_eq!(
        checksum2.claim("item", &plan_file("a")).unwrap(),
        Claim::Mine
    );
    // Another source under the same key is a change: claimed.
    let mut other = plan_file("a");
    other.identity.inode = 8;
    assert_eq!(claims2.claim("item", &other).unwrap(), Claim::Mine);
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
        c.execute_batch(V1_SCHEMA).unwrap();
        c.pragma_update(None, "application_id", APP_ID).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute_batch(
            "INSERT INTO runs (id, started_at, finished_at, endpoint, command, outcome)
               VALUES (1, 1, 2, 'e', 'upload', 'interrupted');
             INSERT INTO files (endpoint, identifier, key, local_path, size, mtime_ns, md5,
               state, run_id, created_at, updated_at)
             VALUES ('e', 'item', 'a.txt', 'dir/a.txt', 3, 7, 'm', 'uploaded', 1, 1, 1);
             INSERT INTO files (endpoint, identifier, key, local_path, size, mtime_ns,
               state, attempts, last_error, run_id, created_at, updated_at)
             VALUES ('e', 'item', 'b.txt', 'dir/b.txt', 3, 7, 'failed', 1,
               'interrupted while sending', 1, 1, 1);",
        )
        .unwrap();
    }
    // `status` reads it as it is, before any run migrated it.
    let old = Journal::open_read(&p).unwrap();
    let runs = old.runs().unwrap();
    assert_eq!((runs[0].counts.confirmed, runs[0].frozen), (1, false));
    assert_eq!(old.problems().unwrap()[0].local_path, "dir/b.txt");
    drop(old);
    let j = Journal::open(&p).unwrap();
    let version: i64 = j
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 4, "this test walks every step up to 4");
    let up = j.confirmed("e", Direction::Upload).unwrap();
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
    // Through v2 to v3: the run has the new columns (unknown for it), a file a v1 run
    // called failed because it was interrupted is interrupted, and runs can be recorded.
    let runs = j.runs().unwrap();
    assert_eq!(
        (runs[0].command_line.clone(), runs[0].frozen),
        (None, false)
    );
    let probs = j.problems().unwrap();
    assert_eq!(
        (probs[0].key.as_str(), probs[0].state.as_str()),
        ("b.txt", "interrupted")
    );
    assert!(j
        .maybe_landed("e")
        .unwrap()
        .contains_key(&("item".to_string(), "b.txt".to_string())));
    // Through v3 to v4: every old record is an upload, `uploaded` is `confirmed`, and no
    // download stands for it.
    let rows: Vec<(String, String, String)> = j
        .conn
        .prepare("SELECT key, direction, state FROM files ORDER BY key")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("a.txt".into(), "upload".into(), "confirmed".into()),
            ("b.txt".into(), "upload".into(), "interrupted".into())
        ]
    );
    assert!(j.confirmed("e", Direction::Download).unwrap().is_empty());
    assert!(j
        .multipart_uploads("e", Direction::Upload)
        .unwrap()
        .is_empty());
    let mut j = j;
    let run = j.begin_run("e", &start(0)).unwrap();
    let w = j.into_writer("e".into(), Direction::Upload, run);
    w.send_blocking(Op::Interrupted {
        identifier: "item".into(),
        key: "b.txt".into(),
    });
    w.send_blocking(Op::Confirmed {
        identifier: "item".into(),
        key: "a.txt".into(),
        md5: "m2".into(),
    });
    w.finish("interrupted").unwrap();
    let j = Journal::open_read(&p).unwrap();
    let run = &j.runs().unwrap()[0];
    assert_eq!((run.counts.confirmed, run.counts.interrupted), (1, 1));
}

/// The schema iaup 0.1 (journal v1) created.
const V1_SCHEMA: &str = "
CREATE TABLE runs (
id INTEGER PRIMARY KEY,
started_at INTEGER NOT NULL,
finished_at INTEGER,
endpoint TEXT NOT NULL,
command TEXT NOT NULL,
outcome TEXT
);
CREATE TABLE files (
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
PRIMARY KEY (endpoint, identifier, key)
);
CREATE INDEX files_run ON files(run_id, state);
";

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
        let run = j.begin_run("e", &start(0)).unwrap();
        let w = j.into_writer("e".into(), Direction::Upload, run);
        w.send_blocking(pending("item", "a"));
        w.send_blocking(pending("item", "b"));
        w.send_blocking(Op::Interrupted {
            identifier: "item".into(),
            key: "a".into(),
        });
        // A kill: the writer's thread commits what it has and the run never finishes.
        drop(w);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let j = Journal::open(&p).unwrap();
    let run = &j.runs().unwrap()[0];
    assert_eq!(run.outcome.as_deref(), Some("killed"));
    assert_eq!(
        (run.counts.interrupted, run.counts.not_started),
        (1, 1),
        "a killed run keeps the counts it had"
    );
    assert_eq!(j.problems().unwrap()[0].state, "interrupted");
}
