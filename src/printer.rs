//! The one [`Printer`] every command prints through, chosen once from `-q/--quiet`,
//! `--no-progress` and whether stderr is a terminal, so that no command tests `quiet` itself.
//!
//! Data (what a pipe reads) goes to stdout and is printed whatever the mode; lines for people go
//! to stderr, and `-q` keeps only failures, warnings and summaries among them. While progress
//! bars are drawn, stderr lines go through the bars' `MultiProgress` so they never tear a bar.
//! The bytes are written by `output`, the only module touching stdout and stderr; the bars
//! themselves belong to `reporter::display`.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::MultiProgress;

use crate::output;

/// How much goes to stderr, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Progress bars (stderr is a terminal and `--no-progress` was not given).
    Bars,
    /// A plain progress line now and then, and every retry on a line of its own.
    Plain,
    /// `-q`: failures, warnings and the summary only.
    Quiet,
}

impl Mode {
    /// `-q` wins; bars only on a terminal and without `--no-progress`.
    pub fn choose(quiet: bool, no_progress: bool, stderr_is_terminal: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if stderr_is_terminal && !no_progress {
            Mode::Bars
        } else {
            Mode::Plain
        }
    }
}

/// Where stderr lines go: the terminal, or a test's buffer.
#[derive(Clone, Debug)]
enum Sink {
    Std,
    #[cfg(test)]
    Captured(Arc<Mutex<Captured>>),
}

/// What a test printer was given, by stream.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct Captured {
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

/// Prints data and people's lines for one command; cheap to clone, shared with spawned tasks.
#[derive(Clone, Debug)]
pub struct Printer {
    mode: Mode,
    /// The bars being drawn, while there are any (set by the display).
    bars: Arc<Mutex<Option<MultiProgress>>>,
    sink: Sink,
}

impl Printer {
    /// The printer for a command with `-q` and `--no-progress` as given.
    pub fn new(quiet: bool, no_progress: bool) -> Printer {
        Printer::with_mode(Mode::choose(
            quiet,
            no_progress,
            std::io::stderr().is_terminal(),
        ))
    }

    /// The printer of a command without `-q`: everything is printed, as plain lines.
    pub fn plain() -> Printer {
        Printer::with_mode(Mode::Plain)
    }

    pub fn with_mode(mode: Mode) -> Printer {
        Printer {
            mode,
            bars: Arc::default(),
            sink: Sink::Std,
        }
    }

    /// A printer that keeps what it is given, for tests.
    #[cfg(test)]
    pub fn captured(mode: Mode) -> (Printer, Arc<Mutex<Captured>>) {
        let store = Arc::new(Mutex::new(Captured::default()));
        let printer = Printer {
            mode,
            bars: Arc::default(),
            sink: Sink::Captured(store.clone()),
        };
        (printer, store)
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// A line of data for stdout, printed in every mode (`-q` included).
    pub fn data(&self, line: &str) {
        match &self.sink {
            Sink::Std => output::data(line),
            #[cfg(test)]
            Sink::Captured(c) => lock(c).stdout.push(line.to_owned()),
        }
    }

    /// A line on stdout saying one thing went well (`ITEM: updated`, `ID/KEY: deleted`); `-q`
    /// leaves it out, while failures are printed with [`Printer::data`].
    pub fn result(&self, line: &str) {
        if self.mode != Mode::Quiet {
            self.data(line);
        }
    }

    /// A line for people (a note, a retry); `-q` leaves it out.
    pub fn note(&self, line: &str) {
        if self.mode != Mode::Quiet {
            self.stderr(line);
        }
    }

    /// A line about how the run goes that only plain mode prints: the bars show the same, and
    /// `-q` wants none of it.
    pub fn progress(&self, line: &str) {
        if self.mode == Mode::Plain {
            self.stderr(line);
        }
    }

    /// A failure, a warning or a summary: printed in every mode.
    pub fn always(&self, line: &str) {
        self.stderr(line);
    }

    /// The `on_retry` of a small request (`transport::send`): a note before each retry,
    /// `retry: WHAT, attempt N failed (REASON); retrying in 1.5s`.
    pub fn retry_note<'a>(
        &'a self,
        what: &'a str,
    ) -> impl Fn(u32, Duration, &str) + Send + Sync + 'a {
        move |attempt, delay, reason| {
            self.note(&format!(
                "retry: {what}, attempt {attempt} failed ({reason}); retrying in {:.1}s",
                delay.as_secs_f64()
            ))
        }
    }

    /// From now on stderr lines go through `bars` (the display calls this when it draws them).
    pub fn draw_through(&self, bars: MultiProgress) {
        *lock(&self.bars) = Some(bars);
    }

    /// The bars are gone: stderr lines go straight to stderr again.
    pub fn bars_done(&self) {
        *lock(&self.bars) = None;
    }

    fn stderr(&self, line: &str) {
        match &self.sink {
            Sink::Std => match &*lock(&self.bars) {
                Some(bars) => {
                    let _ = bars.println(line);
                }
                None => output::note(line),
            },
            #[cfg(test)]
            Sink::Captured(c) => lock(c).stderr.push(line.to_owned()),
        }
    }
}

/// A panic elsewhere while printing must not silence the rest of the run.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print_everything(p: &Printer) {
        p.data("data");
        p.result("ok");
        p.note("note");
        p.progress("progress");
        p.always("summary");
    }

    #[test]
    fn quiet_keeps_data_and_failures_only() {
        let (p, got) = Printer::captured(Mode::Quiet);
        print_everything(&p);
        let got = got.lock().unwrap();
        assert_eq!(got.stdout, ["data"]);
        assert_eq!(got.stderr, ["summary"]);
    }

    #[test]
    fn plain_prints_everything() {
        let (p, got) = Printer::captured(Mode::Plain);
        print_everything(&p);
        let got = got.lock().unwrap();
        assert_eq!(got.stdout, ["data", "ok"]);
        assert_eq!(got.stderr, ["note", "progress", "summary"]);
    }

    #[test]
    fn bars_leave_progress_lines_to_the_bars() {
        let (p, got) = Printer::captured(Mode::Bars);
        print_everything(&p);
        let got = got.lock().unwrap();
        assert_eq!(got.stdout, ["data", "ok"]);
        assert_eq!(got.stderr, ["note", "summary"]);
    }

    #[test]
    fn retry_notes_name_what_is_retried() {
        let (p, got) = Printer::captured(Mode::Plain);
        p.retry_note("searching")(2, Duration::from_millis(1500), "HTTP 503");
        assert_eq!(
            got.lock().unwrap().stderr,
            ["retry: searching, attempt 2 failed (HTTP 503); retrying in 1.5s"]
        );
        let (q, got) = Printer::captured(Mode::Quiet);
        q.retry_note("x")(1, Duration::ZERO, "r");
        assert!(got.lock().unwrap().stderr.is_empty());
    }

    #[test]
    fn mode_is_chosen_from_the_flags_and_the_terminal() {
        assert_eq!(Mode::choose(true, false, true), Mode::Quiet);
        assert_eq!(Mode::choose(true, true, false), Mode::Quiet);
        assert_eq!(Mode::choose(false, false, true), Mode::Bars);
        assert_eq!(Mode::choose(false, true, true), Mode::Plain);
        assert_eq!(Mode::choose(false, false, false), Mode::Plain);
    }
}
