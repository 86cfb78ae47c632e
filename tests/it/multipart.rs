//! Multipart uploads of big files against the emulator: parts and their MD5s, the create call's
//! metadata, kill -9 half-way then resume (bytes sent stay under 1.5x the file), SlowDown on
//! parts and on Complete, a new item whose bucket appears late, a file changed between runs,
//! `--abort-stale` and `iaup status`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use ias3_emulator::{Faults, RequestRecord};

use crate::harness::*;

const MIB: u64 = 1 << 20;

/// Writes `size` bytes of a pattern that differs per `seed` and per MiB; returns the MD5.
fn big_file(path: &Path, size: u64, seed: u8) -> String {
    use md5::Digest;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut h = md5::Md5::new();
    let mut left = size;
    let mut block = 0u64;
    while left > 0 {
        let n = left.min(MIB) as usize;
        let chunk: Vec<u8> = (0..n)
            .map(|i| (i as u64 * 31 + block * 7 + seed as u64) as u8)
            .collect();
        f.write_all(&chunk).unwrap();
        h.update(&chunk);
        left -= n as u64;
        block += 1;
    }
    f.flush().unwrap();
    hex::encode(h.finalize())
}

fn is_part(r: &RequestRecord) -> bool {
    r.method == "PUT" && r.path.contains("partNumber=")
}

fn is_create(r: &RequestRecord) -> bool {
    r.method == "POST" && r.path.ends_with("?uploads")
}

fn is_complete(r: &RequestRecord) -> bool {
    r.method == "POST" && r.path.contains("uploadId=")
}

/// Part body bytes the emulator read.
fn part_bytes(bed: &Bed) -> u64 {
    bed.requests()
        .iter()
        .filter(|r| is_part(r))
        .map(|r| r.body_size)
        .sum()
}

fn upload_big(bed: &Bed, id: &str, file: &str, extra: &[&str]) -> std::process::Output {
    bed.cmd()
        .args([
            "upload",
            id,
            file,
            "--no-progress",
            "--retries",
            "8",
            "--sleep",
            "0.05",
        ])
        .args(["--multipart-threshold", "8MiB", "--part-size", "4MiB"])
        .args(["-m", "title:Big one", "--journal", "j.sqlite"])
        .args(extra)
        .output()
        .unwrap()
}

/// `iaup status` of the tests' journal.
fn status(bed: &Bed) -> std::process::Output {
    bed.cmd()
        .args(["status", "--journal", "j.sqlite"])
        .output()
        .unwrap()
}

fn small_parts_bed(faults: Faults) -> Bed {
    Bed::with_config(faults, |c| c.min_part_size = MIB)
}

