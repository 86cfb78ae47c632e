//! The run's owner task: it receives every engine [`Event`], keeps each file's status, drives
//! the display (indicatif bars on a TTY, a plain line every few seconds otherwise, nothing but
//! errors with `-q`), and renders the final summary. It decides nothing.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::engine::attempt::Progress;
use crate::engine::{Event, FileRef};
use crate::journal::{self, Op};
use crate::local_delete::LocalDeletes;
use crate::output;
use crate::plan::Plan;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileStatus {
    Pending,
    Uploaded {
        md5: String,
        attempts: u32,
    },
    Skipped {
        reason: String,
        md5: Option<String>,
    },
    Failed {
        reason: String,
        attempts: u32,
    },
    /// Cut off by Ctrl-C while being sent: neither failed nor confirmed.
    Interrupted {
        attempts: u32,
    },
    NotStarted,
}

/// `1 file`, `2 files`, `0 files`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The note of a run that skips what the journal saw uploaded (`resumed` of `total` files).
pub fn resume_note(resumed: usize, total: usize) -> String {
    match (resumed, total) {
        (1, 1) => "resuming: the 1 file is already uploaded (journal); nothing to send".into(),
        (r, t) if r == t => {
            format!("resuming: all {t} files already uploaded (journal); nothing to send")
        }
        (r, t) => format!(
            "resuming: {r} of {} already uploaded (journal); sending the rest",
            plural(t, "file", "files")
        ),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Bars,
    Plain,
    Quiet,
}

/// What happened to every file of the plan.
#[derive(Debug)]
pub struct RunRecord {
    pub status: Vec<Vec<FileStatus>>,
    pub retries: u64,
    pub slowdowns: u64,
    pub elapsed: Duration,
    pub bytes_sent: u64,
}

impl RunRecord {
    pub fn new(plan: &Plan) -> RunRecord {
        RunRecord {
            status: plan
                .items
                .iter()
                .map(|i| vec![FileStatus::Pending; i.files.len()])
                .collect(),
            retries: 0,
            slowdowns: 0,
            elapsed: Duration::ZERO,
            bytes_sent: 0,
        }
    }

    fn count(&self, f: impl Fn(&FileStatus) -> bool) -> usize {
        self.status.iter().flatten().filter(|s| f(s)).count()
    }

    pub fn uploaded(&self) -> usize {
        self.count(|s| matches!(s, FileStatus::Uploaded { .. }))
    }
    pub fn skipped(&self) -> usize {
        self.count(|s| matches!(s, FileStatus::Skipped { .. }))
    }
    pub fn failed(&self) -> usize {
        self.count(|s| matches!(s, FileStatus::Failed { .. }))
    }
    pub fn interrupted(&self) -> usize {
        self.count(|s| matches!(s, FileStatus::Interrupted { .. }))
    }
    pub fn not_done(&self) -> usize {
        self.count(|s| matches!(s, FileStatus::NotStarted | FileStatus::Pending))
    }

    /// The counts the journal keeps for the run.
    pub fn counts(&self) -> journal::RunCounts {
        journal::RunCounts {
            confirmed: self.uploaded() as i64,
            skipped: self.skipped() as i64,
            failed: self.failed() as i64,
            interrupted: self.interrupted() as i64,
            not_started: self.not_done() as i64,
        }
    }

    /// `  identifier/key (local path): what` for each file `pick` says something about.
    fn listed(&self, plan: &Plan, pick: impl Fn(&FileStatus) -> Option<String>) -> Vec<String> {
        let mut out = Vec::new();
        for (i, files) in self.status.iter().enumerate() {
            for (f, st) in files.iter().enumerate() {
                if let Some(what) = pick(st) {
                    let it = &plan.items[i];
                    out.push(format!(
                        "  {}/{} ({}){what}",
                        it.identifier,
                        it.files[f].key,
                        it.files[f].local.display()
                    ));
                }
            }
        }
        out
    }

    /// The summary block for stderr.
    pub fn summary(&self, plan: &Plan, interrupted: bool) -> String {
        let secs = self.elapsed.as_secs_f64().max(0.001);
        let mut s = format!(
            "{} {}, {}: {} uploaded, {} skipped, {} failed",
            if interrupted { "interrupted:" } else { "done:" },
            plural(plan.items.len(), "item", "items"),
            plural(plan.file_count(), "file", "files"),
            self.uploaded(),
            self.skipped(),
            self.failed(),
        );
        let cut = self.interrupted();
        if cut > 0 {
            s.push_str(&format!(", {cut} interrupted"));
        }
        let left = self.not_done();
        if left > 0 {
            s.push_str(&format!(", {left} not started"));
        }
        s.push_str(&format!(
            "; {} in {:.1}s ({}/s); {} ({} SlowDown)",
            HumanBytes(self.bytes_sent),
            secs,
            HumanBytes((self.bytes_sent as f64 / secs) as u64),
            plural(self.retries as usize, "retry", "retries"),
            self.slowdowns
        ));
        let failures = self.listed(plan, |st| match st {
            FileStatus::Failed { reason, .. } => Some(format!(": {reason}")),
            _ => None,
        });
        if !failures.is_empty() {
            s.push_str("\nfailed files:\n");
            s.push_str(&failures.join("\n"));
        }
        let cut = self.listed(plan, |st| {
            matches!(st, FileStatus::Interrupted { .. }).then(String::new)
        });
        if !cut.is_empty() {
            s.push_str("\ninterrupted files (a rerun sends them):\n");
            s.push_str(&cut.join("\n"));
        }
        s
    }
}

struct Display {
    mode: Mode,
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    bars: BTreeMap<FileRef, ProgressBar>,
    last_plain: Instant,
    last_retry: Option<String>,
    /// Plain mode prints at most one retry line a second; the rest show in the progress line.
    last_retry_line: Option<Instant>,
}

impl Display {
    fn new(mode: Mode, plan: &Plan) -> Display {
        let (multi, overall) = if mode == Mode::Bars {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            let bar = multi.add(ProgressBar::new(plan.total_bytes()));
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            (Some(multi), Some(bar))
        } else {
            (None, None)
        };
        Display {
            mode,
            multi,
            overall,
            bars: BTreeMap::new(),
            last_plain: Instant::now(),
            last_retry: None,
            last_retry_line: None,
        }
    }

    fn line(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => output::note(text),
        }
    }
}

