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
