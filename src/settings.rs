//! Flags, environment and `ia.ini` merged once into one validated [`Settings`].
//!
//! Precedence: flags, then environment (`IA_ACCESS_KEY_ID` + `IA_SECRET_ACCESS_KEY`,
//! `IAUP_S3_URL`, `IAUP_ARCHIVE_URL`), then the config file. The engine and the commands see only
//! `Settings`, never clap types, and `--show-settings` prints it (secrets redacted) so every rule
//! here can be tested from outside.

use std::path::{Path, PathBuf};
use std::sync::Once;

use crate::cli::GlobalArgs;
use crate::config::{self, ConfigEnv, ConfigError, FileConfig};
use crate::output;
use crate::secret::{Credentials, Secret};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{set} is set but {missing} is not; set both or neither")]
    HalfEnv {
        set: &'static str,
        missing: &'static str,
    },
    #[error("invalid {flag} {value:?}: {reason}")]
    BadUrl {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("no S3 keys configured")]
    NoCredentials,
    #[error("{} has an [s3] section with only one of access and secret", path.display())]
    HalfFile { path: PathBuf },
}

/// Where the credentials came from, for `--show-settings` and `configure --show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Environment,
    ConfigFile,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub credentials: Option<Credentials>,
    pub credentials_source: Option<Source>,
    pub s3_url: String,
    pub archive_url: String,
    /// The config file read (or that would be written), when one is known.
    pub config_path: Option<PathBuf>,
    pub file: FileConfig,
}

/// The process environment values settings care about, read once.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub config: ConfigEnv,
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
}

impl Env {
    pub fn from_process() -> Env {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            config: ConfigEnv::from_process(),
            access_key: get("IA_ACCESS_KEY_ID"),
            secret_key: get("IA_SECRET_ACCESS_KEY").map(Secret::new),
        }
    }
}

/// Warns, once per process, that a config file holding a secret is readable by other users, as
/// ssh does for a private key. The file is left as it is.
fn warn_open_config(path: &Path, mode: u32) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        output::note(&format!(
            "warning: {} holds your archive.org keys and other users can read it (mode {mode:04o}); \
             run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    });
}

fn check_url(flag: &'static str, value: &str) -> Result<String, SettingsError> {
    let bad = |reason: &str| SettingsError::BadUrl {
        flag,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let u = url::Url::parse(value).map_err(|e| bad(&e.to_string()))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(bad("only http and https URLs work"));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(bad("give a base URL without ?query or #fragment"));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

impl Settings {
    pub fn resolve(args: &GlobalArgs, env: &Env) -> Result<Settings, SettingsError> {
        let s3_url = check_url("--s3-url", &args.s3_url)?;
        let archive_url = check_url("--archive-url", &args.archive_url)?;
        let config_path = env.config.locate(args.config_file());
        let file = match &config_path {
            Some(p) => config::read(p)?,
            None => FileConfig::default(),
        };
        if let Some(p) = config_path.as_deref().filter(|_| file.holds_secret()) {
            if let Some(mode) = config::readable_by_others(p) {
                warn_open_config(p, mode);
            }
        }
        let (credentials, credentials_source) = match (&env.access_key, &env.secret_key) {
            (Some(a), Some(s)) => (
                Some(Credentials {
                    access: a.clone(),
                    secret: s.clone(),
                }),
                Some(Source::Environment),
            ),
            (Some(_), None) => {
                return Err(SettingsError::HalfEnv {
                    set: "IA_ACCESS_KEY_ID",
                    missing: "IA_SECRET_ACCESS_KEY",
                })
            }
            (None, Some(_)) => {
                return Err(SettingsError::HalfEnv {
                    set: "IA_SECRET_ACCESS_KEY",
                    missing: "IA_ACCESS_KEY_ID",
                })
            }
            (None, None) => match (&file.access, &file.secret) {
                (Some(a), Some(s)) => (
                    Some(Credentials {
                        access: a.clone(),
                        secret: s.clone(),
                    }),
                    Some(Source::ConfigFile),
                ),
                (None, None) => (None, None),
                _ => {
                    return Err(SettingsError::HalfFile {
                        path: config_path.clone().unwrap_or_default(),
                    })
                }
            },
        };
        Ok(Settings {
            credentials,
            credentials_source,
            s3_url,
            archive_url,
            config_path,
            file,
        })
    }

    /// Just the archive URL, for `configure`, which must work before any keys exist.
    pub fn resolve_archive_url(args: &GlobalArgs) -> Result<String, SettingsError> {
        check_url("--archive-url", &args.archive_url)
    }

    /// The S3 keys, or an error telling how to get them.
    pub fn require_credentials(&self) -> Result<&Credentials, SettingsError> {
        self.credentials
            .as_ref()
            .ok_or(SettingsError::NoCredentials)
    }

    /// A human-readable dump with every secret redacted.
    pub fn show(&self) -> String {
        let src = match self.credentials_source {
            Some(Source::Environment) => "environment (IA_ACCESS_KEY_ID)",
            Some(Source::ConfigFile) => "config file",
            None => "none",
        };
        let mut s = String::new();
        let file = match &self.config_path {
            Some(p) if p.exists() => p.display().to_string(),
            Some(p) => format!("{} (does not exist)", p.display()),
            None => "(none)".into(),
        };
        s.push_str(&format!("config file: {file}\n"));
        s.push_str(&format!("credentials from: {src}\n"));
        match &self.credentials {
            Some(c) => s.push_str(&format!("access: {}\nsecret: {}\n", c.access, c.secret)),
            None => s.push_str("access: (none)\nsecret: (none)\n"),
        }
        s.push_str(&format!(
            "s3 url: {}\narchive url: {}",
            self.s3_url, self.archive_url
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: Option<PathBuf>) -> GlobalArgs {
        GlobalArgs {
            config_file: config,
            config_file_short: None,
            s3_url: "https://s3.us.archive.org".into(),
            archive_url: "https://archive.org/".into(),
            show_settings: false,
        }
    }

    #[test]
    fn env_keys_win_over_file_and_half_env_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("ia.ini");
        std::fs::write(&p, "[s3]\naccess = FA\nsecret = FS\n").unwrap();
        let mut env = Env::default();
        let s = Settings::resolve(&args(Some(p.clone())), &env).unwrap();
        assert_eq!(s.credentials.as_ref().unwrap().access, "FA");
        assert_eq!(s.credentials_source, Some(Source::ConfigFile));
        assert_eq!(s.archive_url, "https://archive.org");
        env.access_key = Some("EA".into());
        let e = Settings::resolve(&args(Some(p.clone())), &env).unwrap_err();
        assert!(e.to_string().contains("IA_SECRET_ACCESS_KEY"), "{e}");
        env.secret_key = Some(Secret::new("env-secret-zz9"));
        let s = Settings::resolve(&args(Some(p)), &env).unwrap();
        assert_eq!(s.credentials.as_ref().unwrap().access, "EA");
        assert!(!s.show().contains("env-secret-zz9"));
        assert!(!format!("{s:?}").contains("FS"));
    }

    #[test]
    fn bad_url_is_rejected() {
        let mut a = args(None);
        a.s3_url = "ftp://x".into();
        assert!(Settings::resolve(&a, &Env::default()).is_err());
    }
}
