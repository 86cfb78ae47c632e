//! The run's owner task and what it feeds: it receives every transfer [`Event`], shows it
//! (`display`), records it (`summary`'s [`RunRecord`]) and passes it to the journal when there
//! is one; after the run it writes the `--report` file (`report_file`) and prints the summary.
//! [`Reporter`] bundles the three for one run. It decides nothing: the engine does.
//!
//! Every line goes through the run's [`Printer`], so `-q` and the bars are honoured in one place.

mod display;
mod report_file;
mod summary;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::error::AppError;
use crate::events::{Event, FileRef};
use crate::journal::{self, Direction, Op};
use crate::local_delete::LocalDeletes;
use crate::plan::Plan;
use crate::printer::Printer;

use display::Display;
pub use report_file::{ReportError, ReportFile, ReportFormat};
pub use summary::{plural, resume_note, FileStatus, RunRecord};

/// How often plain mode prints its `progress:` line.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// The display, the record and the report file of one run.
pub struct Reporter {
    direction: Direction,
    printer: Printer,
    plan: Arc<Plan>,
    record: RunRecord,
    report: Option<ReportFile>,
}

impl Reporter {
    /// `record` may already hold files skipped before the run (journal); `report` is the
    /// `--report` file created before the run, if any.
    pub fn new(
        printer: Printer,
        plan: Arc<Plan>,
        record: RunRecord,
        report: Option<ReportFile>,
    ) -> Reporter {
        Reporter {
            direction: Direction::Upload,
            printer,
            plan,
            record,
            report,
        }
    }

    /// A reporter of a run that moves files in `direction` (upload by default): its journal
    /// records, summary and report are worded for it.
    pub fn with_direction(mut self, direction: Direction) -> Reporter {
        self.direction = direction;
        self
    }

    pub fn record(&self) -> &RunRecord {
        &self.record
    }

    /// Consumes events until the engine is done (the channel closes), recording each change in
    /// the journal (when there is one) as it happens, and with `--delete` (`deletes`) removing
    /// each confirmed file once its confirmation is committed. `bytes_done` counts the bytes of
    /// files whose transfer is over. Returns the reporter, its record complete, and the journal
    /// writer.
    pub async fn own_events(
        mut self,
        mut rx: mpsc::Receiver<Event>,
        bytes_done: Arc<AtomicU64>,
        journal: Option<journal::Writer>,
        deletes: Option<LocalDeletes>,
    ) -> (Reporter, Option<journal::Writer>) {
        let plan = self.plan.clone();
        let start = Instant::now();
        let skipped_bytes: u64 = plan
            .items
            .iter()
            .zip(&self.record.status)
            .flat_map(|(it, st)| it.files.iter().zip(st))
            .filter(|(_, st)| matches!(st, FileStatus::Skipped { .. }))
            .map(|(fp, _)| fp.size)
            .sum();
        let mut display = Display::new(
            self.printer.clone(),
            plan.clone(),
            skipped_bytes,
            PLAIN_EVERY,
        );
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let quiet = self.printer.mode() == crate::printer::Mode::Quiet;
        loop {
            tokio::select! {
                ev = rx.recv() => {
                    let Some(ev) = ev else { break };
                    if let Some(j) = &journal {
                        if let Some(op) = journal_op(&ev, &plan) {
                            j.send(op).await;
                        }
                    }
                    // --delete without a journal: the confirmation event is all there is to
                    // wait for.
                    if let (Event::DeleteLocal(path), None, Some(d)) = (&ev, &journal, &deletes) {
                        if let Some(line) = d.remove(path).line(quiet) {
                            self.printer.always(&line);
                        }
                    }
                    self.record.apply(&ev, &plan);
                    display.show(&ev);
                }
                _ = tick.tick() => {}
            }
            // The journal writer's warnings, and the files whose confirmation it committed.
            let notes = journal.iter().flat_map(journal::Writer::notes).collect();
            for line in LocalDeletes::after_notes(deletes.as_ref(), notes, quiet) {
                self.printer.always(&line);
            }
            display.tick(bytes_done.load(Ordering::Relaxed), &self.record);
        }
        display.finish();
        self.record.elapsed = start.elapsed();
        if let Some(j) = &journal {
            j.send(Op::Counts(self.record.counts())).await;
            for line in LocalDeletes::after_notes(deletes.as_ref(), j.flush().await, quiet) {
                self.printer.always(&line);
            }
        }
        (self, journal)
    }

