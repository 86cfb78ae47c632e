//! `iaup delete` against the emulator: nothing implicit (a bare `delete ID` is refused, cascade
//! only on request, IA's own files never selected), selection from the file list, per-name
//! results, dry runs, and retries of SlowDown and 500s with the number of requests they cost.

use ias3_emulator::{Faults, RequestRecord};

use crate::harness::*;

/// Uploads `files` into `id` under those names (with a derive, so each gets a
/// `{stem}_derived.txt`).
fn make_item(bed: &Bed, id: &str, files: &[&str]) {
    let mut cmd = bed.cmd();
    cmd.args(["upload", id, "-q", "--keep-directories"]);
    for f in files {
        cmd.arg(bed.file(f, f.as_bytes()));
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "setup upload: {}", stderr(&o));
}

fn delete(bed: &Bed, args: &[&str]) -> std::process::Output {
    let o = bed
        .cmd()
        .arg("delete")
        .args(args)
        .args(["--sleep", "0.01"])
        .output()
        .unwrap();
    assert_no_secret(&o);
    o
}

/// The item's file names, sorted.
fn names(bed: &Bed, id: &str) -> Vec<String> {
    let mut v: Vec<String> = bed
        .emu
        .item(id)
        .unwrap()
        .files
        .iter()
        .map(|f| f.name.clone())
        .collect();
    v.sort();
    v
}

fn deletes(bed: &Bed) -> Vec<RequestRecord> {
    bed.requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .collect()
}

// `ia delete ID` deletes every file with cascade; iaup must refuse and send nothing at all.
#[test]
fn bare_delete_id_is_refused_and_sends_nothing() {
    let bed = Bed::new();
    make_item(&bed, "keep-item", &["a.txt"]);
    let before = bed.requests().len();
    let o = delete(&bed, &["keep-item"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("deletes nothing"), "{err}");
    assert!(err.contains("hint: ") && err.contains("--all"), "{err}");
    assert_eq!(bed.requests().len(), before, "not even a read");
    assert_eq!(names(&bed, "keep-item"), ["a.txt", "a_derived.txt"]);
}

#[test]
fn named_file_goes_alone_without_cascade_and_leaves_a_history_copy() {
    let bed = Bed::new();
    make_item(&bed, "named-item", &["a.txt", "b.txt"]);
    let o = delete(&bed, &["named-item", "a.txt"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "named-item/a.txt: deleted\n");
    let d = deletes(&bed);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].path, "/named-item/a.txt");
    assert_eq!(header(&d[0], "x-archive-cascade-delete"), None);
    assert_eq!(header(&d[0], "x-archive-keep-old-version"), Some("1"));
    assert!(header(&d[0], "authorization")
        .unwrap()
        .starts_with("LOW test-access-key:"));
    assert_eq!(
        names(&bed, "named-item"),
        [
            "a_derived.txt",
            "b.txt",
            "b_derived.txt",
            "history/files/a.txt.~1~"
        ]
    );
}

