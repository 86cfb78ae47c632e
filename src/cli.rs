//! The command line, as clap derive types. No logic lives here: `settings` and the commands
//! turn these into validated values before anything runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::secret::Secret;

/// Fast, resumable, ia-compatible bulk uploads to the Internet Archive.
///
/// iaup speaks IAS3 exactly as the `ia` CLI does, reads the same ia.ini and the same
/// spreadsheets, and uploads items in parallel with retries, integrity checks and a clear report.
#[derive(Debug, Parser)]
#[command(name = "iaup", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command. As in `ia`, the short `-c FILE` goes before the command
/// (`iaup -c FILE upload ...`; after it, `-c` is that command's own flag, e.g. upload's
/// `--checksum`); the long forms are accepted anywhere.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Path to ia.ini, before the command (default: $IA_CONFIG_FILE, then ia's search order).
    #[arg(short = 'c', value_name = "FILE", conflicts_with = "config_file")]
    pub config_file_short: Option<PathBuf>,
    /// Path to ia.ini (default: $IA_CONFIG_FILE, then ia's search order).
    #[arg(long, global = true, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// IAS3 endpoint [env: IAUP_S3_URL] (default: the profile's, then
    /// https://s3.us.archive.org).
    #[arg(long, global = true, value_name = "URL")]
    pub s3_url: Option<String>,
    /// archive.org endpoint (metadata API, login) [env: IAUP_ARCHIVE_URL] (default: the
    /// profile's, then https://archive.org).
    #[arg(long, global = true, value_name = "URL")]
    pub archive_url: Option<String>,
    /// Use profile NAME of iaup's config.toml ($IAUP_CONFIG, else
    /// $XDG_CONFIG_HOME/iaup/config.toml) [env: IAUP_PROFILE].
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Print the resolved settings (secrets redacted) and exit.
    #[arg(long, global = true, hide = true)]
    pub show_settings: bool,
}

impl GlobalArgs {
    /// The config file named by `-c` or `--config-file`.
    pub fn config_file(&self) -> Option<&std::path::Path> {
        self.config_file
            .as_deref()
            .or(self.config_file_short.as_deref())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store archive.org S3 keys in ia.ini (log in, or give the keys).
    #[command(alias = "co")]
    Configure(ConfigureArgs),
    /// Upload files to items, from arguments or a spreadsheet.
    #[command(alias = "up", mut_arg("sleep", |a| a.short('s')))]
    Upload(Box<UploadArgs>),
    /// Read or change item metadata (Metadata Write API).
    #[command(alias = "md")]
    Metadata(Box<MetadataArgs>),
    /// Delete files from an item.
    #[command(alias = "rm")]
    Delete(Box<DeleteArgs>),
    /// Show what the resume journal knows about past runs.
    Status(StatusArgs),
    /// Print a shell completion script to stdout.
    Completions(CompletionsArgs),
    /// Write a man page for iaup and for each subcommand into a directory.
    Man(ManArgs),
    /// Download files of items: verified by MD5, resumable, in parallel.
    #[command(alias = "do", mut_arg("history", |a| a.short('a').alias("download-history")))]
    Download(Box<DownloadArgs>),
    /// Search archive.org: identifiers (or chosen fields as JSON lines) of every matching item.
    #[command(alias = "se", mut_arg("timeout", |a| a.short('t')))]
    Search(Box<SearchArgs>),
    /// List an item's files (names, or any columns of the metadata API's file list).
    #[command(alias = "ls")]
    List(Box<ListArgs>),
    /// Show an item's catalog tasks (queued, running, in error), or wait for them to finish.
    #[command(alias = "ta")]
    Tasks(Box<TasksArgs>),
    /// Check that what upload would send is on the Archive: every file with its size and MD5,
    /// every metadata field with its values. Sends no write.
    Verify(Box<VerifyArgs>),
}

// ---- completions, man (owned by the ecosystem work) ----
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
source <(iaup completions bash)                        # this bash session\n  \
iaup completions zsh > ~/.zfunc/_iaup                  # with fpath+=(~/.zfunc) before compinit\n  \
iaup completions fish > ~/.config/fish/completions/iaup.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Writes iaup.1, iaup-upload.1, iaup-metadata.1, ... (one page per command) and \
prints each path written. Existing pages of the same name are replaced.\n\nExample:\n  \
iaup man ~/.local/share/man/man1 && man iaup-upload"
)]
pub struct ManArgs {
    /// Directory for the pages; created if missing.
    #[arg(value_name = "DIR", default_value = ".", value_hint = clap::ValueHint::DirPath)]
    pub dir: PathBuf,
}
// ---- end completions, man ----

