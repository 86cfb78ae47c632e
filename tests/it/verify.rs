//! `iaup verify`, `upload --wait`, and the metadata that follows the sheet on a rerun
//! (`--update-metadata`).

use std::time::{Duration, Instant};

use ias3_emulator::Faults;
use serde_json::json;

use crate::harness::*;

const ID: &str = "verify-item";

/// Two files uploaded to [`ID`] with a title; the upload's exit asserted.
fn uploaded(bed: &Bed) {
    bed.file("a.txt", b"alpha contents");
    bed.file("b.bin", &content(7, 3000));
    let o = bed
        .cmd()
        .args(["upload", ID, "a.txt", "b.bin", "-m", "title:Old title"])
        .args(["-m", "subject:one", "-m", "subject:two", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// `iaup verify` of what [`uploaded`] sent, with more arguments; asserts no write was sent.
fn verify(bed: &Bed, more: &[&str]) -> std::process::Output {
    let before = bed.requests().len();
    let o = bed
        .cmd()
        .args(["verify", ID, "a.txt", "b.bin", "-m", "title:Old title"])
        .args(["-m", "subject:one", "-m", "subject:two"])
        .args(more)
        .output()
        .unwrap();
    assert_no_secret(&o);
    let writes: Vec<_> = bed.requests()[before..]
        .iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "verify sent writes: {writes:?}");
    o
}

#[test]
fn verify_is_silent_and_exits_0_on_a_good_upload() {
    let bed = Bed::new();
    uploaded(&bed);
    let o = verify(&bed, &["-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "",
        "-q prints nothing on stdout when all is well"
    );
    assert!(
        stderr(&o).contains("verified 1 item, 2 files: all ok"),
        "{}",
        stderr(&o)
    );
    let o = verify(&bed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{ID}: ok (2 files)\n"));
    // One metadata GET per item; no tasks request when every file is listed.
    let tasks = bed
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/services/tasks.php"))
        .count();
    assert_eq!(tasks, 0);
}

#[test]
fn verify_finds_a_deleted_file() {
    let bed = Bed::new();
    uploaded(&bed);
    bed.cmd()
        .args(["delete", ID, "b.bin", "-q"])
        .assert()
        .success();
    let o = verify(&bed, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{ID}/b.bin: missing\n"));
    assert!(stderr(&o).contains("1 ok, 1 missing, 0 pending, 0 different"));
}

#[test]
fn verify_finds_a_changed_byte() {
    let bed = Bed::new();
    uploaded(&bed);
    // Same size, one byte changed, uploaded under the same key.
    let mut other = content(7, 3000);
    other[1234] ^= 1;
    bed.file("other.bin", &other);
    bed.cmd()
        .args(["upload", ID, "other.bin", "--remote-name", "b.bin"])
        .args(["--no-journal", "-q"])
        .assert()
        .success();
    let o = verify(&bed, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "{ID}/b.bin: different (md5 local {}, remote {})\n",
            md5_hex(&content(7, 3000)),
            md5_hex(&other)
        )
    );
}

#[test]
fn verify_finds_a_changed_title() {
    let bed = Bed::new();
    uploaded(&bed);
    bed.cmd()
        .args(["metadata", ID, "-m", "title:New title", "-q"])
        .assert()
        .success();
    let o = verify(&bed, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{ID}: metadata title differs: local [\"Old title\"] remote [\"New title\"]\n")
    );
}

#[test]
fn verify_says_pending_while_the_item_has_tasks() {
    let bed = Bed::with_faults(Faults {
        task_delay: Duration::from_secs(60),
        ..Faults::default()
    });
    uploaded(&bed);
    let o = verify(&bed, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{ID}/a.txt: pending\n{ID}/b.bin: pending\n")
    );
    assert!(bed
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/services/tasks.php")));
}

#[test]
fn verify_extra_lists_remote_files_the_plan_lacks_and_writes_a_report() {
    let bed = Bed::new();
    uploaded(&bed);
    let before = bed.requests().len();
    let o = bed
        .cmd()
        .args(["verify", ID, "a.txt", "--extra", "--report", "r.jsonl"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("{ID}/b.bin: extra\n"),
        "derivatives and IA's own files are not extra"
    );
    assert!(bed.requests()[before..].iter().all(|r| r.method == "GET"));
    let report = std::fs::read_to_string(bed.path("r.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{report}");
    assert_eq!(rows[0]["key"], "a.txt");
    assert_eq!(rows[0]["status"], "ok");
    assert_eq!(rows[0]["local"], md5_hex(b"alpha contents"));
    assert_eq!(rows[1]["key"], "b.bin");
    assert_eq!(rows[1]["status"], "extra");
}

#[test]
fn verify_reports_a_missing_item_and_refuses_bad_input() {
    let bed = Bed::new();
    bed.file("a.txt", b"alpha");
    let o = bed
        .cmd()
        .args(["verify", "never-uploaded", "a.txt", "--report", "r.csv"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "never-uploaded: no such item\nnever-uploaded/a.txt: missing\n"
    );
    let csv = std::fs::read_to_string(bed.path("r.csv")).unwrap();
    assert!(csv.starts_with("identifier,key,field,status,"), "{csv}");
    assert!(csv.contains("never-uploaded,a.txt,,missing,"), "{csv}");
    let o = bed
        .cmd()
        .args(["verify", "x", "nope.txt", "--report", "r.txt"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(bed.requests().iter().all(|r| r.method == "GET"));
}

#[test]
fn verify_takes_batch_folders_as_upload_does() {
    let bed = Bed::new();
    bed.file(
        "batch/verify-folder-1/verify-folder-1_meta.xml",
        "<metadata><title>Звіт</title><subject>a</subject><subject>b</subject></metadata>"
            .as_bytes(),
    );
    bed.file("batch/verify-folder-1/scans/p1.jpg", &content(3, 500));
    bed.cmd()
        .args(["upload", "--folders", "batch", "-q"])
        .assert()
        .success();
    let o = bed
        .cmd()
        .args(["verify", "--folders", "batch"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "verify-folder-1: ok (1 file)\n");
}

#[test]
fn upload_wait_waits_for_the_tasks_then_verifies() {
    let bed = Bed::with_faults(Faults {
        task_delay: Duration::from_secs(2),
        ..Faults::default()
    });
    bed.file("a.txt", b"alpha contents");
    let start = Instant::now();
    let o = bed
        .cmd()
        .args(["upload", ID, "a.txt", "--wait", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(start.elapsed() >= Duration::from_secs(2));
    assert!(stderr(&o).contains("--wait: waiting"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{ID}: ok (1 file)")),
        "{}",
        stdout(&o)
    );
    let tasks_polls = bed
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/services/tasks.php"))
        .count();
    assert!(tasks_polls >= 2, "polled until idle: {tasks_polls}");
}

#[test]
fn upload_wait_exits_1_when_a_file_differs_or_the_wait_times_out() {
    let bed = Bed::new();
    bed.file("a.txt", b"alpha contents");
    bed.cmd()
        .args(["upload", ID, "a.txt", "-q"])
        .assert()
        .success();
    // Replaced on the server behind the journal's back: the rerun skips it, --wait finds it.
    bed.file("other.txt", b"alpha CONTENTS");
    bed.cmd()
        .args([
            "upload",
            ID,
            "other.txt",
            "--remote-name",
            "a.txt",
            "--no-journal",
            "-q",
        ])
        .assert()
        .success();
    let o = bed
        .cmd()
        .args(["upload", ID, "a.txt", "--wait", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 skipped"), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{ID}/a.txt: different (md5 local ")),
        "{}",
        stdout(&o)
    );

    bed.emu.set_faults(Faults {
        task_delay: Duration::from_secs(60),
        ..Faults::default()
    });
    bed.file("c.txt", b"gamma");
    let o = bed
        .cmd()
        .args(["upload", ID, "c.txt", "--wait", "--wait-timeout", "1", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("still has tasks after 1s"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains(&format!("{ID}/c.txt: pending")),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_rerun_after_a_title_edit_reports_it_and_update_metadata_applies_it() {
    let bed = Bed::new();
    let sheet = |title: &str| {
        let csv = format!(
            "identifier,file,title,subject[0],subject[1]\n\
             sheet-item-1,s1.txt,{title},x,y\n\
             sheet-item-2,s2.txt,Unchanged,x,\n"
        );
        bed.file("sheet.csv", csv.as_bytes());
    };
    let upload = |more: &[&str]| {
        bed.cmd()
            .args(["upload", "--spreadsheet", "sheet.csv", "--no-progress"])
            .args(more)
            .output()
            .unwrap()
    };
    bed.file("s1.txt", b"one");
    bed.file("s2.txt", b"two");
    sheet("Old title");
    assert_eq!(upload(&["-q"]).status.code(), Some(0));
    sheet("New title");
    let o = upload(&[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "a warning: {err}");
    assert!(err.contains("2 skipped"), "{err}");
    assert!(
        err.contains(
            "warning: sheet-item-1: the stored metadata differs from the plan's (IA applies \
             upload metadata only when it creates an item): title (stored [\"Old title\"], \
             planned [\"New title\"])"
        ),
        "{err}"
    );
    assert!(
        err.contains("apply with: iaup metadata sheet-item-1 -m 'title:New title'"),
        "{err}"
    );
    assert!(!err.contains("sheet-item-2:"), "{err}");
    assert!(err.contains("rerun with --update-metadata"), "{err}");
    assert_eq!(
        bed.emu.item("sheet-item-1").unwrap().metadata["title"],
        json!("Old title")
    );
    // --checksum's metadata GET serves the comparison too: one GET per item, no other.
    let before = bed.requests().len();
    let o = upload(&["--checksum", "--no-journal"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: sheet-item-1: the stored metadata differs"),
        "{}",
        stderr(&o)
    );
    let gets = bed.requests()[before..]
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/metadata/"))
        .count();
    assert_eq!(gets, 2);
    assert!(!bed.requests().iter().any(|r| r.method == "POST"));

    let o = upload(&["--update-metadata"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("sheet-item-1: updated (task "),
        "{}",
        stdout(&o)
    );
    let stored = bed.emu.item("sheet-item-1").unwrap().metadata;
    assert_eq!(stored["title"], json!("New title"));
    assert_eq!(
        stored["subject"],
        json!(["x", "y"]),
        "other fields unchanged"
    );
    let posts: Vec<_> = bed
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path)
        .collect();
    assert_eq!(posts, ["/metadata/sheet-item-1"], "one patch, one item");
    // Now it follows the sheet: nothing to say, and nothing read to say it: the journal
    // remembers that the stored metadata is the plan's (a rerun of 10,000 present files costs
    // no metadata GET).
    let before = bed.requests().len();
    let o = upload(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let metadata_gets = |from: usize| {
        bed.requests()[from..]
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/metadata/"))
            .count()
    };
    assert_eq!(metadata_gets(before), 0);
    // A new edit of the sheet is compared again.
    sheet("Newer title");
    let before = bed.requests().len();
    let o = upload(&[]);
    assert!(
        stderr(&o).contains("warning: sheet-item-1: the stored metadata differs"),
        "{}",
        stderr(&o)
    );
    assert_eq!(metadata_gets(before), 1, "only the edited item is read");
}
