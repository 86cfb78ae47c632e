//! The journal's record of runs, for `iaup status`: what each run was (its command line with
//! any secret masked, working directory, spreadsheet), when it started and ended, and its file
//! counts as they stood when it stopped; then every file not confirmed (in either direction),
//! with its local path made absolute. The queries read journals of every schema version, so `status`
//! works on an old journal without migrating it (it opens read-only).

use std::path::Path;

use rusqlite::params;

use super::{now, sql, Direction, Journal, JournalError};

/// What a run is, recorded when it begins.
#[derive(Clone, Debug, Default)]
pub struct RunStart {
    /// The subcommand: `upload`.
    pub command: String,
    /// The whole command line, secrets masked ([`mask_args`]).
    pub command_line: String,
    /// The working directory, absolute.
    pub cwd: Option<String>,
    /// The spreadsheet, absolute.
    pub spreadsheet: Option<String>,
    /// Files skipped before the run began (already uploaded, per the journal).
    pub skipped: usize,
}

impl RunStart {
    /// This process's `upload` run: its own command line and directory.
    pub fn upload(spreadsheet: Option<&Path>, skipped: usize) -> RunStart {
        RunStart {
            command: "upload".into(),
            command_line: shell_words(&mask_args(
                std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
            )),
            cwd: std::env::current_dir()
                .ok()
                .map(|d| d.display().to_string()),
            spreadsheet: spreadsheet
                .and_then(|s| std::path::absolute(s).ok())
                .map(|s| s.display().to_string()),
            skipped,
        }
    }
}

/// Flags whose value is a secret.
const SECRET_FLAGS: &[&str] = &["--secret", "--password", "-p"];
/// Text after which the rest of an argument is a secret.
const SECRET_MARKS: &[&str] = &["IA_SECRET_ACCESS_KEY="];

/// `args` with every secret replaced by `***`: the value of `--secret`, `--password` and
/// `-p` (`--secret X`, `--secret=X`, `-pX`), and whatever follows `IA_SECRET_ACCESS_KEY=`.
/// The program is named by its file name only.
pub fn mask_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut secret_next = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 {
            let name = Path::new(&arg)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or(arg);
            out.push(name);
            continue;
        }
        if std::mem::take(&mut secret_next) {
            out.push("***".into());
            continue;
        }
        if SECRET_FLAGS.contains(&arg.as_str()) {
            secret_next = true;
            out.push(arg);
            continue;
        }
        if let Some(flag) = SECRET_FLAGS
            .iter()
            .filter(|f| f.starts_with("--"))
            .find(|f| arg.starts_with(&format!("{f}=")))
        {
            out.push(format!("{flag}=***"));
            continue;
        }
        if arg.starts_with("-p") && !arg.starts_with("--") {
            out.push("-p***".into());
            continue;
        }
        match SECRET_MARKS
            .iter()
            .find_map(|m| arg.find(m).map(|at| at + m.len()))
        {
            Some(end) => out.push(format!("{}***", &arg[..end])),
            None => out.push(arg),
        }
    }
    out
}

/// `args` as one line a shell would split back into them.
pub fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_alphanumeric() || "_@%+=:,./-".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A run's files by what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Confirmed by the server: uploaded (or downloaded and verified).
    pub confirmed: i64,
    pub skipped: i64,
    pub failed: i64,
    pub interrupted: i64,
    pub not_started: i64,
}

#[derive(Clone, Debug)]
pub struct RunInfo {
    pub id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub endpoint: String,
    pub command: String,
    /// `None` for a run recorded before schema 3.
    pub command_line: Option<String>,
    pub cwd: Option<String>,
    pub spreadsheet: Option<String>,
    pub outcome: Option<String>,
    pub counts: RunCounts,
    /// True when `counts` are as the run left them; false for a run recorded before schema 3,
    /// whose counts are the journal's files still attributed to it now.
    pub frozen: bool,
}

#[derive(Clone, Debug)]
pub struct FileProblem {
    pub direction: Direction,
    pub identifier: String,
    pub key: String,
    /// Absolute when the journal knows where the file was (its canonical path, or the run's
    /// directory); otherwise as it was given.
    pub local_path: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub run_id: Option<i64>,
}