// ---- metadata (owned by the metadata/delete work) ----
#[derive(Debug, Args)]
#[command(
    after_help = "Without change flags, prints each item's metadata document as JSON \
(pretty on a terminal, one line per item otherwise). With --modify, --append, --append-list, \
--remove, --insert or --spreadsheet, computes a JSON Patch from the current metadata and sends it.\n\n\
Exit codes: 0 all done (\"no changes\" included), 1 some item failed or does not exist, \
2 bad input or configuration (nothing sent)."
)]
pub struct MetadataArgs {
    /// Item identifiers (omit with --spreadsheet).
    #[arg(value_name = "IDENTIFIER", required_unless_present = "spreadsheet")]
    pub identifiers: Vec<String>,
    /// Set a field: KEY:VALUE (repeat the key for a list), KEY[i]:VALUE (one list element),
    /// KEY:REMOVE_TAG (delete the field or the element).
    #[arg(short = 'm', long, value_name = "KEY:VALUE")]
    pub modify: Vec<String>,
    /// Append VALUE to the text of field KEY, after a space.
    #[arg(short = 'a', long, value_name = "KEY:VALUE")]
    pub append: Vec<String>,
    /// Add VALUE to the list field KEY unless it is already there.
    #[arg(short = 'A', long, value_name = "KEY:VALUE")]
    pub append_list: Vec<String>,
    /// Remove VALUE from field KEY; the field goes when no value is left.
    #[arg(short = 'r', long, value_name = "KEY:VALUE")]
    pub remove: Vec<String>,
    /// Insert VALUE into the list field KEY at index N (KEY[N]:VALUE; KEY:VALUE is index 0),
    /// moving it there if the list has it already; past the end appends.
    #[arg(short = 'i', long, value_name = "KEY[N]:VALUE")]
    pub insert: Vec<String>,
    /// Write only if field KEY (or element KEY[N]) is VALUE: checked on the metadata read
    /// first, and sent as a JSON Patch `test` so the server refuses the write if the field
    /// changed in between.
    #[arg(short = 'E', long, value_name = "KEY:VALUE")]
    pub expect: Vec<String>,
    /// Extra HTTP header KEY:VALUE on the write request.
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE")]
    pub headers: Vec<String>,
    /// CSV with an `identifier` (or `item`) column and metadata columns (`subject[0]`,
    /// `subject[1]`... form a list); each item's cells replace those fields.
    #[arg(short = 's', long, value_name = "FILE", conflicts_with = "identifiers")]
    pub spreadsheet: Option<PathBuf>,
    /// What to change: `metadata` (the item's metadata) or `files/NAME` (one file's metadata).
    /// [default: metadata]
    #[arg(short = 't', long, value_name = "TARGET")]
    pub target: Option<String>,
    /// Priority of the metadata task. [default: -5]
    #[arg(short = 'p', long, value_name = "N", allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Print each item's JSON Patch and send nothing (the current metadata is still read).
    #[arg(short = 'd', long)]
    pub dry_run: bool,
    /// Only check that the items exist: exit 0 if all do, 1 if not.
    #[arg(short = 'e', long, conflicts_with_all = ["formats", "spreadsheet", "modify", "append", "append_list", "remove", "insert"])]
    pub exists: bool,
    /// List the formats of the item's files, one per line.
    #[arg(short = 'F', long, conflicts_with_all = ["spreadsheet", "modify", "append", "append_list", "remove", "insert"])]
    pub formats: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}
// ---- end metadata ----