    /// Writes the `--report` file (a failure to is printed, and returned as `true`), then
    /// prints the summary.
    pub fn finish(&mut self, interrupted: bool, archive_url: &str) -> bool {
        let mut report_failed = false;
        if let Some(file) = self.report.take() {
            if let Err(e) = file.write(&self.plan, &self.record, archive_url, self.direction) {
                self.printer.always(&AppError::failed(e).render());
                report_failed = true;
            }
        }
        self.printer
            .always(&self.record.summary(&self.plan, interrupted, self.direction));
        report_failed
    }
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
        Event::Confirmed { file, md5, .. } => {
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
        Event::Downloaded {
            file, md5, local, ..
        } => {
            let (identifier, key) = ids(file);
            let fp = &plan.items[file.item].files[file.file];
            Op::Downloaded {
                identifier,
                key,
                local_path: fp.local.display().to_string(),
                size: local.size,
                mtime_ns: local.mtime_ns,
                identity: local.identity.clone(),
                md5: local.remote_md5.clone().unwrap_or_else(|| md5.clone()),
            }
        }
        Event::DeleteLocal(path) => Op::AfterCommit(path.clone()),
        Event::MultipartBegun { .. }
        | Event::PartConfirmed { .. }
        | Event::MultipartEnded { .. } => return multipart_op(ev, plan),
        Event::NotStarted { .. } | Event::Notice(_) | Event::SlowDown => return None,
    })
}

/// The journal's view of a multipart event.
fn multipart_op(ev: &Event, plan: &Plan) -> Option<Op> {
    Some(match ev {
        Event::MultipartBegun {
            file,
            upload_id,
            part_size,
            stream,
        } => {
            let it = &plan.items[file.item];
            let fp = &it.files[file.file];
            // Stdin has no file to resume from: `(stdin)` names none, so the upload is stale.
            let identity = if *stream {
                crate::plan::FileIdentity {
                    canonical: crate::engine::stream::STDIN_NAME.to_owned(),
                    ..Default::default()
                }
            } else {
                fp.identity.clone()
            };
            Op::MultipartBegun {
                identifier: it.identifier.clone(),
                key: fp.key.clone(),
                upload_id: upload_id.clone(),
                part_size: *part_size,
                size: fp.size,
                mtime_ns: fp.mtime_ns,
                identity,
            }
        }
        Event::PartConfirmed {
            upload_id,
            number,
            size,
            md5,
        } => Op::PartConfirmed {
            upload_id: upload_id.clone(),
            number: *number,
            size: *size,
            md5: md5.clone(),
            etag: Some(md5.clone()),
        },
        Event::MultipartEnded { upload_id } => Op::MultipartEnded {
            upload_id: upload_id.clone(),
        },
        _ => return None,
    })
}

/// A plan of `(identifier, [(key, size)])` items for the tests; local paths are `/l/KEY`.
#[cfg(test)]
fn test_plan(items: &[(&str, &[(&str, u64)])]) -> Plan {
    use crate::plan::{FilePlan, ItemPlan};
    Plan {
        items: items
            .iter()
            .map(|(identifier, files)| ItemPlan {
                identifier: (*identifier).to_owned(),
                metadata: Default::default(),
                total_bytes: files.iter().map(|f| f.1).sum(),
                files: files
                    .iter()
                    .map(|(key, size)| FilePlan {
                        local: format!("/l/{key}").into(),
                        key: (*key).to_owned(),
                        size: *size,
                        mtime_ns: 0,
                        row: None,
                        identity: Default::default(),
                        file_metadata: Default::default(),
                    })
                    .collect(),
            })
            .collect(),
        gone: Vec::new(),
        notes: Vec::new(),
    }
}
