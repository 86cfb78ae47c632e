//! `--delete`: the one place iaup removes a local file after sending it. A file goes only once
//! the server's confirmation is safe: with a journal, after the journal committed it (the
//! writer's [`journal::Note::Committed`], or an earlier run's record); without one, after the
//! run's owner handled the confirmation event. Never a path two entries of the plan share
//! (the other may not be sent yet), and never the stdin spool, which the user did not name
//! (its handle removes it). Who calls: the run's owner task, and `upload` for files an earlier
//! run confirmed. This module decides and removes; it prints nothing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::journal;
use crate::plan::Plan;

/// The `--delete` of one run: which local files must stay whatever happens.
#[derive(Debug, Default)]
pub struct LocalDeletes {
    /// Local paths of more than one plan entry.
    shared: HashSet<PathBuf>,
    /// The stdin spool, when the run reads stdin.
    spool: Option<PathBuf>,
}

/// What became of one removal.
#[derive(Debug, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// Kept on purpose, with what to tell the user (nothing for the stdin spool).
    Kept(Option<String>),
    /// The file system refused: what to tell the user.
    Failed(String),
}

impl Removal {
    /// The line to show: a failure always, a file kept on purpose unless `quiet`.
    pub fn line(self, quiet: bool) -> Option<String> {
        match self {
            Removal::Removed => None,
            Removal::Kept(note) => note.filter(|_| !quiet),
            Removal::Failed(warning) => Some(warning),
        }
    }
}

impl LocalDeletes {
    /// For `plan`, whose stdin spool (if any) is `spool`.
    pub fn new(plan: &Plan, spool: Option<&Path>) -> LocalDeletes {
        LocalDeletes {
            shared: shared_local_paths(plan),
            spool: spool.map(Path::to_path_buf),
        }
    }

    /// Removes `path`, a file whose confirmation is safe (see the module's doc).
    pub fn remove(&self, path: &Path) -> Removal {
        if self.spool.as_deref() == Some(path) {
            return Removal::Kept(None);
        }
        if self.shared.contains(path) {
            return Removal::Kept(Some(format!(
                "note: --delete: kept {}: other rows upload it too",
                path.display()
            )));
        }
        match std::fs::remove_file(path) {
            Ok(()) => Removal::Removed,
            Err(e) => Removal::Failed(format!(
                "--delete: could not remove {}: {e}",
                path.display()
            )),
        }
    }

    /// What the owner does with the journal writer's notes: removes the files whose
    /// confirmation is now committed. Returns the lines to show, in order.
    pub fn after_notes(
        deletes: Option<&LocalDeletes>,
        notes: Vec<journal::Note>,
        quiet: bool,
    ) -> Vec<String> {
        notes
            .into_iter()
            .filter_map(|note| match note {
                journal::Note::Warning(w) => Some(w),
                journal::Note::Committed(path) => deletes.and_then(|d| d.remove(&path).line(quiet)),
            })
            .collect()
    }
}

/// Local paths used by more than one file of the plan.
pub fn shared_local_paths(plan: &Plan) -> HashSet<PathBuf> {
    let mut seen = HashSet::new();
    let mut shared = HashSet::new();
    for fp in plan.items.iter().flat_map(|i| &i.files) {
        if !seen.insert(&fp.local) {
            shared.insert(fp.local.clone());
        }
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FileIdentity, FilePlan, ItemPlan};

    fn plan(paths: &[&Path]) -> Plan {
        let files = paths
            .iter()
            .enumerate()
            .map(|(i, p)| FilePlan {
                local: p.to_path_buf(),
                key: format!("k{i}"),
                size: 1,
                mtime_ns: 1,
                row: None,
                identity: FileIdentity::default(),
                file_metadata: Default::default(),
            })
            .collect();
        Plan {
            items: vec![ItemPlan {
                identifier: "item".into(),
                metadata: Default::default(),
                files,
                total_bytes: paths.len() as u64,
            }],
            gone: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn only_a_named_file_of_one_entry_is_removed() {
        let t = tempfile::tempdir().unwrap();
        let (one, shared, spool) = (
            t.path().join("one"),
            t.path().join("shared"),
            t.path().join("stdin-x"),
        );
        for p in [&one, &shared, &spool] {
            std::fs::write(p, b"x").unwrap();
        }
        let d = LocalDeletes::new(&plan(&[&one, &shared, &shared, &spool]), Some(&spool));
        assert_eq!(d.remove(&one), Removal::Removed);
        assert!(!one.exists());
        let kept = d.remove(&shared);
        assert!(shared.exists(), "two rows send it: kept");
        assert!(kept
            .line(false)
            .unwrap()
            .contains("other rows upload it too"));
        assert_eq!(d.remove(&shared).line(true), None, "-q hides the note");
        assert_eq!(d.remove(&spool), Removal::Kept(None));
        assert!(spool.exists(), "the stdin spool is its handle's to remove");
        let gone = d.remove(&one);
        assert!(matches!(&gone, Removal::Failed(w) if w.contains("could not remove")));
        assert!(gone.line(true).is_some(), "a failure is said even with -q");
    }

    #[test]
    fn committed_notes_remove_their_files_and_warnings_pass_through() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        std::fs::write(&a, b"x").unwrap();
        let d = LocalDeletes::new(&plan(&[&a]), None);
        let lines = LocalDeletes::after_notes(
            Some(&d),
            vec![
                journal::Note::Warning("warning: disk full".into()),
                journal::Note::Committed(a.clone()),
            ],
            false,
        );
        assert_eq!(lines, vec!["warning: disk full".to_string()]);
        assert!(!a.exists());
    }
}
