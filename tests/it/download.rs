//! `iaup download` against seeded emulator items: verified bytes, AND filters, honest exit
//! codes, restricted files, damaged and cut-off answers, SIGKILL then resume with Range, a
//! rerun that sends only metadata GETs, redirects to the data node, ZIP members, --destdir,
//! unsafe names, --stdout and --dry-run.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ias3_emulator::{Faults, RequestRecord, SeedFile};
use serde_json::json;

use crate::harness::*;

const MTIME: u64 = 1_212_000_000;

fn seed_two(bed: &Bed) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (a, b, c) = (content(1, 70_000), content(2, 1_000), content(3, 5_000));
    bed.emu
        .seed_item(
            "bio_001",
            json!({"collection": "biodiversity", "title": "One"}),
            vec![
                SeedFile::original("scan 1.jpg", a.clone()).mtime(MTIME),
                SeedFile::original("notes/readme.txt", b.clone()).mtime(MTIME),
            ],
        )
        .unwrap();
    bed.emu
        .seed_item(
            "bio_002",
            json!({"collection": "biodiversity", "title": "Two"}),
            vec![SeedFile::original("plate.jpg", c.clone()).mtime(MTIME)],
        )
        .unwrap();
    (a, b, c)
}

fn file_gets(bed: &Bed) -> Vec<RequestRecord> {
    bed.requests()
        .into_iter()
        .filter(|r| r.method == "GET" && !r.path.starts_with("/metadata/"))
        .collect()
}

/// The byte where a ranged GET starts (0 without Range).
fn range_start(r: &RequestRecord) -> u64 {
    header(r, "range")
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.trim_end_matches('-').parse().ok())
        .unwrap_or(0)
}

#[test]
fn items_download_in_parallel_verified_byte_for_byte_with_their_mtime() {
    let bed = Bed::new();
    let (a, b, c) = seed_two(&bed);
    bed.file("ids.txt", b"bio_001\nbio_002\n");
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "--itemlist",
            "ids.txt",
            "--glob",
            "*.jpg|*.txt",
        ])
        .args(["--report", "r.jsonl"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(bed.path("bio_001/scan 1.jpg")).unwrap(), a);
    assert_eq!(
        std::fs::read(bed.path("bio_001/notes/readme.txt")).unwrap(),
        b
    );
    assert_eq!(std::fs::read(bed.path("bio_002/plate.jpg")).unwrap(), c);
    let m = std::fs::metadata(bed.path("bio_002/plate.jpg")).unwrap();
    assert_eq!(
        m.modified().unwrap(),
        UNIX_EPOCH + Duration::from_secs(MTIME)
    );
    assert!(!bed.path("bio_002/plate.jpg.part").exists());
    assert!(
        stderr(&o).contains("3 downloaded, 0 skipped, 0 failed"),
        "{}",
        stderr(&o)
    );
    let report = std::fs::read_to_string(bed.path("r.jsonl")).unwrap();
    assert_eq!(
        report.matches("\"status\":\"downloaded\"").count(),
        3,
        "{report}"
    );
    assert_no_secret(&o);
}

// ia lets --glob silently replace --format (ia#180); here both must hold.
#[test]
fn glob_and_format_combine_with_and() {
    let bed = Bed::new();
    bed.emu
        .seed_item(
            "mix",
            json!({}),
            vec![
                SeedFile::original("a.jpg", b"jpeg".to_vec()).format("JPEG"),
                SeedFile::original("b.jpg", b"thumb".to_vec()).format("JPEG Thumb"),
                SeedFile::original("c.txt", b"text".to_vec()).format("Text"),
            ],
        )
        .unwrap();
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "mix",
            "--glob",
            "*.jpg",
            "--format",
            "JPEG",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(bed.path("mix/a.jpg").exists());
    assert!(!bed.path("mix/b.jpg").exists(), "the format does not match");
    assert!(!bed.path("mix/c.txt").exists(), "the glob does not match");
}

#[test]
fn a_missing_file_or_item_fails_the_run_but_the_rest_is_downloaded() {
    let bed = Bed::new();
    let (_, _, c) = seed_two(&bed);
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "bio_002",
            "plate.jpg",
            "nope.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bio_002 has no file named `nope.txt`"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(bed.path("bio_002/plate.jpg")).unwrap(), c);

    bed.file("ids.txt", b"no_such_item\nbio_002\n");
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "--itemlist",
            "ids.txt",
            "--destdir",
            "second",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no_such_item: no such item"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(bed.path("second/bio_002/plate.jpg")).unwrap(),
        c
    );
}

