//! `iaup status` and the run record (issue 11): each run's command line (secrets masked),
//! directory, spreadsheet, times and counts frozen when it ended; a file cut off by Ctrl-C
//! called interrupted, not failed; progress and notes of a resumed run; plurals.

use std::time::Duration;

use ias3_emulator::Faults;

use crate::harness::*;

fn status(bed: &Bed, journal: &str) -> std::process::Output {
    bed.cmd()
        .args(["status", "--journal", journal])
        .output()
        .unwrap()
}

/// The lines of `out` from `run N:` up to the next run (or the file list).
fn run_block(out: &str, id: u32) -> String {
    let head = format!("run {id}:");
    let mut lines = out.lines().skip_while(|l| !l.starts_with(&head));
    let mut block = lines.next().unwrap_or_default().to_owned();
    for l in lines.take_while(|l| l.starts_with("  ")) {
        block.push('\n');
        block.push_str(l);
    }
    block
}

#[test]
fn status_shows_each_runs_command_directory_sheet_and_frozen_counts() {
    let bed = Bed::with_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    bed.file("files/a.txt", b"aaa");
    bed.file("files/b.txt", b"bbbb");
    bed.file(
        "sheet.csv",
        b"identifier,file,title\nst-sheet,files/a.txt,T\nst-sheet,files/b.txt,T\n",
    );
    let up = |extra: &[&str]| {
        bed.cmd()
            .args([
                "upload",
                "--spreadsheet",
                "sheet.csv",
                "-q",
                "--retries",
                "0",
            ])
            .args(["--journal", "j.sqlite"])
            .args(extra)
            .output()
            .unwrap()
    };
    // Run 1: both fail. Run 2: both uploaded. Run 3: both skipped (journal).
    assert_eq!(up(&[]).status.code(), Some(1));
    bed.emu.set_faults(Faults::default());
    let o = up(&["-m", "note:IA_SECRET_ACCESS_KEY=hunter2-not-shown"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = up(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = status(&bed, "j.sqlite");
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(!out.contains("hunter2"), "a secret is never shown: {out}");
    let work = std::fs::canonicalize(bed.work.path()).unwrap();
    let first = run_block(&out, 1);
    assert!(
        first.contains("iaup upload --spreadsheet sheet.csv -q --retries 0 --journal j.sqlite"),
        "{first}"
    );
    assert!(
        first.contains(&format!("directory: {}", work.display())),
        "{first}"
    );
    assert!(
        first.contains(&format!(
            "spreadsheet: {}",
            work.join("sheet.csv").display()
        )),
        "{first}"
    );
    assert!(
        first.contains("started ") && first.contains("ended "),
        "{first}"
    );
    // Counts as they were when run 1 ended, though run 2 uploaded the files since.
    assert!(
        first.contains("0 uploaded, 0 skipped, 2 failed"),
        "run 1 keeps its counts: {first}"
    );
    let second = run_block(&out, 2);
    assert!(second.contains("IA_SECRET_ACCESS_KEY=***"), "{second}");
    assert!(
        second.contains("2 uploaded, 0 skipped, 0 failed"),
        "{second}"
    );
    let third = run_block(&out, 3);
    assert!(third.contains("0 uploaded, 2 skipped, 0 failed"), "{third}");
}

#[test]
fn status_shows_local_paths_absolute() {
    let bed = Bed::with_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    bed.file("dir/a.txt", b"a");
    bed.cmd()
        .args(["upload", "abs-item", "dir/a.txt", "--retries", "0", "-q"])
        .args(["--journal", "j.sqlite"])
        .assert()
        .code(1);
    let out = stdout(&status(&bed, "j.sqlite"));
    let abs = std::fs::canonicalize(bed.path("dir/a.txt")).unwrap();
    assert!(
        out.contains(&format!("abs-item/a.txt ({})", abs.display())),
        "{out}"
    );
    assert!(out.contains("1 file not confirmed uploaded"), "{out}");
    assert!(out.contains("1 attempt:"), "{out}");
}

#[test]
fn status_on_a_journal_that_does_not_exist_says_so_plainly() {
    let bed = Bed::new();
    let o = status(&bed, "nowhere.sqlite");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    let abs = std::fs::canonicalize(bed.work.path())
        .unwrap()
        .join("nowhere.sqlite");
    assert!(
        e.contains(&format!(
            "no journal at {}: no upload has used it",
            abs.display()
        )),
        "{e}"
    );
    assert!(!e.contains("aside"), "nothing to move aside: {e}");
    assert!(
        !bed.path("nowhere.sqlite").exists(),
        "status creates nothing"
    );
}

/// Starts a slow upload of one 1 MB file and presses Ctrl-C twice while it is being sent.
fn interrupt_mid_send(bed: &Bed) -> std::process::Output {
    bed.file("big.bin", &content(3, 1 << 20));
    let child = bed
        .child()
        .args(["upload", "int-item", "big.bin", "--no-progress"])
        .args(["--journal", "j.sqlite", "--report", "out.jsonl"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The emulator records a PUT once answered: wait until this one is surely being sent.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(bed.puts().is_empty(), "the file must still be in flight");
    for _ in 0..2 {
        let ok = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        std::thread::sleep(Duration::from_millis(300));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_file_cut_off_by_ctrl_c_is_interrupted_not_failed() {
    let bed = Bed::with_faults(Faults {
        bandwidth: Some(64 << 10),
        ..Faults::default()
    });
    let o = interrupt_mid_send(&bed);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{e}");
    assert!(
        e.contains("0 uploaded, 0 skipped, 0 failed, 1 interrupted"),
        "{e}"
    );
    assert!(!e.contains("error:") && !e.contains("failed files"), "{e}");
    assert!(
        e.contains("interrupted files (a rerun sends them):\n  int-item/big.bin (big.bin)"),
        "{e}"
    );
    let text = std::fs::read_to_string(bed.path("out.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["status"], "interrupted", "{text}");
    assert_eq!(v["attempts"], 1, "{text}");

    let o = status(&bed, "j.sqlite");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("0 uploaded, 0 skipped, 0 failed, 1 interrupted"),
        "{out}"
    );
    assert!(
        out.contains("int-item/big.bin") && out.contains(": interrupted, 1 attempt"),
        "{out}"
    );
    assert!(
        !out.contains("failed,") || !out.contains(": failed"),
        "{out}"
    );

    // The rerun sends it (the server never got it) and the run completes.
    bed.emu.set_faults(Faults::default());
    let o = bed
        .cmd()
        .args([
            "upload",
            "int-item",
            "big.bin",
            "-q",
            "--journal",
            "j.sqlite",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        bed.stored("int-item", "big.bin").unwrap().0,
        md5_hex(&content(3, 1 << 20))
    );
}

#[test]
fn a_resumed_runs_progress_counts_what_the_journal_skipped() {
    let bed = Bed::new();
    bed.file("done.bin", &content(1, 2 << 20));
    bed.file("slow.bin", &content(2, 150_000));
    bed.cmd()
        .args(["upload", "prog-item", "done.bin", "-q"])
        .assert()
        .success();
    // Slow enough that the plain progress line (every 5 s) is printed once.
    bed.emu.set_faults(Faults {
        bandwidth: Some(20 << 10),
        ..Faults::default()
    });
    let o = bed
        .cmd()
        .args([
            "upload",
            "prog-item",
            "done.bin",
            "slow.bin",
            "--no-progress",
        ])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(
        e.contains("resuming: 1 of 2 files already uploaded (journal); sending the rest"),
        "{e}"
    );
    let line = e
        .lines()
        .find(|l| l.starts_with("progress:"))
        .unwrap_or_else(|| panic!("no progress line: {e}"));
    // 2 MiB skipped plus part of 146 KiB: MiB, not KiB, of 2.14 MiB.
    let done = line.split(", ").nth(1).unwrap();
    assert!(done.contains("MiB/2.14 MiB"), "{line}");
}

#[test]
fn nothing_left_to_send_says_so_with_plurals_right() {
    let bed = Bed::new();
    bed.file("one.txt", b"one");
    bed.file("two.txt", b"two");
    let o = bed
        .cmd()
        .args(["upload", "pl-item", "one.txt", "--no-progress"])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(
        e.contains("done: 1 item, 1 file: 1 uploaded, 0 skipped, 0 failed"),
        "{e}"
    );
    let o = bed
        .cmd()
        .args(["upload", "pl-item", "one.txt", "--no-progress"])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert!(
        e.contains("resuming: the 1 file is already uploaded (journal); nothing to send"),
        "{e}"
    );
    bed.cmd()
        .args(["upload", "pl-item-2", "one.txt", "two.txt", "-q"])
        .assert()
        .success();
    let o = bed
        .cmd()
        .args(["upload", "pl-item-2", "one.txt", "two.txt", "--no-progress"])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(
        e.contains("resuming: all 2 files already uploaded (journal); nothing to send"),
        "{e}"
    );
    assert!(
        e.contains("done: 1 item, 2 files: 0 uploaded, 2 skipped, 0 failed"),
        "{e}"
    );
    assert!(!e.contains("sending the rest"), "{e}");
}
