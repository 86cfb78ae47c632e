//! The resume journal, `--checksum`, `--delete`, `--report` and `iaup status`, including runs
//! killed with SIGKILL mid-transfer and resumed until done.

use std::collections::HashMap;
use std::time::Duration;

use ias3_emulator::Faults;

use crate::harness::*;

fn small_sheet(
    bed: &Bed,
    items: usize,
    files: usize,
    size: usize,
) -> Vec<(String, String, String)> {
    let mut csv = String::from("identifier,file,title\n");
    let mut out = Vec::new();
    for i in 0..items {
        for j in 0..files {
            let data = content((i * 11 + j) as u8, size + i * 3 + j);
            let rel = format!("files/{i}-{j}.dat");
            bed.file(&rel, &data);
            let id = format!("resume-item-{i:02}");
            csv.push_str(&format!("{id},{rel},Resume {i}\n"));
            out.push((id, format!("{i}-{j}.dat"), md5_hex(&data)));
        }
    }
    bed.file("sheet.csv", csv.as_bytes());
    out
}

fn puts_per_key(bed: &Bed) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in bed.puts() {
        *m.entry(r.path).or_insert(0) += 1;
    }
    m
}

#[test]
fn rerun_after_completion_sends_nothing_and_a_changed_file_is_sent_again() {
    let bed = Bed::new();
    let files = small_sheet(&bed, 3, 2, 500);
    let up = || {
        bed.cmd()
            .args(["upload", "--spreadsheet", "sheet.csv", "--no-progress"])
            .output()
            .unwrap()
    };
    let o = up();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), files.len());
    let o = up();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), files.len(), "a rerun sends zero PUTs");
    assert!(
        stderr(&o).contains(&format!("{} skipped", files.len())),
        "{}",
        stderr(&o)
    );
    // Change one file (size changes): only it is sent again.
    bed.file("files/1-1.dat", b"changed content");
    let o = up();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), files.len() + 1);
    assert_eq!(bed.puts().last().unwrap().path, "/resume-item-01/1-1.dat");
    assert_eq!(
        bed.stored("resume-item-01", "1-1.dat").unwrap().0,
        md5_hex(b"changed content")
    );
    // --no-journal sends everything.
    let o = bed
        .cmd()
        .args(["upload", "--spreadsheet", "sheet.csv", "-q", "--no-journal"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(bed.puts().len(), 2 * files.len() + 1);
}

// The acceptance test: SIGKILL at several points, resume until done, nothing lost,
// nothing sent twice except what was in flight at a kill.
#[test]
fn sigkill_at_several_points_then_resume_until_done() {
    let bed = Bed::with_faults(Faults {
        latency: Duration::from_millis(60),
        bandwidth: Some(512 << 10),
        ..Faults::default()
    });
    let files = small_sheet(&bed, 6, 4, 200_000);
    let journal = bed.home.path().join("j.sqlite");
    let jobs = 3;
    let bin = assert_cmd::cargo::cargo_bin("iaup");
    let mut kills = 0;
    for delay_ms in [400u64, 600, 500, 700] {
        let mut child = std::process::Command::new(&bin)
            .env_clear()
            .env("HOME", bed.home.path())
            .env("IAUP_S3_URL", bed.emu.url())
            .env("IAUP_ARCHIVE_URL", bed.emu.url())
            .env("IA_ACCESS_KEY_ID", ACCESS)
            .env("IA_SECRET_ACCESS_KEY", SECRET)
            .current_dir(bed.work.path())
            .args([
                "upload",
                "--spreadsheet",
                "sheet.csv",
                "-q",
                "--sleep",
                "0.05",
            ])
            .args(["--jobs", &jobs.to_string(), "--journal"])
            .arg(&journal)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        let _ = child.wait();
    }
    assert!(kills >= 2, "the kills must land mid-run (got {kills})");
    // Resume until done.
    let mut finished = false;
    for _ in 0..5 {
        let o = bed
            .cmd()
            .args(["upload", "--spreadsheet", "sheet.csv", "-q", "--journal"])
            .arg(&journal)
            .output()
            .unwrap();
        if o.status.code() == Some(0) {
            finished = true;
            break;
        }
    }
    assert!(finished);
    for (id, key, md5) in &files {
        assert_eq!(
            bed.stored(id, key).map(|s| s.0).as_deref(),
            Some(md5.as_str()),
            "{id}/{key}"
        );
    }
    // A body that fully reached the server is never sent again (issue 10.7): on resume an
    // in-flight file is checked (HEAD, then size and MD5) before it is sent.
    let mut landed = std::collections::HashSet::new();
    for r in bed.puts() {
        assert!(
            !landed.contains(&r.path),
            "{} was sent again after it had landed",
            r.path
        );
        if r.status == 200 {
            landed.insert(r.path.clone());
        }
    }
    let per_key = puts_per_key(&bed);
    let resent: usize = per_key.values().map(|n| n - 1).sum();
    assert!(
        resent <= kills * jobs,
        "{resent} extra PUTs for {kills} kills of {jobs} files in flight: {per_key:?}"
    );
    // After completion, a rerun sends zero PUTs.
    let before = bed.puts().len();
    bed.cmd()
        .args(["upload", "--spreadsheet", "sheet.csv", "-q", "--journal"])
        .arg(&journal)
        .assert()
        .success();
    assert_eq!(bed.puts().len(), before);
    // And status reports the killed runs and no unconfirmed file.
    let o = bed
        .cmd()
        .args(["status", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("killed"), "{}", stdout(&o));
    assert!(stdout(&o).contains("every recorded file is uploaded"));
}

#[test]
fn checksum_skips_files_already_on_the_server() {
    let bed = Bed::new();
    let files = small_sheet(&bed, 2, 2, 300);
    bed.cmd()
        .args(["upload", "--spreadsheet", "sheet.csv", "-q", "--no-journal"])
        .assert()
        .success();
    bed.file("files/0-1.dat", b"different now");
    let o = bed
        .cmd()
        .args([
            "upload",
            "--spreadsheet",
            "sheet.csv",
            "--no-progress",
            "--no-journal",
            "--checksum",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        bed.puts().len(),
        files.len() + 1,
        "only the changed file is sent"
    );
    assert!(stderr(&o).contains("3 skipped"), "{}", stderr(&o));
    let gets = bed
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/metadata/"))
        .count();
    assert_eq!(gets, 2, "one metadata GET per item");
}

#[test]
fn checksum_says_when_the_item_has_pending_tasks() {
    let bed = Bed::with_faults(Faults {
        task_delay: Duration::from_secs(30),
        ..Faults::default()
    });
    small_sheet(&bed, 1, 2, 100);
    bed.cmd()
        .args(["upload", "--spreadsheet", "sheet.csv", "-q", "--no-journal"])
        .assert()
        .success();
    let o = bed
        .cmd()
        .args([
            "upload",
            "--spreadsheet",
            "sheet.csv",
            "--no-progress",
            "--no-journal",
            "--checksum",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("pending task"), "{}", stderr(&o));
}

#[test]
fn delete_removes_local_files_only_after_confirmation() {
    let bed = Bed::with_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    bed.file("keep.txt", b"keep me");
    let o = bed
        .cmd()
        .args([
            "upload",
            "del-item",
            "keep.txt",
            "--delete",
            "--retries",
            "1",
            "--sleep",
            "0",
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        bed.work.path().join("keep.txt").exists(),
        "a failed upload keeps the file"
    );
    bed.emu.set_faults(Faults::default());
    let o = bed
        .cmd()
        .args(["upload", "del-item", "keep.txt", "--delete", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!bed.work.path().join("keep.txt").exists());
    assert_eq!(
        bed.stored("del-item", "keep.txt").unwrap().0,
        md5_hex(b"keep me")
    );
}

#[test]
fn delete_without_a_journal_removes_each_file_once_it_is_confirmed() {
    // No journal to wait for: the confirmation itself lets the file go.
    let bed = Bed::new();
    bed.file("a.txt", b"aaa");
    bed.file("b.txt", b"bbb");
    let o = bed
        .cmd()
        .args([
            "upload",
            "nj-item",
            "a.txt",
            "b.txt",
            "--delete",
            "--no-journal",
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!bed.path("a.txt").exists() && !bed.path("b.txt").exists());
    assert_eq!(bed.stored("nj-item", "b.txt").unwrap().0, md5_hex(b"bbb"));
}

#[test]
fn delete_keeps_a_file_two_rows_upload() {
    // The second row may not be sent yet when the first is confirmed: the file stays.
    for journal in [true, false] {
        let bed = Bed::new();
        bed.file("shared.txt", b"shared");
        bed.file("own.txt", b"own");
        bed.file(
            "sheet.csv",
            b"identifier,file,title\nsh-item-a,shared.txt,A\nsh-item-b,shared.txt,B\n\
              sh-item-b,own.txt,B\n",
        );
        let mut cmd = bed.cmd();
        cmd.args([
            "upload",
            "--spreadsheet",
            "sheet.csv",
            "--delete",
            "--no-progress",
        ]);
        if !journal {
            cmd.arg("--no-journal");
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(bed.path("shared.txt").exists(), "journal {journal}");
        assert!(!bed.path("own.txt").exists(), "journal {journal}");
        assert!(
            stderr(&o).contains("kept") && stderr(&o).contains("other rows upload it too"),
            "{}",
            stderr(&o)
        );
        assert!(bed.stored("sh-item-a", "shared.txt").is_some());
        assert!(bed.stored("sh-item-b", "shared.txt").is_some());
    }
}

#[test]
fn report_lists_every_file_as_jsonl_and_csv() {
    let bed = Bed::with_faults(Faults {
        fail_first: 100,
        ..Faults::default()
    });
    bed.file("a.txt", b"aaa");
    let o = bed
        .cmd()
        .args([
            "upload",
            "rep-item",
            "a.txt",
            "--retries",
            "1",
            "--sleep",
            "0",
            "-q",
        ])
        .args(["--report", "out.jsonl"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = std::fs::read_to_string(bed.work.path().join("out.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["identifier"], "rep-item");
    assert_eq!(v["key"], "a.txt");
    assert_eq!(v["status"], "failed");
    assert_eq!(v["attempts"], 2);
    assert!(v["error"].as_str().unwrap().contains("InternalError"));
    assert_eq!(
        v["details_url"],
        format!("{}/details/rep-item", bed.emu.url())
    );
    bed.emu.set_faults(Faults::default());
    let o = bed
        .cmd()
        .args(["upload", "rep-item", "a.txt", "-q", "--report", "out.csv"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = std::fs::read_to_string(bed.work.path().join("out.csv")).unwrap();
    assert!(
        csv.starts_with("identifier,key,local_path,size,md5,status,attempts,error,details_url"),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("uploaded,1,,{}/details/rep-item", bed.emu.url())),
        "{csv}"
    );
    assert!(csv.contains(&md5_hex(b"aaa")));
    // A report name without a known extension is refused before anything is sent.
    let n = bed.requests().len();
    let o = bed
        .cmd()
        .args(["upload", "rep-item", "a.txt", "--report", "out.txt"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(bed.requests().len(), n);
}

#[test]
fn a_damaged_or_busy_journal_is_refused_clearly() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    bed.file("bad.sqlite", &[0x42; 4096]);
    let o = bed
        .cmd()
        .args(["upload", "jr-item", "a.txt", "--journal", "bad.sqlite"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("bad.sqlite") && e.contains("hint:"), "{e}");
    assert!(bed.requests().is_empty());
    let o = bed
        .cmd()
        .args(["status", "--journal", "bad.sqlite"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bad.sqlite"));
}

#[test]
fn status_lists_failures_with_reasons() {
    let bed = Bed::with_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    bed.file("a.txt", b"a");
    bed.cmd()
        .args([
            "upload",
            "st-item",
            "a.txt",
            "--retries",
            "0",
            "-q",
            "--journal",
            "j.sqlite",
        ])
        .assert()
        .code(1);
    let o = bed
        .cmd()
        .args(["status", "--journal", "j.sqlite"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("1 failed"), "{out}");
    assert!(
        out.contains("st-item/a.txt") && out.contains("InternalError"),
        "{out}"
    );
}

#[test]
fn rerun_with_delete_goes_on_when_the_files_are_gone() {
    // `--delete` removes what it uploaded: rerunning the same command (after a crash, or
    // just again) must not call those paths missing and refuse to run (exit 2).
    let bed = Bed::new();
    bed.file("single.txt", b"single");
    bed.file("folder/one.txt", b"one");
    bed.file("folder/two.txt", b"two");
    bed.file(
        "sheet.csv",
        b"identifier,file,title\ngone-item-a,single.txt,A\ngone-item-b,folder,B\n",
    );
    let up = || {
        bed.cmd()
            .args(["upload", "--spreadsheet", "sheet.csv", "--delete"])
            .args(["--no-progress", "--report", "out.jsonl"])
            .output()
            .unwrap()
    };
    let o = up();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!bed.path("single.txt").exists());
    assert!(!bed.path("folder/one.txt").exists() && !bed.path("folder/two.txt").exists());
    assert_eq!(bed.puts().len(), 3);

    let o = up();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 given paths are gone"),
        "{}",
        stderr(&o)
    );
    assert_eq!(bed.puts().len(), 3, "nothing is sent again");

    // A path the journal never saw uploaded is still an error, --delete or not.
    bed.file(
        "sheet.csv",
        b"identifier,file,title\ngone-item-a,single.txt,A\ngone-item-a,never.txt,A\n",
    );
    let o = up();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("never.txt"), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), 3);
    assert_eq!(
        bed.stored("gone-item-b", "folder/two.txt").unwrap().0,
        md5_hex(b"two")
    );
}

#[test]
fn the_report_of_a_rerun_gives_each_skipped_files_md5() {
    let bed = Bed::new();
    bed.file("a.txt", b"report me");
    bed.cmd()
        .args(["upload", "rs-item", "a.txt", "-q"])
        .assert()
        .code(0);
    let o = bed
        .cmd()
        .args([
            "upload",
            "rs-item",
            "a.txt",
            "-q",
            "--report",
            "again.jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(bed.path("again.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["status"], "skipped");
    assert_eq!(v["md5"], md5_hex(b"report me"));
    assert_eq!(bed.puts().len(), 1);
}

// Issue 11: two uploads at the same time on one journal (the default one) both run; they
// cooperate through per-file claims, so a file is never sent by both.
#[test]
fn two_runs_on_one_journal_both_run_and_never_send_a_file_twice() {
    let bed = Bed::with_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let files = small_sheet(&bed, 4, 3, 2000);
    bed.file("other.txt", b"other");
    let mut first = bed
        .child()
        .args(["upload", "--spreadsheet", "sheet.csv", "-q", "-j", "2"])
        .spawn()
        .unwrap();
    // Wait until the first run is sending.
    let t = std::time::Instant::now();
    while bed.puts().is_empty() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The same sheet again, and an unrelated upload, on the same (default) journal.
    let same = bed
        .cmd()
        .args([
            "upload",
            "--spreadsheet",
            "sheet.csv",
            "--no-progress",
            "-j",
            "2",
        ])
        .output()
        .unwrap();
    let other = bed
        .cmd()
        .args(["upload", "busy-item-2", "other.txt", "-q"])
        .output()
        .unwrap();
    assert!(first.wait().unwrap().success());
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    assert_eq!(other.status.code(), Some(0), "{}", stderr(&other));
    assert!(bed.stored("busy-item-2", "other.txt").is_some());
    for (id, key, md5) in &files {
        assert_eq!(
            bed.stored(id, key).map(|s| s.0).as_deref(),
            Some(md5.as_str())
        );
    }
    let per_key = puts_per_key(&bed);
    assert!(
        per_key.values().all(|&n| n == 1),
        "a file sent by both runs: {per_key:?}"
    );
    // Afterwards, a rerun sends nothing.
    let before = bed.puts().len();
    let o = bed
        .cmd()
        .args(["upload", "--spreadsheet", "sheet.csv", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), before);
}
