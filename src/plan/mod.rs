//! The upload plan: turns a spreadsheet (`ia upload --spreadsheet` format) or positional
//! arguments into a [`Plan`] of items, each with its files (local path, remote key, size) and
//! its metadata. Everything is validated before anything is sent, and every problem is
//! collected with its spreadsheet row and column, so a user fixes a sheet in one pass. This
//! module reads local files' metadata and the spreadsheet; it never touches the network and
//! does not decide what is already uploaded (that is the journal's job).

pub mod file_meta;
pub mod files;
mod folders;
mod meta;
mod sheet_text;
mod spreadsheet;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use folders::{from_folders, read_meta_xml};
pub use spreadsheet::{from_spreadsheet, metadata_from_spreadsheet};
pub use validate::{parse_key_value, validate_field_name, validate_identifier, validate_key};

use files::Origin;

/// IA's hard cap on the total size of one item: 1 TiB.
pub const MAX_ITEM_BYTES: u64 = 1 << 40;

/// Ordered item metadata: field name -> one or more values (several = a list, in order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata(pub Vec<(String, Vec<String>)>);

impl Metadata {
    /// The values of `key` (exact name), if set.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A digest of the fields and their values, in order: equal metadata, equal digest.
    pub fn digest(&self) -> String {
        let text = serde_json::to_string(&self.0).expect("strings serialize");
        crate::hash::md5_hex(text.as_bytes())
    }

    /// Fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

/// Everything to upload, items in order of first appearance.
#[derive(Clone, Debug)]
pub struct Plan {
    pub items: Vec<ItemPlan>,
    /// Given paths that no longer exist (or folders left empty) because an earlier `--delete`
    /// run removed them after their upload was confirmed (see [`PlanOptions::uploaded_paths`]).
    pub gone: Vec<PathBuf>,
    /// Things a person should know about how the input was read (a `;` separator...).
    pub notes: Vec<String>,
}

impl Plan {
    /// Number of files over all items.
    pub fn file_count(&self) -> usize {
        self.items.iter().map(|i| i.files.len()).sum()
    }

    /// Bytes over all items.
    pub fn total_bytes(&self) -> u64 {
        self.items.iter().map(|i| i.total_bytes).sum()
    }
}

/// One item and what goes into it.
#[derive(Clone, Debug)]
pub struct ItemPlan {
    pub identifier: String,
    /// Union of its rows' metadata plus `-m` (cells win over `-m`).
    pub metadata: Metadata,
    /// In spreadsheet / argument order; directories expanded in file-name order.
    pub files: Vec<FilePlan>,
    /// Sum of file sizes (sent as `x-archive-size-hint`).
    pub total_bytes: u64,
}

/// One local file and where it goes.
#[derive(Clone, Debug)]
pub struct FilePlan {
    /// As given (joined for directory walks); not canonicalized.
    pub local: PathBuf,
    /// Remote name: UTF-8, `/`-separated, no leading `/`.
    pub key: String,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// 1-based spreadsheet row as a spreadsheet app shows it (header = 1, data from 2).
    pub row: Option<usize>,
    /// Which local file this is, beyond its size and mtime: the journal skips a file only when
    /// the same source was confirmed under the same key.
    pub identity: FileIdentity,
    /// Per-file metadata (`--file-metadata`), sent as `x-archive-filemeta` headers.
    pub file_metadata: Metadata,
}

/// The local file behind a plan entry: its canonical path (links resolved), and on Unix its
/// inode and status-change time, which change when the file is replaced, even by one with the
/// same size and mtime.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileIdentity {
    pub canonical: String,
    pub inode: i64,
    pub ctime_ns: i64,
}