// ---- delete (owned by the metadata/delete work) ----
#[derive(Debug, Args)]
#[command(
    after_help = "Name the files to delete, or select them with --glob, --format or \
--all; `iaup delete ID` alone deletes nothing. Derivatives go only with --cascade.\n\n\
Exit codes: 0 every selected file deleted, 1 some file failed or was not found, 2 bad input or \
configuration (nothing sent)."
)]
pub struct DeleteArgs {
    /// The item.
    #[arg(value_name = "IDENTIFIER")]
    pub identifier: String,
    /// Remote names of the files to delete.
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    /// Delete the original files whose name matches PATTERN (`*` also matches `/`; `|`
    /// separates patterns, as in ia). Repeatable.
    #[arg(short = 'g', long, value_name = "PATTERN")]
    pub glob: Vec<String>,
    /// Delete the original files of this format, as the metadata API names it (`Text PDF`,
    /// `JPEG`...). Repeatable.
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Vec<String>,
    /// Delete every original file of the item (never its _meta.xml and _files.xml).
    #[arg(short = 'a', long, conflicts_with_all = ["files", "glob", "format"])]
    pub all: bool,
    /// Also delete each file's derivatives (x-archive-cascade-delete: 1).
    #[arg(short = 'c', long)]
    pub cascade: bool,
    /// List what would be deleted and send nothing (the file list is still read).
    #[arg(short = 'd', long)]
    pub dry_run: bool,
    /// Do not keep the deleted file as a history copy (x-archive-keep-old-version).
    #[arg(long)]
    pub no_backup: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}
// ---- end delete ----

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The journal to read (default: the one `iaup upload` uses).
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConfigureArgs {
    /// archive.org account email (prompted for when not given).
    #[arg(short, long, value_name = "EMAIL")]
    pub username: Option<String>,
    /// Account password (prompted for, hidden, when not given). Prefer the prompt: flags are
    /// visible to other users of this machine.
    #[arg(short, long, value_name = "PASSWORD", hide_env_values = true)]
    pub password: Option<Secret>,
    /// Store this S3 access key directly, without logging in (with --secret).
    #[arg(long, value_name = "KEY", requires = "secret", conflicts_with_all = ["username", "password"])]
    pub access: Option<String>,
    /// Store this S3 secret key directly (with --access).
    #[arg(long, value_name = "SECRET", requires = "access")]
    pub secret: Option<Secret>,
    /// Print the configuration in use, with secrets redacted.
    #[arg(long, conflicts_with_all = ["username", "password", "access", "secret", "check"])]
    pub show: bool,
    /// Check that the stored keys work (asks archive.org who they belong to).
    #[arg(long, conflicts_with_all = ["username", "password", "access", "secret"])]
    pub check: bool,
}

#[derive(Clone, Debug, Args)]
#[command(
    after_help = "Exit codes: 0 all files uploaded or skipped, 1 some file failed, \
2 bad input or configuration (nothing sent), 130 interrupted."
)]
pub struct UploadArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Extra request header KEY:VALUE, sent literally.
    #[arg(short = 'H', long = "header", value_name = "KEY:VALUE")]
    pub headers: Vec<String>,
    /// Do not queue a derive task (x-archive-queue-derive: 0 on every file).
    #[arg(short = 'n', long)]
    pub no_derive: bool,
    /// x-archive-size-hint in bytes (default: the item's total size).
    #[arg(long, value_name = "BYTES")]
    pub size_hint: Option<u64>,
    /// Files of at least BYTES are sent with `Expect: 100-continue`: the body waits (up to 1 s)
    /// for the server's go-ahead, so a refusal (403, SlowDown, a redirect) costs no body bytes.
    /// 0 turns it off [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    pub expect_continue_threshold: Option<u64>,
    /// Do not keep the old version of an overwritten file as a history copy.
    #[arg(long)]
    pub no_backup: bool,
    /// Send Content-MD5 (hashes each file before sending it; the ETag is checked either way).
    #[arg(short = 'v', long)]
    pub verify: bool,
    /// Do not check that each `collection` exists before sending (one metadata GET each).
    #[arg(long)]
    pub no_collection_check: bool,
    /// Ask IAS3 whether the items are over their task limit before uploading to them.
    #[arg(long)]
    pub status_check: bool,
    /// Print every planned request (secret masked) and send nothing. Same as --dry-run.
    #[arg(short = 'd', long = "debug", alias = "dry-run")]
    pub dry_run: bool,
    /// The resume journal (default: config.toml's, then $XDG_STATE_HOME/iaup/journal.sqlite).
    #[arg(long, value_name = "PATH", conflicts_with = "no_journal")]
    pub journal: Option<PathBuf>,
    /// Do not read or write the resume journal: every file is sent.
    #[arg(long)]
    pub no_journal: bool,
    /// Skip files whose MD5 equals the item's remote file of the same key (one metadata GET
    /// per item; hashes the local files).
    #[arg(short = 'c', long)]
    pub checksum: bool,
    /// Delete each local file once its upload is confirmed (or it is confirmed already there).
    #[arg(long)]
    pub delete: bool,
    /// Write one record per file to FILE: JSON lines (.jsonl) or CSV (.csv).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// After the last file, wait until the run's items have no queued or running tasks, then
    /// verify them as `iaup verify` does (exit 1 when anything differs or waiting timed out).
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits for the items' tasks, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 3600,
        requires = "wait"
    )]
    pub wait_timeout: u64,
    /// Apply the sheet's (or -m's, or _meta.xml's) metadata to items that already existed and
    /// store other values (Metadata Write API, one patch per item).
    #[arg(long)]
    pub update_metadata: bool,
    /// Files of at least SIZE go up as multipart uploads: in parts sent several at once, each
    /// retried on its own, resumed part by part after a crash (e.g. 10GiB, 500MiB) [default: 4GiB]
    #[arg(long, value_name = "SIZE", conflicts_with = "no_multipart")]
    pub multipart_threshold: Option<bytesize::ByteSize>,
    /// Size of each part of a multipart upload, at least 1MiB (IA, like S3, may refuse parts
    /// under 5MiB) [default: the larger of 1GiB and the file's size / 200]
    #[arg(long, value_name = "SIZE", conflicts_with = "no_multipart")]
    pub part_size: Option<bytesize::ByteSize>,
    /// Parts of one file sent at once [default: 4]
    #[arg(long, value_name = "N", conflicts_with = "no_multipart", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub part_jobs: Option<u32>,
    /// Send every file in one PUT, however big
    #[arg(long)]
    pub no_multipart: bool,
    /// Abort the multipart uploads earlier runs left unfinished (see `iaup status`) whose local
    /// file has changed or is gone: they can never be completed
    #[arg(long)]
    pub abort_stale: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// What to upload, or verify: an identifier and files, a spreadsheet or batch folders, and how