#[test]
fn cascade_takes_the_derivatives_only_when_asked() {
    let bed = Bed::new();
    make_item(&bed, "cascade-item", &["a.txt", "b.txt"]);
    let o = delete(&bed, &["cascade-item", "a.txt", "--cascade", "--no-backup"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "cascade-item/a.txt: deleted (cascade)\n");
    let d = deletes(&bed);
    assert_eq!(header(&d[0], "x-archive-cascade-delete"), Some("1"));
    assert_eq!(header(&d[0], "x-archive-keep-old-version"), None);
    assert_eq!(names(&bed, "cascade-item"), ["b.txt", "b_derived.txt"]);
}

#[test]
fn all_deletes_every_original_but_never_ia_records_or_derivatives() {
    let bed = Bed::new();
    make_item(&bed, "all-item", &["a.txt", "d/b.pdf", "c.jpg"]);
    let o = delete(&bed, &["all-item", "--all", "--no-backup", "-j", "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut paths: Vec<String> = deletes(&bed).into_iter().map(|r| r.path).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["/all-item/a.txt", "/all-item/c.jpg", "/all-item/d/b.pdf"]
    );
    assert_eq!(
        names(&bed, "all-item"),
        ["a_derived.txt", "c_derived.txt", "d/b_derived.txt"],
        "derivatives stay without --cascade"
    );
    assert!(stderr(&o).contains("3 files of all-item: 3 deleted, 0 not found, 0 failed"));
}

#[test]
fn glob_and_format_select_original_files_from_the_listing() {
    let bed = Bed::new();
    make_item(
        &bed,
        "select-item",
        &["a.txt", "sub/b.txt", "c.pdf", "d.jpg", "e.png"],
    );
    // `*` crosses `/`; `|` separates patterns; formats as the metadata API names them.
    let o = delete(
        &bed,
        &[
            "select-item",
            "--glob",
            "*.txt|*.png",
            "--format",
            "Text PDF",
            "--no-backup",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        names(&bed, "select-item"),
        [
            "a_derived.txt",
            "c_derived.txt",
            "d.jpg",
            "d_derived.txt",
            "e_derived.txt",
            "sub/b_derived.txt"
        ],
        "the derivatives match *.txt but are not originals"
    );
    // Nothing matching is not an error.
    let o = delete(&bed, &["select-item", "--glob", "*.zip"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to delete"));
}

#[test]
fn missing_files_are_reported_per_name() {
    let bed = Bed::new();
    make_item(&bed, "missing-item", &["a.txt"]);
    let o = delete(&bed, &["missing-item", "nope.txt", "a.txt", "gone/x.bin"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o),
        "missing-item/nope.txt: not found\nmissing-item/a.txt: deleted\nmissing-item/gone/x.bin: not found\n"
    );
    let err = stderr(&o);
    assert!(err.contains("1 deleted, 2 not found, 0 failed"), "{err}");
    assert!(
        err.contains("\n  missing-item/nope.txt: not found"),
        "{err}"
    );
    assert!(
        err.contains("\n  missing-item/gone/x.bin: not found"),
        "{err}"
    );
    let o = delete(&bed, &["no-such-item", "a.txt"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("no-such-item/a.txt: failed: no such item"));
}

#[test]
fn dry_run_lists_what_would_go_and_sends_nothing() {
    let bed = Bed::new();
    make_item(&bed, "dry-del-item", &["a.txt", "b.pdf"]);
    let o = delete(&bed, &["dry-del-item", "--all", "--cascade", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "dry-del-item/a.txt\n\
         dry-del-item/a_derived.txt (derivative of a.txt)\n\
         dry-del-item/b.pdf\n\
         dry-del-item/b_derived.txt (derivative of b.pdf)\n"
    );
    assert!(stderr(&o).contains("nothing was sent"));
    let o = delete(&bed, &["dry-del-item", "a.txt", "-d"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "dry-del-item/a.txt\n");
    assert!(stderr(&o).contains("1 derivative would stay (add --cascade"));
    assert!(deletes(&bed).is_empty());
    assert!(bed
        .requests()
        .iter()
        .all(|r| r.method == "GET" || r.method == "PUT"));
    assert_eq!(names(&bed, "dry-del-item").len(), 4);
}

#[test]
fn bad_input_exits_2_and_sends_nothing() {
    let bed = Bed::new();
    for args in [
        vec!["some-item", "some-item_meta.xml"],
        vec!["some-item", "some-item_files.xml"],
        vec!["some-item", "a//b"],
        vec!["bad id", "a.txt"],
        vec!["some-item", "--glob", "a["],
        vec!["some-item", "a.txt", "--all"],
    ] {
        let o = delete(&bed, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    assert!(bed.requests().is_empty());
}

// `ia` never retries a DELETE; iaup retries SlowDown and 500s, and each file goes once.
#[test]
fn slowdown_and_server_errors_are_retried() {
    let bed = Bed::new();
    let files: Vec<String> = (0..8).map(|i| format!("f{i}.bin")).collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    make_item(&bed, "flaky-item", &refs);
    bed.emu.set_faults(Faults {
        slowdown_rate: 0.3,
        error_rate: 0.3,
        ..Faults::default()
    });
    let o = delete(&bed, &["flaky-item", "--all", "--no-backup"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let d = deletes(&bed);
    let ok = d.iter().filter(|r| r.status == 204).count();
    let slow = d.iter().filter(|r| r.status == 503).count();
    let err = d.iter().filter(|r| r.status == 500).count();
    assert_eq!(ok, files.len());
    assert!(slow > 0 && err > 0, "faults did not fire: {slow} {err}");
    assert_eq!(d.len(), ok + slow + err);
    assert!(stderr(&o).contains("retry: flaky-item/"), "{}", stderr(&o));
    assert!(names(&bed, "flaky-item")
        .iter()
        .all(|n| n.ends_with("_derived.txt")));
}

// -q means failures and the summary only: a run that succeeds after retries prints no result
// line on stdout and nothing but its summary on stderr (no retry lines).
#[test]
fn quiet_success_prints_only_the_summary() {
    let bed = Bed::new();
    let files: Vec<String> = (0..8).map(|i| format!("q{i}.bin")).collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    make_item(&bed, "quiet-del-item", &refs);
    bed.emu.set_faults(Faults {
        slowdown_rate: 0.3,
        error_rate: 0.3,
        ..Faults::default()
    });
    let o = delete(&bed, &["quiet-del-item", "--all", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        deletes(&bed).iter().any(|r| r.status >= 500),
        "faults did not fire"
    );
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "done: 8 files of quiet-del-item: 8 deleted, 0 not found, 0 failed\n"
    );
}

#[test]
fn exhausted_retries_fail_with_exit_1() {
    let bed = Bed::new();
    make_item(&bed, "doomed-del-item", &["a.txt"]);
    bed.emu.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let o = delete(&bed, &["doomed-del-item", "a.txt", "--retries", "2", "-q"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("doomed-del-item/a.txt: failed: DELETE: 500 InternalError"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("gave up after 3 attempts"));
    assert!(!stderr(&o).contains("retry:"), "quiet: {}", stderr(&o));
    assert_eq!(deletes(&bed).len(), 3);
}

// ---- issue 11: a true drop-in for `ia delete` ----

// A named file the item does not have makes the real run exit 1 ("not found"); the dry run
// says so, does not count it, and exits 1 too.
#[test]
fn dry_run_counts_only_existing_files_and_exits_as_the_real_run_would() {
    let bed = Bed::new();
    make_item(&bed, "dry-missing-item", &["a.txt", "b.txt"]);
    let o = delete(
        &bed,
        &[
            "dry-missing-item",
            "a.txt",
            "zzz.txt",
            "b.txt",
            "gone/y.bin",
            "-d",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "dry-missing-item/a.txt\ndry-missing-item/b.txt\n"
    );
    let err = stderr(&o);
    assert!(
        err.contains("dry run: 2 files of dry-missing-item would be deleted"),
        "{err}"
    );
    assert_eq!(err.matches("dry run:").count(), 1, "said once: {err}");
    assert!(
        err.contains("2 named files are not in the item's file list"),
        "{err}"
    );
    assert!(err.contains("\n  dry-missing-item/zzz.txt"), "{err}");
    assert!(err.contains("\n  dry-missing-item/gone/y.bin"), "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(deletes(&bed).is_empty());
    // The real run agrees: exit 1, the same two not found.
    let o = delete(
        &bed,
        &[
            "dry-missing-item",
            "a.txt",
            "zzz.txt",
            "b.txt",
            "gone/y.bin",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 deleted, 2 not found, 0 failed"));
    // Only missing names: nothing would be deleted, still exit 1.
    let o = delete(&bed, &["dry-missing-item", "zzz.txt", "-d"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("dry run: 0 files of dry-missing-item would be deleted"),
        "{}",
        stderr(&o)
    );
}

// `-c` is `--cascade`, as in `ia delete`.
#[test]
fn short_c_is_cascade() {
    let bed = Bed::new();
    make_item(&bed, "short-c-item", &["a.txt", "b.txt"]);
    let o = delete(&bed, &["short-c-item", "a.txt", "-c"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "short-c-item/a.txt: deleted (cascade)\n");
    assert_eq!(
        header(&deletes(&bed)[0], "x-archive-cascade-delete"),
        Some("1")
    );
    let o = delete(&bed, &["short-c-item", "b.txt", "--cascade", "--no-backup"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(names(&bed, "short-c-item"), ["history/files/a.txt.~1~"]);
    let o = bed.bare().args(["delete", "--help"]).output().unwrap();
    assert!(stdout(&o).contains("-c, --cascade"), "{}", stdout(&o));
}

// A wrong secret is found once, before the first DELETE, not once per file.
#[test]
fn wrong_keys_exit_2_before_any_delete() {
    let bed = Bed::new();
    make_item(&bed, "keys-del-item", &["a.txt", "b.txt"]);
    bed.write_config(ACCESS, "not-the-secret");
    let o = bed
        .bare()
        .args(["delete", "keys-del-item", "--all", "--sleep", "0.01"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_absent(&o, "not-the-secret");
    let err = stderr(&o);
    assert!(err.contains("archive.org did not accept the keys"), "{err}");
    assert!(
        err.contains("nothing was sent") && err.contains("iaup configure"),
        "{err}"
    );
    assert!(deletes(&bed).is_empty());
    assert_eq!(names(&bed, "keys-del-item").len(), 4);
}

// Delete runs on the shared scheduler: Ctrl-C stops starting new deletes, lets the ones in
// flight finish, and says how many were not started (exit 130).
#[test]
fn ctrl_c_stops_new_deletes_and_exits_130() {
    let bed = Bed::with_faults(ias3_emulator::Faults {
        latency: std::time::Duration::from_millis(150),
        ..ias3_emulator::Faults::default()
    });
    let files: Vec<String> = (0..12).map(|i| format!("c{i:02}.txt")).collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    make_item(&bed, "ctrl-c-item", &refs);
    let child = bed
        .child()
        .args(["delete", "ctrl-c-item", "--all", "--jobs", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{e}");
    assert!(e.contains("interrupted"), "{e}");
    assert!(e.contains("not started (interrupted)"), "{e}");
    // Some went, the rest were never started.
    let deleted = stdout(&o).matches(": deleted").count();
    assert!((1..12).contains(&deleted), "{deleted} deleted\n{e}");
}
