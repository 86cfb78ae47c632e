//! `iaup metadata` against the emulator: reading (JSON, --exists, --formats), every write mode,
//! spreadsheets with failing rows, validation before sending, dry runs, and retries with the
//! number of requests they cost.

use ias3_emulator::Faults;
use serde_json::{json, Value};

use crate::harness::*;

/// Creates an item with the given files (uploaded through iaup) and `-m` metadata.
fn make_item(bed: &Bed, id: &str, files: &[&str], meta: &[&str]) {
    let mut cmd = bed.cmd();
    cmd.args(["upload", id, "-q"]);
    for f in files {
        let rel = format!("src-{id}/{f}");
        bed.file(&rel, f.as_bytes());
        cmd.arg(rel);
    }
    for m in meta {
        cmd.args(["-m", m]);
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(0), "setup upload: {}", stderr(&o));
}

fn metadata(bed: &Bed, args: &[&str]) -> std::process::Output {
    let o = bed
        .cmd()
        .arg("metadata")
        .args(args)
        .args(["--sleep", "0.01"])
        .output()
        .unwrap();
    assert_no_secret(&o);
    o
}

fn meta_of(bed: &Bed, id: &str) -> serde_json::Map<String, Value> {
    bed.emu.item(id).expect("item exists").metadata
}

fn count(bed: &Bed, method: &str, status: u16) -> usize {
    bed.requests()
        .iter()
        .filter(|r| r.method == method && r.status == status && r.path.starts_with("/metadata/"))
        .count()
}

fn writes_sent(bed: &Bed) -> usize {
    bed.requests()
        .iter()
        .filter(|r| r.method == "POST" || r.method == "DELETE")
        .count()
}

#[test]
fn read_prints_one_compact_json_document_per_item() {
    let bed = Bed::new();
    make_item(&bed, "read-item-1", &["a.txt"], &["title:First"]);
    make_item(&bed, "read-item-2", &["b.pdf"], &["title:Second"]);
    let o = metadata(&bed, &["read-item-1", "read-item-2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "compact, one line each when piped: {out}");
    let docs: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs[0]["metadata"]["title"], "First");
    assert_eq!(docs[1]["metadata"]["identifier"], "read-item-2");
    let names: Vec<&str> = docs[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"a.txt") && names.contains(&"read-item-1_meta.xml"));
}