/// keys and metadata are made from them. Shared by `upload` and `verify`, which build the same
/// plan from the same flags.
#[derive(Clone, Debug, Args)]
pub struct PlanArgs {
    /// Item identifier (omit with --spreadsheet or --folders).
    #[arg(value_name = "IDENTIFIER", required_unless_present_any = ["spreadsheet", "folders"])]
    pub identifier: Option<String>,
    /// Files or directories to upload into the item.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// CSV with a `file` column, `identifier`/`item`, optional `REMOTE_NAME`, and metadata columns.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["identifier", "remote_name"])]
    pub spreadsheet: Option<PathBuf>,
    /// A folder of item folders, each named by its identifier (IA's batch layout): its files
    /// are uploaded with keys relative to it; `ID_meta.xml` gives the item's metadata (not
    /// uploaded), `ID_marc.xml`/`ID_meta.mrc` go first, `ID_files.xml` is not uploaded.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["identifier", "spreadsheet", "remote_name", "file_metadata", "keep_directories"])]
    pub folders: Option<PathBuf>,
    /// The spreadsheet's separator: `,`, `;` or `tab` (default: recognised from the header line).
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter, requires = "spreadsheet")]
    pub delimiter: Option<u8>,
    /// Accept multi-line cells whose lines look like rows of the sheet (otherwise refused as a
    /// quote left open that swallowed rows).
    #[arg(long, requires = "spreadsheet")]
    pub allow_multiline_rows: bool,
    /// Item metadata KEY:VALUE (repeat a key for a list). Spreadsheet cells win over it; it wins
    /// over the same field in config.toml's profile or [defaults].
    #[arg(short = 'm', long = "metadata", value_name = "KEY:VALUE")]
    pub metadata: Vec<String>,
    /// Per-file metadata as `ia` reads it: JSON lines (or a JSON array) of
    /// {"name": LOCAL_PATH, FIELD: VALUE or [VALUES]}; the files it names are uploaded.
    #[arg(long, value_name = "FILE", conflicts_with = "spreadsheet")]
    pub file_metadata: Option<PathBuf>,
    /// Remote name (key) for a single file, or for data read from stdin (FILE `-`).
    #[arg(short = 'r', long, value_name = "NAME")]
    pub remote_name: Option<String>,
    /// Keep the local directory path in the key instead of the bare file name.
    #[arg(long)]
    pub keep_directories: bool,
    /// Upload only shard K of N (1-based): items split by a hash of the identifier, so N
    /// machines (a CI matrix, a job array) can share one spreadsheet, each with its own journal.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