#[test]
fn a_restricted_file_fails_with_a_clear_message_and_no_retry() {
    let bed = Bed::new();
    bed.emu
        .seed_item(
            "locked",
            json!({}),
            vec![
                SeedFile::original("open.txt", b"open".to_vec()),
                SeedFile::original("secret.pdf", b"pdf".to_vec()).private(),
            ],
        )
        .unwrap();
    // No keys: the file is not ours to read.
    let o = bed
        .bare()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "locked",
            "open.txt",
            "secret.pdf",
            "--no-journal",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("locked/secret.pdf"), "{}", stderr(&o));
    assert!(stderr(&o).contains("restricted"), "{}", stderr(&o));
    assert!(bed.path("locked/open.txt").exists());
    assert!(!bed.path("locked/secret.pdf").exists());
    let tries = file_gets(&bed)
        .iter()
        .filter(|r| r.path.ends_with("secret.pdf"))
        .count();
    assert_eq!(tries, 1, "a 403 is not retried");
}

#[test]
fn damaged_bytes_are_caught_and_fetched_again() {
    let bed = Bed::with_faults(Faults {
        get_corrupt_rate: 0.5,
        ..Faults::default()
    });
    let (a, b, c) = seed_two(&bed);
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "--itemlist",
            "-",
            "-R",
            "20",
        ])
        .write_stdin("bio_001\nbio_002\n")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(bed.path("bio_001/scan 1.jpg")).unwrap(), a);
    assert_eq!(
        std::fs::read(bed.path("bio_001/notes/readme.txt")).unwrap(),
        b
    );
    assert_eq!(std::fs::read(bed.path("bio_002/plate.jpg")).unwrap(), c);
    let corrupted = file_gets(&bed)
        .iter()
        .filter(|r| r.faults.iter().any(|f| f == "get-corrupt"))
        .count();
    assert!(
        corrupted > 0,
        "the fault must strike for the test to mean anything"
    );
    assert!(stderr(&o).contains("MD5"), "{}", stderr(&o));
}

#[test]
fn a_cut_off_answer_is_resumed_with_range() {
    let bed = Bed::with_faults(Faults {
        get_reset_rate: 1.0,
        ..Faults::default()
    });
    let data = content(9, 64 * 1024);
    bed.emu
        .seed_item(
            "cut",
            json!({}),
            vec![SeedFile::original("big.bin", data.clone())],
        )
        .unwrap();
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "cut",
            "big.bin",
            "-R",
            "40",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(bed.path("cut/big.bin")).unwrap(), data);
    let gets = file_gets(&bed);
    assert!(
        gets.iter().any(|r| header(r, "range").is_some()),
        "{gets:?}"
    );
    // What the server sent: half of each cut-off answer, all of the last.
    let size = data.len() as u64;
    let served: u64 = gets
        .iter()
        .map(|r| {
            let len = size - range_start(r);
            if r.faults.iter().any(|f| f == "get-reset") {
                len / 2
            } else {
                len
            }
        })
        .sum();
    assert!(served < 2 * size, "{served} bytes served for {size}");
}

#[test]
fn a_download_killed_mid_file_resumes_with_range() {
    let bed = Bed::with_faults(Faults {
        get_bandwidth: Some(100_000),
        ..Faults::default()
    });
    let data = content(4, 600_000);
    bed.emu
        .seed_item(
            "slow",
            json!({}),
            vec![SeedFile::original("big.bin", data.clone())],
        )
        .unwrap();
    let mut child = bed
        .child()
        .args(["download", "slow", "big.bin"])
        .spawn()
        .unwrap();
    let part = bed.path("slow/big.bin.part");
    let deadline = SystemTime::now() + Duration::from_secs(30);
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < 100_000 {
        assert!(SystemTime::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept < data.len() as u64);
    bed.emu.set_faults(Faults::default());
    let before = bed.requests().len();
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "slow",
            "big.bin",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(bed.path("slow/big.bin")).unwrap(), data);
    let second: Vec<_> = bed.requests()[before..]
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/download/"))
        .cloned()
        .collect();
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(
        range_start(&second[0]),
        kept,
        "continued where the kill left it"
    );
    assert!(data.len() as u64 - range_start(&second[0]) < data.len() as u64);
}

#[test]
fn a_rerun_over_present_files_sends_only_metadata_gets() {
    let bed = Bed::new();
    seed_two(&bed);
    let run = || {
        bed.cmd()
            .args([
                "download",
                "--sleep",
                "0",
                "--no-progress",
                "--itemlist",
                "-",
            ])
            .write_stdin("bio_001\nbio_002\n")
            .output()
            .unwrap()
    };
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = bed.requests().len();
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let again = &bed.requests()[before..];
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(
        again.iter().all(|r| r.path.starts_with("/metadata/")),
        "{again:?}"
    );
    assert!(
        stderr(&o).contains("already downloaded (journal)"),
        "{}",
        stderr(&o)
    );
    // A changed local file is fetched again.
    std::fs::write(bed.path("bio_002/plate.jpg"), b"changed").unwrap();
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_ne!(
        std::fs::read(bed.path("bio_002/plate.jpg")).unwrap(),
        b"changed"
    );
}

