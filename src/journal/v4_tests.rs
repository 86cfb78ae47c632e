//! Unit tests of what schema 4 added: the migration from 3 (records and claims kept), the
//! separation of directions, multipart uploads and their parts, and the writer's notes to
//! the run's owner (warnings, committed confirmations) instead of printing.

use super::*;

/// The schema iaup wrote at version 3, claims included.
const V3_SCHEMA: &str = "
CREATE TABLE runs (
id INTEGER PRIMARY KEY, started_at INTEGER NOT NULL, finished_at INTEGER,
endpoint TEXT NOT NULL, command TEXT NOT NULL, outcome TEXT, command_line TEXT, cwd TEXT,
spreadsheet TEXT, n_uploaded INTEGER, n_skipped INTEGER, n_failed INTEGER,
n_interrupted INTEGER, n_not_started INTEGER
);
CREATE TABLE files (
endpoint TEXT NOT NULL, identifier TEXT NOT NULL, key TEXT NOT NULL,
local_path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, md5 TEXT,
state TEXT NOT NULL
  CHECK (state IN ('pending', 'in_flight', 'uploaded', 'failed', 'interrupted')),
attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, etag TEXT,
run_id INTEGER REFERENCES runs(id), created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
canonical_path TEXT, inode INTEGER, ctime_ns INTEGER,
PRIMARY KEY (endpoint, identifier, key)
);
CREATE INDEX files_run ON files(run_id, state);
CREATE TABLE claims (
endpoint TEXT NOT NULL, identifier TEXT NOT NULL, key TEXT NOT NULL, run_id INTEGER NOT NULL,
PRIMARY KEY (endpoint, identifier, key)
);
";

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

fn pending(key: &str) -> Op {
    let fp = plan_file(key);
    Op::Pending {
        identifier: "item".into(),
        key: key.into(),
        local_path: fp.local.display().to_string(),
        size: fp.size,
        mtime_ns: fp.mtime_ns,
        identity: fp.identity,
    }
}

fn confirmed(key: &str, md5: &str) -> Op {
    Op::Confirmed {
        identifier: "item".into(),
        key: key.into(),
        md5: md5.into(),
    }
}

#[test]
fn a_v3_journal_is_migrated_keeping_its_records_runs_and_claims() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("v3.sqlite");
    {
        let c = Connection::open(&p).unwrap();
        c.execute_batch(V3_SCHEMA).unwrap();
        c.pragma_update(None, "application_id", APP_ID).unwrap();
        c.pragma_update(None, "user_version", 3).unwrap();
        c.execute_batch(
            "INSERT INTO runs VALUES (1, 1, 2, 'e', 'upload', 'partial', 'iaup upload item',
               '/w', NULL, 1, 0, 1, 0, 0);
             INSERT INTO runs (id, started_at, endpoint, command) VALUES (2, 3, 'e', 'upload');
             INSERT INTO files VALUES ('e', 'item', 'a', '/l/a', 10, 5, 'm', 'uploaded', 1,
               NULL, 'm', 1, 1, 1, '/l/a', 7, 9);
             INSERT INTO files VALUES ('e', 'item', 'b', '/l/b', 10, 5, NULL, 'failed', 2,
               '403 AccessDenied', NULL, 1, 1, 1, '/l/b', 7, 9);
             INSERT INTO claims VALUES ('e', 'item', 'b', 2);",
        )
        .unwrap();
    }
    // `status` reads it as it is, before any run migrated it.
    let old = Journal::open_read(&p).unwrap();
    let run = old.runs().unwrap().into_iter().find(|r| r.id == 1).unwrap();
    assert_eq!((run.counts.confirmed, run.counts.failed), (1, 1));
    assert_eq!(old.problems().unwrap().len(), 1);
    drop(old);
    let j = Journal::open(&p).unwrap();
    let up = j.confirmed("e", Direction::Upload).unwrap();
    assert_eq!(up.len(), 1);
    let a = &up[&("item".to_string(), "a".to_string())];
    assert!(a.matches(&plan_file("a")), "identity kept: {a:?}");
    assert_eq!(a.md5.as_deref(), Some("m"));
    assert!(j.confirmed("e", Direction::Download).unwrap().is_empty());
    let probs = j.problems().unwrap();
    assert_eq!(probs.len(), 1);
    assert_eq!(
        (probs[0].direction, probs[0].key.as_str(), probs[0].attempts),
        (Direction::Upload, "b", 2)
    );
    assert_eq!(probs[0].last_error.as_deref(), Some("403 AccessDenied"));
    let runs = j.runs().unwrap();
    let first = runs.iter().find(|r| r.id == 1).unwrap();
    assert_eq!(
        (first.counts.confirmed, first.counts.failed, first.frozen),
        (1, 1, true),
        "n_uploaded became n_confirmed"
    );
    assert_eq!(first.command_line.as_deref(), Some("iaup upload item"));
    let claims: Vec<(String, String, i64)> = j
        .conn
        .prepare("SELECT direction, key, run_id FROM claims")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(claims, vec![("upload".into(), "b".into(), 2)]);
    // A migrated journal takes new runs, multipart uploads included.
    let mut j = j;
    let run = j.begin_run("e", &RunStart::upload(None, 0)).unwrap();
    let w = j.into_writer("e".into(), Direction::Upload, run);
    w.send_blocking(pending("c"));
    w.send_blocking(confirmed("c", "mc"));
    w.finish("complete").unwrap();
    let j = Journal::open(&p).unwrap();
    assert_eq!(j.confirmed("e", Direction::Upload).unwrap().len(), 2);
}

