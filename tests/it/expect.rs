//! `Expect: 100-continue` against the emulator, which answers a refusal without reading the
//! body when asked to continue: a big PUT it refuses (403, SlowDown) costs no body byte (its
//! `--log` JSON lines say `body_size` 0), `--expect-continue-threshold 0` sends the body anyway,
//! and an accepted PUT arrives whole.

use std::path::{Path, PathBuf};

use ias3_emulator::Faults;

use crate::harness::*;

const GIB: u64 = 1 << 30;

/// A bed whose emulator writes its `--log` JSON lines to a file, and that file's path.
fn logged(faults: Faults) -> (Bed, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("emulator.jsonl");
    let path = log.clone();
    let bed = Bed::with_config(faults, move |c| c.log = Some(path));
    (bed, dir, log)
}

/// A sparse file of `size` bytes (zeros) under the bed's working directory.
fn sparse(bed: &Bed, rel: &str, size: u64) {
    let f = std::fs::File::create(bed.path(rel)).unwrap();
    f.set_len(size).unwrap();
}

/// The logged PUTs of `path` (`/id/key`): status, body bytes read, and the `expect` header.
fn puts_of(log: &Path, path: &str) -> Vec<(u64, u64, Option<String>)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["method"] == "PUT" && r["path"] == path)
        .map(|r| {
            let expect = r["headers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h[0] == "expect")
                .map(|h| h[1].as_str().unwrap().to_owned());
            let n = |k: &str| r[k].as_u64().unwrap();
            (n("status"), n("body_size"), expect)
        })
        .collect()
}

fn upload(bed: &Bed, id: &str, file: &str, extra: &[&str]) -> std::process::Output {
    bed.cmd()
        .args(["upload", id, file, "--no-progress", "--sleep", "0.05"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_refused_1_gib_put_costs_no_body_byte() {
    let (bed, _dir, log) = logged(Faults::default());
    sparse(&bed, "big.bin", GIB);
    let o = upload(
        &bed,
        "denied-item",
        "big.bin",
        &["-H", "x-archive-simulate-error:AccessDenied"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("403 AccessDenied"), "{}", stderr(&o));
    let puts = puts_of(&log, "/denied-item/big.bin");
    assert_eq!(puts.len(), 1, "a 403 is not retried: {puts:?}");
    assert_eq!(puts[0], (403, 0, Some("100-continue".into())));
}

#[test]
fn slowdown_on_a_1_gib_put_costs_no_body_byte() {
    let (bed, _dir, log) = logged(Faults {
        slowdown_rate: 1.0,
        ..Faults::default()
    });
    sparse(&bed, "big.bin", GIB);
    let o = upload(&bed, "slow-item", "big.bin", &["--retries", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let puts = puts_of(&log, "/slow-item/big.bin");
    assert_eq!(puts.len(), 2, "one attempt and one retry: {puts:?}");
    for put in puts {
        assert_eq!(put, (503, 0, Some("100-continue".into())));
    }
}

// The flag is what keeps the body back: with it 0, the same refusal reads the whole body.
#[test]
fn threshold_0_sends_the_body_the_server_refuses() {
    let (bed, _dir, log) = logged(Faults::default());
    let size = 16u64 << 20;
    sparse(&bed, "mid.bin", size);
    let denied = ["-H", "x-archive-simulate-error:AccessDenied"];
    let o = upload(&bed, "denied-item", "mid.bin", &denied);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let mut args = denied.to_vec();
    args.extend(["--expect-continue-threshold", "0"]);
    let o = upload(&bed, "denied-item", "mid.bin", &args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        puts_of(&log, "/denied-item/mid.bin"),
        [(403, 0, Some("100-continue".into())), (403, size, None)]
    );
}

// An accepted PUT over the threshold waits for the 100 and arrives whole; one under it sends
// no `Expect`.
#[test]
fn accepted_puts_arrive_whole_with_and_without_expect() {
    let (bed, _dir, log) = logged(Faults::default());
    let big = content(7, 3 << 20);
    let small = content(8, 1000);
    bed.file("big.bin", &big);
    bed.file("small.bin", &small);
    let o = bed
        .cmd()
        .args(["upload", "ok-item", "big.bin", "small.bin", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.stored("ok-item", "big.bin").unwrap().0, md5_hex(&big));
    assert_eq!(
        bed.stored("ok-item", "small.bin").unwrap().0,
        md5_hex(&small)
    );
    assert_eq!(
        puts_of(&log, "/ok-item/big.bin"),
        [(200, 3 << 20, Some("100-continue".into()))]
    );
    assert_eq!(puts_of(&log, "/ok-item/small.bin"), [(200, 1000, None)]);
}

#[test]
fn show_settings_prints_the_threshold_and_its_origin() {
    let bed = Bed::new();
    let show = |extra: &[&str]| {
        let o = bed
            .cmd()
            .args(["--show-settings", "upload", "an-item", "f"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    };
    assert!(show(&[]).contains("upload expect-continue threshold: 1048576 (built-in)"));
    assert!(show(&["--expect-continue-threshold", "0"])
        .contains("upload expect-continue threshold: 0 (flag --expect-continue-threshold)"));
}
