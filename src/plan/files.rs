//! Local files: turns one given path (a spreadsheet `file` cell or a positional argument) into
//! the files to upload, with their remote keys, sizes and modification times. Directories are
//! walked in file-name order. Problems come back with message and hint only; the caller says
//! where they came from (spreadsheet row or argument).

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use walkdir::WalkDir;

use super::validate::validate_key;
use super::{FilePlan, Problem, UploadedPaths};

/// Where the path was written, for the wording of hints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    Spreadsheet,
    Argument,
}

/// What one given path expanded to.
#[derive(Debug, Default)]
pub(super) struct Expansion {
    pub(super) files: Vec<FilePlan>,
    pub(super) problems: Vec<Problem>,
    /// `Some(true)` for a directory, `Some(false)` for a file, `None` if it could not be read.
    pub(super) is_dir: Option<bool>,
    /// Missing, or a folder left empty, because `--delete` removed what the journal saw
    /// uploaded: nothing to send and nothing wrong.
    pub(super) gone: bool,
}

impl Expansion {
    fn problem(&mut self, message: String, hint: Option<String>) {
        let mut p = Problem::new(message);
        p.hint = hint;
        self.problems.push(p);
    }
}

/// Expands `given`. `remote_name` (already checked, may end with `/` for a directory) names a
/// plain file, or prefixes a directory's keys. Keys follow `ia`:
/// - file: its file name, or the path as given (normalized) with `keep_directories`;
/// - directory `d`: `d/<relative path>` where `d` is the last component (the whole normalized
///   path with `keep_directories`); `d/` (trailing slash), `.` or `..`: `<relative path>`.
pub(super) fn expand(
    given: &Path,
    keep_directories: bool,
    remote_name: Option<&str>,
    origin: Origin,
    uploaded: Option<&UploadedPaths>,
) -> Expansion {
    let mut out = Expansion::default();
    let meta = match fs::metadata(given) {
        Ok(meta) => meta,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && uploaded.is_some_and(|u| u.covers(given)) =>
        {
            out.gone = true;
            return out;
        }
        Err(e) => {
            let (message, hint) = describe_open_error(given, &e, origin);
            out.problem(message, hint);
            return out;
        }
    };
    if meta.is_dir() {
        out.is_dir = Some(true);
        walk(given, keep_directories, remote_name, uploaded, &mut out);
    } else if meta.is_file() {
        out.is_dir = Some(false);
        let key = match remote_name {
            Some(name) => Ok(name.to_owned()),
            None if keep_directories => path_key(given),
            None => match given.file_name() {
                Some(name) => utf8(name.as_ref()),
                None => Err(format!("`{}` has no file name", given.display())),
            },
        };
        match key {
            Ok(key) => add_file(given.to_path_buf(), key, &meta, &mut out),
            Err(why) => out.problem(
                format!("cannot make a remote name for `{}`: {why}", given.display()),
                Some(key_hint(origin)),
            ),
        }
    } else {
        out.is_dir = Some(false);
        out.problem(
            format!(
                "`{}` is neither a regular file nor a directory",
                given.display()
            ),
            Some("only regular files (or directories of them) can be uploaded".to_owned()),
        );
    }
    out
}

/// The key prefix of a folder's files (`None`: keys are the contents' own paths), or `None`
/// outside (reported) when the folder cannot be named in keys.
fn folder_prefix(
    dir: &Path,
    keep_directories: bool,
    remote_name: Option<&str>,
    out: &mut Expansion,
) -> Option<Option<String>> {
    let prefix = match remote_name {
        Some(name) => Some(name.trim_end_matches('/').to_owned()),
        None if ends_with_separator(dir) => None,
        // As `ia`: the path as given (`./` dropped), so `kyiv/scans` -> `kyiv/scans/...`. An
        // absolute path keeps only the folder's own name (ia would send the whole local path
        // as the key); `--keep-directories` keeps it all, as for files.
        None if dir.is_absolute() && !keep_directories => match dir.components().next_back() {
            Some(Component::Normal(name)) => match utf8(name.as_ref()) {
                Ok(name) => Some(name),
                Err(why) => {
                    out.problem(
                        format!("cannot use the folder `{}` in keys: {why}", dir.display()),
                        None,
                    );
                    return None;
                }
            },
            _ => None,
        },
        None => match path_key(dir) {
            Ok(key) => Some(key),
            // `.` or `/` name no folder: keys are the contents' paths.
            Err(_) if names_no_folder(dir) => None,
            Err(why) => {
                out.problem(
                    format!(
                        "cannot keep the folder `{}` in the keys: {why}",
                        dir.display()
                    ),
                    Some(
                        "run iaup from a folder above the files, or end the folder with `/` \
                         to upload its contents without its name"
                            .to_owned(),
                    ),
                );
                return None;
            }
        },
    };
    Some(prefix)
}

