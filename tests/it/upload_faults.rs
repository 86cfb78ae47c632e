//! `iaup upload` against every fault the emulator injects: each is survived with every file
//! intact, and the number of requests shows the retries really happened (and no more).

use std::time::{Duration, Instant};

use ias3_emulator::{Faults, SlowDownKind};

use crate::harness::*;

/// Builds a sheet of `items` x `files` small files; returns (id, key, md5) for each.
fn sheet(bed: &Bed, items: usize, files: usize, size: usize) -> Vec<(String, String, String)> {
    let mut csv = String::from("identifier,file,title\n");
    let mut out = Vec::new();
    for i in 0..items {
        for j in 0..files {
            let data = content((i * 7 + j) as u8, size + i + j);
            let rel = format!("data/{i}-{j}.bin");
            bed.file(&rel, &data);
            let id = format!("fault-item-{i:02}");
            csv.push_str(&format!("{id},{rel},Fault test {i}\n"));
            out.push((id, format!("{i}-{j}.bin"), md5_hex(&data)));
        }
    }
    bed.file("sheet.csv", csv.as_bytes());
    out
}

fn upload(bed: &Bed, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["upload", "--spreadsheet", "sheet.csv", "--no-progress"];
    if !extra.contains(&"--sleep") {
        args.extend(["--sleep", "0.05"]);
    }
    bed.cmd().args(args).args(extra).output().unwrap()
}

fn assert_all_intact(bed: &Bed, files: &[(String, String, String)]) {
    for (id, key, md5) in files {
        assert_eq!(
            bed.stored(id, key).map(|s| s.0).as_deref(),
            Some(md5.as_str()),
            "{id}/{key} missing or corrupt"
        );
    }
}

fn count_status(bed: &Bed, status: u16) -> usize {
    bed.puts().iter().filter(|r| r.status == status).count()
}

