//! `ia.ini`: finding it where `ia` looks, reading it, and writing it so `ia` can read it back.
//!
//! The file is INI (Python's configparser), never TOML: `[s3] access/secret`,
//! `[cookies] logged-in-user/logged-in-sig`, `[general] screenname`. Writing keeps every section
//! and key iaup does not own, creates the directory 0700 and the file 0600, and replaces the file
//! atomically. Nothing here prints; secrets leave this module only as [`Secret`].

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use ini::{Ini, LineSeparator, ParseOption, WriteOption};

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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

fn parse_option() -> ParseOption {
    ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        ..ParseOption::default()
    }
}

/// Reads and parses an INI file. A missing file is `Ok(None)`.
pub fn load_ini(path: &Path) -> Result<Option<Ini>, ConfigError> {
    let text = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let text = String::from_utf8(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        line: line_of_byte(e.as_bytes(), e.utf8_error().valid_up_to()),
        msg: "the file is not valid UTF-8".into(),
    })?;
    // The INI parser reports an unclosed `[section` at the end of the file; name its line.
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') && !t.ends_with(']') {
            return Err(ConfigError::Parse {
                path: path.to_path_buf(),
                line: n + 1,
                msg: format!("section header {t:?} is not closed with ]"),
            });
        }
    }
    Ini::load_from_str_opt(&text, parse_option())
        .map(Some)
        .map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: (e.line + 1).min(text.lines().count().max(1)),
            msg: e.msg.to_string(),
        })
}

fn line_of_byte(bytes: &[u8], at: usize) -> usize {
    bytes[..at].iter().filter(|b| **b == b'\n').count() + 1
}

pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
    let Some(ini) = load_ini(path)? else {
        return Ok(FileConfig::default());
    };
    let get = |sec: &str, key: &str| {
        ini.get_from(Some(sec), key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Ok(FileConfig {
        access: get("s3", "access"),
        secret: get("s3", "secret").map(Secret::new),
        screenname: get("general", "screenname"),
        logged_in_user: get("cookies", "logged-in-user"),
        logged_in_sig: get("cookies", "logged-in-sig").map(Secret::new),
    })
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
/// mode 0600 in a 0700 directory, atomically.
pub fn write(path: &Path, update: &ConfigUpdate) -> Result<(), ConfigError> {
    let mut ini = load_ini(path)?.unwrap_or_default();
    ini.with_section(Some("s3"))
        .set("access", update.access.as_str())
        .set("secret", update.secret.expose());
    if let Some(user) = &update.logged_in_user {
        ini.with_section(Some("cookies"))
            .set("logged-in-user", user.as_str());
    }
    if let Some(sig) = &update.logged_in_sig {
        ini.with_section(Some("cookies"))
            .set("logged-in-sig", sig.expose());
    }
    if let Some(name) = &update.screenname {
        ini.with_section(Some("general"))
            .set("screenname", name.as_str());
    }
    let werr = |source| ConfigError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut buf = Vec::new();
    ini.write_to_opt(
        &mut buf,
        WriteOption {
            escape_policy: ini::EscapePolicy::Nothing,
            line_separator: LineSeparator::CR,
            kv_separator: " = ",
        },
    )
    .map_err(werr)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(werr)?;
    }
    let tmp = path.with_extension("ini.tmp");
    let result = (|| {
        let mut f = private_file(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(werr)
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

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::File::create(path)
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

    #[test]
    fn missing_file_is_empty_config() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(read(&t.path().join("nope")).unwrap(), FileConfig::default());
    }
}