/// Where the progress of one run can be read from.
pub struct Live {
    pub plan: Arc<Plan>,
    pub bytes_done: Arc<std::sync::atomic::AtomicU64>,
}

/// Consumes events until the engine is done (the channel closes), recording each change in
/// the journal (when there is one) as it happens, and with `--delete` (`deletes`) removing each
/// confirmed file once its confirmation is committed. Returns the record and the journal writer.
pub async fn own_events(
    mut rx: mpsc::Receiver<Event>,
    live: Live,
    mode: Mode,
    mut record: RunRecord,
    plain_every: Duration,
    journal: Option<journal::Writer>,
    deletes: Option<LocalDeletes>,
) -> (RunRecord, Option<journal::Writer>) {
    let plan = live.plan.clone();
    let start = Instant::now();
    let mut display = Display::new(mode, &plan);
    let mut in_flight: BTreeMap<FileRef, Arc<Progress>> = BTreeMap::new();
    let total_files = plan.file_count();
    // Bytes of files not sent because they are there already (journal, --checksum, or a
    // landed-check): done all the same, so the progress reaches the total.
    let size = |f: FileRef| plan.items[f.item].files[f.file].size;
    let mut skipped_bytes: u64 = plan
        .items
        .iter()
        .zip(&record.status)
        .flat_map(|(it, st)| it.files.iter().zip(st))
        .filter(|(_, st)| matches!(st, FileStatus::Skipped { .. }))
        .map(|(fp, _)| fp.size)
        .sum();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                match &ev {
                    Event::Skipped { file, .. } | Event::Uploaded { file, attempts: 0, .. } => {
                        skipped_bytes += size(*file);
                    }
                    _ => {}
                }
                if let Some(j) = &journal {
                    if let Some(op) = journal_op(&ev, &plan) {
                        j.send(op).await;
                    }
                }
                // --delete without a journal: the confirmation event is all there is to wait for.
                if let (Event::DeleteLocal(path), None, Some(d)) = (&ev, &journal, &deletes) {
                    if let Some(line) = d.remove(path).line(display.mode == Mode::Quiet) {
                        display.line(&line);
                    }
                }
                handle(ev, &plan, &mut record, &mut display, &mut in_flight);
            }
            _ = tick.tick() => {}
        }
        // The journal writer's warnings, and the files whose confirmation it committed.
        let notes = journal.iter().flat_map(journal::Writer::notes).collect();
        let quiet = display.mode == Mode::Quiet;
        for line in LocalDeletes::after_notes(deletes.as_ref(), notes, quiet) {
            display.line(&line);
        }
        let sent_now: u64 = live.bytes_done.load(Ordering::Relaxed)
            + skipped_bytes
            + in_flight
                .values()
                .map(|p| p.sent.load(Ordering::Relaxed))
                .sum::<u64>();
        let finished =
            record.uploaded() + record.failed() + record.skipped() + record.interrupted();
        match display.mode {
            Mode::Bars => {
                if let Some(b) = &display.overall {
                    b.set_position(sent_now.min(plan.total_bytes()));
                    b.set_message(format!("{finished}/{total_files} files"));
                }
                for (f, bar) in &display.bars {
                    if let Some(p) = in_flight.get(f) {
                        bar.set_position(p.sent.load(Ordering::Relaxed));
                    }
                }
            }
            Mode::Plain if display.last_plain.elapsed() >= plain_every => {
                display.last_plain = Instant::now();
                let secs = start.elapsed().as_secs_f64().max(0.001);
                let mut line = format!(
                    "progress: {finished}/{total_files} files, {}/{}, {}/s, {}",
                    HumanBytes(sent_now),
                    HumanBytes(plan.total_bytes()),
                    HumanBytes((sent_now as f64 / secs) as u64),
                    plural(record.retries as usize, "retry", "retries")
                );
                if let Some(r) = display.last_retry.take() {
                    line.push_str(&format!(" (last: {r})"));
                }
                output::note(&line);
            }
            _ => {}
        }
    }
    if let Some(b) = &display.overall {
        b.finish_and_clear();
    }
    for bar in display.bars.values() {
        bar.finish_and_clear();
    }
    record.elapsed = start.elapsed();
    if let Some(j) = &journal {
        j.send(Op::Counts(record.counts())).await;
        let quiet = display.mode == Mode::Quiet;
        for line in LocalDeletes::after_notes(deletes.as_ref(), j.flush().await, quiet) {
            output::note(&line);
        }
    }
    (record, journal)
}

