//! `iaup list ID...`: an item's files from the metadata API (one GET per item, items read
//! `--jobs` at a time and printed in the order given), chosen with `select::FileFilter` (every
//! given criterion must hold), printed as TSV the way `ia list` writes it (its csv quoting,
//! list values joined with `;`) or as JSON lines. Columns are keys of the file entries, plus
//! `identifier` and `location` (the download URL, percent-encoded, unlike `ia list -l`).
//!
//! Exit codes: 0 every item listed at least one file, 1 an item does not exist, could not be
//! read, or had no file matching (named on stderr; the other items are still listed), 2 bad
//! input.

use serde_json::{Map, Value};

use super::metadata::{invalid_identifiers, problems_error};
use crate::archive::{self, metadata::ManyItems};
use crate::cli::{GlobalArgs, ListArgs};
use crate::error::{AppError, ExitStatus};
use crate::item_doc::{remote_files, RemoteFile};
use crate::printer::Printer;
use crate::run::{self, Interrupt};
use crate::settings::{Env, Settings};
use crate::transport;

/// The pseudo-column naming the item.
const IDENTIFIER: &str = "identifier";
/// The pseudo-column holding the file's download URL.
const LOCATION: &str = "location";

/// Which columns to print.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Columns {
    Named(Vec<String>),
    /// Every key any listed file of the item has, `name` first.
    All,
}

impl Columns {
    fn of(args: &ListArgs) -> Columns {
        if args.all {
            Columns::All
        } else if args.location {
            Columns::Named(vec![LOCATION.to_owned()])
        } else {
            let named = super::search::split_commas(&args.columns);
            if named.is_empty() {
                Columns::Named(vec!["name".to_owned()])
            } else {
                Columns::Named(named)
            }
        }
    }

    /// The columns for one item's listed files.
    fn for_files(&self, files: &[&RemoteFile]) -> Vec<String> {
        match self {
            Columns::Named(v) => v.clone(),
            Columns::All => {
                let mut all = vec!["name".to_owned()];
                for key in files.iter().flat_map(|f| f.raw.keys()) {
                    if !all.contains(key) {
                        all.push(key.clone());
                    }
                }
                all
            }
        }
    }
}

/// One file's value in `column`.
fn cell(file: &RemoteFile, column: &str, id: &str, archive_url: &str) -> Option<Value> {
    match column {
        IDENTIFIER => Some(Value::String(id.to_owned())),
        LOCATION => Some(Value::String(archive::download_url(
            archive_url,
            id,
            &file.name,
        ))),
        _ => file.raw.get(column).cloned(),
    }
}

/// A value as TSV text: lists joined with `;` (as `ia list`), missing as empty.
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| text(Some(i)))
            .collect::<Vec<_>>()
            .join(";"),
        Some(other) => other.to_string(),
    }
}

/// One TSV line, quoted as Python's csv module (which `ia list` uses) quotes: a cell with a
/// tab, a quote or a line break is put in quotes.
fn tsv(cells: &[String]) -> String {
    let mut w = csv::WriterBuilder::new()
        .delimiter(b'\t')
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(cells);
    let bytes = w.into_inner().unwrap_or_default();
    let s = String::from_utf8_lossy(&bytes);
    s.strip_suffix('\n').unwrap_or(&s).to_owned()
}

/// The lines of one item: an optional header, then one per file.
fn lines(
    files: &[&RemoteFile],
    columns: &[String],
    id: &str,
    archive_url: &str,
    json: bool,
    header: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if header && !json {
        out.push(tsv(columns));
    }
    for f in files {
        if json {
            let mut obj = Map::new();
            for c in columns {
                if let Some(v) = cell(f, c, id, archive_url) {
                    obj.insert(c.clone(), v);
                }
            }
            out.push(Value::Object(obj).to_string());
        } else {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| text(cell(f, c, id, archive_url).as_ref()))
                .collect();
            out.push(tsv(&cells));
        }
    }
    out
}

