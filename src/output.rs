//! The only place that writes to stdout and stderr. Data goes to stdout, people's messages to
//! stderr; a closed stdout (`iaup ... | head`) ends the program quietly instead of panicking.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

/// Writes a line of data to stdout. A broken pipe exits cleanly.
pub fn data(line: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Writes raw bytes to stdout (`download --stdout`); the caller decides what a failure means.
pub fn data_bytes(bytes: &[u8]) -> std::io::Result<()> {
    std::io::stdout().lock().write_all(bytes)
}

/// Writes a line for people to stderr.
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Asks a question on stderr, the answer to be typed on the same line.
pub fn prompt(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{text}");
    let _ = err.flush();
}