/// The journal's view of an event.
fn journal_op(ev: &Event, plan: &Plan) -> Option<Op> {
    let ids = |f: &FileRef| {
        let it = &plan.items[f.item];
        (it.identifier.clone(), it.files[f.file].key.clone())
    };
    Some(match ev {
        Event::Started { file, .. } => {
            let (identifier, key) = ids(file);
            Op::InFlight { identifier, key }
        }
        Event::Retry { file, reason, .. } => {
            let (identifier, key) = ids(file);
            Op::Retry {
                identifier,
                key,
                error: reason.clone(),
            }
        }
        Event::Uploaded { file, md5, .. } => {
            let (identifier, key) = ids(file);
            Op::Confirmed {
                identifier,
                key,
                md5: md5.clone(),
            }
        }
        Event::Skipped { file, md5, .. } => {
            let (identifier, key) = ids(file);
            let fp = &plan.items[file.item].files[file.file];
            Op::SameOnServer {
                identifier,
                key,
                local_path: fp.local.display().to_string(),
                size: fp.size,
                mtime_ns: fp.mtime_ns,
                identity: fp.identity.clone(),
                md5: md5.clone(),
            }
        }
        Event::Failed { file, reason, .. } => {
            let (identifier, key) = ids(file);
            Op::Failed {
                identifier,
                key,
                error: reason.clone(),
            }
        }
        Event::Interrupted { file, .. } => {
            let (identifier, key) = ids(file);
            Op::Interrupted { identifier, key }
        }
        Event::DeleteLocal(path) => Op::AfterCommit(path.clone()),
        Event::NotStarted { .. } | Event::Notice(_) | Event::SlowDown => return None,
    })
}