impl Journal {
    pub fn begin_run(&mut self, endpoint: &str, start: &RunStart) -> Result<i64, JournalError> {
        // The row and the run's lock appear together: no other run sees the row before the
        // lock is held (and takes the run for killed).
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql(&self.path))?;
        tx.execute(
            "INSERT INTO runs (started_at, endpoint, command, command_line, cwd, spreadsheet,
                   n_confirmed, n_skipped, n_failed, n_interrupted, n_not_started)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, 0, 0, 0)",
            params![
                now(),
                endpoint,
                start.command,
                start.command_line,
                start.cwd,
                start.spreadsheet,
                start.skipped as i64
            ],
        )
        .map_err(sql(&self.path))?;
        let id = tx.last_insert_rowid();
        // Held until the writer ends: other runs see this one alive.
        let lock = super::claims::lock_run(&self.path, id)?;
        tx.commit().map_err(sql(&self.path))?;
        self.run_lock = Some(lock);
        Ok(id)
    }

    /// Runs, newest first, with their file counts.
    pub fn runs(&self) -> Result<Vec<RunInfo>, JournalError> {
        let done = confirmed_state(self.version);
        let live = format!(
            "(SELECT count(*) FROM files f WHERE f.run_id = r.id AND f.state = '{done}'),
            (SELECT count(*) FROM files f WHERE f.run_id = r.id AND f.state = 'failed'),
            (SELECT count(*) FROM files f WHERE f.run_id = r.id
               AND f.state IN ('pending', 'in_flight'))"
        );
        let v3 = if self.version >= 4 {
            "r.command_line, r.cwd, r.spreadsheet, r.n_confirmed, r.n_skipped, r.n_failed,
             r.n_interrupted, r.n_not_started"
        } else if self.version == 3 {
            "r.command_line, r.cwd, r.spreadsheet, r.n_uploaded, r.n_skipped, r.n_failed,
             r.n_interrupted, r.n_not_started"
        } else {
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT r.id, r.started_at, r.finished_at, r.endpoint, r.command, r.outcome,
                   {live}, {v3}
                 FROM runs r ORDER BY r.id DESC"
            ))
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map([], |r| {
                let frozen: Option<i64> = r.get(12)?;
                let counts = match frozen {
                    Some(confirmed) => RunCounts {
                        confirmed,
                        skipped: r.get::<_, Option<i64>>(13)?.unwrap_or(0),
                        failed: r.get::<_, Option<i64>>(14)?.unwrap_or(0),
                        interrupted: r.get::<_, Option<i64>>(15)?.unwrap_or(0),
                        not_started: r.get::<_, Option<i64>>(16)?.unwrap_or(0),
                    },
                    None => RunCounts {
                        confirmed: r.get(6)?,
                        failed: r.get(7)?,
                        not_started: r.get(8)?,
                        ..RunCounts::default()
                    },
                };
                Ok(RunInfo {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    endpoint: r.get(3)?,
                    command: r.get(4)?,
                    outcome: r.get(5)?,
                    command_line: r.get(9)?,
                    cwd: r.get(10)?,
                    spreadsheet: r.get(11)?,
                    counts,
                    frozen: frozen.is_some(),
                })
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql(&self.path))
    }

    /// Every file whose last state is not confirmed, with its reason.
    pub fn problems(&self) -> Result<Vec<FileProblem>, JournalError> {
        let done = confirmed_state(self.version);
        let direction = if self.version >= 4 {
            "f.direction"
        } else {
            "'upload'"
        };
        let canonical = if self.version >= 2 {
            "f.canonical_path"
        } else {
            "NULL"
        };
        let cwd = if self.version >= 3 {
            "(SELECT r.cwd FROM runs r WHERE r.id = f.run_id)"
        } else {
            "NULL"
        };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT f.identifier, f.key, f.local_path, f.state, f.attempts, f.last_error,
                   f.run_id, {canonical}, {cwd}, {direction} = 'download'
                 FROM files f
                 WHERE f.state != '{done}' ORDER BY f.run_id, f.identifier, f.key"
            ))
            .map_err(sql(&self.path))?;
        let rows = stmt
            .query_map([], |r| {
                let given: String = r.get(2)?;
                let canonical: Option<String> = r.get(7)?;
                let cwd: Option<String> = r.get(8)?;
                let local_path = match (canonical, cwd) {
                    (Some(c), _) => c,
                    (None, Some(dir)) => Path::new(&dir).join(&given).display().to_string(),
                    (None, None) => given,
                };
                Ok(FileProblem {
                    direction: if r.get(9)? {
                        Direction::Download
                    } else {
                        Direction::Upload
                    },
                    identifier: r.get(0)?,
                    key: r.get(1)?,
                    local_path,
                    state: r.get(3)?,
                    attempts: r.get(4)?,
                    last_error: r.get(5)?,
                    run_id: r.get(6)?,
                })
            })
            .map_err(sql(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql(&self.path))
    }
}

/// A confirmed file's state in a journal of schema `version`: `uploaded` before 4.
fn confirmed_state(version: i64) -> &'static str {
    if version >= 4 {
        "confirmed"
    } else {
        "uploaded"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(args: &[&str]) -> String {
        shell_words(&mask_args(args.iter().map(|s| s.to_string())))
    }

    #[test]
    fn secrets_on_a_command_line_are_masked() {
        assert_eq!(
            masked(&[
                "/usr/bin/iaup",
                "configure",
                "--secret",
                "s3cr3t",
                "-p",
                "pw"
            ]),
            "iaup configure --secret '***' -p '***'"
        );
        assert_eq!(
            masked(&["iaup", "x", "--password=pw", "-ppw", "--secret=s"]),
            "iaup x '--password=***' '-p***' '--secret=***'"
        );
        assert_eq!(
            masked(&["iaup", "upload", "-m", "a:IA_SECRET_ACCESS_KEY=abc def"]),
            "iaup upload -m 'a:IA_SECRET_ACCESS_KEY=***'"
        );
        assert_eq!(
            masked(&[
                "iaup",
                "upload",
                "it",
                "it's here.txt",
                "--journal",
                "j.sqlite"
            ]),
            r"iaup upload it 'it'\''s here.txt' --journal j.sqlite"
        );
    }
}
