//! Defects from the adversarial trial (issue 10): each test failed before its fix. Stray quotes
//! in sheets, journal identity, `--checksum` against the journal, transit damage, values the
//! server would reinterpret, resends after kills, and checks that come before any byte.

use crate::harness::*;

fn run(bed: &Bed, args: &[&str]) -> std::process::Output {
    bed.cmd().args(args).output().unwrap()
}

// 1. A quote opened and never closed swallowed every later row, and the run said exit 0.
#[test]
fn a_quote_left_open_at_the_end_of_the_sheet_is_refused_naming_row_and_line() {
    let bed = Bed::new();
    for f in ["a.txt", "b.txt", "c.txt"] {
        bed.file(f, f.as_bytes());
    }
    bed.file(
        "s.csv",
        b"identifier,file,title\nq1x,a.txt,\"Title\nq2x,b.txt,x\nq3x,c.txt,y\n",
    );
    let o = run(&bed, &["upload", "--spreadsheet", "s.csv", "--no-progress"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("s.csv:2"), "names the row: {err}");
    assert!(err.contains("line 2"), "names the line of the quote: {err}");
    assert!(err.contains("never closed"), "{err}");
    assert!(bed.puts().is_empty(), "nothing sent");
}

// 1. A closed quote that still swallowed lines shaped like rows of the sheet.
#[test]
fn a_cell_that_swallowed_rows_is_refused_unless_accepted() {
    let bed = Bed::new();
    for f in ["a.txt", "b.txt", "c.txt", "d.txt"] {
        bed.file(f, f.as_bytes());
    }
    bed.file(
        "s.csv",
        b"identifier,file,title\nq1x,a.txt,\"Title\nq2x,b.txt,x\nq3x,c.txt,y\"\nq4x,d.txt,z\n",
    );
    let o = run(&bed, &["upload", "--spreadsheet", "s.csv", "--no-progress"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("s.csv:2"), "{err}");
    assert!(err.contains("column `title`"), "{err}");
    assert!(err.contains("look like rows"), "{err}");
    assert!(
        err.contains("--allow-multiline-rows"),
        "names the flag: {err}"
    );
    assert!(bed.puts().is_empty());
    // Where it is meant, the flag accepts it: the title keeps its lines.
    let o = run(
        &bed,
        &[
            "upload",
            "--spreadsheet",
            "s.csv",
            "-q",
            "--allow-multiline-rows",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), 2);
    // A plain multi-line description (no row-shaped lines) needs no flag.
    bed.file(
        "ok.csv",
        "identifier,file,description\nq5x,a.txt,\"first line\nsecond, with a comma\nthird\"\n"
            .as_bytes(),
    );
    let o = run(&bed, &["upload", "--spreadsheet", "ok.csv", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

// Issue 11: a problem in a row after a multi-line cell names both the text line and the row.
#[test]
fn positions_name_line_and_row_after_a_multiline_cell() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    bed.file(
        "s.csv",
        b"identifier,file,description\nq1x,a.txt,\"l1\nl2\nl3\"\nq2x,missing.txt,x\n",
    );
    let o = run(&bed, &["upload", "--spreadsheet", "s.csv", "--no-progress"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("s.csv:5 (row 3)"), "{}", stderr(&o));
}

// Issue 11: `;` and tab separated sheets (European Excel, Google Sheets TSV).
#[test]
fn semicolon_and_tab_sheets_are_recognised() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    bed.file("b.txt", b"b");
    bed.file(
        "semi.csv",
        "identifier;file;title\nsemi-item;a.txt;Заголовок, с запятой\n".as_bytes(),
    );
    bed.file(
        "tab.tsv",
        b"identifier\tfile\ttitle\ntab-item\tb.txt\tT, x\n",
    );
    for sheet in ["semi.csv", "tab.tsv"] {
        let o = run(&bed, &["upload", "--spreadsheet", sheet, "--no-progress"]);
        assert_eq!(o.status.code(), Some(0), "{sheet}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("separated by"),
            "a note: {}",
            stderr(&o)
        );
    }
    assert!(bed.stored("semi-item", "a.txt").is_some());
    assert!(bed.stored("tab-item", "b.txt").is_some());
    let md = bed.emu.item("semi-item").unwrap().metadata;
    assert_eq!(md["title"], "Заголовок, с запятой");
}

// Issue 11: a relative path missing here but present beside the sheet gets that hint.
#[test]
fn a_path_relative_to_the_sheets_folder_gets_a_hint() {
    let bed = Bed::new();
    bed.file("batch/a.txt", b"a");
    bed.file("batch/s.csv", b"identifier,file\nbeside-item,a.txt\n");
    let o = run(
        &bed,
        &["upload", "--spreadsheet", "batch/s.csv", "--no-progress"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("relative to the spreadsheet's folder"),
        "{}",
        stderr(&o)
    );
}

// 5. A value that begins with `uri(` was decoded by the server: `uri(A%42C)` stored as `ABC`,
// and an encoded CR/LF became a real one.
#[test]
fn a_literal_uri_value_is_stored_as_written() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    let o = run(
        &bed,
        &[
            "upload",
            "uri-item",
            "a.txt",
            "-q",
            "-m",
            "title:uri(A%42C)",
            "-m",
            "subject:uri(%0D%0Ax-injected:%201)",
            "-m",
            "creator:URI(x%41)",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = bed.emu.item("uri-item").unwrap().metadata;
    assert_eq!(md["title"], "uri(A%42C)");
    assert_eq!(md["subject"], "uri(%0D%0Ax-injected:%201)");
    assert_eq!(md["creator"], "URI(x%41)");
}

// 15. These failed every PUT (exit 1) instead of exit 2 before sending.
#[test]
fn oversized_headers_and_keys_are_refused_before_sending() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    // 10,000 metadata columns.
    let mut header = String::from("identifier,file");
    let mut row = String::from("wide-item,a.txt");
    for i in 0..10_000 {
        header.push_str(&format!(",field{i}"));
        row.push_str(&format!(",value{i}"));
    }
    bed.file("wide.csv", format!("{header}\n{row}\n").as_bytes());
    // One huge cell.
    let big = "x".repeat(100_000);
    bed.file(
        "big.csv",
        format!("identifier,file,description\nbig-item,a.txt,{big}\n").as_bytes(),
    );
    // A 2,000-character remote name.
    let long = format!("{}.txt", "n".repeat(2000));
    bed.file(
        "long.csv",
        format!("identifier,file,REMOTE_NAME\nlong-item,a.txt,{long}\n").as_bytes(),
    );
    for (sheet, want) in [
        ("wide.csv", "headers of item `wide-item`"),
        ("big.csv", "`description`"),
        ("long.csv", "1024"),
    ] {
        let o = run(&bed, &["upload", "--spreadsheet", sheet, "--no-progress"]);
        assert_eq!(o.status.code(), Some(2), "{sheet}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{sheet}: {}", stderr(&o));
    }
    let o = run(
        &bed,
        &["upload", "long-item", "a.txt", "--remote-name", &long, "-q"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    for h in [
        "content-length:3",
        "transfer-encoding:chunked",
        "host:evil.example",
        "x-archive-queue-derive:1",
    ] {
        let o = run(&bed, &["upload", "hdr-item", "a.txt", "-q", "-H", h]);
        assert_eq!(o.status.code(), Some(2), "{h}: {}", stderr(&o));
        assert!(stderr(&o).contains("iaup sets"), "{h}: {}", stderr(&o));
    }
    let o = run(
        &bed,
        &["metadata", "hdr-item", "-t", "evil", "-m", "title:x"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--target"), "{}", stderr(&o));
    assert!(bed.puts().is_empty(), "nothing sent");
    assert!(bed
        .requests()
        .iter()
        .all(|r| r.method != "POST" || !r.path.contains("/metadata/")));
}

// 16. A report that cannot be written was said at the end, with exit 0.
#[test]
fn a_report_that_cannot_be_written_is_refused_before_sending() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    let o = run(
        &bed,
        &[
            "upload",
            "rep-item",
            "a.txt",
            "-q",
            "--report",
            "/nonexistent/dir/r.jsonl",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent/dir/r.jsonl"),
        "{}",
        stderr(&o)
    );
    assert!(bed.puts().is_empty());
}

// 16. A report that fails to be written at the end makes the exit code 1.
#[cfg(target_os = "linux")]
#[test]
fn a_report_write_failure_at_the_end_exits_1() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    // /dev/full opens fine and fails every write with ENOSPC: a disk that filled up mid-run.
    std::os::unix::fs::symlink("/dev/full", bed.path("r.jsonl")).unwrap();
    let o = run(
        &bed,
        &["upload", "rep-full", "a.txt", "-q", "--report", "r.jsonl"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("r.jsonl"), "{}", stderr(&o));
    assert!(bed.stored("rep-full", "a.txt").is_some());
}

fn set_mtime(bed: &Bed, rel: &str, secs: u64) {
    let f = std::fs::File::options()
        .write(true)
        .open(bed.path(rel))
        .unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap();
}

// 2. The journal skipped by (endpoint, id, key, size, mtime) only: two files of the same size and
// mtime mapped to each other's names, then the sheet fixed, and the rerun skipped both.
#[test]
fn a_different_source_for_the_same_key_is_a_change() {
    let bed = Bed::new();
    bed.file("a.txt", b"AAAA");
    bed.file("b.txt", b"BBBB");
    set_mtime(&bed, "a.txt", 1_600_000_000);
    set_mtime(&bed, "b.txt", 1_600_000_000);
    bed.file(
        "swapped.csv",
        b"identifier,file,REMOTE_NAME\nswap-item,a.txt,b.txt\n,b.txt,a.txt\n",
    );
    bed.file("fixed.csv", b"identifier,file\nswap-item,a.txt\n,b.txt\n");
    let journal = bed.path("j.sqlite");
    let up = |sheet: &str| {
        bed.cmd()
            .args(["upload", "--spreadsheet", sheet, "-q", "--journal"])
            .arg(&journal)
            .output()
            .unwrap()
    };
    assert_eq!(up("swapped.csv").status.code(), Some(0));
    assert_eq!(
        bed.stored("swap-item", "a.txt").unwrap().0,
        md5_hex(b"BBBB")
    );
    let o = up("fixed.csv");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        bed.stored("swap-item", "a.txt").unwrap().0,
        md5_hex(b"AAAA")
    );
    assert_eq!(
        bed.stored("swap-item", "b.txt").unwrap().0,
        md5_hex(b"BBBB")
    );
    assert_eq!(bed.puts().len(), 4);
    // The same sources again: nothing is sent.
    assert_eq!(up("fixed.csv").status.code(), Some(0));
    assert_eq!(bed.puts().len(), 4);
    // A file replaced by another with the same size and mtime is a change too.
    std::fs::remove_file(bed.path("a.txt")).unwrap();
    bed.file("a.txt", b"CCCC");
    set_mtime(&bed, "a.txt", 1_600_000_000);
    assert_eq!(up("fixed.csv").status.code(), Some(0));
    assert_eq!(
        bed.stored("swap-item", "a.txt").unwrap().0,
        md5_hex(b"CCCC")
    );
}

// 3. With --checksum, the server's file list decides, never the journal alone.
#[test]
fn checksum_is_not_bypassed_by_the_journal() {
    let bed = Bed::new();
    bed.file("a.txt", b"first");
    bed.file("b.txt", b"second");
    let journal = bed.path("j.sqlite");
    let up = |extra: &[&str]| {
        bed.cmd()
            .args([
                "upload",
                "ck-item",
                "a.txt",
                "b.txt",
                "--no-progress",
                "--journal",
            ])
            .arg(&journal)
            .args(extra)
            .output()
            .unwrap()
    };
    assert_eq!(up(&[]).status.code(), Some(0));
    let o = run(&bed, &["delete", "ck-item", "a.txt", "b.txt", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(bed.stored("ck-item", "a.txt").is_none());
    let o = up(&["--checksum"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 uploaded"), "{}", stderr(&o));
    assert!(bed.stored("ck-item", "a.txt").is_some());
    assert!(bed.stored("ck-item", "b.txt").is_some());
}

// 9. Two runs of one sheet through two names of one journal (a link): 125 files were uploaded
// twice. The journal is opened by its real path: the runs share it and claim each file.
#[cfg(unix)]
#[test]
fn a_symlinked_journal_path_is_the_same_journal() {
    let bed = Bed::with_faults(ias3_emulator::Faults {
        latency: std::time::Duration::from_millis(100),
        ..Default::default()
    });
    let mut sheet = String::from("identifier,file\n");
    for i in 0..12 {
        bed.file(&format!("f{i}.bin"), &content(i as u8, 3000));
        sheet.push_str(&format!("link-item-{},f{i}.bin\n", i % 4));
    }
    bed.file("s.csv", sheet.as_bytes());
    let journal = bed.path("j.sqlite");
    let link = bed.path("link.sqlite");
    std::os::unix::fs::symlink(&journal, &link).unwrap();
    let mut first = bed
        .child()
        .args([
            "upload",
            "--spreadsheet",
            "s.csv",
            "-q",
            "-j",
            "2",
            "--journal",
        ])
        .arg(&journal)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while bed.puts().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = bed
        .cmd()
        .args([
            "upload",
            "--spreadsheet",
            "s.csv",
            "-q",
            "-j",
            "2",
            "--journal",
        ])
        .arg(&link)
        .output()
        .unwrap();
    assert!(first.wait().unwrap().success());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut per_key = std::collections::HashMap::new();
    for r in bed.puts() {
        *per_key.entry(r.path).or_insert(0) += 1;
    }
    assert_eq!(per_key.len(), 12);
    assert!(per_key.values().all(|&n| n == 1), "{per_key:?}");
}

// 12. A spreadsheet could upload the config file (and so the secret) to a public item.
#[cfg(unix)]
#[test]
fn the_config_file_and_the_journal_are_never_uploaded() {
    let bed = Bed::new();
    bed.write_config(ACCESS, SECRET);
    bed.file("ok.txt", b"fine");
    std::os::unix::fs::symlink(bed.config_path(), bed.path("innocent.txt")).unwrap();
    std::fs::create_dir(bed.path("cfgdir")).unwrap();
    std::os::unix::fs::symlink(
        bed.config_path().parent().unwrap(),
        bed.path("cfgdir/linked"),
    )
    .unwrap();
    let journal = bed.path("j.sqlite");
    // A journal exists once a run used it.
    assert_eq!(
        bed.cmd()
            .args(["upload", "leak-item", "ok.txt", "-q", "--journal"])
            .arg(&journal)
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    let puts = bed.puts().len();
    let config = bed.config_path().display().to_string();
    bed.file(
        "s.csv",
        format!("identifier,file\nleak-item,{config}\n,innocent.txt\n,cfgdir\n,j.sqlite\n")
            .as_bytes(),
    );
    let o = bed
        .cmd()
        .args([
            "upload",
            "--spreadsheet",
            "s.csv",
            "--no-progress",
            "--journal",
        ])
        .arg(&journal)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    for row in ["s.csv:2", "s.csv:3", "s.csv:4", "s.csv:5"] {
        assert!(err.contains(row), "{row}: {err}");
    }
    assert!(err.contains("secret"), "{err}");
    assert_eq!(bed.puts().len(), puts, "nothing sent");
    // IA_CONFIG_FILE names another file: it is refused too.
    bed.file("other.ini", b"[s3]\naccess = x\nsecret = y\n");
    let o = bed
        .bare()
        .env("IA_CONFIG_FILE", bed.path("other.ini"))
        .env("IA_ACCESS_KEY_ID", ACCESS)
        .env("IA_SECRET_ACCESS_KEY", SECRET)
        .args(["upload", "leak-item", "other.ini", "-q", "--no-journal"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), puts);
}

// 17. After a run died (kill -9, or a full disk), `status` showed it as "(running)".
#[test]
fn status_does_not_call_a_dead_run_running() {
    let bed = Bed::with_faults(ias3_emulator::Faults {
        bandwidth: Some(64 << 10),
        ..Default::default()
    });
    bed.file("big.bin", &content(4, 400_000));
    let journal = bed.path("j.sqlite");
    let mut run1 = bed
        .child()
        .args(["upload", "dead-item", "big.bin", "-q", "--journal"])
        .arg(&journal)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !bed.requests().iter().any(|r| r.method == "GET") && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = || {
        bed.cmd()
            .args(["status", "--journal"])
            .arg(&journal)
            .output()
            .unwrap()
    };
    assert!(
        stdout(&status()).contains("(running)"),
        "alive: {}",
        stdout(&status())
    );
    run1.kill().unwrap();
    run1.wait().unwrap();
    let o = status();
    assert!(!stdout(&o).contains("(running)"), "{}", stdout(&o));
    assert!(stdout(&o).contains("killed"), "{}", stdout(&o));
}

// A CRLF (Excel) sheet gave every row a line one less than its own (review finding).
#[test]
fn crlf_sheets_name_rows_without_a_wrong_line() {
    let bed = Bed::new();
    bed.file("s.csv", b"identifier,file\r\nbad id,x.txt\r\n");
    let o = run(&bed, &["upload", "--spreadsheet", "s.csv", "--no-progress"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("s.csv:2: "), "{}", stderr(&o));
    assert!(!stderr(&o).contains("(row 2)"), "{}", stderr(&o));
}

// 12 (review finding): `-c` after the command is --checksum, as in `ia`, so
// `upload ID a.jpg -c other.ini` made other.ini a file to upload, secret and all.
#[test]
fn any_ia_ini_with_a_secret_is_never_uploaded() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    bed.file(
        "staging.ini",
        b"[s3]\naccess = x\nsecret = s3cr3t-staging\n",
    );
    bed.file("plain.ini", b"[general]\nname = fine\n");
    let o = run(
        &bed,
        &["upload", "ini-item", "a.txt", "-c", "staging.ini", "-q"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("staging.ini"), "{}", stderr(&o));
    assert!(bed.puts().is_empty());
    let o = run(&bed, &["upload", "ini-item", "a.txt", "plain.ini", "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
