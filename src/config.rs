//! `ia.ini`: finding it where `ia` looks, reading it, and writing it so `ia` can read it back.
//!
//! The file is INI as `ia` reads it (Python's strict `RawConfigParser`), never TOML:
//! `[s3] access/secret`, `[cookies] logged-in-user/logged-in-sig`, `[general] screenname`. A file
//! `ia` would refuse (a repeated section or key, a key before any section) is refused, and so is
//! a value iaup uses that cannot be sent (several lines, control characters). The `rust-ini`
//! crate parses and writes the INI; a line-by-line pass before it holds the file to
//! configparser's stricter rules and notes each key's line. Errors name the file and line and
//! never quote the file: any line may hold a secret. Writing keeps every
//! section and key iaup does not own, creates the directory 0700 and the file 0600, and replaces
//! the file atomically through a fresh temporary file. Nothing here prints; secrets leave this
//! module only as [`Secret`].

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use ini::{EscapePolicy, Ini, LineSeparator, ParseOption, WriteOption};

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `msg` is always iaup's own words: never text taken from the file, which may hold a secret.
    #[error("config file {}, line {line}: {msg}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("cannot write config file {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot find a home directory to keep ia.ini in; set IA_CONFIG_FILE or pass --config-file"
    )]
    NoHome,
    #[error("{what} to store has a character that cannot go in an HTTP header (a control character, a line break or a non-ASCII one)")]
    BadValue { what: &'static str },
}

/// Where the environment points, read once so the search order can be tested without touching
/// the process environment.
#[derive(Clone, Debug, Default)]
pub struct ConfigEnv {
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub ia_config_file: Option<PathBuf>,
}

impl ConfigEnv {
    pub fn from_process() -> ConfigEnv {
        let non_empty = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        ConfigEnv {
            home: dirs::home_dir(),
            xdg_config_home: non_empty("XDG_CONFIG_HOME"),
            ia_config_file: non_empty("IA_CONFIG_FILE"),
        }
    }

    /// `$XDG_CONFIG_HOME/internetarchive/ia.ini`, else `~/.config/internetarchive/ia.ini`:
    /// where `ia configure` writes when no config exists yet.
    pub fn default_path(&self) -> Option<PathBuf> {
        let base = match &self.xdg_config_home {
            Some(x) => x.clone(),
            None => self.home.as_ref()?.join(".config"),
        };
        Some(base.join("internetarchive").join("ia.ini"))
    }

    /// `ia`'s search order after `--config-file` and `$IA_CONFIG_FILE`.
    pub fn candidates(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(p) = self.default_path() {
            out.push(p);
        }
        if let Some(home) = &self.home {
            out.push(home.join(".config").join("ia.ini"));
            out.push(home.join(".ia"));
        }
        out
    }

    /// The file to read: an explicit path (flag, then env) wins even if it does not exist yet;
    /// otherwise the first candidate that exists.
    pub fn locate(&self, explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit
            .map(Path::to_path_buf)
            .or_else(|| self.ia_config_file.clone())
        {
            return Some(p);
        }
        self.candidates().into_iter().find(|p| p.exists())
    }

    /// The file `iaup configure` writes: the one it would read, or `ia`'s default location.
    pub fn write_target(&self, explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
        self.locate(explicit)
            .or_else(|| self.default_path())
            .ok_or(ConfigError::NoHome)
    }
}

/// What iaup reads from `ia.ini`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileConfig {
    pub access: Option<String>,
    pub secret: Option<Secret>,
    pub screenname: Option<String>,
    pub logged_in_user: Option<String>,
    pub logged_in_sig: Option<Secret>,
}

impl FileConfig {
    /// True when the file holds a secret: the S3 secret key or the login cookie.
    pub fn holds_secret(&self) -> bool {
        self.secret.is_some() || self.logged_in_sig.is_some()
    }
}

/// Where a key sits in the file: its line, and the first line continuing its value, if any.
#[derive(Clone, Copy, Debug)]
struct KeyAt {
    line: usize,
    more_at: Option<usize>,
}

/// `ia.ini` as read: the INI document (parsed by rust-ini) and, for error messages, the line of
/// each `(section, lower-cased key)`.
struct Loaded {
    ini: Ini,
    keys: HashMap<(String, String), KeyAt>,
}

/// A section or key name from the file, printed only if it looks like a name.
fn shown(name: &str) -> String {
    if name.chars().count() <= 40 && !name.chars().any(char::is_control) {
        name.to_owned()
    } else {
        "(a name too odd to print)".to_owned()
    }
}