impl FileIdentity {
    /// The identity of `path` whose metadata is `meta`.
    pub fn of(path: &Path, meta: &std::fs::Metadata) -> FileIdentity {
        let canonical = std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string();
        #[cfg(unix)]
        let (inode, ctime_ns) = {
            use std::os::unix::fs::MetadataExt;
            (
                meta.ino() as i64,
                meta.ctime()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(meta.ctime_nsec()),
            )
        };
        #[cfg(not(unix))]
        let (inode, ctime_ns) = {
            let _ = meta;
            (0, 0)
        };
        FileIdentity {
            canonical,
            inode,
            ctime_ns,
        }
    }
}

/// One validation problem.
///
/// Displays as `FILE:ROW: column `COL`: MESSAGE` (absent parts omitted), then
/// `\n  hint: HINT` when there is a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: Option<PathBuf>,
    pub row: Option<usize>,
    /// The text line of the row in the file, when it differs from the row (a quoted cell
    /// above spans lines).
    pub line: Option<u32>,
    pub column: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    /// A problem with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            file: None,
            row: None,
            line: None,
            column: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Sets the file the problem is in (the spreadsheet, or the local path).
    pub fn with_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Sets the 1-based spreadsheet row.
    pub fn with_row(mut self, row: usize) -> Self {
        self.row = Some(row);
        self
    }

    /// Sets the column name.
    pub fn with_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    /// Sets the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.row) {
            (Some(file), Some(row)) => match self.line.filter(|&l| l as usize != row) {
                Some(line) => write!(f, "{}:{line} (row {row}): ", file.display())?,
                None => write!(f, "{}:{row}: ", file.display())?,
            },
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, Some(row)) => write!(f, "row {row}: ")?,
            (None, None) => {}
        }
        if let Some(column) = &self.column {
            write!(f, "column `{column}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

/// Options shared by both inputs.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Keep the given path (not just the file name) in remote names (`--keep-directories`).
    pub keep_directories: bool,
    /// From `-m KEY:VALUE`, already split; a repeated key makes a list, `KEY[i]` an index.
    pub metadata: Vec<(String, String)>,
    /// With `--delete`: local paths the journal saw confirmed uploaded. A given path that is
    /// missing (or a folder left empty) because `--delete` removed what it held is then no
    /// problem: it lands in [`Plan::gone`], so rerunning the same command just goes on.
    pub uploaded_paths: Option<UploadedPaths>,
    /// The spreadsheet's separator; `None` recognises `,`, `;` or tab from the header line.
    pub delimiter: Option<u8>,
    /// Accept multi-line cells whose lines look like rows of the sheet (normally refused as a
    /// quote left open that swallowed rows).
    pub allow_multiline_rows: bool,
}

/// Local paths, as recorded in the journal, of files confirmed uploaded.
#[derive(Clone, Debug, Default)]
pub struct UploadedPaths(pub std::collections::HashSet<String>);

impl UploadedPaths {
    /// True when `given` is a recorded file, or a folder that recorded files were in.
    pub fn covers(&self, given: &Path) -> bool {
        let text = given.to_string_lossy();
        if self.0.contains(text.as_ref()) {
            return true;
        }
        let dir = format!("{}/", text.trim_end_matches('/'));
        self.0.iter().any(|p| p.starts_with(&dir))
    }
}

/// Builds a plan from `iaup upload ID FILE|DIR...`.
///
/// `remote_name` applies only when exactly one plain file is given. Metadata comes from
/// `-m` only. Problems name the offending path (no row).
pub fn from_args(
    identifier: &str,
    paths: &[PathBuf],
    remote_name: Option<&str>,
    opts: &PlanOptions,
) -> Result<Plan, Vec<Problem>> {
    let (options_meta, mut problems) = meta::from_options(&opts.metadata);
    if let Err(why) = validate_identifier(identifier) {
        problems.push(
            Problem::new(format!("invalid identifier `{identifier}`: {why}"))
                .with_hint(validate::IDENTIFIER_RULE),
        );
    }
    if paths.is_empty() {
        problems.push(
            Problem::new("no files to upload")
                .with_hint("name files or folders after the identifier"),
        );
    }
    let remote_name = remote_name.filter(|name| {
        let mut ok = true;
        if let Err(why) = validate_key(name) {
            problems.push(Problem::new(format!(
                "invalid --remote-name `{name}`: {why}"
            )));
            ok = false;
        }
        if paths.len() > 1 {
            problems.push(
                Problem::new(format!(
                    "--remote-name names one file, but {} paths were given",
                    paths.len()
                ))
                .with_hint("give one file with --remote-name, or drop it"),
            );
            ok = false;
        }
        ok
    });
    let mut item = ItemBuilder::new(identifier, None);
    let mut gone = Vec::new();
    for path in paths {
        let expansion = files::expand(
            path,
            opts.keep_directories,
            remote_name,
            Origin::Argument,
            opts.uploaded_paths.as_ref(),
        );
        if expansion.gone {
            gone.push(path.clone());
        }
        if expansion.is_dir == Some(true) && remote_name.is_some() {
            problems.push(
                Problem::new("--remote-name names one file, but this is a folder")
                    .with_file(path)
                    .with_hint("drop --remote-name; a folder's files keep their relative paths"),
            );
        }
        for mut problem in expansion.problems {
            problem.file.get_or_insert_with(|| path.clone());
            problems.push(problem);
        }
        for file in expansion.files {
            item.add_file(file, None, &mut problems);
        }
    }
    let item = item.finish(&options_meta, None, &mut problems);
    if problems.is_empty() {
        Ok(Plan {
            items: vec![item],
            gone,
            notes: Vec::new(),
        })
    } else {
        Err(problems)
    }
}

/// Gathers one item's files and metadata, detecting duplicate keys and conflicting fields.
#[derive(Debug)]
struct ItemBuilder {
    identifier: String,
    /// First spreadsheet row that named the item.
    first_row: Option<usize>,
    /// Field, values, and the row that set them first.
    fields: Vec<(String, Vec<String>, Option<usize>)>,
    files: Vec<FilePlan>,
    /// Key -> index in `files`.
    keys: HashMap<String, usize>,
}

impl ItemBuilder {
    fn new(identifier: &str, first_row: Option<usize>) -> Self {
        ItemBuilder {
            identifier: identifier.to_owned(),
            first_row,
            fields: Vec::new(),
            files: Vec::new(),
            keys: HashMap::new(),
        }
    }

    /// Adds a file unless its key is taken. `sheet` is the spreadsheet, if any.
    fn add_file(&mut self, file: FilePlan, sheet: Option<&Path>, problems: &mut Vec<Problem>) {
        if let Some(&first) = self.keys.get(&file.key) {
            let other = &self.files[first];
            let problem = match (sheet, other.row, file.row) {
                (Some(sheet), Some(first_row), Some(row)) => Problem::new(format!(
                    "two files of item `{}` get the remote name `{}`: row {first_row} (`{}`) and \
                     row {row} (`{}`)",
                    self.identifier,
                    file.key,
                    other.local.display(),
                    file.local.display()
                ))
                .with_file(sheet)
                .with_row(row)
                .with_column("file")
                .with_hint(
                    "give one of them another name in a REMOTE_NAME column, or use \
                     --keep-directories to keep folders in the names",
                ),
                _ => Problem::new(format!(
                    "two files of item `{}` get the remote name `{}`: `{}` and `{}`",
                    self.identifier,
                    file.key,
                    other.local.display(),
                    file.local.display()
                ))
                .with_file(&file.local)
                .with_hint(
                    "rename one of them, or use --keep-directories to keep folders in the names",
                ),
            };
            problems.push(problem);
            return;
        }
        self.keys.insert(file.key.clone(), self.files.len());
        self.files.push(file);
    }

    /// Adds one row's fields; a field the item already has with other values is a problem
    /// naming both rows.
    fn add_fields(
        &mut self,
        fields: Vec<(String, Vec<String>)>,
        sheet: &Path,
        row: usize,
        problems: &mut Vec<Problem>,
    ) {
        for (key, values) in fields {
            match self.fields.iter().find(|(k, _, _)| *k == key) {
                Some((_, old, _)) if *old == values => {}
                Some((_, old, first_row)) => {
                    let first = first_row.map_or_else(String::new, |r| format!("row {r} says "));
                    problems.push(
                        Problem::new(format!(
                            "item `{}` gets two values for `{key}`: {first}{}, row {row} says {}",
                            self.identifier,
                            meta::describe_values(old),
                            meta::describe_values(&values)
                        ))
                        .with_file(sheet)
                        .with_row(row)
                        .with_column(key.clone())
                        .with_hint(
                            "rows of one item share its metadata: leave the cell blank in later \
                             rows, or give the rows different identifiers",
                        ),
                    );
                }
                None => self.fields.push((key, values, Some(row))),
            }
        }
    }

    /// Sets the item's own metadata (a batch folder's `_meta.xml`), which wins over `-m`.
    fn set_fields(&mut self, fields: Vec<(String, Vec<String>)>) {
        self.fields = fields.into_iter().map(|(k, v)| (k, v, None)).collect();
    }

    /// The finished item; an item over [`MAX_ITEM_BYTES`] is a problem.
    fn finish(
        self,
        options_meta: &[(String, Vec<String>)],
        sheet: Option<&Path>,
        problems: &mut Vec<Problem>,
    ) -> ItemPlan {
        let total_bytes: u64 = self.files.iter().map(|f| f.size).sum();
        if total_bytes > MAX_ITEM_BYTES {
            let mut problem = Problem::new(format!(
                "item `{}` totals {total_bytes} bytes ({:.2} TiB), over IA's limit of 1 TiB per item",
                self.identifier,
                total_bytes as f64 / MAX_ITEM_BYTES as f64
            ))
            .with_hint("split its files across several items");
            problem.file = sheet.map(Path::to_path_buf);
            problem.row = self.first_row;
            problems.push(problem);
        }
        let own = self.fields.into_iter().map(|(k, v, _)| (k, v)).collect();
        ItemPlan {
            identifier: self.identifier,
            metadata: meta::merge_over_options(options_meta, own),
            files: self.files,
            total_bytes,
        }
    }
}

/// `--shard K/N`: which of N disjoint parts of a plan to keep (K is 1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Shard, Problem> {
        let bad = || {
            Problem::new(format!("--shard {s:?} is not K/N with 1 <= K <= N"))
                .with_hint("for example --shard 2/8 runs the second of eight parts")
        };
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n) = (
            k.trim().parse::<u64>().map_err(|_| bad())?,
            n.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }

    /// Stable across machines and versions: the first 8 bytes of the identifier's MD5.
    pub fn holds(&self, identifier: &str) -> bool {
        use md5::{Digest, Md5};
        let d = Md5::digest(identifier.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_be_bytes(b) % self.n == self.k - 1
    }
}

impl Plan {
    /// Keeps only the items of `shard`.
    pub fn retain_shard(&mut self, shard: Shard) {
        self.items.retain(|i| shard.holds(&i.identifier));
    }
}

#[cfg(test)]
mod shard_tests {
    use super::Shard;

    #[test]
    fn shards_partition_identifiers() {
        assert!(Shard::parse("0/3").is_err());
        assert!(Shard::parse("4/3").is_err());
        assert!(Shard::parse("x").is_err());
        let shards: Vec<Shard> = (1..=3)
            .map(|k| Shard::parse(&format!("{k}/3")).unwrap())
            .collect();
        for i in 0..300 {
            let id = format!("item-{i}");
            assert_eq!(shards.iter().filter(|s| s.holds(&id)).count(), 1, "{id}");
        }
        let counts: Vec<usize> = shards
            .iter()
            .map(|s| (0..300).filter(|i| s.holds(&format!("item-{i}"))).count())
            .collect();
        assert!(counts.iter().all(|&c| c > 60), "{counts:?}");
    }
}