fn handle(
    ev: Event,
    plan: &Plan,
    record: &mut RunRecord,
    display: &mut Display,
    in_flight: &mut BTreeMap<FileRef, Arc<Progress>>,
) {
    let name = |f: FileRef| {
        let it = &plan.items[f.item];
        format!("{}/{}", it.identifier, it.files[f.file].key)
    };
    match ev {
        Event::Started {
            file,
            attempt: _,
            progress,
        } => {
            in_flight.insert(file, progress);
            if let Some(m) = &display.multi {
                if let std::collections::btree_map::Entry::Vacant(slot) = display.bars.entry(file) {
                    let size = plan.items[file.item].files[file.file].size;
                    let bar = m.add(ProgressBar::new(size));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "  {bar:20} {bytes:>10}/{total_bytes:<10} {wide_msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    bar.set_message(name(file));
                    slot.insert(bar);
                }
            }
        }
        Event::Retry {
            file,
            attempt,
            delay,
            reason,
            slowdown,
        } => {
            in_flight.remove(&file);
            record.retries += 1;
            let _ = slowdown; // counted by Event::SlowDown
            let text = format!(
                "{} attempt {attempt} failed ({reason}); retrying in {:.1}s",
                name(file),
                delay.as_secs_f64()
            );
            if let Some(bar) = display.bars.get(&file) {
                bar.set_position(0);
                bar.set_message(format!("{} (retry {attempt}: {reason})", name(file)));
            }
            let quiet_enough = display
                .last_retry_line
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
            if display.mode == Mode::Plain && quiet_enough {
                display.last_retry_line = Some(Instant::now());
                display.line(&format!("retry: {text}"));
            } else {
                display.last_retry = Some(text);
            }
        }
        Event::Uploaded {
            file,
            md5,
            attempts,
        } => {
            in_flight.remove(&file);
            record.bytes_sent += plan.items[file.item].files[file.file].size;
            record.status[file.item][file.file] = FileStatus::Uploaded { md5, attempts };
            if let Some(bar) = display.bars.remove(&file) {
                bar.finish_and_clear();
            }
        }
        Event::Failed {
            file,
            reason,
            attempts,
        } => {
            in_flight.remove(&file);
            if let Some(bar) = display.bars.remove(&file) {
                bar.finish_and_clear();
            }
            display.line(&format!("error: {}: {reason}", name(file)));
            record.status[file.item][file.file] = FileStatus::Failed { reason, attempts };
        }
        Event::Interrupted { file, attempts } => {
            in_flight.remove(&file);
            if let Some(bar) = display.bars.remove(&file) {
                bar.finish_and_clear();
            }
            record.status[file.item][file.file] = FileStatus::Interrupted { attempts };
        }
        Event::Skipped { file, reason, md5 } => {
            record.status[file.item][file.file] = FileStatus::Skipped {
                reason,
                md5: Some(md5),
            };
        }
        Event::DeleteLocal(_) => {}
        Event::SlowDown => record.slowdowns += 1,
        Event::NotStarted { file } => {
            in_flight.remove(&file);
            record.status[file.item][file.file] = FileStatus::NotStarted;
        }
        Event::Notice(text) => {
            if display.mode != Mode::Quiet {
                display.line(&format!("note: {text}"));
            }
        }
    }
}

