//! `iaup verify --report FILE`: one record per planned (or, with `--extra`, extra) file and one
//! per differing metadata field, as JSON lines (.jsonl) or CSV (.csv). The file is created
//! before anything is read, and written once every item is checked.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{list_text, Verified};
use crate::compare::FileVerdict;
use crate::error::{msg, AppError};
use crate::plan::Plan;
use crate::reporter::ReportFormat;

/// One record of the report. `key` is set for a file, `field` for a metadata field.
#[derive(Debug, serde::Serialize)]
struct Row<'a> {
    identifier: &'a str,
    key: Option<&'a str>,
    field: Option<&'a str>,
    /// `ok`, `missing`, `pending`, `different`, `extra`, `metadata_differs`, `no_such_item`,
    /// `failed` or `not_checked`.
    status: &'static str,
    /// What differs for a `different` file: `size` or `md5`.
    what: Option<&'static str>,
    /// The local MD5 (or size), or the planned values as a JSON array.
    local: Option<String>,
    /// The remote MD5 (or size), or the stored values as a JSON array.
    remote: Option<String>,
    error: Option<&'a str>,
}

/// A record with only these set.
fn row<'a>(
    identifier: &'a str,
    status: &'static str,
    key: Option<&'a str>,
    error: Option<&'a str>,
) -> Row<'a> {
    Row {
        identifier,
        key,
        field: None,
        status,
        what: None,
        local: None,
        remote: None,
        error,
    }
}

pub(super) struct Report {
    path: PathBuf,
    format: ReportFormat,
    file: std::fs::File,
}

impl Report {
    pub fn create(path: &Path, format: ReportFormat) -> Result<Report, AppError> {
        let file = std::fs::File::create(path).map_err(|e| {
            AppError::usage(msg(format!(
                "cannot write the report {}: {e}",
                path.display()
            )))
            .hint("nothing was read; give --report a path that can be written")
        })?;
        Ok(Report {
            path: path.to_path_buf(),
            format,
            file,
        })
    }

    pub fn write(self, plan: &Plan, verified: &Verified) -> Result<(), String> {
        let mut rows = Vec::new();
        for (item, result) in plan.items.iter().zip(&verified.items) {
            let id = item.identifier.as_str();
            let row = |status, key, error| row(id, status, key, error);
            let Some(r) = result else {
                rows.push(row("not_checked", None, None));
                continue;
            };
            if let Some(e) = &r.error {
                rows.push(row("failed", None, Some(e.as_str())));
                continue;
            }
            if !r.exists {
                rows.push(row("no_such_item", None, None));
            }
            for (i, c) in r.files.iter().enumerate() {
                let md5 = r.local_md5.get(i).filter(|m| !m.is_empty()).cloned();
                let mut out = row("ok", Some(c.key.as_str()), None);
                match &c.verdict {
                    FileVerdict::Ok => out.local = md5,
                    FileVerdict::Missing => out.status = "missing",
                    FileVerdict::Pending => out.status = "pending",
                    FileVerdict::Extra => out.status = "extra",
                    FileVerdict::Different {
                        what,
                        local,
                        remote,
                    } => {
                        out.status = "different";
                        out.what = Some(what);
                        out.local = Some(local.clone());
                        out.remote = Some(remote.clone());
                    }
                }
                rows.push(out);
            }
            for d in &r.fields {
                let mut out = row("metadata_differs", None, None);
                out.field = Some(d.field.as_str());
                out.local = Some(list_text(&d.local));
                out.remote = Some(list_text(&d.remote));
                rows.push(out);
            }
        }
        self.write_rows(&rows)
            .map_err(|e| format!("cannot write the report {}: {e}", self.path.display()))
    }

    fn write_rows(&self, rows: &[Row<'_>]) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(&self.file);
        match self.format {
            ReportFormat::Jsonl => {
                for r in rows {
                    serde_json::to_writer(&mut out, r)?;
                    out.write_all(b"\n")?;
                }
            }
            ReportFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                for r in rows {
                    w.serialize(r).map_err(std::io::Error::other)?;
                }
                w.flush()?;
                return Ok(());
            }
        }
        out.flush()
    }
}
