//! The live view of a run on stderr: indicatif bars on a terminal (one overall bar and one per
//! file in flight), a plain `progress:` line every few seconds otherwise, and with `-q` nothing
//! but errors. It reads events and the record and prints through the run's [`Printer`]; it
//! records and decides nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::summary::{plural, RunRecord};
use crate::events::{Event, FileRef, Progress};
use crate::plan::Plan;
use crate::printer::{Mode, Printer};

pub(super) struct Display {
    printer: Printer,
    plan: Arc<Plan>,
    start: Instant,
    /// How often plain mode prints its `progress:` line.
    plain_every: Duration,
    overall: Option<ProgressBar>,
    multi: Option<MultiProgress>,
    bars: BTreeMap<FileRef, ProgressBar>,
    in_flight: BTreeMap<FileRef, Arc<Progress>>,
    /// Bytes of files not sent because they are there already (journal, --checksum, or a
    /// landed-check): done all the same, so the progress reaches the total.
    skipped_bytes: u64,
    last_plain: Instant,
    last_retry: Option<String>,
    /// Plain mode prints at most one retry line a second; the rest show in the progress line.
    last_retry_line: Option<Instant>,
}

impl Display {
    /// `skipped_bytes`: the bytes of files the record has as skipped before the run.
    pub(super) fn new(
        printer: Printer,
        plan: Arc<Plan>,
        skipped_bytes: u64,
        plain_every: Duration,
    ) -> Display {
        let (multi, overall) = if printer.mode() == Mode::Bars {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            let bar = multi.add(ProgressBar::new(plan.total_bytes()));
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            printer.draw_through(multi.clone());
            (Some(multi), Some(bar))
        } else {
            (None, None)
        };
        Display {
            printer,
            plan,
            start: Instant::now(),
            plain_every,
            overall,
            multi,
            bars: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            skipped_bytes,
            last_plain: Instant::now(),
            last_retry: None,
            last_retry_line: None,
        }
    }

    fn name(&self, f: FileRef) -> String {
        let it = &self.plan.items[f.item];
        format!("{}/{}", it.identifier, it.files[f.file].key)
    }

    fn size(&self, f: FileRef) -> u64 {
        self.plan.items[f.item].files[f.file].size
    }

    /// The file's attempt is over: its bar goes, its bytes no longer count as in flight.
    fn settle(&mut self, file: FileRef) {
        self.in_flight.remove(&file);
        if let Some(bar) = self.bars.remove(&file) {
            bar.finish_and_clear();
        }
    }