fn line_of_byte(bytes: &[u8], at: usize) -> usize {
    bytes[..at].iter().filter(|b| **b == b'\n').count() + 1
}

/// configparser has no quotes and no escapes, and continues a value on an indented line.
fn parse_option() -> ParseOption {
    ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        ..ParseOption::default()
    }
}

/// The text to give rust-ini, and where each key sits.
type Lint = (String, HashMap<(String, String), KeyAt>);

/// Goes over the lines to hold the file to what `ia`'s strict configparser accepts where
/// rust-ini is lenient (text after a `[section]`, a line with no `=`, a key before any section,
/// a repeated section or key) and to note each key's line; values are left to rust-ini. Returns
/// the text to give rust-ini: the same lines, comments blanked, indentation kept only on
/// continuation lines (configparser continues a value only on a line indented deeper than its
/// key's; rust-ini on any indented line).
fn lint(path: &Path, text: &str) -> Result<Lint, ConfigError> {
    let err = |line: usize, msg: String| ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        msg,
    };
    let mut out = String::with_capacity(text.len());
    let mut keys: HashMap<(String, String), KeyAt> = HashMap::new();
    let mut sections_seen: HashMap<&str, usize> = HashMap::new();
    let mut section = None;
    // The key an indented line would continue, and the indentation of the last key or header.
    let mut last_key: Option<(String, String)> = None;
    let mut indent_level = 0;
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        if i > 0 {
            out.push('\n');
        }
        let t = line.trim();
        if t.is_empty() || t.starts_with(['#', ';']) {
            continue;
        }
        if t.ends_with('\\') {
            return Err(err(n, "the line ends with a backslash, which the INI reader would join to the next line; remove it".into()));
        }
        let indent = line.len() - line.trim_start().len();
        if let Some(k) = last_key.as_ref().filter(|_| indent > indent_level) {
            if let Some(at) = keys.get_mut(k) {
                at.more_at.get_or_insert(n);
            }
            out.push('\t');
            out.push_str(t);
            continue;
        }
        indent_level = indent;
        out.push_str(t);
        if let Some(inner) = t.strip_prefix('[') {
            let name = match inner.strip_suffix(']') {
                Some(name) if !name.trim().is_empty() && !name.contains(']') => name.trim(),
                _ => return Err(err(n, "a section header must be `[name]` alone on its line; this one has no closing `]`, or text after it".into())),
            };
            if name != "DEFAULT" {
                if let Some(first) = sections_seen.insert(name, n) {
                    return Err(err(n, format!("section [{}] appears a second time (first on line {first}); ia refuses a repeated section too: merge the two", shown(name))));
                }
            }
            section = Some(name);
            last_key = None;
            continue;
        }
        let Some(sec) = section else {
            return Err(err(
                n,
                "a key comes before any [section] header (ia refuses this too)".into(),
            ));
        };
        let Some(at) = t.find(['=', ':']) else {
            return Err(err(
                n,
                "the line is not a [section] header, a comment or a `key = value` line".into(),
            ));
        };
        let key = t[..at].trim().to_lowercase();
        if key.is_empty() {
            return Err(err(
                n,
                "the line has `=` or `:` with no key before it".into(),
            ));
        }
        let k = (sec.to_owned(), key);
        if let Some(first) = keys.get(&k) {
            return Err(err(n, format!("key {} of section [{}] appears a second time (first on line {}); ia refuses a repeated key too (case does not count): keep one", shown(&k.1), shown(sec), first.line)));
        }
        keys.insert(
            k.clone(),
            KeyAt {
                line: n,
                more_at: None,
            },
        );
        last_key = Some(k);
    }
    Ok((out, keys))
}

/// Parses the bytes of an `ia.ini`. Errors name a line by number and never quote it.
fn parse(path: &Path, bytes: &[u8]) -> Result<Loaded, ConfigError> {
    let err = |line: usize, msg: &str| ConfigError::Parse {
        path: path.to_path_buf(),
        line,
        msg: msg.into(),
    };
    // A UTF-8 byte order mark (Notepad writes one) is not part of the first line.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        err(
            line_of_byte(bytes, e.valid_up_to()),
            "the file is not valid UTF-8 text",
        )
    })?;
    // Universal newlines, as Python reads a text file.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let (clean, keys) = lint(path, &text)?;
    // rust-ini's message is not passed on: keep to iaup's own words, whatever it says.
    let ini = Ini::load_from_str_opt(&clean, parse_option()).map_err(|e| {
        let lines = text.split('\n').count();
        err(
            e.line.clamp(1, lines),
            "the INI reader cannot read this line",
        )
    })?;
    Ok(Loaded { ini, keys })
}

