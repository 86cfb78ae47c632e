//! Tests of the whole plan module on real files and spreadsheets in temporary folders.
//! Paths in the sheets are absolute (the current directory is shared by parallel tests);
//! relative paths are covered with files of this repository, relative to the package root.
//! This module holds the fixtures; the tests are in [`sheet`] (spreadsheets, and the files and
//! folders they name) and [`args`] (plans from command-line arguments).

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;

mod args;
mod sheet;

struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Creates `rel` (and its folders) holding `contents`; returns its absolute path.
    fn file(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, contents).expect("write");
        path
    }

    fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        fs::create_dir_all(&path).expect("mkdir");
        path
    }

    /// An absolute path string for a sheet cell.
    fn cell(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }

    /// Writes `sheet.csv` with `text`; `{}` in the text stands for the fixture folder.
    fn sheet(&self, text: &str) -> PathBuf {
        self.sheet_bytes(
            text.replace("{}", &self.dir.path().display().to_string())
                .as_bytes(),
        )
    }

    fn sheet_bytes(&self, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join("sheet.csv");
        fs::write(&path, bytes).expect("write sheet");
        path
    }
}

fn opts() -> PlanOptions {
    PlanOptions::default()
}

fn with_meta(pairs: &[(&str, &str)]) -> PlanOptions {
    PlanOptions {
        keep_directories: false,
        metadata: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..PlanOptions::default()
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn keys(item: &ItemPlan) -> Vec<&str> {
    item.files.iter().map(|f| f.key.as_str()).collect()
}

fn rows(item: &ItemPlan) -> Vec<Option<usize>> {
    item.files.iter().map(|f| f.row).collect()
}

fn plan_of(sheet: &Path, opts: &PlanOptions) -> Plan {
    match from_spreadsheet(sheet, opts) {
        Ok(plan) => plan,
        Err(problems) => panic!("unexpected problems: {problems:#?}"),
    }
}

fn problems_of(sheet: &Path, opts: &PlanOptions) -> Vec<Problem> {
    match from_spreadsheet(sheet, opts) {
        Ok(plan) => panic!("expected problems, got {plan:#?}"),
        Err(problems) => problems,
    }
}

/// The one problem at `row` whose message contains `needle`.
fn find<'a>(problems: &'a [Problem], row: Option<usize>, needle: &str) -> &'a Problem {
    let hits: Vec<_> = problems
        .iter()
        .filter(|p| p.row == row && p.message.contains(needle))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "want one problem at {row:?} containing {needle:?} in {problems:#?}"
    );
    hits[0]
}