// ---- verify (owned by the verify work) ----
#[derive(Debug, Args)]
#[command(
    after_help = "Takes the same inputs as upload and builds the same plan, then reads \
each item's metadata (one GET per item, items in parallel) and prints one line per difference: \
`ID/KEY: missing`, `pending` (not listed yet, the item has queued or running tasks), \
`different (md5 local X, remote Y)`, `extra` (with --extra), and \
`ID: metadata FIELD differs: local [...] remote [...]`.\n\n\
Exit codes: 0 everything is there, 1 something differs, is missing or pending, or could not be \
read, 2 bad input or configuration."
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Also list the items' original files that the plan does not have.
    #[arg(long)]
    pub extra: bool,
    /// Write one record per file and per differing metadata field to FILE: JSON lines (.jsonl)
    /// or CSV (.csv).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}
// ---- end verify ----

/// Which of an item's files `list` and `download` take: every criterion given must hold.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Choosing files")]
pub struct FilterArgs {
    /// Only files whose name matches PATTERN (`*` also matches `/`; `|` separates patterns).
    /// Repeatable.
    #[arg(short = 'g', long, value_name = "PATTERN")]
    pub glob: Vec<String>,
    /// Leave out files whose name matches PATTERN (with or without --glob). Repeatable.
    #[arg(short = 'e', long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Only files of this format, as the metadata API names it (`JPEG`, `Text PDF`...).
    /// Repeatable.
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Vec<String>,
    /// Only files of this source. Repeatable.
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub source: Vec<crate::select::Source>,
    /// Also take old versions kept under `history/files/`.
    #[arg(long)]
    pub history: bool,
}

impl FilterArgs {
    /// The filter the flags make; a bad pattern is a problem.
    pub fn filter(&self, problems: &mut Vec<crate::plan::Problem>) -> crate::select::FileFilter {
        use crate::select::Patterns;
        crate::select::FileFilter {
            globs: Patterns::compile("--glob", &self.glob, problems),
            exclude: Patterns::compile("--exclude", &self.exclude, problems),
            formats: self.format.clone(),
            sources: self.source.clone(),
            history: self.history,
        }
    }
}

/// How every command that sends requests runs them: concurrency, retries, timeouts and what it
/// prints. Unset values come from config.toml's profile or `[defaults]`, then built-in ones.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Transfer options")]
pub struct TransferArgs {
    /// Requests in flight at once (for upload, each to a different item; files of one item go
    /// one at a time) [default: 4, or config.toml's].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: Option<u32>,
    /// Retries per file (or item) for transient failures and SlowDown [default: 10, or
    /// config.toml's].
    #[arg(short = 'R', long, value_name = "N")]
    pub retries: Option<u32>,
    /// Base of the exponential backoff between retries, in seconds [default: 2, or
    /// config.toml's].
    #[arg(long, value_name = "SECONDS")]
    pub sleep: Option<f64>,
    /// Seconds to wait for an answer (for a transfer: after its last byte) [default: 300].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Abort and retry an attempt when no byte moved for this many seconds [default: 60].
    #[arg(long, value_name = "SECONDS")]
    pub stall_timeout: Option<f64>,
    /// Errors and the summary only.
    #[arg(short, long)]
    pub quiet: bool,
    /// No progress bars; a plain progress line every few seconds instead.
    #[arg(long)]
    pub no_progress: bool,
}

impl Command {
    /// The transfer options of the command, if it sends requests in bulk.
    pub fn transfer(&self) -> Option<&TransferArgs> {
        match self {
            Command::Upload(a) => Some(&a.transfer),
            Command::Metadata(a) => Some(&a.transfer),
            Command::Delete(a) => Some(&a.transfer),
            Command::Download(a) => Some(&a.transfer),
            Command::Search(a) => Some(&a.transfer),
            Command::List(a) => Some(&a.transfer),
            Command::Tasks(a) => Some(&a.transfer),
            Command::Verify(a) => Some(&a.transfer),
            _ => None,
        }
    }
}