fn walk(
    dir: &Path,
    keep_directories: bool,
    remote_name: Option<&str>,
    uploaded: Option<&UploadedPaths>,
    out: &mut Expansion,
) {
    let Some(prefix) = folder_prefix(dir, keep_directories, remote_name, out) else {
        return;
    };
    let before = out.files.len();
    // Symlinks are followed so a linked folder is uploaded like a real one; walkdir detects
    // loops and reports them as errors, which become problems.
    for entry in WalkDir::new(dir).follow_links(true).sort_by_file_name() {
        walk_entry(dir, prefix.as_deref(), entry, out);
    }
    if out.files.len() == before && out.problems.is_empty() {
        if uploaded.is_some_and(|u| u.covers(dir)) {
            out.gone = true;
            return;
        }
        out.problem(
            format!("the folder `{}` contains no files", dir.display()),
            Some("empty folders cannot be uploaded; remove the row or add files".to_owned()),
        );
    }
}

/// One entry of a folder walk: a regular file becomes a plan file under `prefix`; anything
/// else that is not a folder is reported.
fn walk_entry(
    dir: &Path,
    prefix: Option<&str>,
    entry: walkdir::Result<walkdir::DirEntry>,
    out: &mut Expansion,
) {
    let entry = match entry {
        Ok(entry) => entry,
        Err(e) => {
            let at = e.path().unwrap_or(dir).display().to_string();
            let message = if e.loop_ancestor().is_some() {
                format!("symlink loop at `{at}`")
            } else if let Some(io) = e.io_error() {
                format!("cannot read `{at}`: {io}")
            } else {
                format!("cannot read `{at}`: {e}")
            };
            out.problem(message, None);
            return;
        }
    };
    if entry.file_type().is_dir() {
        return;
    }
    let path = entry.path();
    let meta = match entry.metadata() {
        Ok(meta) => meta,
        Err(e) => {
            out.problem(format!("cannot read `{}`: {e}", path.display()), None);
            return;
        }
    };
    if !meta.is_file() {
        out.problem(
            format!(
                "`{}` is neither a regular file nor a directory",
                path.display()
            ),
            Some("only regular files can be uploaded; move it out of the folder".to_owned()),
        );
        return;
    }
    let relative = path
        .strip_prefix(dir)
        .map_err(|e| e.to_string())
        .and_then(path_key);
    let relative = match relative {
        Ok(relative) => relative,
        Err(why) => {
            out.problem(
                format!("cannot make a remote name for `{}`: {why}", path.display()),
                None,
            );
            return;
        }
    };
    let key = match prefix {
        Some(prefix) => format!("{prefix}/{relative}"),
        None => relative,
    };
    add_file(path.to_path_buf(), key, &meta, out);
}

/// Checks the key and that the file can be opened, then records it.
fn add_file(local: PathBuf, key: String, meta: &fs::Metadata, out: &mut Expansion) {
    if let Err(why) = validate_key(&key) {
        out.problem(
            format!(
                "invalid remote name `{key}` for `{}`: {why}",
                local.display()
            ),
            None,
        );
        return;
    }
    if let Err(e) = fs::File::open(&local) {
        out.problem(format!("cannot open `{}`: {e}", local.display()), None);
        return;
    }
    out.files.push(FilePlan {
        key,
        size: meta.len(),
        mtime_ns: mtime_ns(meta),
        row: None,
        identity: super::FileIdentity::of(&local, meta),
        file_metadata: super::Metadata::default(),
        local,
    });
}