/// One line of `--report`.
#[derive(Debug, serde::Serialize)]
struct ReportRow<'a> {
    identifier: &'a str,
    key: &'a str,
    local_path: String,
    size: u64,
    md5: Option<&'a str>,
    status: &'static str,
    attempts: u32,
    error: Option<&'a str>,
    details_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("--report {}: give a file ending in .jsonl or .csv", path.display())]
    Extension { path: std::path::PathBuf },
    #[error("cannot write the report {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Jsonl,
    Csv,
}

impl ReportFormat {
    /// Checked before the run starts, so a typo costs nothing.
    pub fn from_path(path: &std::path::Path) -> Result<ReportFormat, ReportError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("jsonl") => Ok(ReportFormat::Jsonl),
            Some(e) if e.eq_ignore_ascii_case("csv") => Ok(ReportFormat::Csv),
            _ => Err(ReportError::Extension {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Creates the report file before the run, so a path that cannot be written costs nothing.
pub fn create_report(path: &std::path::Path) -> Result<std::fs::File, ReportError> {
    std::fs::File::create(path).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes one record per planned file into `file` (from [`create_report`]).
pub fn write_report(
    file: std::fs::File,
    path: &std::path::Path,
    format: ReportFormat,
    plan: &Plan,
    record: &RunRecord,
    archive_url: &str,
) -> Result<(), ReportError> {
    let werr = |source: std::io::Error| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut rows = Vec::new();
    for (i, item) in plan.items.iter().enumerate() {
        for (f, fp) in item.files.iter().enumerate() {
            let (status, md5, attempts, error) = match &record.status[i][f] {
                FileStatus::Uploaded { md5, attempts } => {
                    ("uploaded", Some(md5.as_str()), *attempts, None)
                }
                FileStatus::Skipped { reason, md5 } => {
                    ("skipped", md5.as_deref(), 0, Some(reason.as_str()))
                }
                FileStatus::Failed { reason, attempts } => {
                    ("failed", None, *attempts, Some(reason.as_str()))
                }
                FileStatus::Interrupted { attempts } => ("interrupted", None, *attempts, None),
                FileStatus::NotStarted | FileStatus::Pending => ("not_started", None, 0, None),
            };
            rows.push(ReportRow {
                identifier: &item.identifier,
                key: &fp.key,
                local_path: fp.local.display().to_string(),
                size: fp.size,
                md5,
                status,
                attempts,
                error,
                details_url: format!(
                    "{}/details/{}",
                    archive_url.trim_end_matches('/'),
                    crate::ias3::quote(&item.identifier)
                ),
            });
        }
    }
    let mut out = std::io::BufWriter::new(file);
    match format {
        ReportFormat::Jsonl => {
            use std::io::Write;
            for r in &rows {
                serde_json::to_writer(&mut out, r).map_err(|e| werr(e.into()))?;
                out.write_all(b"\n").map_err(werr)?;
            }
            out.flush().map_err(werr)?;
        }
        ReportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            for r in &rows {
                w.serialize(r).map_err(|e| werr(std::io::Error::other(e)))?;
            }
            w.flush().map_err(werr)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_said_with_the_right_plural() {
        assert_eq!(plural(1, "retry", "retries"), "1 retry");
        assert_eq!(plural(0, "item", "items"), "0 items");
        assert_eq!(
            resume_note(1, 1),
            "resuming: the 1 file is already uploaded (journal); nothing to send"
        );
        assert_eq!(
            resume_note(3, 3),
            "resuming: all 3 files already uploaded (journal); nothing to send"
        );
        assert_eq!(
            resume_note(1, 2),
            "resuming: 1 of 2 files already uploaded (journal); sending the rest"
        );
    }
}