// ---- download (owned by the download work) ----
#[derive(Clone, Debug, Args)]
#[command(
    after_help = "Without FILE arguments every file of the item is downloaded, except history \
copies (--history); --glob, --exclude, --format and --source narrow that, and all the given \
ones must hold (AND). Each file is written to NAME.part beside its destination, checked \
against the item's size and MD5 while it arrives, and renamed into place only when it is \
right; a .part left by an interrupted run is resumed with a Range request.\n\n\
Examples:\n  \
iaup download nasa nasa_meta.xml\n  \
iaup download --search 'collection:biodiversity' --glob '*_meta.xml|*.jpg' --destdir harvest\n  \
iaup download ID pages.zip/page1.jpg          # one member of a ZIP archive\n\n\
Exit codes: 0 every selected file present and verified, 1 something missing or failed \
(no such item, a named file not in the item, a restricted file, a search without hits), \
2 bad input or configuration (nothing sent), 130 interrupted."
)]
pub struct DownloadArgs {
    /// Item identifier (omit with --search or --itemlist); `ID/FILE` names one file.
    #[arg(value_name = "IDENTIFIER", required_unless_present_any = ["search", "itemlist"])]
    pub identifier: Option<String>,
    /// Files of the item to download, by remote name; `ARCHIVE.zip/MEMBER` is one member of a
    /// ZIP archive of the item.
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    /// Download the items a search finds (the scrape API; query syntax as on archive.org).
    #[arg(short = 'S', long, value_name = "QUERY", conflicts_with_all = ["identifier", "itemlist"])]
    pub search: Option<String>,
    /// Identifiers, one a line, from FILE (`-`: stdin).
    #[arg(short = 'I', long, value_name = "FILE", conflicts_with = "identifier")]
    pub itemlist: Option<PathBuf>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Also download the files archive.org makes on request (ID.epub, ID.mobi, ID_daisy.zip,
    /// ID_archive_marc.xml), as ia does.
    #[arg(long)]
    pub on_the_fly: bool,
    /// Where to write (created if missing) [default: .].
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub destdir: Option<PathBuf>,
    /// Write DESTDIR/NAME instead of DESTDIR/ID/NAME.
    #[arg(long)]
    pub no_directories: bool,
    /// Write the one selected file to stdout (no .part file).
    #[arg(short = 's', long, conflicts_with_all = ["dry_run", "report"])]
    pub stdout: bool,
    /// Print each file's URL and local path and download nothing (the metadata is still read).
    #[arg(short = 'd', long)]
    pub dry_run: bool,
    /// Hash existing local files and skip those whose MD5 is the item's, instead of trusting
    /// the journal's record of size and mtime.
    #[arg(short = 'C', long)]
    pub checksum: bool,
    /// The journal that remembers verified files (default: the one `iaup upload` uses).
    #[arg(long, value_name = "PATH", conflicts_with = "no_journal")]
    pub journal: Option<PathBuf>,
    /// Do not read or write the journal: existing files are judged by --checksum or fetched.
    #[arg(long)]
    pub no_journal: bool,
    /// Write one record per file to FILE: JSON lines (.jsonl) or CSV (.csv).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}
// ---- end download ----

// ---- search, list, tasks (owned by the harvest work) ----
#[derive(Debug, Args)]
#[command(
    after_help = "Output: one identifier a line, unless --field is given: then one JSON \
object a line with `identifier` and those fields (a field an item lacks is left out; \
multi-valued fields are lists). All results are paged through the scrape API with its cursor, \
one page in memory at a time; with `-p rows:N` or `-p page:N` one page of advancedsearch.php \
is asked for instead, as ia does.\n\n\
Exit codes: 0 some item matched (with -n: the count was printed), 1 no item matched or the \
search failed part-way, 2 bad input or a query archive.org refused.\n\n\
Example:\n  \
iaup search 'collection:biodiversity AND oai_updatedate:[2008-06-01 TO 2008-06-13]'"
)]
pub struct SearchArgs {
    /// The query, in archive.org's search syntax (`collection:X AND oai_updatedate:[A TO B]`),
    /// sent as written.
    #[arg(value_name = "QUERY")]
    pub query: String,
    /// One identifier a line (the default when --field is not given).
    #[arg(short = 'i', long, conflicts_with = "field")]
    pub itemlist: bool,
    /// Return FIELD too, as JSON lines (repeatable; `a,b` gives two).
    #[arg(short = 'f', long, value_name = "FIELD")]
    pub field: Vec<String>,
    /// Sort by FIELD, `FIELD desc` for descending (repeatable; `a,b desc` gives two). The
    /// scrape API refuses some fields, such as oai_updatedate.
    #[arg(short = 's', long, value_name = "FIELD[ desc]")]
    pub sort: Vec<String>,
    /// Print only the number of matching items.
    #[arg(short = 'n', long, conflicts_with_all = ["itemlist", "field", "sort"])]
    pub num_found: bool,
    /// Extra search parameter KEY:VALUE (repeatable), e.g. `count:500` (scrape page size);
    /// `rows` or `page` ask for one page of advancedsearch.php instead.
    #[arg(short = 'p', long = "parameters", value_name = "KEY:VALUE")]
    pub parameters: Vec<String>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Columns are keys of the metadata API's file entries (name, size, md5, \
sha1, crc32, format, source, mtime, original...), plus `identifier` (the item) and `location` \
(the file's download URL, percent-encoded). Output is TSV (quoted as ia's csv module does, list \
values joined with `;`), or JSON lines with --json. Filters combine with AND: a file is listed \
when it matches a --glob, no --exclude, one of the --format values and one of the --source \
values; history copies only with --history.\n\n\
Exit codes: 0 files listed for every item, 1 an item does not exist or no file of it matched \
(the other items are still listed), 2 bad input."
)]
pub struct ListArgs {
    /// Item identifiers.
    #[arg(value_name = "IDENTIFIER", required = true)]
    pub identifiers: Vec<String>,
    /// Columns to print, in order (repeatable; `a,b` gives two) [default: name].
    #[arg(short = 'c', long, value_name = "COLUMN")]
    pub columns: Vec<String>,
    /// Every column any file of the item has, `name` first.
    #[arg(short = 'a', long, conflicts_with = "columns")]
    pub all: bool,
    /// A header row with the column names first.
    #[arg(short = 'v', long, conflicts_with = "json")]
    pub verbose: bool,
    /// Print each file's full download URL instead of its name (the `location` column).
    #[arg(short = 'l', long, conflicts_with_all = ["columns", "all"])]
    pub location: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// One JSON object a line, with the chosen columns (lists stay lists).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Needs your S3 keys (the Tasks API answers only to a logged-in \
account). Prints a table (identifier, task_id, state, cmd, submittime), newest first, or with \
--json the API's rows, one a line. With --wait, first waits until no task of any item is \
queued or running (polling the task counts), then lists.\n\n\
Exit codes: 0 no task in error (and, with --wait, all finished in time), 1 a task is in error \
or --wait-timeout passed, 2 bad input or configuration."
)]
pub struct TasksArgs {
    /// Item identifiers.
    #[arg(value_name = "IDENTIFIER", required = true)]
    pub identifiers: Vec<String>,
    /// Also list finished tasks.
    #[arg(long)]
    pub history: bool,
    /// The API's rows as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Wait until no task of the items is queued or running.
    #[arg(short = 'w', long)]
    pub wait: bool,
    /// Give up waiting after this many seconds (exit 1).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 3600.0,
        requires = "wait"
    )]
    pub wait_timeout: f64,
    #[command(flatten)]
    pub transfer: TransferArgs,
}
// ---- end search, list, tasks ----

/// `--delimiter`: one ASCII character, or `tab` / `\t`.
fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" => Ok(s.as_bytes()[0]),
        _ => Err("give one ASCII character such as `,` or `;`, or `tab`".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A derived Debug of the parsed command line (a panic message, a debug log) must not carry
    // the password or the secret key given as flags.
    #[test]
    fn debug_of_parsed_args_never_shows_password_or_secret() {
        for argv in [
            &[
                "iaup",
                "configure",
                "--access",
                "AK",
                "--secret",
                "s3cr3t-zz9",
            ][..],
            &["iaup", "configure", "-u", "a@b.c", "-p", "s3cr3t-zz9"][..],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            let Command::Configure(args) = &cli.command else {
                panic!("parsed as configure");
            };
            for shown in [
                format!("{cli:?}"),
                format!("{args:?}"),
                format!("{args:#?}"),
            ] {
                assert!(!shown.contains("s3cr3t-zz9"), "{shown}");
                assert!(shown.contains("(redacted)"), "{shown}");
            }
            let given = args.secret.as_ref().or(args.password.as_ref()).unwrap();
            assert_eq!(given.expose(), "s3cr3t-zz9");
        }
    }
}