#[test]
fn an_upload_and_a_download_of_one_key_never_stand_for_each_other() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("journal.sqlite");
    let mut up = Journal::open(&p).unwrap();
    let mut down = Journal::open(&p).unwrap();
    let start = RunStart::upload(None, 0);
    let up_run = up.begin_run("e", &start).unwrap();
    let down_run = down.begin_run("e", &start).unwrap();
    // Both claim the same identifier and key: each in its own direction.
    let up_claims = up.claims("e", Direction::Upload, up_run, true).unwrap();
    let down_claims = down
        .claims("e", Direction::Download, down_run, true)
        .unwrap();
    assert_eq!(
        up_claims.claim("item", &plan_file("a")).unwrap(),
        Claim::Mine
    );
    assert_eq!(
        down_claims.claim("item", &plan_file("a")).unwrap(),
        Claim::Mine
    );
    let w = up.into_writer("e".into(), Direction::Upload, up_run);
    w.send_blocking(pending("a"));
    w.send_blocking(confirmed("a", "up-md5"));
    w.finish("complete").unwrap();
    // The upload's confirmation is no download's.
    assert_eq!(
        down_claims.claim("item", &plan_file("a")).unwrap(),
        Claim::Mine
    );
    let w = down.into_writer("e".into(), Direction::Download, down_run);
    w.send_blocking(pending("a"));
    w.send_blocking(Op::Failed {
        identifier: "item".into(),
        key: "a".into(),
        error: "404".into(),
    });
    w.finish("partial").unwrap();

    let j = Journal::open(&p).unwrap();
    let ups = j.confirmed("e", Direction::Upload).unwrap();
    assert_eq!(
        ups[&("item".to_string(), "a".to_string())].md5.as_deref(),
        Some("up-md5"),
        "a failed download leaves the upload's record alone"
    );
    assert!(j.confirmed("e", Direction::Download).unwrap().is_empty());
    assert_eq!(j.confirmed_paths("e", Direction::Upload).unwrap().len(), 1);
    assert!(j
        .confirmed_paths("e", Direction::Download)
        .unwrap()
        .is_empty());
    let probs = j.problems().unwrap();
    assert_eq!(probs.len(), 1);
    assert_eq!(probs[0].direction, Direction::Download);
    assert!(
        j.maybe_landed("e").unwrap().is_empty(),
        "a download is never an upload that may have landed"
    );
}