pub async fn run(global: &GlobalArgs, args: &ListArgs, env: &Env) -> Result<ExitStatus, AppError> {
    let settings = Settings::resolve(global, env)?;
    let transfer = settings.transfer(&args.transfer)?;
    let mut problems = invalid_identifiers(&args.identifiers);
    let filter = args.filter.filter(&mut problems);
    if !problems.is_empty() {
        return Err(problems_error(problems));
    }
    let columns = Columns::of(args);
    let printer = Printer::new(transfer.quiet, true);
    let archive_url = settings.archive_url.as_str();
    let reads = ManyItems {
        client: transport::client(transfer.jobs),
        archive_url: archive_url.to_owned(),
        policy: transfer.policy,
        jobs: transfer.jobs,
        printer: printer.clone(),
    };
    let interrupt = Interrupt::install(printer.clone(), "reads");
    let docs = reads.read(args.identifiers.clone(), interrupt.stop.clone());
    let mut code = ExitStatus::Success;
    run::in_order(docs, |i, doc| {
        let id = &args.identifiers[i];
        let doc = match doc {
            Some(Ok(Some(doc))) => doc,
            None => {
                code = ExitStatus::Interrupted;
                return;
            }
            Some(Ok(None)) => {
                printer.always(&format!("{id}: no such item"));
                code = code.max(ExitStatus::Failed);
                return;
            }
            Some(Err(e)) => {
                printer.always(&format!("{id}: {e}"));
                code = code.max(ExitStatus::Failed);
                return;
            }
        };
        let files = remote_files(&doc);
        let picked: Vec<&RemoteFile> = files.iter().filter(|f| filter.picks(f)).collect();
        if picked.is_empty() {
            printer.always(&if filter.is_empty() {
                format!("{id}: the item has no files")
            } else {
                format!("{id}: no file matches the filters")
            });
            code = code.max(ExitStatus::Failed);
            return;
        }
        let cols = columns.for_files(&picked);
        for line in lines(&picked, &cols, id, archive_url, args.json, args.verbose) {
            printer.data(&line);
        }
    })
    .await;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item_doc::remote_files;
    use serde_json::json;

    fn files() -> Vec<RemoteFile> {
        remote_files(&json!({"files": [
            {"name": "scan 1#.jpg", "size": "10", "format": "JPEG", "source": "original"},
            {"name": "it_meta.xml", "size": "5", "format": "Metadata", "source": "metadata",
             "collection": ["a", "b"], "title": "tab\there"},
        ]}))
    }

    #[test]
    fn tsv_joins_lists_and_quotes_as_ia() {
        let files = files();
        let picked: Vec<&RemoteFile> = files.iter().collect();
        let cols = vec![
            "name".to_owned(),
            "collection".to_owned(),
            "title".to_owned(),
        ];
        assert_eq!(
            lines(&picked, &cols, "it", "http://h", false, true),
            [
                "name\tcollection\ttitle",
                "scan 1#.jpg\t\t",
                "it_meta.xml\ta;b\t\"tab\there\""
            ]
        );
    }

    #[test]
    fn json_lines_keep_lists_and_leave_out_missing_keys() {
        let files = files();
        let picked: Vec<&RemoteFile> = files.iter().collect();
        let cols = vec![
            "identifier".to_owned(),
            "collection".to_owned(),
            "location".to_owned(),
        ];
        assert_eq!(
            lines(&picked, &cols, "it", "http://h/", true, true),
            [
                r#"{"identifier":"it","location":"http://h/download/it/scan%201%23.jpg"}"#,
                r#"{"collection":["a","b"],"identifier":"it","location":"http://h/download/it/it_meta.xml"}"#,
            ]
        );
    }

    #[test]
    fn all_columns_put_name_first_then_every_key_once() {
        let files = files();
        let picked: Vec<&RemoteFile> = files.iter().collect();
        assert_eq!(
            Columns::All.for_files(&picked),
            ["name", "format", "size", "source", "collection", "title"]
        );
        assert_eq!(text(Some(&json!(12))), "12");
        assert_eq!(text(None), "");
    }
}