impl Loaded {
    /// A key of a section, or of `[DEFAULT]`, which configparser lends to every section; found
    /// whatever its case, as configparser lower-cases keys.
    fn get(&self, section: &str, key: &str) -> Option<(&str, KeyAt)> {
        [section, "DEFAULT"].into_iter().find_map(|s| {
            let at = *self.keys.get(&(s.to_owned(), key.to_owned()))?;
            let (_, value) = self
                .ini
                .section_all(Some(s))
                .flat_map(|p| p.iter())
                .find(|(k, _)| k.to_lowercase() == key)?;
            Some((value, at))
        })
    }
}

/// Sets `key` in `section`, replacing the key whatever its case in the file.
fn set(ini: &mut Ini, section: &str, key: &str, value: &str) {
    match ini.section_mut(Some(section)) {
        Some(props) => {
            let name = props
                .iter()
                .map(|(k, _)| k)
                .find(|k| k.to_lowercase() == key)
                .unwrap_or(key)
                .to_owned();
            props.insert(name, value);
        }
        None => {
            ini.with_section(Some(section)).set(key, value);
        }
    }
}

/// What a value iaup uses may hold.
#[derive(Clone, Copy)]
enum Rule {
    /// It goes into an HTTP header: printable ASCII (spaces allowed), one line.
    Header,
    /// It is only shown: one line, no control characters.
    Text,
}

fn fits(rule: Rule, value: &str) -> bool {
    match rule {
        Rule::Header => value.chars().all(|c| (' '..='~').contains(&c)),
        Rule::Text => !value.chars().any(char::is_control),
    }
}

/// A key iaup uses, checked: a multi-line value or a character that cannot be sent is an error
/// naming the key and its line, never the value. Empty is `None`.
fn checked(
    doc: &Loaded,
    path: &Path,
    section: &str,
    key: &str,
    rule: Rule,
) -> Result<Option<String>, ConfigError> {
    let Some((value, at)) = doc.get(section, key) else {
        return Ok(None);
    };
    let bad = |msg: String| ConfigError::Parse {
        path: path.to_path_buf(),
        line: at.line,
        msg,
    };
    if value.contains('\n') {
        let why = at.more_at.map_or(String::new(), |m| {
            format!(" (line {m} is indented, so it continues the value)")
        });
        return Err(bad(format!(
            "[{section}] {key} goes on over more than one line{why}; put the value on one line"
        )));
    }
    if !fits(rule, value) {
        return Err(bad(match rule {
            Rule::Header => format!("[{section}] {key} has a character that cannot go in an HTTP header (a control character or a non-ASCII one)"),
            Rule::Text => format!("[{section}] {key} has a control character"),
        }));
    }
    Ok(Some(value.to_owned()).filter(|v| !v.is_empty()))
}

fn load(path: &Path) -> Result<Option<Loaded>, ConfigError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse(path, &bytes).map(Some)
}

/// Checks that the file at `path`, if there is one, is INI that `ia` would read and [`write`]
/// can update. Bad values of keys `write` replaces are not errors here.
pub fn check(path: &Path) -> Result<(), ConfigError> {
    load(path).map(drop)
}

/// Reads the keys iaup uses. A missing file is an empty config.
pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
    let Some(doc) = load(path)? else {
        return Ok(FileConfig::default());
    };
    let get = |sec: &str, key: &str, rule: Rule| checked(&doc, path, sec, key, rule);
    Ok(FileConfig {
        access: get("s3", "access", Rule::Header)?,
        secret: get("s3", "secret", Rule::Header)?.map(Secret::new),
        screenname: get("general", "screenname", Rule::Text)?,
        logged_in_user: get("cookies", "logged-in-user", Rule::Header)?,
        logged_in_sig: get("cookies", "logged-in-sig", Rule::Header)?.map(Secret::new),
    })
}