#[test]
fn multipart_uploads_and_their_parts_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("journal.sqlite");
    let mut j = Journal::open(&p).unwrap();
    let run = j.begin_run("e", &RunStart::upload(None, 0)).unwrap();
    let w = j.into_writer("e".into(), Direction::Upload, run);
    let fp = plan_file("big");
    w.send_blocking(pending("big"));
    w.send_blocking(Op::MultipartBegun {
        identifier: "item".into(),
        key: "big".into(),
        upload_id: "up-1".into(),
        part_size: 4,
        size: fp.size,
        mtime_ns: fp.mtime_ns,
        identity: fp.identity.clone(),
    });
    let part = |number: u32, size: u64, md5: &str| Op::PartConfirmed {
        upload_id: "up-1".into(),
        number,
        size,
        md5: md5.into(),
        etag: Some(format!("\"{md5}\"")),
    };
    // Out of order, as parallel parts finish; part 2 confirmed twice (a resend).
    w.send_blocking(part(3, 2, "m3"));
    w.send_blocking(part(1, 4, "m1"));
    w.send_blocking(part(2, 4, "old"));
    w.send_blocking(part(2, 4, "m2"));
    w.finish("interrupted").unwrap();

    let j = Journal::open(&p).unwrap();
    let ups = j.multipart_uploads("e", Direction::Upload).unwrap();
    assert_eq!(ups.len(), 1);
    let up = &ups[0];
    assert_eq!(
        (
            up.identifier.as_str(),
            up.key.as_str(),
            up.upload_id.as_str()
        ),
        ("item", "big", "up-1")
    );
    assert_eq!(up.part_size, 4);
    let got: Vec<(u32, u64, &str, Option<&str>)> = up
        .parts
        .iter()
        .map(|p| (p.number, p.size, p.md5.as_str(), p.etag.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 4, "m1", Some("\"m1\"")),
            (2, 4, "m2", Some("\"m2\"")),
            (3, 2, "m3", Some("\"m3\"")),
        ]
    );
    assert!(up.parts.iter().all(|p| p.confirmed_at > 0));
    assert!(up.matches(&fp));
    let mut changed = fp.clone();
    changed.mtime_ns += 1;
    assert!(!up.matches(&changed), "a changed file never completes it");
    assert!(j
        .multipart_uploads("e", Direction::Download)
        .unwrap()
        .is_empty());
    assert!(j
        .multipart_uploads("other", Direction::Upload)
        .unwrap()
        .is_empty());

    // Completed (or aborted): forgotten with its parts.
    let mut j = j;
    let run = j.begin_run("e", &RunStart::upload(None, 0)).unwrap();
    let w = j.into_writer("e".into(), Direction::Upload, run);
    w.send_blocking(Op::MultipartEnded {
        upload_id: "up-1".into(),
    });
    w.finish("complete").unwrap();
    let j = Journal::open(&p).unwrap();
    assert!(j
        .multipart_uploads("e", Direction::Upload)
        .unwrap()
        .is_empty());
    let parts: i64 = j
        .conn
        .query_row("SELECT count(*) FROM parts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(parts, 0);
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_confirmation_is_handed_back_only_once_it_is_on_disk() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("journal.sqlite");
    let mut j = Journal::open(&p).unwrap();
    let run = j.begin_run("e", &RunStart::upload(None, 0)).unwrap();
    let w = j.into_writer("e".into(), Direction::Upload, run);
    let notes = block_on(async {
        w.send(pending("a")).await;
        w.send(confirmed("a", "m")).await;
        w.send(Op::AfterCommit(PathBuf::from("/l/a"))).await;
        w.flush().await
    });
    assert_eq!(notes, vec![Note::Committed(PathBuf::from("/l/a"))]);
    // Another connection sees the confirmation: it was committed before the note.
    let other = Journal::open_read(&p).unwrap();
    assert!(other
        .confirmed("e", Direction::Upload)
        .unwrap()
        .contains_key(&("item".to_string(), "a".to_string())));
    w.finish("complete").unwrap();
}

#[test]
fn a_writer_failure_reaches_the_owner_as_a_note() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("journal.sqlite");
    let mut j = Journal::open(&p).unwrap();
    let run = j.begin_run("e", &RunStart::upload(None, 0)).unwrap();
    let w = j.into_writer("e".into(), Direction::Upload, run);
    // Something outside iaup breaks the journal under the running writer.
    Connection::open(&p)
        .unwrap()
        .execute_batch("DROP TABLE files")
        .unwrap();
    let notes = block_on(async {
        w.send(pending("a")).await;
        w.flush().await
    });
    assert_eq!(notes.len(), 1, "{notes:?}");
    let Note::Warning(text) = &notes[0] else {
        panic!("not a warning: {notes:?}");
    };
    assert!(text.starts_with("warning: journal "), "{text}");
    assert!(text.contains("no longer recorded"), "{text}");
    // Later ops are dropped without blocking, and the end says it too.
    block_on(w.send(pending("b")));
    assert!(w.finish("complete").is_err());
}