#[test]
fn a_1gib_file_goes_in_parts_and_is_stored_with_its_md5() {
    let bed = small_parts_bed(Faults::default());
    let md5 = big_file(&bed.path("big.iso"), 1 << 30, 1);
    let o = bed
        .cmd()
        .args(["upload", "mp-item", "big.iso", "--no-progress"])
        .args(["--multipart-threshold", "256MiB", "--part-size", "128MiB"])
        .args(["-m", "title:Big one", "--journal", "j.sqlite"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.stored("mp-item", "big.iso"), Some((md5, 1 << 30)));
    let reqs = bed.requests();
    let creates: Vec<_> = reqs.iter().filter(|r| is_create(r)).collect();
    assert_eq!(creates.len(), 1);
    // The item's metadata and the upload's flags go on the create call.
    assert_eq!(
        header(creates[0], "x-archive-meta00-title"),
        Some("uri(Big%20one)")
    );
    assert_eq!(header(creates[0], "x-archive-queue-derive"), Some("1"));
    assert_eq!(
        header(creates[0], "x-archive-size-hint"),
        Some("1073741824")
    );
    assert_eq!(reqs.iter().filter(|r| is_part(r)).count(), 8);
    assert_eq!(part_bytes(&bed), 1 << 30, "every byte sent once");
    assert_eq!(reqs.iter().filter(|r| is_complete(r)).count(), 1);
    assert!(
        !reqs
            .iter()
            .any(|r| r.method == "PUT" && r.path == "/mp-item/big.iso"),
        "no whole-file PUT"
    );
    // The item got the metadata; nothing is left unfinished.
    let item = bed.emu.item("mp-item").unwrap();
    assert_eq!(item.metadata["title"], "Big one");
    let s = status(&bed);
    assert!(!stdout(&s).contains("not completed"), "{}", stdout(&s));
}

#[test]
fn kill_9_half_way_then_resume_sends_under_1_5x_the_file() {
    let bed = small_parts_bed(Faults {
        bandwidth: Some(4 * MIB),
        ..Faults::default()
    });
    let size = 48 * MIB;
    let md5 = big_file(&bed.path("big.bin"), size, 2);
    // 12 parts of 4 MiB, 2 at a time at 4 MiB/s each: about 6 s in all.
    let mut child = bed
        .child()
        .args(["upload", "mp-kill", "big.bin", "--part-jobs", "2", "-q"])
        .args(["--multipart-threshold", "8MiB", "--part-size", "4MiB"])
        .args(["--journal", "j.sqlite"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while part_bytes(&bed) < size / 2 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert!(
        bed.stored("mp-kill", "big.bin").is_none(),
        "killed before the end"
    );
    // status shows the unfinished upload and how far it got.
    let s = status(&bed);
    assert!(
        stdout(&s).contains("1 multipart upload not completed"),
        "{}",
        stdout(&s)
    );
    assert!(
        stdout(&s).contains("rerun the upload to resume it"),
        "{}",
        stdout(&s)
    );
    // Resumed with another --part-size: the upload goes on in the parts it began with.
    let o = bed
        .cmd()
        .args([
            "upload",
            "mp-kill",
            "big.bin",
            "--no-progress",
            "--part-jobs",
            "2",
        ])
        .args(["--multipart-threshold", "8MiB", "--part-size", "8MiB"])
        .args(["--journal", "j.sqlite"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        bed.requests()
            .iter()
            .filter(|r| is_part(r))
            .all(|r| r.body_size <= 4 * MIB),
        "every part is 4 MiB"
    );
    assert!(
        stderr(&o).contains("resuming multipart upload"),
        "{}",
        stderr(&o)
    );
    assert_eq!(bed.stored("mp-kill", "big.bin"), Some((md5, size)));
    let sent = part_bytes(&bed);
    assert!(
        sent < size * 3 / 2,
        "{sent} bytes sent for a {size}-byte file"
    );
    assert_eq!(
        bed.requests().iter().filter(|r| is_create(r)).count(),
        1,
        "the same upload was resumed"
    );
}

#[test]
fn slowdown_on_parts_and_on_complete_is_retried() {
    let bed = small_parts_bed(Faults {
        slowdown_rate: 0.5,
        complete_slowdowns: 2,
        ..Faults::default()
    });
    let md5 = big_file(&bed.path("big.bin"), 24 * MIB, 3);
    let o = upload_big(&bed, "mp-slow", "big.bin", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.stored("mp-slow", "big.bin"), Some((md5, 24 * MIB)));
    let reqs = bed.requests();
    assert!(
        reqs.iter().any(|r| is_part(r) && r.status == 503),
        "a part met a SlowDown"
    );
    assert!(
        reqs.iter()
            .filter(|r| is_complete(r) && r.status == 503)
            .count()
            >= 2,
        "Complete met its SlowDowns"
    );
    // A refused part cost no body byte (Expect: 100-continue): every byte went once.
    assert_eq!(part_bytes(&bed), 24 * MIB);
}

#[test]
fn a_new_items_bucket_that_appears_late_is_waited_for() {
    let bed = small_parts_bed(Faults {
        task_delay: Duration::from_secs(2),
        ..Faults::default()
    });
    let md5 = big_file(&bed.path("big.bin"), 12 * MIB, 4);
    let o = upload_big(&bed, "mp-late", "big.bin", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.stored("mp-late", "big.bin").map(|s| s.0), Some(md5));
    assert!(
        stderr(&o).contains("waiting for IA to create the item"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_file_changed_between_runs_starts_a_new_upload_and_stale_ones_are_aborted() {
    let bed = small_parts_bed(Faults {
        bandwidth: Some(4 * MIB),
        ..Faults::default()
    });
    let size = 16 * MIB;
    big_file(&bed.path("big.bin"), size, 5);
    big_file(&bed.path("gone.bin"), size, 6);
    let kill_after_a_part = |file: &str, id: &str| {
        let mut child = bed
            .child()
            .args(["upload", id, file, "--part-jobs", "1", "-q"])
            .args(["--multipart-threshold", "8MiB", "--part-size", "4MiB"])
            .args(["--journal", "j.sqlite"])
            .spawn()
            .unwrap();
        let before = bed
            .requests()
            .iter()
            .filter(|r| is_part(r) && r.status == 200)
            .count();
        let started = Instant::now();
        while bed
            .requests()
            .iter()
            .filter(|r| is_part(r) && r.status == 200)
            .count()
            < before + 2
            && started.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap();
        let _ = child.wait();
    };
    kill_after_a_part("big.bin", "mp-change");
    kill_after_a_part("gone.bin", "mp-gone");
    // One file changes, the other goes.
    let md5 = big_file(&bed.path("big.bin"), size, 7);
    std::fs::remove_file(bed.path("gone.bin")).unwrap();
    let s = status(&bed);
    assert!(
        stdout(&s).contains("2 multipart uploads not completed"),
        "{}",
        stdout(&s)
    );
    assert!(stdout(&s).contains("--abort-stale"), "{}", stdout(&s));
    let o = upload_big(&bed, "mp-change", "big.bin", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("changed since its multipart upload"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("--abort-stale aborts them")
            || stderr(&o).contains("`--abort-stale` aborts them"),
        "{}",
        stderr(&o)
    );
    assert_eq!(bed.stored("mp-change", "big.bin"), Some((md5, size)));
    let aborts = |bed: &Bed| {
        bed.requests()
            .iter()
            .filter(|r| r.method == "DELETE" && r.path.contains("uploadId="))
            .count()
    };
    assert_eq!(
        aborts(&bed),
        1,
        "the old upload of the changed file was aborted"
    );
    assert_eq!(bed.requests().iter().filter(|r| is_create(r)).count(), 3);
    // --abort-stale aborts the upload of the file that is gone.
    bed.file("small.txt", b"small");
    let o = bed
        .cmd()
        .args([
            "upload",
            "mp-small",
            "small.txt",
            "--abort-stale",
            "--journal",
            "j.sqlite",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("aborted 1 stale multipart upload"),
        "{}",
        stderr(&o)
    );
    assert_eq!(aborts(&bed), 2);
    let s = status(&bed);
    assert!(!stdout(&s).contains("not completed"), "{}", stdout(&s));
}

#[test]
fn dry_run_shows_the_create_call_and_the_parts() {
    let bed = Bed::new();
    let f = std::fs::File::create(bed.path("sparse.img")).unwrap();
    f.set_len(10 * MIB).unwrap();
    let o = bed
        .cmd()
        .args(["upload", "mp-dry", "sparse.img", "--dry-run"])
        .args(["--multipart-threshold", "8MiB", "--part-size", "4MiB"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("POST ") && out.contains("/mp-dry/sparse.img?uploads"),
        "{out}"
    );
    assert!(
        out.contains("then 3 parts of 4.00 MiB (4 at a time)"),
        "{out}"
    );
    let o = bed
        .cmd()
        .args([
            "upload",
            "mp-dry",
            "sparse.img",
            "--dry-run",
            "--no-multipart",
        ])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("PUT "), "{}", stdout(&o));
    let o = bed
        .cmd()
        .args(["upload", "mp-dry", "sparse.img", "--part-size", "10KiB"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--part-size"), "{}", stderr(&o));
}

#[test]
fn stdin_is_streamed_in_parts_without_a_spool() {
    let bed = small_parts_bed(Faults::default());
    let size = 10 * MIB + 12_345;
    let md5 = big_file(&bed.path("source.bin"), size, 8);
    let data = std::fs::read(bed.path("source.bin")).unwrap();
    let o = bed
        .cmd()
        .args(["upload", "mp-stdin", "-", "--remote-name", "from-stdin.bin"])
        .args(["--part-size", "2MiB", "--no-progress", "-m", "title:Piped"])
        .write_stdin(data)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("streaming stdin in parts of 2.00 MiB"),
        "{}",
        stderr(&o)
    );
    assert_eq!(bed.stored("mp-stdin", "from-stdin.bin"), Some((md5, size)));
    let reqs = bed.requests();
    assert_eq!(reqs.iter().filter(|r| is_part(r)).count(), 6);
    assert_eq!(part_bytes(&bed), size);
    let create = reqs.iter().find(|r| is_create(r)).unwrap();
    assert_eq!(
        header(create, "x-archive-size-hint"),
        None,
        "the size is unknown"
    );
    assert_eq!(header(create, "x-archive-meta00-title"), Some("Piped"));
    // Nothing was spooled: the state folder holds no copy of the data.
    let spooled: u64 = walk_sizes(bed.home.path());
    assert!(spooled < MIB, "{spooled} bytes under HOME");
    // Input under one part is spooled and sent in one PUT, as before.
    let o = bed
        .cmd()
        .args(["upload", "mp-stdin", "-", "--remote-name", "small.txt"])
        .args(["--part-size", "2MiB", "--no-progress"])
        .write_stdin(b"tiny".to_vec())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.stored("mp-stdin", "small.txt").unwrap().1, 4);
}

/// Total size of the files under `dir`.
fn walk_sizes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            total += walk_sizes(&e.path());
        } else {
            total += m.len();
        }
    }
    total
}

#[test]
fn a_file_modified_during_its_upload_never_completes() {
    let bed = small_parts_bed(Faults {
        bandwidth: Some(4 * MIB),
        ..Faults::default()
    });
    let size = 16 * MIB;
    big_file(&bed.path("big.bin"), size, 9);
    let child = bed
        .child()
        .args([
            "upload",
            "mp-mod",
            "big.bin",
            "--part-jobs",
            "1",
            "--no-progress",
        ])
        .args(["--multipart-threshold", "8MiB", "--part-size", "4MiB"])
        .args(["--journal", "j.sqlite"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while part_bytes(&bed) == 0 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The same size, other bytes, a new mtime: parts already sent are of the old version. The
    // bytes are overwritten in place (never truncated), so no part sees a shorter file.
    std::thread::sleep(Duration::from_millis(100));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(bed.path("big.bin"))
        .unwrap();
    f.write_all(&vec![0xA5; size as usize]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("was modified while it was being uploaded"),
        "{}",
        stderr(&o)
    );
    assert!(bed.stored("mp-mod", "big.bin").is_none(), "never completed");
    assert!(
        !bed.requests().iter().any(is_complete),
        "no Complete was sent"
    );
    assert!(
        bed.requests()
            .iter()
            .any(|r| r.method == "DELETE" && r.path.contains("uploadId=")),
        "the upload was aborted"
    );
}

#[test]
fn ctrl_c_during_a_huge_file_does_not_wait_for_its_md5_read() {
    let bed = small_parts_bed(Faults {
        bandwidth: Some(MIB),
        ..Faults::default()
    });
    // 64 GiB sparse: reading it for its MD5 takes far longer than the test allows.
    let f = std::fs::File::create(bed.path("huge.img")).unwrap();
    f.set_len(64 << 30).unwrap();
    let mut child = bed
        .child()
        .args(["upload", "mp-huge", "huge.img", "-q"])
        .args(["--multipart-threshold", "1GiB", "--part-size", "1GiB"])
        .args(["--journal", "j.sqlite"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while part_bytes_in_flight(&bed) && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let interrupted = Instant::now();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    // Ctrl-C lets parts in flight go on for 10 s, then the run ends.
    let mut ended = false;
    while interrupted.elapsed() < Duration::from_secs(25) {
        if child.try_wait().unwrap().is_some() {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !ended {
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    assert!(ended, "still running 25 s after Ctrl-C");
    assert_eq!(status.code(), Some(130));
}

/// True until the emulator has seen a create call (parts start right after).
fn part_bytes_in_flight(bed: &Bed) -> bool {
    !bed.requests().iter().any(is_create)
}
