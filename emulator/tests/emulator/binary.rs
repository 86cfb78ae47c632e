//! The binary: its first stdout line names the address, and it serves there.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use crate::common::*;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn binary_prints_its_address_first_and_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log.jsonl");
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_ias3-emulator"))
            .args([
                "--addr",
                "127.0.0.1:0",
                "--access-key",
                KEY,
                "--secret-key",
                SECRET,
            ])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--log")
            .arg(&log)
            .args([
                "--seed",
                "3",
                "--bandwidth",
                "10MiB",
                "--slowdown-kind",
                "spam",
                "--stall-secs",
                "0.5",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    let first = first.trim_end();
    let addr = first
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let port: u16 = addr.parse().expect("port");

    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(b"GET /metadata/none HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(std::fs::read_to_string(&log)
        .expect("log")
        .contains("/metadata/none"));
}

#[test]
fn binary_rejects_bad_flag_values() {
    let out = Command::new(env!("CARGO_BIN_EXE_ias3-emulator"))
        .args([
            "--data-dir",
            "/nonexistent",
            "--access-key",
            "k",
            "--secret-key",
            "s",
        ])
        .args(["--slowdown-rate", "2"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid rate"));
}

#[test]
fn binary_seeds_items_from_a_file_and_redirects_downloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seeds = dir.path().join("seed.jsonl");
    std::fs::write(
        &seeds,
        concat!(
            r#"{"identifier": "seeded_a", "metadata": {"collection": "bio"}, "files": ["#,
            r#"{"name": "a.txt", "content": "hello"}, {"name": "b.bin", "size": 100}]}"#,
            "\n\n",
            r#"{"identifier": "seeded_b"}"#,
            "\n"
        ),
    )
    .expect("seed file");
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_ias3-emulator"))
            .args(["--access-key", KEY, "--secret-key", SECRET])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--seed-items")
            .arg(&seeds)
            .args(["--download-redirect", "--get-corrupt-rate", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("first line");
    let addr = first
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_string();
    let ask = |request: &str| {
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
        stream.write_all(request.as_bytes()).expect("write");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read");
        text
    };
    let text = ask("GET /services/search/v1/scrape?q=collection:bio HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(r#""items":[{"identifier":"seeded_a"}]"#),
        "{text}"
    );
    let text = ask("GET /download/seeded_a/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(text.starts_with("HTTP/1.1 302"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains(&format!("location: http://{addr}/0/items/seeded_a/a.txt")),
        "{text}"
    );
    let text = ask("GET /0/items/seeded_a/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(text.ends_with("\r\n\r\nhello"), "{text}");
    let text = ask("GET /metadata/seeded_b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(text.contains(r#""identifier":"seeded_b""#), "{text}");
}