#[test]
fn the_data_node_redirect_is_followed_with_the_keys_on_the_same_host() {
    let bed = Bed::with_config(Faults::default(), |c| c.download_redirect = true);
    let (_, _, c) = seed_two(&bed);
    let o = bed
        .cmd()
        .args(["download", "--sleep", "0", "--no-progress", "bio_002"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(bed.path("bio_002/plate.jpg")).unwrap(), c);
    let node = file_gets(&bed)
        .into_iter()
        .find(|r| r.path.starts_with("/0/items/bio_002/plate.jpg"))
        .expect("the data node was asked");
    assert!(header(&node, "authorization").is_some_and(|a| a.starts_with("LOW ")));
    assert_no_secret(&o);
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default();
        for (name, data) in members {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
    }
    buf.into_inner()
}

#[test]
fn a_zip_member_is_downloaded_and_reported_unverified() {
    let bed = Bed::new();
    let zip = zip_of(&[("pics/1.jpg", b"one"), ("notes.txt", b"notes")]);
    bed.emu
        .seed_item(
            "zipped",
            json!({}),
            vec![SeedFile::original("pages.zip", zip).format("ZIP")],
        )
        .unwrap();
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "zipped",
            "pages.zip/pics/1.jpg",
            "--destdir",
            "out/sub",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(bed.path("out/sub/zipped/pages.zip/pics/1.jpg")).unwrap(),
        b"one"
    );
    assert!(
        stderr(&o).contains("1 downloaded (1 unverified)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_name_that_would_escape_the_destination_is_refused() {
    let bed = Bed::new();
    bed.emu
        .seed_item(
            "evil",
            json!({}),
            vec![
                SeedFile::original("../escape.txt", b"x".to_vec()),
                SeedFile::original("fine.txt", b"ok".to_vec()),
            ],
        )
        .unwrap();
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "evil",
            "--destdir",
            "d",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("refused"), "{}", stderr(&o));
    assert!(!bed.path("d/escape.txt").exists() && !bed.path("escape.txt").exists());
    assert_eq!(std::fs::read(bed.path("d/evil/fine.txt")).unwrap(), b"ok");
}

#[test]
fn stdout_writes_the_one_file() {
    let bed = Bed::new();
    let (_, b, _) = seed_two(&bed);
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "bio_001/notes/readme.txt",
            "--stdout",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b);
    assert!(!bed.path("bio_001").exists());
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "bio_001",
            "--stdout",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn dry_run_prints_urls_and_paths_and_fetches_no_file() {
    let bed = Bed::new();
    seed_two(&bed);
    let o = bed
        .cmd()
        .args([
            "download",
            "--sleep",
            "0",
            "--no-progress",
            "bio_001",
            "--dry-run",
            "--glob",
            "*.jpg",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("/download/bio_001/scan%201.jpg\t"), "{out}");
    assert!(out.contains("bio_001/scan 1.jpg"), "{out}");
    assert!(file_gets(&bed).is_empty());
    assert!(!bed.path("bio_001").exists());
}

// Seed 004's harvest: the items a dated search finds, their XML and images, all verified.
#[test]
fn the_seed_004_harvest_downloads_what_the_search_finds() {
    let bed = Bed::new();
    for (id, date) in [
        ("bio_a", "2008-06-05T00:00:00Z"),
        ("bio_b", "2008-06-12T00:00:00Z"),
        ("bio_late", "2009-01-01T00:00:00Z"),
    ] {
        bed.emu
            .seed_item(
                id,
                json!({"collection": "biodiversity", "oai_updatedate": date}),
                vec![
                    SeedFile::original("page.jpg", content(5, 3000)),
                    SeedFile::original("book.pdf", content(6, 2000)),
                ],
            )
            .unwrap();
    }
    let q = "collection:biodiversity AND oai_updatedate:[2008-06-01 TO 2008-06-13]";
    let o = bed
        .cmd()
        .args([
            "download",
            "--no-progress",
            "--search",
            q,
            "--destdir",
            "harvest",
        ])
        .args(["--glob", "*_meta.xml|*_files.xml|*.jpg"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for id in ["bio_a", "bio_b"] {
        assert_eq!(
            std::fs::read(bed.path(&format!("harvest/{id}/page.jpg"))).unwrap(),
            content(5, 3000)
        );
        assert!(bed.path(&format!("harvest/{id}/{id}_meta.xml")).exists());
        assert!(bed.path(&format!("harvest/{id}/{id}_files.xml")).exists());
        assert!(!bed.path(&format!("harvest/{id}/book.pdf")).exists());
    }
    assert!(!bed.path("harvest/bio_late").exists());
    assert!(
        stderr(&o).contains("6 downloaded (2 unverified)"),
        "{}",
        stderr(&o)
    );

    let o = bed
        .cmd()
        .args(["download", "--search", "collection:nothing_here"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("found no items"), "{}", stderr(&o));
}