    /// Shows what `ev` changes.
    pub(super) fn show(&mut self, ev: &Event) {
        match ev {
            Event::Started { file, progress, .. } => {
                self.in_flight.insert(*file, progress.clone());
                if let Some(m) = &self.multi {
                    if !self.bars.contains_key(file) {
                        let bar = m.add(ProgressBar::new(self.size(*file)));
                        bar.set_style(
                            ProgressStyle::with_template(
                                "  {bar:20} {bytes:>10}/{total_bytes:<10} {wide_msg}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        );
                        bar.set_message(self.name(*file));
                        self.bars.insert(*file, bar);
                    }
                }
            }
            Event::Retry {
                file,
                attempt,
                delay,
                reason,
                ..
            } => {
                self.in_flight.remove(file);
                let name = self.name(*file);
                let text = format!(
                    "{name} attempt {attempt} failed ({reason}); retrying in {:.1}s",
                    delay.as_secs_f64()
                );
                if let Some(bar) = self.bars.get(file) {
                    bar.set_position(0);
                    bar.set_message(format!("{name} (retry {attempt}: {reason})"));
                }
                let quiet_enough = self
                    .last_retry_line
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
                if self.printer.mode() == Mode::Plain && quiet_enough {
                    self.last_retry_line = Some(Instant::now());
                    self.printer.progress(&format!("retry: {text}"));
                } else {
                    self.last_retry = Some(text);
                }
            }
            Event::Confirmed { file, attempts, .. } => {
                if *attempts == 0 {
                    self.skipped_bytes += self.size(*file);
                }
                self.settle(*file);
            }
            Event::Failed { file, reason, .. } => {
                self.settle(*file);
                self.printer
                    .always(&format!("error: {}: {reason}", self.name(*file)));
            }
            Event::Interrupted { file, .. } | Event::Downloaded { file, .. } => self.settle(*file),
            Event::Skipped { file, .. } => self.skipped_bytes += self.size(*file),
            Event::NotStarted { file } => {
                self.in_flight.remove(file);
            }
            Event::Notice(text) => self.printer.note(&format!("note: {text}")),
            Event::MultipartBegun { .. }
            | Event::PartConfirmed { .. }
            | Event::MultipartEnded { .. } => {}
            Event::DeleteLocal(_) | Event::SlowDown => {}
        }
    }

    /// Moves the bars, or prints the plain progress line when it is due. `bytes_done`: the
    /// bytes of files whose transfer is over.
    pub(super) fn tick(&mut self, bytes_done: u64, record: &RunRecord) {
        let total_files = self.plan.file_count();
        let total_bytes = self.plan.total_bytes();
        let moved_now: u64 = bytes_done
            + self.skipped_bytes
            + self.in_flight.values().map(|p| p.bytes()).sum::<u64>();
        let finished = record.finished();
        match self.printer.mode() {
            Mode::Bars => {
                if let Some(b) = &self.overall {
                    b.set_position(moved_now.min(total_bytes));
                    b.set_message(format!("{finished}/{total_files} files"));
                }
                for (f, bar) in &self.bars {
                    if let Some(p) = self.in_flight.get(f) {
                        bar.set_position(p.bytes());
                    }
                }
            }
            Mode::Plain if self.last_plain.elapsed() >= self.plain_every => {
                self.last_plain = Instant::now();
                let secs = self.start.elapsed().as_secs_f64().max(0.001);
                let mut line = format!(
                    "progress: {finished}/{total_files} files, {}/{}, {}/s, {}",
                    HumanBytes(moved_now),
                    HumanBytes(total_bytes),
                    HumanBytes((moved_now as f64 / secs) as u64),
                    plural(record.retries as usize, "retry", "retries")
                );
                if let Some(r) = self.last_retry.take() {
                    line.push_str(&format!(" (last: {r})"));
                }
                self.printer.progress(&line);
            }
            _ => {}
        }
    }

    /// Clears the bars; later lines go straight to stderr.
    pub(super) fn finish(self) {
        if let Some(b) = &self.overall {
            b.finish_and_clear();
        }
        for bar in self.bars.values() {
            bar.finish_and_clear();
        }
        self.printer.bars_done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printer::Captured;
    use std::sync::Mutex;

    fn display(mode: Mode) -> (Display, Arc<Mutex<Captured>>, RunRecord) {
        let plan = Arc::new(super::super::test_plan(&[(
            "an-item",
            &[("a.txt", 10), ("b.txt", 20)],
        )]));
        let (printer, got) = Printer::captured(mode);
        let record = RunRecord::new(&plan);
        (Display::new(printer, plan, 0, Duration::ZERO), got, record)
    }

    fn retry(file: usize, attempt: u32) -> Event {
        Event::Retry {
            file: FileRef { item: 0, file },
            attempt,
            delay: Duration::from_millis(500),
            reason: "500 InternalError".into(),
            slowdown: false,
        }
    }

    fn failed() -> Event {
        Event::Failed {
            file: FileRef { item: 0, file: 1 },
            reason: "PUT: 403 AccessDenied".into(),
            attempts: 1,
        }
    }

    #[test]
    fn quiet_shows_errors_only() {
        let (mut d, got, record) = display(Mode::Quiet);
        d.show(&Event::Notice("a note".into()));
        d.show(&retry(0, 1));
        d.show(&failed());
        d.tick(0, &record);
        let got = got.lock().unwrap();
        assert_eq!(got.stderr, ["error: an-item/b.txt: PUT: 403 AccessDenied"]);
        assert!(got.stdout.is_empty());
    }

    #[test]
    fn plain_prints_one_retry_line_a_second_and_the_rest_in_the_progress_line() {
        let (mut d, got, mut record) = display(Mode::Plain);
        d.show(&Event::Notice("a note".into()));
        for ev in [retry(0, 1), retry(0, 2)] {
            record.apply(&ev, &d.plan.clone());
            d.show(&ev);
        }
        d.tick(0, &record);
        let got = got.lock().unwrap();
        assert_eq!(
            got.stderr,
            [
                "note: a note",
                "retry: an-item/a.txt attempt 1 failed (500 InternalError); retrying in 0.5s",
                "progress: 0/2 files, 0 B/30 B, 0 B/s, 2 retries (last: an-item/a.txt attempt 2 \
                 failed (500 InternalError); retrying in 0.5s)",
            ]
        );
    }
}