#[test]
fn read_of_a_missing_item_fails_but_prints_the_others() {
    let bed = Bed::new();
    make_item(&bed, "there-item", &["a.txt"], &[]);
    let o = metadata(&bed, &["no-such-item", "there-item"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no-such-item: no such item"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o).lines().count(), 1);
}

#[test]
fn exists_answers_with_the_exit_code() {
    let bed = Bed::new();
    make_item(&bed, "exists-item", &["a.txt"], &[]);
    let o = metadata(&bed, &["exists-item", "--exists"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("exists-item exists"));
    let o = metadata(&bed, &["exists-item", "missing-item", "--exists"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing-item does not exist"));
    let o = metadata(&bed, &["missing-item", "--exists", "-q"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "");
}

#[test]
fn formats_lists_each_format_once() {
    let bed = Bed::new();
    make_item(&bed, "formats-item", &["a.txt", "b.txt", "c.pdf"], &[]);
    let o = metadata(&bed, &["formats-item", "--formats"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let mut got: Vec<&str> = out.lines().collect();
    got.sort();
    assert_eq!(got, ["Metadata", "Text", "Text PDF"]);
}

// Non-ASCII must survive the form encoding, the patch and the emulator's storage.
#[test]
fn cyrillic_modify_round_trips_through_the_emulator() {
    let bed = Bed::new();
    make_item(&bed, "cyr-item", &["a.txt"], &["title:Old"]);
    let o = metadata(
        &bed,
        &[
            "cyr-item",
            "--modify",
            "title:Бандура: народні пісні",
            "--modify",
            "subject:хор",
            "--modify",
            "subject:Україна",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("cyr-item: updated (task "),
        "{}",
        stdout(&o)
    );
    let m = meta_of(&bed, "cyr-item");
    assert_eq!(m["title"], "Бандура: народні пісні");
    assert_eq!(m["subject"], json!(["хор", "Україна"]));
    // And read back through the metadata API by iaup itself.
    let o = metadata(&bed, &["cyr-item"]);
    let doc: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(doc["metadata"]["title"], "Бандура: народні пісні");
    assert_eq!(count(&bed, "POST", 200), 1);
}

// `ia` appends access and secret to the form body unencoded, so a secret with form syntax in it
// fails to authenticate; iaup encodes them. The emulator decodes the form like archive.org.
#[test]
fn secret_with_form_syntax_authenticates_a_metadata_write() {
    const ODD: &str = "k+e&y=v%2Fa l%ue";
    let bed = Bed::with_secret(ODD);
    make_item(&bed, "odd-secret-item", &["a.txt"], &["title:Old"]);
    let o = bed
        .cmd()
        .args(["metadata", "odd-secret-item", "--modify", "title:x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_absent(&o, ODD);
    assert_absent(&o, "k%2Be%26y%3Dv%252Fa");
    assert_eq!(meta_of(&bed, "odd-secret-item")["title"], "x");
    // Authenticated by the form fields: iaup sends no Authorization header with the POST.
    let posts: Vec<_> = bed
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].status, 200);
    assert_eq!(header(&posts[0], "authorization"), None);
    // And the wrong secret with the same characters is refused (by the key check that comes
    // before the first write: exit 2, nothing posted).
    bed.write_config(ACCESS, "k+e&y=v%2Fa l%uf");
    let o = bed
        .bare()
        .args(["metadata", "odd-secret-item", "--modify", "title:y"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(self::posts(&bed).len(), 1);
    assert_absent(&o, "k+e&y=v%2Fa l%uf");
    assert_eq!(meta_of(&bed, "odd-secret-item")["title"], "x");
}

#[test]
fn every_write_mode_against_the_emulator() {
    let bed = Bed::new();
    make_item(
        &bed,
        "modes-item",
        &["a.txt"],
        &[
            "description:Some text",
            "subject:a",
            "subject:b",
            "subject:c",
            "notes:drop me",
        ],
    );
    let run = |args: &[&str]| {
        let mut all = vec!["modes-item"];
        all.extend_from_slice(args);
        let o = metadata(&bed, &all);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        o
    };
    run(&["--modify", "subject[1]:B", "--modify", "notes:REMOVE_TAG"]);
    let m = meta_of(&bed, "modes-item");
    assert_eq!(m["subject"], json!(["a", "B", "c"]));
    assert!(!m.contains_key("notes"));
    run(&["--modify", "subject[0]:REMOVE_TAG"]);
    assert_eq!(meta_of(&bed, "modes-item")["subject"], json!(["B", "c"]));
    run(&["--append", "description:and more"]);
    assert_eq!(
        meta_of(&bed, "modes-item")["description"],
        "Some text and more"
    );
    run(&["--append-list", "subject:d", "--append-list", "subject:c"]);
    assert_eq!(
        meta_of(&bed, "modes-item")["subject"],
        json!(["B", "c", "d"])
    );
    run(&["--remove", "subject:B", "--remove", "subject:d"]);
    assert_eq!(meta_of(&bed, "modes-item")["subject"], "c");
    run(&["--append-list", "subject:e"]);
    assert_eq!(meta_of(&bed, "modes-item")["subject"], json!(["c", "e"]));
    // Appending text to a list cannot work: that item fails, exit 1.
    let o = metadata(&bed, &["modes-item", "--append", "subject:x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("modes-item: failed: `subject` holds a list"));
}

#[test]
fn no_changes_is_reported_and_succeeds_without_a_post() {
    let bed = Bed::new();
    make_item(&bed, "same-item", &["a.txt"], &["title:Same"]);
    let o = metadata(&bed, &["same-item", "--modify", "title:Same"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "same-item: no changes\n");
    assert!(stderr(&o).contains("0 updated, 1 unchanged, 0 failed"));
    assert_eq!(writes_sent(&bed), 0);
}

#[test]
fn files_target_changes_one_files_metadata() {
    let bed = Bed::new();
    make_item(&bed, "filemeta-item", &["a.txt"], &[]);
    let o = metadata(
        &bed,
        &[
            "filemeta-item",
            "--target",
            "files/a.txt",
            "--modify",
            "note:fixed",
            "--priority",
            "1",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let item = bed.emu.item("filemeta-item").unwrap();
    let f = item.files.iter().find(|f| f.name == "a.txt").unwrap();
    assert_eq!(f.metadata["note"], "fixed");
    let o = metadata(
        &bed,
        &["filemeta-item", "-t", "files/nope.txt", "-m", "note:x"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("no file named `nope.txt`"));
}

// `--priority` reaches the metadata task; without it iaup sends ia's -5, not the server's 0.
#[test]
fn priority_flag_is_sent_and_defaults_to_minus_five() {
    let bed = Bed::new();
    make_item(&bed, "prio-item", &["a.txt"], &[]);
    let priorities = || -> Vec<i64> {
        bed.emu
            .item("prio-item")
            .unwrap()
            .tasks
            .iter()
            .filter(|t| t.cmd == "modify_xml.php")
            .map(|t| t.priority)
            .collect()
    };
    let o = metadata(&bed, &["prio-item", "-m", "kv:v", "--priority", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(priorities(), [3]);
    let o = metadata(&bed, &["prio-item", "-m", "kv:w"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(priorities(), [3, -5]);
    let o = metadata(&bed, &["prio-item", "-m", "kv:u", "-p", "-10"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(priorities(), [3, -5, -10]);
    // Not an integer: refused by clap before anything is sent.
    let before = writes_sent(&bed);
    let o = metadata(&bed, &["prio-item", "-m", "kv:z", "--priority", "high"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(writes_sent(&bed), before);
}

#[test]
fn dry_run_prints_the_patch_and_sends_nothing() {
    let bed = Bed::new();
    make_item(&bed, "dry-item", &["a.txt"], &["title:Old"]);
    let before = bed.requests().len();
    let o = metadata(
        &bed,
        &[
            "dry-item",
            "--modify",
            "title:New",
            "--append-list",
            "subject:x",
            "--dry-run",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with(r#"{"identifier":"dry-item","target":"metadata","patch":["#),
        "{}",
        stdout(&o)
    );
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        v,
        json!({"identifier": "dry-item", "target": "metadata", "patch": [
            {"op": "add", "path": "/subject", "value": "x"},
            {"op": "replace", "path": "/title", "value": "New"},
        ]})
    );
    assert!(stderr(&o).contains("nothing was sent"));
    let after: Vec<_> = bed.requests().into_iter().skip(before).collect();
    assert!(after.iter().all(|r| r.method == "GET"), "{after:?}");
    assert_eq!(writes_sent(&bed), 0);
    assert_eq!(meta_of(&bed, "dry-item")["title"], "Old");
}

// A row naming an item that does not exist fails alone; the others are applied.
#[test]
fn spreadsheet_updates_items_and_lists_every_failure() {
    let bed = Bed::new();
    make_item(&bed, "sheet-item-1", &["a.txt"], &["title:One"]);
    make_item(&bed, "sheet-item-2", &["a.txt"], &["title:Two"]);
    bed.file(
        "meta.csv",
        "identifier,title,subject[0],subject[1]\n\
         sheet-item-1,Перший,хор,music\n\
         ghost-item-1,Nobody,,\n\
         sheet-item-2,Two,,\n\
         ghost-item-2,Nobody,,\n"
            .as_bytes(),
    );
    let o = metadata(&bed, &["--spreadsheet", "meta.csv", "-j", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("sheet-item-1: updated (task "),
        "{out}"
    );
    assert_eq!(lines[1], "ghost-item-1: failed: no such item");
    assert_eq!(lines[2], "sheet-item-2: no changes");
    assert_eq!(lines[3], "ghost-item-2: failed: no such item");
    let err = stderr(&o);
    assert!(
        err.contains("4 items: 1 updated, 1 unchanged, 2 failed"),
        "{err}"
    );
    assert!(err.contains("\n  ghost-item-1: no such item"), "{err}");
    assert!(err.contains("\n  ghost-item-2: no such item"), "{err}");
    let m = meta_of(&bed, "sheet-item-1");
    assert_eq!(m["title"], "Перший");
    assert_eq!(m["subject"], json!(["хор", "music"]));
}

// Validation first, as for upload: every problem with file, row and column, nothing sent.
#[test]
fn spreadsheet_problems_exit_2_and_nothing_is_sent() {
    let bed = Bed::new();
    bed.file(
        "bad.csv",
        "identifier,title,bad name\n_bad,x,y\nok-item,,\n".as_bytes(),
    );
    let o = metadata(&bed, &["--spreadsheet", "bad.csv"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(err.contains("bad.csv:1: column `bad name`"), "{err}");
    assert!(
        err.contains("bad.csv:2: column `identifier`: invalid identifier `_bad`"),
        "{err}"
    );
    assert!(bed.requests().is_empty());
}

#[test]
fn bad_flags_exit_2_before_anything_is_sent() {
    let bed = Bed::new();
    for args in [
        vec!["some-item", "--modify", "title"],
        vec!["some-item", "--modify", "identifier:x"],
        vec!["some-item", "--append", "subject[0]:x"],
        vec!["some-item", "--target", "files/a.txt"],
        vec!["some-item", "--dry-run"],
        vec!["bad id", "--modify", "title:x"],
    ] {
        let o = metadata(&bed, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let o = metadata(&bed, &["--exists"]);
    assert_eq!(o.status.code(), Some(2), "no identifier: {}", stderr(&o));
    assert!(bed.requests().is_empty());
    std::fs::remove_file(bed.config_path()).unwrap();
    let o = bed
        .bare()
        .args(["metadata", "some-item", "--modify", "title:x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("iaup configure"), "{}", stderr(&o));
}

// Each failed GET and POST is retried; every write lands exactly once.
#[test]
fn metadata_errors_are_retried_and_each_change_applies_once() {
    let bed = Bed::new();
    let ids: Vec<String> = (0..6).map(|i| format!("retry-item-{i}")).collect();
    for id in &ids {
        make_item(&bed, id, &["a.txt"], &["description:base"]);
    }
    bed.emu.set_faults(Faults {
        metadata_error_rate: 0.4,
        ..Faults::default()
    });
    let mut args: Vec<&str> = ids.iter().map(String::as_str).collect();
    args.extend(["--append", "description:more", "-j", "3"]);
    let o = metadata(&bed, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for id in &ids {
        assert_eq!(meta_of(&bed, id)["description"], "base more", "{id}");
    }
    let failed = count(&bed, "GET", 500) + count(&bed, "POST", 500);
    assert!(failed > 0, "the fault never fired");
    assert_eq!(count(&bed, "POST", 200), ids.len());
    assert!(stderr(&o).contains("retry: "), "{}", stderr(&o));
}

// -q means failures and the summary only: writes that succeed after retries print no result
// line on stdout and nothing but the summary on stderr; a read prints its data and nothing else.
#[test]
fn quiet_success_prints_only_the_summary() {
    let bed = Bed::new();
    let ids: Vec<String> = (0..6).map(|i| format!("quiet-item-{i}")).collect();
    for id in &ids {
        make_item(&bed, id, &["a.txt"], &["description:base"]);
    }
    bed.emu.set_faults(Faults {
        metadata_error_rate: 0.4,
        ..Faults::default()
    });
    let mut args: Vec<&str> = ids.iter().map(String::as_str).collect();
    args.extend(["--append", "description:more", "-q"]);
    let o = metadata(&bed, &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        count(&bed, "GET", 500) + count(&bed, "POST", 500) > 0,
        "the fault never fired"
    );
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "done: 6 items: 6 updated, 0 unchanged, 0 failed\n"
    );

    let o = metadata(&bed, &["quiet-item-0", "quiet-item-1", "--formats", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("quiet-item-0\tText"), "{}", stdout(&o));
    assert_eq!(stderr(&o), "");
}

#[test]
fn exhausted_retries_fail_the_item_with_exit_1() {
    let bed = Bed::new();
    make_item(&bed, "doomed-item", &["a.txt"], &[]);
    bed.emu.set_faults(Faults {
        metadata_error_rate: 1.0,
        ..Faults::default()
    });
    let o = metadata(&bed, &["doomed-item", "-m", "title:x", "--retries", "2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("doomed-item: failed:"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("gave up after 3 attempts"),
        "{}",
        stdout(&o)
    );
    assert_eq!(count(&bed, "GET", 500), 3);
    assert_eq!(writes_sent(&bed), 0);
}

// ---- issue 11: a true drop-in for `ia metadata` ----

fn posts(bed: &Bed) -> Vec<ias3_emulator::RequestRecord> {
    bed.requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect()
}

#[test]
fn short_flags_are_ias() {
    let bed = Bed::new();
    make_item(&bed, "short-item", &["a.txt", "c.pdf"], &["title:Old"]);
    let o = metadata(&bed, &["short-item", "-e"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("short-item exists"), "{}", stderr(&o));
    let o = metadata(&bed, &["short-item", "-F"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let mut got: Vec<&str> = out.lines().collect();
    got.sort();
    assert_eq!(got, ["Metadata", "Text", "Text PDF"]);
    bed.file("m.csv", b"identifier,title\nshort-item,New\n");
    let o = metadata(&bed, &["-s", "m.csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(meta_of(&bed, "short-item")["title"], "New");
}

// `ia metadata -i KEY[N]:VALUE` inserts at N (moving the value there if the list has it
// already); without an index it inserts at 0.
#[test]
fn insert_puts_a_value_into_a_list_at_an_index() {
    let bed = Bed::new();
    make_item(
        &bed,
        "insert-item",
        &["a.txt"],
        &["subject:a", "subject:b", "subject:c"],
    );
    let o = metadata(&bed, &["insert-item", "-i", "subject[1]:x", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        v["patch"],
        json!([{"op": "add", "path": "/subject/1", "value": "x"}])
    );
    let o = metadata(&bed, &["insert-item", "--insert", "subject[1]:x"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        meta_of(&bed, "insert-item")["subject"],
        json!(["a", "x", "b", "c"])
    );
    let o = metadata(&bed, &["insert-item", "-i", "subject:first"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        meta_of(&bed, "insert-item")["subject"],
        json!(["first", "a", "x", "b", "c"])
    );
    // A value already in the list moves to the index.
    let o = metadata(&bed, &["insert-item", "-i", "subject[0]:c"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        meta_of(&bed, "insert-item")["subject"],
        json!(["c", "first", "a", "x", "b"])
    );
    // Past the end appends; into an absent field creates it.
    let o = metadata(
        &bed,
        &[
            "insert-item",
            "-i",
            "subject[99]:z",
            "-i",
            "language[3]:ukr",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m = meta_of(&bed, "insert-item");
    assert_eq!(m["subject"], json!(["c", "first", "a", "x", "b", "z"]));
    assert_eq!(m["language"], "ukr");
    // Already at that index: nothing to send.
    let before = posts(&bed).len();
    let o = metadata(&bed, &["insert-item", "-i", "subject[0]:c"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "insert-item: no changes\n");
    assert_eq!(posts(&bed).len(), before);
    for bad in ["subject[0]:", "identifier[0]:x", "bad name[0]:x"] {
        let o = metadata(&bed, &["insert-item", "-i", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
    }
    assert_eq!(posts(&bed).len(), before);
}

// `ia metadata -E KEY:VALUE` puts a JSON Patch `test` op first in the patch, so the server
// refuses the whole write if the field changed; iaup also checks it against what it read.
#[test]
fn expect_is_a_test_op_sent_first_in_the_patch() {
    let bed = Bed::new();
    make_item(
        &bed,
        "expect-item",
        &["a.txt"],
        &["title:Old", "subject:a", "subject:b"],
    );
    let o = metadata(
        &bed,
        &[
            "expect-item",
            "-E",
            "title:Old",
            "--expect",
            "subject[1]:b",
            "-m",
            "title:New",
            "-d",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        v["patch"],
        json!([
            {"op": "test", "path": "/title", "value": "Old"},
            {"op": "test", "path": "/subject/1", "value": "b"},
            {"op": "replace", "path": "/title", "value": "New"},
        ])
    );
    let o = metadata(
        &bed,
        &[
            "expect-item",
            "-E",
            "title:Old",
            "-E",
            "subject[1]:b",
            "-m",
            "title:New",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(meta_of(&bed, "expect-item")["title"], "New");
    assert_eq!(posts(&bed).len(), 1);
    // The expectation no longer holds: the item fails and nothing is written.
    let o = metadata(
        &bed,
        &["expect-item", "-E", "title:Old", "-m", "title:Newer"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .contains("expect-item: failed: --expect title:Old does not hold: `title` is \"New\""),
        "{}",
        stdout(&o)
    );
    assert_eq!(posts(&bed).len(), 1);
    assert_eq!(meta_of(&bed, "expect-item")["title"], "New");
    let o = metadata(&bed, &["expect-item", "-E", "nope:x", "-m", "title:Newer"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("`nope` is absent"), "{}", stdout(&o));
    for bad in [
        vec!["expect-item", "-E", "title", "-m", "title:x"],
        vec!["expect-item", "-E", "bad name:x", "-m", "title:x"],
        vec!["expect-item", "-E", "title:Old"],
    ] {
        let o = metadata(&bed, &bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
    assert_eq!(posts(&bed).len(), 1);
}

// The server-side half of --expect: the field changes between iaup's read and its write (the
// write is held back by the emulator's latency while another run changes the title); the
// emulator applies the `test` op and refuses, so the other run's title stays.
#[test]
fn expect_refuses_a_write_when_the_field_changed_after_the_read() {
    let bed = Bed::new();
    make_item(&bed, "race-item", &["a.txt"], &["title:Old"]);
    bed.emu.set_faults(Faults {
        latency: std::time::Duration::from_millis(1500),
        ..Faults::default()
    });
    let mut slow = bed.child();
    slow.args([
        "metadata",
        "race-item",
        "-E",
        "title:Old",
        "-m",
        "title:Slow",
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let slow = slow.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !bed
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == "/metadata/race-item" && r.status == 200)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow run never read"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Its POST is now held back by the latency; change the title under it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    bed.emu.set_faults(Faults::default());
    let o = metadata(&bed, &["race-item", "-m", "title:Fast"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = slow.wait_with_output().unwrap();
    assert_no_secret(&o);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(meta_of(&bed, "race-item")["title"], "Fast");
    let refused: Vec<_> = posts(&bed)
        .into_iter()
        .filter(|r| r.status == 400)
        .collect();
    assert_eq!(refused.len(), 1, "the slow POST was sent and refused");
    assert!(
        stdout(&o).contains("race-item: failed: --expect title:Old does not hold: `title` is \"Fast\" (changed after it was read)"),
        "{}",
        stdout(&o)
    );
}

// `-H KEY:VALUE` goes on the write request, as in ia; a header that cannot be sent is exit 2.
#[test]
fn header_flag_goes_on_the_write_request() {
    let bed = Bed::new();
    make_item(&bed, "header-item", &["a.txt"], &[]);
    let o = metadata(
        &bed,
        &[
            "header-item",
            "-m",
            "title:x",
            "-H",
            "x-archive-note: hello there",
            "--header",
            "X-Other:2",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = posts(&bed);
    assert_eq!(p.len(), 1);
    assert_eq!(header(&p[0], "x-archive-note"), Some("hello there"));
    assert_eq!(header(&p[0], "x-other"), Some("2"));
    let gets: Vec<_> = bed
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/metadata/header-item")
        .collect();
    assert!(gets.iter().all(|r| header(r, "x-other").is_none()));
    for bad in [
        "bad name:x",
        "x-a:caf\u{e9}\n",
        "content-type:text/plain",
        "novalue",
    ] {
        let o = metadata(&bed, &["header-item", "-m", "title:y", "-H", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
    let o = metadata(&bed, &["header-item", "-H", "x-a:1"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "-H without changes: {}",
        stderr(&o)
    );
    assert_eq!(posts(&bed).len(), 1);
}

// A wrong secret is found once, before the first write, not once per item.
#[test]
fn wrong_keys_exit_2_before_any_write() {
    let bed = Bed::new();
    make_item(&bed, "keys-item-1", &["a.txt"], &["title:Old"]);
    make_item(&bed, "keys-item-2", &["a.txt"], &["title:Old"]);
    bed.write_config(ACCESS, "not-the-secret");
    let o = bed
        .bare()
        .args(["metadata", "keys-item-1", "keys-item-2", "-m", "title:New"])
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
    assert!(posts(&bed).is_empty());
    assert_eq!(meta_of(&bed, "keys-item-1")["title"], "Old");
    // A dry run writes nothing, so it does not need the check.
    let o = bed
        .bare()
        .args(["metadata", "keys-item-1", "-m", "title:New", "-d"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
