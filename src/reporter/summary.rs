//! What happened to every file of a run ([`RunRecord`]), the counts the journal keeps, and the
//! end-of-run summary text, with the plural helpers its wording needs. Pure: it prints nothing.

use std::time::Duration;

use indicatif::HumanBytes;

use crate::events::Event;
use crate::journal::{self, Direction};
use crate::plan::Plan;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileStatus {
    Pending,
    /// The transfer was confirmed (upload: the ETag matched the MD5 sent).
    Confirmed {
        md5: String,
        attempts: u32,
    },
    Skipped {
        reason: String,
        md5: Option<String>,
    },
    /// Downloaded and in place, but with no published MD5 to check it against (`_files.xml`,
    /// a ZIP member): only its size, where known, was checked.
    Unverified {
        md5: String,
        attempts: u32,
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

/// The word for a file moved in `direction`: `uploaded` or `downloaded`.
pub fn moved(direction: Direction) -> &'static str {
    match direction {
        Direction::Upload => "uploaded",
        Direction::Download => "downloaded",
    }
}

/// The note of a run that skips what the journal saw moved in `direction` (`resumed` of
/// `total` files).
pub fn resume_note(direction: Direction, resumed: usize, total: usize) -> String {
    let (done, what) = (
        moved(direction),
        match direction {
            Direction::Upload => ("send", "sending"),
            Direction::Download => ("fetch", "fetching"),
        },
    );
    match (resumed, total) {
        (1, 1) => format!(
            "resuming: the 1 file is already {done} (journal); nothing to {}",
            what.0
        ),
        (r, t) if r == t => {
            format!(
                "resuming: all {t} files already {done} (journal); nothing to {}",
                what.0
            )
        }
        (r, t) => format!(
            "resuming: {r} of {} already {done} (journal); {} the rest",
            plural(t, "file", "files"),
            what.1
        ),
    }
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

    /// Records what `ev` says about a file or the run.
    pub fn apply(&mut self, ev: &Event, plan: &Plan) {
        let mut set = |file: crate::events::FileRef, st: FileStatus| {
            self.status[file.item][file.file] = st;
        };
        match ev {
            Event::Retry { .. } => self.retries += 1,
            Event::SlowDown => self.slowdowns += 1,
            Event::Confirmed {
                file,
                md5,
                attempts,
            } => {
                set(
                    *file,
                    FileStatus::Confirmed {
                        md5: md5.clone(),
                        attempts: *attempts,
                    },
                );
                self.bytes_sent += plan.items[file.item].files[file.file].size;
            }
            Event::Failed {
                file,
                reason,
                attempts,
            } => set(
                *file,
                FileStatus::Failed {
                    reason: reason.clone(),
                    attempts: *attempts,
                },
            ),
            Event::Interrupted { file, attempts } => set(
                *file,
                FileStatus::Interrupted {
                    attempts: *attempts,
                },
            ),
            Event::Skipped { file, reason, md5 } => set(
                *file,
                FileStatus::Skipped {
                    reason: reason.clone(),
                    md5: Some(md5.clone()),
                },
            ),
            Event::Downloaded {
                file,
                md5,
                verified,
                attempts,
                ..
            } => {
                let (md5, attempts) = (md5.clone(), *attempts);
                set(
                    *file,
                    if *verified {
                        FileStatus::Confirmed { md5, attempts }
                    } else {
                        FileStatus::Unverified { md5, attempts }
                    },
                );
                self.bytes_sent += plan.items[file.item].files[file.file].size;
            }
            Event::NotStarted { file } => set(*file, FileStatus::NotStarted),
            Event::Started { .. }
            | Event::Notice(_)
            | Event::DeleteLocal(_)
            | Event::MultipartBegun { .. }
            | Event::PartConfirmed { .. }
            | Event::MultipartEnded { .. } => {}
        }
    }

    fn count(&self, f: impl Fn(&FileStatus) -> bool) -> usize {
        self.status.iter().flatten().filter(|s| f(s)).count()
    }

    /// Files moved, verified or not.
    pub fn confirmed(&self) -> usize {
        self.count(|s| {
            matches!(
                s,
                FileStatus::Confirmed { .. } | FileStatus::Unverified { .. }
            )
        })
    }
    /// Files downloaded with no published MD5 to check them against.
    pub fn unverified(&self) -> usize {
        self.count(|s| matches!(s, FileStatus::Unverified { .. }))
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
    /// Files with a last word: confirmed, failed, skipped or interrupted.
    pub fn finished(&self) -> usize {
        self.confirmed() + self.failed() + self.skipped() + self.interrupted()
    }

    /// The counts the journal keeps for the run.
    pub fn counts(&self) -> journal::RunCounts {
        journal::RunCounts {
            confirmed: self.confirmed() as i64,
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

    /// The summary block for stderr, worded for `direction`.
    pub fn summary(&self, plan: &Plan, interrupted: bool, direction: Direction) -> String {
        let secs = self.elapsed.as_secs_f64().max(0.001);
        let unverified = match self.unverified() {
            0 => String::new(),
            n => format!(" ({n} unverified)"),
        };
        let mut s = format!(
            "{} {}, {}: {} {}{unverified}, {} skipped, {} failed",
            if interrupted { "interrupted:" } else { "done:" },
            plural(plan.items.len(), "item", "items"),
            plural(plan.file_count(), "file", "files"),
            self.confirmed(),
            moved(direction),
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
            s.push_str(match direction {
                Direction::Upload => "\ninterrupted files (a rerun sends them):\n",
                Direction::Download => "\ninterrupted files (a rerun resumes them):\n",
            });
            s.push_str(&cut.join("\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::FileRef;

    fn at(item: usize, file: usize) -> FileRef {
        FileRef { item, file }
    }

    #[test]
    fn summary_names_each_count_then_the_failed_and_interrupted_files() {
        let plan = super::super::test_plan(&[
            ("a-item", &[("x.txt", 1000), ("y.txt", 24)]),
            ("b-item", &[("z.txt", 1), ("w.txt", 2)]),
        ]);
        let mut record = RunRecord::new(&plan);
        let events = [
            Event::Retry {
                file: at(0, 0),
                attempt: 1,
                delay: Duration::ZERO,
                reason: "500".into(),
                slowdown: false,
            },
            Event::Confirmed {
                file: at(0, 0),
                md5: "m".into(),
                attempts: 2,
            },
            Event::Failed {
                file: at(0, 1),
                reason: "PUT: 403 AccessDenied".into(),
                attempts: 1,
            },
            Event::Interrupted {
                file: at(1, 0),
                attempts: 1,
            },
            Event::SlowDown,
        ];
        for ev in &events {
            record.apply(ev, &plan);
        }
        record.elapsed = Duration::from_secs(2);
        assert_eq!(
            (record.confirmed(), record.failed(), record.interrupted()),
            (1, 1, 1)
        );
        assert_eq!((record.not_done(), record.finished()), (1, 3));
        assert_eq!(
            record.summary(&plan, true, Direction::Upload),
            "interrupted: 2 items, 4 files: 1 uploaded, 0 skipped, 1 failed, 1 interrupted, \
             1 not started; 1000 B in 2.0s (500 B/s); 1 retry (1 SlowDown)\n\
             failed files:\n  a-item/y.txt (/l/y.txt): PUT: 403 AccessDenied\n\
             interrupted files (a rerun sends them):\n  b-item/z.txt (/l/z.txt)"
        );
    }

    #[test]
    fn a_clean_run_is_one_line_in_the_singular() {
        let plan = super::super::test_plan(&[("one-item", &[("a.txt", 3)])]);
        let mut record = RunRecord::new(&plan);
        record.apply(
            &Event::Skipped {
                file: at(0, 0),
                reason: "same MD5".into(),
                md5: "m".into(),
            },
            &plan,
        );
        record.elapsed = Duration::from_millis(500);
        assert_eq!(
            record.summary(&plan, false, Direction::Upload),
            "done: 1 item, 1 file: 0 uploaded, 1 skipped, 0 failed; 0 B in 0.5s (0 B/s); \
             0 retries (0 SlowDown)"
        );
        assert_eq!(record.counts().skipped, 1);
    }

    #[test]
    fn counts_are_said_with_the_right_plural() {
        assert_eq!(plural(1, "retry", "retries"), "1 retry");
        assert_eq!(plural(0, "item", "items"), "0 items");
        assert_eq!(
            resume_note(Direction::Upload, 1, 1),
            "resuming: the 1 file is already uploaded (journal); nothing to send"
        );
        assert_eq!(
            resume_note(Direction::Upload, 3, 3),
            "resuming: all 3 files already uploaded (journal); nothing to send"
        );
        assert_eq!(
            resume_note(Direction::Upload, 1, 2),
            "resuming: 1 of 2 files already uploaded (journal); sending the rest"
        );
    }
}
