//! The `--report FILE` of a run: one row per planned file (identifier, key, local path, size,
//! MD5, status, attempts, error, details URL) as JSON lines or CSV, chosen by the file's
//! extension. The file is created before the run, so a path that cannot be written costs
//! nothing, and written once the run's record is complete.

use std::path::{Path, PathBuf};

use super::summary::{FileStatus, RunRecord};
use crate::journal::Direction;
use crate::plan::Plan;

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
    Extension { path: PathBuf },
    #[error("cannot write the report {}", path.display())]
    Write {
        path: PathBuf,
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
    pub fn from_path(path: &Path) -> Result<ReportFormat, ReportError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("jsonl") => Ok(ReportFormat::Jsonl),
            Some(e) if e.eq_ignore_ascii_case("csv") => Ok(ReportFormat::Csv),
            _ => Err(ReportError::Extension {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// A report file created before the run, written after it.
#[derive(Debug)]
pub struct ReportFile {
    path: PathBuf,
    format: ReportFormat,
    file: std::fs::File,
}

impl ReportFile {
    /// Creates the file at `path`, to be written in `format` after the run.
    pub fn create(path: &Path, format: ReportFormat) -> Result<ReportFile, ReportError> {
        Ok(ReportFile {
            path: path.to_path_buf(),
            format,
            file: create_report(path)?,
        })
    }

    /// Writes one row per planned file; a file moved in `direction` has the status
    /// `uploaded` or `downloaded` (`unverified` when it had no MD5 to check).
    pub fn write(
        self,
        plan: &Plan,
        record: &RunRecord,
        archive_url: &str,
        direction: Direction,
    ) -> Result<(), ReportError> {
        write_report(
            self.file,
            (&self.path, self.format),
            plan,
            record,
            archive_url,
            direction,
        )
    }
}

/// Creates the report file before the run, so a path that cannot be written costs nothing.
fn create_report(path: &Path) -> Result<std::fs::File, ReportError> {
    std::fs::File::create(path).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes one record per planned file into `file` (from [`create_report`]).
fn write_report(
    file: std::fs::File,
    (path, format): (&Path, ReportFormat),
    plan: &Plan,
    record: &RunRecord,
    archive_url: &str,
    direction: Direction,
) -> Result<(), ReportError> {
    let werr = |source: std::io::Error| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut rows = Vec::new();
    for (i, item) in plan.items.iter().enumerate() {
        for (f, fp) in item.files.iter().enumerate() {
            let (status, md5, attempts, error) = match &record.status[i][f] {
                FileStatus::Confirmed { md5, attempts } => (
                    super::summary::moved(direction),
                    Some(md5.as_str()),
                    *attempts,
                    None,
                ),
                FileStatus::Unverified { md5, attempts } => {
                    ("unverified", Some(md5.as_str()), *attempts, None)
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