/// The path as a key: `/`-separated normal components; `.` parts and any root are dropped.
fn path_key(path: &Path) -> Result<String, String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(utf8(part.as_ref())?),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => return Err("it goes up with `..`".to_owned()),
        }
    }
    if parts.is_empty() {
        return Err("it names no file".to_owned());
    }
    Ok(parts.join("/"))
}

/// True for `.`, `/` and the like: paths made only of roots and `.`.
fn names_no_folder(path: &Path) -> bool {
    path.components().all(|c| {
        matches!(
            c,
            Component::CurDir | Component::RootDir | Component::Prefix(_)
        )
    })
}

fn utf8(part: &Path) -> Result<String, String> {
    part.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("`{}` is not valid UTF-8", part.display()))
}

fn ends_with_separator(path: &Path) -> bool {
    let text = path.as_os_str().to_string_lossy();
    text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR)
}

/// Why the file at `path` is no longer the one seen as `size`, `mtime_ns` and `identity`
/// (gone, another size, modified, replaced), if it is not.
pub fn changed(
    path: &Path,
    size: u64,
    mtime: i64,
    identity: &super::FileIdentity,
) -> Option<&'static str> {
    match fs::metadata(path) {
        Err(_) => Some("is gone"),
        Ok(m) if m.len() != size => Some("changed size"),
        Ok(m) if mtime_ns(&m) != mtime => Some("was modified"),
        Ok(m) if super::FileIdentity::of(path, &m) != *identity => Some("was replaced"),
        Ok(_) => None,
    }
}

/// A file's mtime in nanoseconds since the epoch, as plans and the journal keep it.
pub fn mtime_ns(meta: &fs::Metadata) -> i64 {
    let Ok(modified) = meta.modified() else {
        return 0;
    };
    let clamp = |nanos: u128| i64::try_from(nanos).unwrap_or(i64::MAX);
    match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => clamp(after.as_nanos()),
        Err(before) => -clamp(before.duration().as_nanos()),
    }
}

fn describe_open_error(
    path: &Path,
    e: &std::io::Error,
    origin: Origin,
) -> (String, Option<String>) {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            let cwd = std::env::current_dir()
                .map(|d| format!(" ({})", d.display()))
                .unwrap_or_default();
            let hint = match origin {
                Origin::Spreadsheet => format!(
                    "paths in the `file` column are relative to the current directory{cwd}, \
                     not to the spreadsheet's folder, as with ia"
                ),
                Origin::Argument => {
                    format!("relative paths are resolved from the current directory{cwd}")
                }
            };
            (format!("`{}` does not exist", path.display()), Some(hint))
        }
        _ => (format!("cannot read `{}`: {e}", path.display()), None),
    }
}

fn key_hint(origin: Origin) -> String {
    match origin {
        Origin::Spreadsheet => "set its remote name in a REMOTE_NAME column".to_owned(),
        Origin::Argument => "set its remote name with --remote-name".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys_are_normalized() {
        let key = |p: &str| path_key(Path::new(p));
        assert_eq!(key("./data/a.txt").as_deref(), Ok("data/a.txt"));
        assert_eq!(key("data/./sub//a.txt").as_deref(), Ok("data/sub/a.txt"));
        assert_eq!(key("/abs/a.txt").as_deref(), Ok("abs/a.txt"));
        assert!(key("../a.txt").unwrap_err().contains("`..`"));
        assert!(key(".").unwrap_err().contains("names no file"));
    }

    #[test]
    fn dot_and_root_name_no_folder() {
        assert!(names_no_folder(Path::new(".")));
        assert!(names_no_folder(Path::new("/")));
        assert!(!names_no_folder(Path::new("./d")));
        assert!(!names_no_folder(Path::new("..")));
    }

    #[test]
    fn missing_paths_explain_where_relative_paths_start() {
        let out = expand(
            Path::new("surely/not/here.txt"),
            false,
            None,
            Origin::Spreadsheet,
            None,
        );
        assert_eq!(out.is_dir, None);
        assert!(out.files.is_empty());
        let problem = &out.problems[0];
        assert_eq!(problem.message, "`surely/not/here.txt` does not exist");
        let hint = problem.hint.as_deref().unwrap();
        assert!(
            hint.contains("current directory") && hint.contains("spreadsheet"),
            "{hint}"
        );
    }
}