#[test]
fn overload_slowdown_is_retried_and_every_file_lands() {
    let bed = Bed::with_faults(Faults {
        slowdown_rate: 0.3,
        ..Faults::default()
    });
    let files = sheet(&bed, 6, 3, 2000);
    let o = upload(&bed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    let slow = count_status(&bed, 503);
    assert!(slow > 0, "the fault must have fired");
    assert_eq!(
        bed.puts().len(),
        files.len() + slow,
        "one retry per SlowDown"
    );
    assert!(
        stderr(&o).contains(&format!("({slow} SlowDown)")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn sustained_overload_lowers_the_run_concurrency_and_every_file_still_lands() {
    // More than half the answers are SlowDown: the run halves its PUTs in flight (AIMD) rather
    // than keep hammering, and still gets every file in.
    let bed = Bed::with_faults(Faults {
        slowdown_rate: 0.6,
        ..Faults::default()
    });
    let files = sheet(&bed, 8, 3, 500);
    let o = upload(&bed, &["--jobs", "4", "--retries", "30", "--sleep", "0.01"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    assert!(
        stderr(&o).contains("SlowDown: lowering concurrency to 2"),
        "{}",
        stderr(&o)
    );
    assert_eq!(bed.puts().len(), files.len() + count_status(&bed, 503));
}

#[test]
fn retry_after_is_honoured() {
    let bed = Bed::with_faults(Faults {
        fail_first: 0,
        slowdown_rate: 1.0,
        retry_after: Some(1),
        ..Faults::default()
    });
    let files = sheet(&bed, 1, 1, 100);
    let emu = &bed.emu;
    // Clear the fault after the first SlowDown PUT (not the first request: that is the
    // preflight whoami) so the retry can succeed.
    let slowed = || {
        emu.requests()
            .iter()
            .any(|r| r.method == "PUT" && r.status == 503)
    };
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let t = Instant::now();
            while !slowed() && t.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(10));
            }
            emu.set_faults(Faults::default());
        });
        let o = upload(&bed, &["--sleep", "0"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    });
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "--sleep 0 still waits Retry-After: 1"
    );
    assert!(slowed(), "the SlowDown must have been answered");
    assert_eq!(bed.puts().len(), files.len() + 1, "one SlowDown, one retry");
    assert_all_intact(&bed, &files);
}

#[test]
fn connection_resets_mid_body_are_retried() {
    let bed = Bed::with_faults(Faults {
        reset_rate: 0.3,
        ..Faults::default()
    });
    let files = sheet(&bed, 4, 3, 300_000);
    let o = upload(&bed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    let resets = bed.puts().iter().filter(|r| r.status == 0).count();
    assert!(resets > 0, "the fault must have fired");
    assert_eq!(bed.puts().len(), files.len() + resets);
}

#[test]
fn internal_errors_are_retried_after_checking_whether_the_file_landed() {
    let bed = Bed::with_faults(Faults {
        error_rate: 0.3,
        ..Faults::default()
    });
    let files = sheet(&bed, 4, 3, 1000);
    let o = upload(&bed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    let errors = count_status(&bed, 500);
    assert!(errors > 0);
    assert_eq!(bed.puts().len(), files.len() + errors);
    let heads = bed.requests().iter().filter(|r| r.method == "HEAD").count();
    assert_eq!(heads, errors, "a HEAD before each resend after a 5xx");
}

#[test]
fn fail_first_n_costs_exactly_n_retries_per_file() {
    let bed = Bed::with_faults(Faults {
        fail_first: 2,
        ..Faults::default()
    });
    let files = sheet(&bed, 2, 2, 500);
    let o = upload(&bed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    assert_eq!(bed.puts().len(), files.len() * 3);
}

#[test]
fn exhausted_budget_fails_the_file_names_it_and_exits_1() {
    let bed = Bed::with_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let files = sheet(&bed, 2, 1, 100);
    let o = upload(&bed, &["--retries", "2"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(bed.puts().len(), files.len() * 3);
    let e = stderr(&o);
    for (id, key, _) in &files {
        assert!(e.contains(&format!("{id}/{key}")), "{e}");
    }
    assert!(
        e.contains("InternalError") && e.contains("gave up after 3 attempts"),
        "{e}"
    );
    assert!(e.contains("2 failed"), "{e}");
}

#[test]
fn a_stalled_transfer_is_aborted_and_retried() {
    let bed = Bed::with_faults(Faults {
        stall: Some(Duration::from_secs(20)),
        stall_rate: 1.0,
        ..Faults::default()
    });
    // Big enough that the kernel's socket buffers cannot hide the stall.
    let files = sheet(&bed, 1, 1, 32 << 20);
    let start = Instant::now();
    let o = upload(&bed, &["--stall-timeout", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "did not wait out the stall"
    );
    assert_all_intact(&bed, &files);
    assert!(stderr(&o).contains("stalled"), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 retry"), "{}", stderr(&o));
}

#[test]
fn global_limit_pauses_the_run_and_polls_check_limit() {
    let bed = Bed::with_faults(Faults {
        slowdown_rate: 0.25,
        slowdown_kind: SlowDownKind::GlobalLimit,
        global_limit_ms: 300,
        ..Faults::default()
    });
    let files = sheet(&bed, 4, 2, 500);
    let o = upload(&bed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    let polls = bed
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("check_limit=1"))
        .count();
    assert!(count_status(&bed, 503) > 0);
    assert_eq!(
        bed.puts().len(),
        files.len() + count_status(&bed, 503),
        "each SlowDown costs exactly one more PUT"
    );
    assert!(polls > 0, "the run polled check_limit");
    assert!(stderr(&o).contains("global task queue"), "{}", stderr(&o));
}

#[test]
fn spam_fails_the_item_at_once_and_other_items_continue() {
    let bed = Bed::with_faults(Faults {
        slowdown_rate: 0.5,
        slowdown_kind: SlowDownKind::Spam,
        ..Faults::default()
    });
    let files = sheet(&bed, 6, 3, 100);
    let o = upload(&bed, &["--jobs", "2"]);
    let e = stderr(&o);
    let puts = bed.puts();
    let spammed: Vec<String> = puts
        .iter()
        .filter(|r| r.status == 503)
        .map(|r| r.path.split('/').nth(1).unwrap().to_owned())
        .collect();
    assert!(!spammed.is_empty(), "the fault must have fired");
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("spam"), "{e}");
    for id in &spammed {
        // No retry and no further file of that item after the spam answer.
        let after: Vec<_> = puts
            .iter()
            .skip_while(|r| !(r.status == 503 && r.path.starts_with(&format!("/{id}/"))))
            .skip(1)
            .filter(|r| r.path.starts_with(&format!("/{id}/")))
            .collect();
        assert!(after.is_empty(), "{id} got more PUTs after spam: {after:?}");
    }
    for (id, key, md5) in &files {
        if !spammed.contains(id) {
            assert_eq!(
                bed.stored(id, key).map(|s| s.0).as_deref(),
                Some(md5.as_str())
            );
        }
    }
}

#[test]
fn latency_and_connection_delay_are_survived() {
    let bed = Bed::with_faults(Faults {
        latency: Duration::from_millis(50),
        connect_delay: Duration::from_millis(100),
        ..Faults::default()
    });
    let files = sheet(&bed, 3, 3, 1000);
    let o = upload(&bed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    assert_eq!(bed.puts().len(), files.len());
}

#[test]
fn ctrl_c_stops_new_files_prints_the_summary_and_exits_130() {
    let bed = Bed::with_faults(Faults {
        bandwidth: Some(256 << 10),
        ..Faults::default()
    });
    let files = sheet(&bed, 4, 3, 200_000);
    bed.write_config(ACCESS, SECRET);
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("iaup"))
        .env_clear()
        .env("HOME", bed.home.path())
        .env("IAUP_S3_URL", bed.emu.url())
        .env("IAUP_ARCHIVE_URL", bed.emu.url())
        .current_dir(bed.work.path())
        .args([
            "upload",
            "--spreadsheet",
            "sheet.csv",
            "--no-progress",
            "--jobs",
            "2",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{e}");
    assert!(e.contains("interrupted"), "{e}");
    assert!(e.contains("not started"), "{e}");
    // What was in flight finished (grace period); nothing new started after the signal.
    assert!(bed.puts().len() < files.len(), "{} PUTs", bed.puts().len());
    for r in bed.puts() {
        assert_eq!(
            r.status, 200,
            "in-flight files were allowed to finish: {r:?}"
        );
    }
}

// IAS3 redirects PUTs (307) far more often than Amazon; iaup resends the body there, keys
// included, because the target is the same host (or an archive.org host).
#[test]
fn temporary_redirects_are_followed_with_the_body_resent() {
    let bed = Bed::with_faults(Faults {
        redirect_rate: 0.5,
        ..Faults::default()
    });
    let files = sheet(&bed, 3, 3, 5000);
    let o = upload(&bed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    let redirects = count_status(&bed, 307);
    assert!(redirects > 0, "the fault must have fired");
    assert_eq!(bed.puts().len(), files.len() + redirects);
    assert_eq!(
        bed.puts()
            .iter()
            .filter(|r| r.path.ends_with("?redirected=1"))
            .count(),
        redirects
    );
}

#[test]
fn bytes_damaged_in_transit_are_caught_by_the_etag_and_sent_again() {
    // The server answers 200 for damaged bytes: only comparing its ETag with the MD5 computed
    // while streaming shows the file is wrong. Such a file is retried, never reported uploaded.
    let bed = Bed::with_faults(Faults {
        corrupt_rate: 0.4,
        ..Faults::default()
    });
    let files = sheet(&bed, 4, 3, 2000);
    let o = upload(&bed, &["--report", "r.jsonl"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    let damaged = bed
        .puts()
        .iter()
        .filter(|r| r.fault.as_deref() == Some("corrupt"))
        .count();
    assert!(damaged > 0, "the fault must have fired");
    assert_eq!(
        bed.puts().len(),
        files.len() + damaged,
        "one resend per damage"
    );
    assert!(stderr(&o).contains("does not match"), "{}", stderr(&o));
    let report = std::fs::read_to_string(bed.path("r.jsonl")).unwrap();
    for line in report.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = v["key"].as_str().unwrap();
        let (_, _, md5) = files.iter().find(|(_, k, _)| k == key).unwrap();
        assert_eq!(v["md5"], md5.as_str(), "the report gives the true MD5");
    }
}

#[test]
fn status_check_asks_check_limit_once_per_item_before_its_first_put() {
    let bed = Bed::new();
    let files = sheet(&bed, 3, 2, 100);
    let o = upload(&bed, &["--status-check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    let reqs = bed.requests();
    for i in 0..3 {
        let id = format!("fault-item-{i:02}");
        let check = reqs
            .iter()
            .position(|r| r.path.contains("check_limit=1") && r.path.contains(&id))
            .unwrap_or_else(|| panic!("no check_limit for {id}: {reqs:?}"));
        let first_put = reqs
            .iter()
            .position(|r| r.method == "PUT" && r.path.starts_with(&format!("/{id}/")))
            .unwrap();
        assert!(check < first_put, "{id}: check_limit after its first PUT");
    }
    let checks = reqs
        .iter()
        .filter(|r| r.path.contains("check_limit=1"))
        .count();
    assert_eq!(checks, 3, "one check per item, none per file");
}

#[test]
fn a_lost_answer_is_checked_with_head_and_the_file_is_not_sent_again() {
    // Every byte went out and the server stored the file, but its answer never came (as when a
    // big PUT's answer times out). Resending would waste the upload: iaup asks first.
    let bed = Bed::with_faults(Faults {
        lose_answer_rate: 0.4,
        ..Faults::default()
    });
    let files = sheet(&bed, 4, 3, 3000);
    let o = upload(&bed, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    let lost = bed
        .puts()
        .iter()
        .filter(|r| r.fault.as_deref() == Some("lose-answer"))
        .count();
    assert!(lost > 0, "the fault must have fired");
    assert_eq!(bed.puts().len(), files.len(), "no file is sent twice");
    let heads = bed.requests().iter().filter(|r| r.method == "HEAD").count();
    assert_eq!(heads, lost, "one HEAD per lost answer");
    assert!(stderr(&o).contains("the answer was lost"), "{}", stderr(&o));
}

// Issue 10.4: with --verify, damage in transit is answered `400 BadDigest`: the same damage the
// ETag check catches without it, so it is retried, never a permanent failure.
#[test]
fn bad_digest_from_transit_damage_is_retried() {
    let bed = Bed::with_faults(Faults {
        corrupt_rate: 0.4,
        ..Faults::default()
    });
    let files = sheet(&bed, 4, 3, 2000);
    let o = upload(&bed, &["--verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_all_intact(&bed, &files);
    assert!(count_status(&bed, 400) > 0, "the fault must have fired");
}

// Issue 10.6: when retries run out after the server stored damaged bytes, the summary says the
// server holds them under that name, and what to do.
#[test]
fn a_damaged_copy_left_on_the_server_is_named_with_the_fix() {
    let bed = Bed::with_faults(Faults {
        corrupt_rate: 1.0,
        ..Faults::default()
    });
    sheet(&bed, 1, 1, 100);
    let o = upload(&bed, &["--retries", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("damaged copy"), "{err}");
    assert!(err.contains("fault-item-00/0-0.bin"), "{err}");
    assert!(err.contains("iaup delete"), "{err}");
}

// Issue 10.18: the summary counted only SlowDowns that led to a retry ("0 SlowDown" after a spam
// run); every SlowDown answer counts, whatever its kind.
#[test]
fn every_kind_of_slowdown_is_counted_in_the_summary() {
    let bed = Bed::with_faults(Faults {
        slowdown_rate: 1.0,
        slowdown_kind: ias3_emulator::SlowDownKind::Spam,
        ..Faults::default()
    });
    sheet(&bed, 2, 1, 100);
    let o = upload(&bed, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let slowdowns = count_status(&bed, 503);
    assert!(slowdowns >= 2);
    assert!(
        stderr(&o).contains(&format!("({slowdowns} SlowDown)")),
        "{}",
        stderr(&o)
    );
}

// Issue 10.8: an attempt abandoned after --timeout, whose body had all been sent, landed later
// on top of its resend. The server is given time to store it: HEAD is polled before resending.
#[test]
fn an_abandoned_attempt_that_lands_late_is_not_sent_again() {
    let bed = Bed::with_faults(Faults {
        stall: Some(std::time::Duration::from_secs(3)),
        ..Faults::default()
    });
    bed.file("small1.bin", &content(9, 20_000));
    let o = bed
        .cmd()
        .args([
            "upload",
            "stall-item",
            "small1.bin",
            "--no-progress",
            "--timeout",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Let the stalled attempt finish if it is still on the server's side.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let stored: Vec<_> = bed.puts().into_iter().filter(|r| r.status == 200).collect();
    assert_eq!(stored.len(), 1, "stored once: {:?}", bed.puts());
    assert_eq!(
        bed.stored("stall-item", "small1.bin").unwrap().0,
        md5_hex(&content(9, 20_000))
    );
}