/// The file's permission bits when group or others may read it (Unix only; ssh refuses such a
/// private key). Never changes anything.
pub fn readable_by_others(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o044 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Values `iaup configure` writes; `None` leaves an existing key alone.
#[derive(Clone, Debug, Default)]
pub struct ConfigUpdate {
    pub access: String,
    pub secret: Secret,
    pub screenname: Option<String>,
    pub logged_in_user: Option<String>,
    pub logged_in_sig: Option<Secret>,
}

/// Merges `update` into the file at `path` (keeping what iaup does not own) and writes it with
/// mode 0600 in a 0700 directory, atomically: a new temporary file (created exclusively, with a
/// random name, never through a link) renamed over `path`.
pub fn write(path: &Path, update: &ConfigUpdate) -> Result<(), ConfigError> {
    let values = [
        ("the access key", Rule::Header, Some(update.access.as_str())),
        ("the secret key", Rule::Header, Some(update.secret.expose())),
        ("the screenname", Rule::Text, update.screenname.as_deref()),
        (
            "the login cookie",
            Rule::Header,
            update.logged_in_user.as_deref(),
        ),
        (
            "the login cookie",
            Rule::Header,
            update.logged_in_sig.as_ref().map(Secret::expose),
        ),
    ];
    for (what, rule, value) in values {
        if value.is_some_and(|v| !fits(rule, v)) {
            return Err(ConfigError::BadValue { what });
        }
    }
    let mut ini = load(path)?.map(|d| d.ini).unwrap_or_default();
    set(&mut ini, "s3", "access", &update.access);
    set(&mut ini, "s3", "secret", update.secret.expose());
    if let Some(user) = &update.logged_in_user {
        set(&mut ini, "cookies", "logged-in-user", user);
    }
    if let Some(sig) = &update.logged_in_sig {
        set(&mut ini, "cookies", "logged-in-sig", sig.expose());
    }
    if let Some(name) = &update.screenname {
        set(&mut ini, "general", "screenname", name);
    }
    // configparser reads a value's later lines only if indented; rust-ini writes them as they are.
    for (_, props) in ini.iter_mut() {
        for (_, v) in props.iter_mut() {
            if v.contains('\n') {
                *v = v.replace('\n', "\n\t");
            }
        }
    }
    let werr = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            create_private_dir(dir).map_err(werr)?;
            dir
        }
        None => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ia.ini".into());
    // O_CREAT|O_EXCL, mode 0600, a random name: a leftover or planted file is never reused.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(werr)?;
    let opt = WriteOption {
        escape_policy: EscapePolicy::Nothing,
        line_separator: LineSeparator::CR,
        kv_separator: " = ",
    };
    ini.write_to_opt(&mut tmp, opt).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    // On failure the temporary file is dropped, which deletes it.
    tmp.persist(path).map_err(|e| werr(e.error))?;
    // Make the rename itself durable (best effort: not every filesystem syncs a directory).
    #[cfg(unix)]
    let _ = fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.exists() {
        // Only tighten a directory that is ia's own; never chmod a user's ~ or ~/.config.
        if dir.file_name().is_some_and(|n| n == "internetarchive") {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(home: &Path) -> ConfigEnv {
        ConfigEnv {
            home: Some(home.to_path_buf()),
            xdg_config_home: None,
            ia_config_file: None,
        }
    }

    #[test]
    fn search_order_matches_ia() {
        let t = tempfile::tempdir().unwrap();
        let e = env(t.path());
        assert_eq!(e.locate(None), None);
        fs::write(t.path().join(".ia"), "[s3]\n").unwrap();
        assert_eq!(e.locate(None), Some(t.path().join(".ia")));
        fs::create_dir_all(t.path().join(".config")).unwrap();
        fs::write(t.path().join(".config/ia.ini"), "[s3]\n").unwrap();
        assert_eq!(e.locate(None), Some(t.path().join(".config/ia.ini")));
        let x = t.path().join("xdg");
        let e2 = ConfigEnv {
            xdg_config_home: Some(x.clone()),
            ..e.clone()
        };
        assert_eq!(
            e2.write_target(None).unwrap(),
            t.path().join(".config/ia.ini"),
            "an existing file is rewritten in place"
        );
        assert_eq!(e2.default_path().unwrap(), x.join("internetarchive/ia.ini"));
        let e3 = ConfigEnv {
            ia_config_file: Some(t.path().join("env.ini")),
            ..e
        };
        assert_eq!(e3.locate(None), Some(t.path().join("env.ini")));
        assert_eq!(
            e3.locate(Some(Path::new("/flag.ini"))),
            Some(PathBuf::from("/flag.ini"))
        );
    }

    #[test]
    fn write_keeps_foreign_keys_and_is_private() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("internetarchive/ia.ini");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(
            &p,
            "[s3]\naccess = old\nsecret = oldsecret\n\n[general]\nsecure = true\n\n[custom]\nx = 1\n",
        )
        .unwrap();
        write(
            &p,
            &ConfigUpdate {
                access: "AK".into(),
                secret: Secret::new("SK"),
                screenname: Some("me".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.contains("access = AK"), "{text}");
        assert!(text.contains("secret = SK"));
        assert!(text.contains("secure = true"));
        assert!(text.contains("[custom]"));
        let c = read(&p).unwrap();
        assert_eq!(c.access.as_deref(), Some("AK"));
        assert_eq!(c.secret.unwrap().expose(), "SK");
        assert_eq!(c.screenname.as_deref(), Some("me"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dmode = fs::metadata(p.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dmode, 0o700);
        }
    }

    #[test]
    fn malformed_file_names_path_and_line() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("ia.ini");
        fs::write(&p, "[s3]\naccess = a\n[broken\n").unwrap();
        let e = read(&p).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("ia.ini"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    fn parse_str(text: &str) -> Result<Loaded, ConfigError> {
        parse(Path::new("ia.ini"), text.as_bytes())
    }

    #[test]
    fn reads_like_configparser() {
        let d = parse_str(
            "\u{feff}# c\n[DEFAULT]\nhost = h\n[s3]\n  Access : AK  \n; c\nsecret=SK\n[x]\nk = a\n\n  # c\n\n  b\n\tc\n",
        )
        .unwrap();
        let (access, at) = d.get("s3", "access").unwrap();
        assert_eq!((access, at.line), ("AK", 5));
        assert_eq!(d.get("s3", "secret").unwrap().0, "SK");
        assert_eq!(d.get("s3", "host").unwrap().0, "h", "[DEFAULT] is lent");
        let (k, at) = d.get("x", "k").unwrap();
        // Python 3.11 reads "a\n\n\nb\nc": it skips the comment line, rust-ini reads it as empty.
        assert_eq!(k, "a\n\n\n\nb\nc");
        assert_eq!(at.more_at, Some(13));
        // A line indented no deeper than its key's line is a new key, not a continuation.
        let d = parse_str("[s3]\n  access = a\n  secret = b\n").unwrap();
        assert_eq!(d.get("s3", "access").unwrap().0, "a");
        assert_eq!(d.get("s3", "secret").unwrap().1.more_at, None);
    }

    #[test]
    fn what_write_writes_reads_back_the_same() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("ia.ini");
        fs::write(
            &p,
            "[x]\nk = a\n  b\n[y]\nz =\n[S3]\nAccess = old\n[s3]\nSECRET = old\n",
        )
        .unwrap();
        let update = ConfigUpdate {
            access: "AK".into(),
            secret: Secret::new("SK"),
            ..Default::default()
        };
        write(&p, &update).unwrap();
        write(&p, &update).unwrap();
        let again = load(&p).unwrap().unwrap();
        assert_eq!(again.get("x", "k").unwrap().0, "a\nb");
        assert_eq!(again.get("y", "z").unwrap().0, "");
        assert_eq!(again.get("S3", "access").unwrap().0, "old");
        let c = read(&p).unwrap();
        assert_eq!(c.access.as_deref(), Some("AK"));
        assert_eq!(
            c.secret.unwrap().expose(),
            "SK",
            "SECRET is replaced, not repeated"
        );
    }

    #[test]
    fn errors_never_quote_the_file() {
        for (text, line) in [
            ("[s3] secret = hunter2\n", 1),
            ("[s3\nsecret = hunter2\n", 1),
            ("[]\n", 1),
            ("secret = hunter2\n", 1),
            ("[s3]\nhunter2\n", 2),
            ("[s3]\n= hunter2\n", 2),
            ("[s3]\n[x]\n[s3]\n", 3),
            ("[s3]\nsecret = hunter2\nSECRET = hunter2\n", 3),
            ("[s3]\nsecret = hunter2\\\nx = 1\n", 2),
            ("[s3]\nsecret = a\n\n[x]\n  [s3]\n", 5),
        ] {
            let e = parse_str(text).err().unwrap().to_string();
            assert!(e.contains(&format!("line {line}:")), "{text:?}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        let e = parse(Path::new("ia.ini"), b"[s3]\nsecret = hunter2\xff\n")
            .err()
            .unwrap();
        assert!(e
            .to_string()
            .contains("line 2: the file is not valid UTF-8"));
    }

    #[test]
    fn write_refuses_a_value_that_cannot_be_read_back() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("ia.ini");
        let update = ConfigUpdate {
            access: "AK".into(),
            secret: Secret::new("hunter2\n  more"),
            ..Default::default()
        };
        let e = write(&p, &update).unwrap_err().to_string();
        assert!(e.contains("secret key") && !e.contains("hunter2"), "{e}");
        assert!(!p.exists());
    }

    #[test]
    fn missing_file_is_empty_config() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(read(&t.path().join("nope")).unwrap(), FileConfig::default());
    }
}
