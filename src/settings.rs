//! Flags, environment, iaup's own `config.toml` and `ia.ini` merged once into one validated
//! [`Settings`].
//!
//! Precedence: flags, then environment (`IA_ACCESS_KEY_ID` + `IA_SECRET_ACCESS_KEY`,
//! `IAUP_S3_URL`, `IAUP_ARCHIVE_URL`, `IA_CONFIG_FILE`), then the chosen profile of
//! `config.toml` (`--profile` / `IAUP_PROFILE`), then its `[defaults]`, then built-in values;
//! credentials come only from the environment or `ia.ini`. The engine and the commands see only
//! `Settings`, never clap types, and `--show-settings` / `configure --show` print it (secrets
//! redacted, each value with where it came from) so every rule here can be tested from outside.

pub mod profiles;

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use crate::cli::{GlobalArgs, PlanArgs, TransferArgs, UploadArgs};
use crate::config::{self, ConfigEnv, ConfigError, FileConfig};
use crate::output;
use crate::secret::{Credentials, Secret};
use crate::transport::RetryPolicy;
use profiles::{IaupConfig, Layer, TomlError};

/// Built-in upload defaults, used when no flag, profile or `[defaults]` sets them.
pub const DEFAULT_JOBS: u32 = 4;
pub const DEFAULT_RETRIES: u32 = 10;
pub const DEFAULT_SLEEP: f64 = 2.0;
/// Seconds to wait for an answer (after a transfer's last byte).
pub const DEFAULT_TIMEOUT: f64 = 300.0;
/// Seconds without a byte moving before an attempt is abandoned.
pub const DEFAULT_STALL_TIMEOUT: f64 = 60.0;
/// Bytes from which a PUT waits for `100 Continue` before its body.
pub const DEFAULT_EXPECT_CONTINUE_THRESHOLD: u64 = 1 << 20;
pub const DEFAULT_S3_URL: &str = "https://s3.us.archive.org";
pub const DEFAULT_ARCHIVE_URL: &str = "https://archive.org";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Toml(#[from] TomlError),
    #[error("{what} in {}: {reason}", path.display())]
    BadValue {
        what: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{set} is set but {missing} is not; set both or neither")]
    HalfEnv {
        set: &'static str,
        missing: &'static str,
    },
    #[error("invalid {flag} {value:?}: {reason}")]
    BadUrl {
        flag: String,
        value: String,
        reason: String,
    },
    #[error("{flag} must be a number of seconds >= 0, not {value}")]
    BadSeconds { flag: &'static str, value: f64 },
    #[error("no S3 keys configured")]
    NoCredentials,
    #[error("{} has an [s3] section with only one of access and secret", path.display())]
    HalfFile { path: PathBuf },
}

/// A command's transfer options, resolved: what the scheduler, the retry loop and the display
/// run with.
#[derive(Clone, Debug)]
pub struct Transfer {
    pub jobs: usize,
    pub policy: RetryPolicy,
    pub answer_timeout: Duration,
    pub stall_timeout: Duration,
    pub quiet: bool,
    pub no_progress: bool,
}

/// Transfer values with their origins, for `--show-settings`.
struct TransferValues {
    jobs: (u32, Origin),
    retries: (u32, Origin),
    sleep: (f64, Origin),
    timeout: (f64, Origin),
    stall_timeout: (f64, Origin),
}

/// Where the credentials came from, for `--show-settings` and `configure --show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Environment,
    ConfigFile,
}

/// Where a value came from, printed after it by `configure --show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(&'static str),
    Profile(String),
    Defaults,
    BuiltIn,
    /// `ia.ini` found by `ia`'s search order.
    Search,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(n) => write!(f, "flag {n}"),
            Origin::Env(n) => write!(f, "environment {n}"),
            Origin::Profile(n) => write!(f, "profile {n}"),
            Origin::Defaults => f.write_str("[defaults]"),
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::Search => f.write_str("ia's search order"),
        }
    }
}

/// iaup's own config.toml, read, with the profile chosen.
#[derive(Clone, Debug, Default)]
pub struct Own {
    /// The file's path (it may not exist), when a home folder or `IAUP_CONFIG` says where.
    pub path: Option<PathBuf>,
    pub profile: Option<(String, Layer)>,
    pub defaults: Layer,
}

impl Own {
    /// Reads config.toml and picks `--profile` / `IAUP_PROFILE`.
    pub fn load(args: &GlobalArgs, env: &Env) -> Result<Own, SettingsError> {
        let path = profiles::locate(
            env.iaup_config.as_deref(),
            env.config.xdg_config_home.as_deref(),
            env.config.home.as_deref(),
        );
        let cfg = match &path {
            Some(p) => profiles::read(p)?,
            None => IaupConfig::default(),
        };
        let name = args.profile.clone().or_else(|| env.profile.clone());
        let profile = match name {
            Some(n) => {
                let p = path.clone().unwrap_or_else(|| PathBuf::from("config.toml"));
                Some((n.clone(), cfg.profile(&p, &n)?.clone()))
            }
            None => None,
        };
        let own = Own {
            path,
            profile,
            defaults: cfg.defaults,
        };
        own.check()?;
        Ok(own)
    }

    fn layers(&self) -> impl Iterator<Item = (Origin, &Layer)> {
        self.profile
            .iter()
            .map(|(n, l)| (Origin::Profile(n.clone()), l))
            .chain(std::iter::once((Origin::Defaults, &self.defaults)))
    }

    fn file(&self) -> PathBuf {
        self.path.clone().unwrap_or_default()
    }

    fn check(&self) -> Result<(), SettingsError> {
        for (origin, l) in self.layers() {
            let bad = |key: &str, reason: &str| SettingsError::BadValue {
                what: format!("{key} of {origin}"),
                path: self.file(),
                reason: reason.to_owned(),
            };
            if l.jobs.is_some_and(|j| !(1..=64).contains(&j)) {
                return Err(bad("jobs", "give 1 to 64"));
            }
            if l.sleep.is_some_and(|s| !s.is_finite() || s < 0.0) {
                return Err(bad("sleep", "give a number of seconds >= 0"));
            }
            if let Some(k) = l.metadata.keys().find(|k| k.is_empty() || k.contains(':')) {
                return Err(bad(
                    &format!("metadata field {k:?}"),
                    "a field name has no `:`",
                ));
            }
            for (key, url) in [("s3_url", &l.s3_url), ("archive_url", &l.archive_url)] {
                if let Some(u) = url {
                    let label = format!("{key} of {origin} in {}", self.file().display());
                    check_url(&label, u)?;
                }
            }
        }
        Ok(())
    }

    /// The first layer (profile, then `[defaults]`) that sets a value, and which one it was.
    fn pick<T>(&self, get: impl Fn(&Layer) -> Option<T>) -> Option<(T, Origin)> {
        self.layers().find_map(|(o, l)| get(l).map(|v| (v, o)))
    }

    /// A path from config.toml, relative to its folder.
    fn path_in(&self, p: &Path) -> PathBuf {
        match self.path.as_deref().and_then(Path::parent) {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// flag > env > profile > [defaults] > built-in, for an endpoint.
    fn url(
        &self,
        flag: (Option<&String>, &'static str),
        env: (Option<&String>, &'static str),
        get: fn(&Layer) -> Option<String>,
        builtin: &str,
    ) -> Result<(String, Origin), SettingsError> {
        let (v, o) = if let Some(v) = flag.0 {
            (v.clone(), Origin::Flag(flag.1))
        } else if let Some(v) = env.0 {
            (v.clone(), Origin::Env(env.1))
        } else {
            self.pick(get)
                .unwrap_or_else(|| (builtin.to_owned(), Origin::BuiltIn))
        };
        Ok((check_url(flag.1, &v)?, o))
    }

    /// The ia.ini named by `-c`/`--config-file`, `IA_CONFIG_FILE` or the profile, if any.
    pub fn ia_ini(&self, args: &GlobalArgs, env: &Env) -> (Option<PathBuf>, Origin) {
        if let Some(p) = args.config_file() {
            (Some(p.to_path_buf()), Origin::Flag("--config-file"))
        } else if let Some(p) = &env.config.ia_config_file {
            (Some(p.clone()), Origin::Env("IA_CONFIG_FILE"))
        } else if let Some((p, o)) = self.pick(|l| l.config_file.clone()) {
            (Some(self.path_in(&p)), o)
        } else {
            (None, Origin::Search)
        }
    }
}

/// Upload defaults after flags, profile, `[defaults]` and built-in values, with their origins.
#[derive(Clone, Debug)]
pub struct UploadDefaults {
    pub jobs: (u32, Origin),
    pub retries: (u32, Origin),
    pub sleep: (f64, Origin),
    pub timeout: (f64, Origin),
    pub stall_timeout: (f64, Origin),
    pub expect_continue_threshold: (u64, Origin),
    pub journal: Option<(PathBuf, Origin)>,
    /// KEY:VALUE strings from the config, for fields no `--metadata` flag names.
    pub metadata: Vec<(String, Origin)>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub credentials: Option<Credentials>,
    pub credentials_source: Option<Source>,
    pub s3_url: String,
    pub archive_url: String,
    pub s3_url_origin: Origin,
    pub archive_url_origin: Origin,
    /// The config file read (or that would be written), when one is known.
    pub config_path: Option<PathBuf>,
    pub config_path_origin: Origin,
    pub file: FileConfig,
    /// iaup's own config.toml and the profile chosen.
    pub own: Own,
}

/// The process environment values settings care about, read once.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub config: ConfigEnv,
    pub access_key: Option<String>,
    pub secret_key: Option<Secret>,
    pub s3_url: Option<String>,
    pub archive_url: Option<String>,
    /// `IAUP_CONFIG`: iaup's own config.toml.
    pub iaup_config: Option<PathBuf>,
    /// `IAUP_PROFILE`.
    pub profile: Option<String>,
}

impl Env {
    pub fn from_process() -> Env {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            config: ConfigEnv::from_process(),
            access_key: get("IA_ACCESS_KEY_ID"),
            secret_key: get("IA_SECRET_ACCESS_KEY").map(Secret::new),
            s3_url: get("IAUP_S3_URL"),
            archive_url: get("IAUP_ARCHIVE_URL"),
            iaup_config: get("IAUP_CONFIG").map(PathBuf::from),
            profile: get("IAUP_PROFILE"),
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

fn check_url(flag: &str, value: &str) -> Result<String, SettingsError> {
    let bad = |reason: &str| SettingsError::BadUrl {
        flag: flag.to_owned(),
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
        let own = Own::load(args, env)?;
        let (s3_url, s3_url_origin) = own.url(
            (args.s3_url.as_ref(), "--s3-url"),
            (env.s3_url.as_ref(), "IAUP_S3_URL"),
            |l| l.s3_url.clone(),
            DEFAULT_S3_URL,
        )?;
        let archive_url = Self::archive_url_of(&own, args, env)?;
        let (ini, config_path_origin) = own.ia_ini(args, env);
        let config_path = env.config.locate(ini.as_deref());
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
            archive_url: archive_url.0,
            s3_url_origin,
            archive_url_origin: archive_url.1,
            config_path,
            config_path_origin,
            file,
            own,
        })
    }

    fn archive_url_of(
        own: &Own,
        args: &GlobalArgs,
        env: &Env,
    ) -> Result<(String, Origin), SettingsError> {
        own.url(
            (args.archive_url.as_ref(), "--archive-url"),
            (env.archive_url.as_ref(), "IAUP_ARCHIVE_URL"),
            |l| l.archive_url.clone(),
            DEFAULT_ARCHIVE_URL,
        )
    }

    /// Just the archive URL, for `configure`, which must work before any keys exist.
    pub fn resolve_archive_url(args: &GlobalArgs, env: &Env) -> Result<String, SettingsError> {
        Ok(Self::archive_url_of(&Own::load(args, env)?, args, env)?.0)
    }

    /// The ia.ini `configure` writes: `-c`, `IA_CONFIG_FILE` or the profile's, else `ia`'s.
    pub fn write_target(args: &GlobalArgs, env: &Env) -> Result<PathBuf, SettingsError> {
        let (ini, _) = Own::load(args, env)?.ia_ini(args, env);
        Ok(env.config.write_target(ini.as_deref())?)
    }

    /// The upload defaults with no flag given (for `configure --show`).
    pub fn upload_defaults(&self, args: Option<&UploadArgs>) -> UploadDefaults {
        let own = &self.own;
        let t = self.transfer_values(args.map(|a| &a.transfer));
        let journal = args
            .and_then(|a| a.journal.clone())
            .map(|p| (p, Origin::Flag("--journal")))
            .or_else(|| {
                own.pick(|l| l.journal.clone())
                    .map(|(p, o)| (own.path_in(&p), o))
            });
        let metadata = self.default_metadata(args.map(|a| a.plan.metadata.as_slice()));
        UploadDefaults {
            jobs: t.jobs,
            retries: t.retries,
            sleep: t.sleep,
            timeout: t.timeout,
            stall_timeout: t.stall_timeout,
            expect_continue_threshold: args
                .and_then(|a| a.expect_continue_threshold)
                .map(|b| (b, Origin::Flag("--expect-continue-threshold")))
                .unwrap_or((DEFAULT_EXPECT_CONTINUE_THRESHOLD, Origin::BuiltIn)),
            journal,
            metadata,
        }
    }

    /// `args` with jobs, retries, sleep and journal filled in from the profile, `[defaults]`
    /// or built-in values, and the config's metadata before the `--metadata` flags.
    pub fn upload_args(&self, args: &UploadArgs) -> UploadArgs {
        let d = self.upload_defaults(Some(args));
        let mut out = args.clone();
        out.transfer.jobs = Some(d.jobs.0);
        out.transfer.retries = Some(d.retries.0);
        out.transfer.sleep = Some(d.sleep.0);
        out.transfer.timeout = Some(d.timeout.0);
        out.transfer.stall_timeout = Some(d.stall_timeout.0);
        out.expect_continue_threshold = Some(d.expect_continue_threshold.0);
        if !args.no_journal {
            out.journal = d.journal.map(|j| j.0);
        }
        out.plan.metadata = d.metadata.into_iter().map(|m| m.0).collect();
        out.plan.metadata.extend(args.plan.metadata.iter().cloned());
        out
    }

    /// `plan` with the config's metadata before its `--metadata` flags, as [`Self::upload_args`]
    /// fills it in: `verify` builds the plan upload would.
    pub fn plan_args(&self, plan: &PlanArgs) -> PlanArgs {
        let mut out = plan.clone();
        out.metadata = self
            .default_metadata(Some(&plan.metadata))
            .into_iter()
            .map(|m| m.0)
            .collect();
        out.metadata.extend(plan.metadata.iter().cloned());
        out
    }

    /// The config's metadata (profile, then `[defaults]`) as `KEY:VALUE`s with their origin,
    /// leaving out fields the `--metadata` flags `given` set: per field, the flag wins over the
    /// profile, which wins over `[defaults]`.
    fn default_metadata(&self, given: Option<&[String]>) -> Vec<(String, Origin)> {
        let given: Vec<&str> = given
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.split_once(':'))
            .map(|(k, _)| k)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        let mut metadata = Vec::new();
        for (origin, l) in self.own.layers() {
            for (k, v) in &l.metadata {
                if given.contains(&k.as_str()) || !seen.insert(k.clone()) {
                    continue;
                }
                for v in v.values() {
                    metadata.push((format!("{k}:{v}"), origin.clone()));
                }
            }
        }
        metadata
    }

    /// Each transfer value and where it came from: flag, then profile, then `[defaults]`, then
    /// built-in.
    fn transfer_values(&self, args: Option<&TransferArgs>) -> TransferValues {
        let own = &self.own;
        fn pick<T>(
            flag: Option<T>,
            name: &'static str,
            layer: Option<(T, Origin)>,
            builtin: T,
        ) -> (T, Origin) {
            flag.map(|v| (v, Origin::Flag(name)))
                .or(layer)
                .unwrap_or((builtin, Origin::BuiltIn))
        }
        TransferValues {
            jobs: pick(
                args.and_then(|a| a.jobs),
                "--jobs",
                own.pick(|l| l.jobs),
                DEFAULT_JOBS,
            ),
            retries: pick(
                args.and_then(|a| a.retries),
                "--retries",
                own.pick(|l| l.retries),
                DEFAULT_RETRIES,
            ),
            sleep: pick(
                args.and_then(|a| a.sleep),
                "--sleep",
                own.pick(|l| l.sleep),
                DEFAULT_SLEEP,
            ),
            timeout: pick(
                args.and_then(|a| a.timeout),
                "--timeout",
                None,
                DEFAULT_TIMEOUT,
            ),
            stall_timeout: pick(
                args.and_then(|a| a.stall_timeout),
                "--stall-timeout",
                None,
                DEFAULT_STALL_TIMEOUT,
            ),
        }
    }

    /// A command's transfer options, resolved and checked.
    pub fn transfer(&self, args: &TransferArgs) -> Result<Transfer, SettingsError> {
        let v = self.transfer_values(Some(args));
        let seconds = |flag: &'static str, value: f64| {
            Duration::try_from_secs_f64(value)
                .map_err(|_| SettingsError::BadSeconds { flag, value })
        };
        Ok(Transfer {
            jobs: v.jobs.0 as usize,
            policy: RetryPolicy {
                retries: v.retries.0,
                base: seconds("--sleep", v.sleep.0)?,
                ..RetryPolicy::default()
            },
            answer_timeout: seconds("--timeout", v.timeout.0)?,
            stall_timeout: seconds("--stall-timeout", v.stall_timeout.0)?,
            quiet: args.quiet,
            no_progress: args.no_progress,
        })
    }

    /// The S3 keys, or an error telling how to get them.
    pub fn require_credentials(&self) -> Result<&Credentials, SettingsError> {
        self.credentials
            .as_ref()
            .ok_or(SettingsError::NoCredentials)
    }

    /// A human-readable dump with every secret redacted.
    pub fn show(&self) -> String {
        self.show_with(None, None)
    }

    /// [`Settings::show`] with a command's own flags applied (`iaup upload --show-settings -j 8`;
    /// `upload` is given for `iaup upload`).
    pub fn show_with(
        &self,
        transfer: Option<&TransferArgs>,
        upload: Option<&UploadArgs>,
    ) -> String {
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
        let own = match &self.own.path {
            Some(p) if p.exists() => p.display().to_string(),
            Some(p) => format!("{} (does not exist)", p.display()),
            None => "(none)".into(),
        };
        s.push_str(&format!("iaup config: {own}\n"));
        if let Some((name, _)) = &self.own.profile {
            s.push_str(&format!("profile: {name}\n"));
        }
        s.push_str(&format!(
            "config file: {file} ({})\n",
            self.config_path_origin
        ));
        s.push_str(&format!("credentials from: {src}\n"));
        match &self.credentials {
            Some(c) => s.push_str(&format!("access: {}\nsecret: {}\n", c.access, c.secret)),
            None => s.push_str("access: (none)\nsecret: (none)\n"),
        }
        s.push_str(&format!(
            "s3 url: {} ({})\narchive url: {} ({})",
            self.s3_url, self.s3_url_origin, self.archive_url, self.archive_url_origin
        ));
        let d = self.upload_defaults(None);
        let t = self.transfer_values(transfer);
        s.push_str(&format!("\nupload jobs: {} ({})", t.jobs.0, t.jobs.1));
        s.push_str(&format!(
            "\nupload retries: {} ({})",
            t.retries.0, t.retries.1
        ));
        s.push_str(&format!("\nupload sleep: {} ({})", t.sleep.0, t.sleep.1));
        s.push_str(&format!("\ntimeout: {} ({})", t.timeout.0, t.timeout.1));
        s.push_str(&format!(
            "\nstall timeout: {} ({})",
            t.stall_timeout.0, t.stall_timeout.1
        ));
        let (expect, origin) = self.upload_defaults(upload).expect_continue_threshold;
        s.push_str(&format!(
            "\nupload expect-continue threshold: {expect} ({origin})"
        ));
        match &d.journal {
            Some((p, o)) => s.push_str(&format!("\nupload journal: {} ({o})", p.display())),
            None => s.push_str("\nupload journal: $XDG_STATE_HOME/iaup/journal.sqlite (built-in)"),
        }
        for (m, o) in &d.metadata {
            s.push_str(&format!("\nupload metadata: {m} ({o})"));
        }
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
            s3_url: None,
            archive_url: Some("https://archive.org/".into()),
            profile: None,
            show_settings: false,
        }
    }

    #[test]
    fn env_keys_win_over_file_and_half_env_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("ia.ini");
        std::fs::write(&p, "[s3]\naccess = FA\nsecret = file-secret-q7z\n").unwrap();
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
        assert!(!format!("{s:?}").contains("file-secret-q7z"));
    }

    #[test]
    fn bad_url_is_rejected() {
        let mut a = args(None);
        a.s3_url = Some("ftp://x".into());
        assert!(Settings::resolve(&a, &Env::default()).is_err());
    }

    #[test]
    fn upload_values_flag_then_profile_then_defaults_then_built_in() {
        use clap::Parser;
        let t = tempfile::tempdir().unwrap();
        let toml = t.path().join("config.toml");
        std::fs::write(
            &toml,
            "[defaults]\nretries = 3\njobs = 6\njournal = \"j.sqlite\"\n\
             metadata = { contributor = \"D\", subject = [\"a\", \"b\"] }\n\
             [profiles.p]\njobs = 7\nmetadata = { contributor = \"P\" }\n",
        )
        .unwrap();
        let env = Env {
            iaup_config: Some(toml),
            profile: Some("p".into()),
            ..Env::default()
        };
        let cli = crate::cli::Cli::try_parse_from([
            "iaup",
            "upload",
            "an-item",
            "f",
            "-R",
            "1",
            "-m",
            "subject:flag",
        ])
        .unwrap();
        let crate::cli::Command::Upload(up) = &cli.command else {
            panic!("upload");
        };
        let s = Settings::resolve(&cli.global, &env).unwrap();
        let a = s.upload_args(up);
        assert_eq!(a.transfer.retries, Some(1));
        assert_eq!(a.transfer.jobs, Some(7));
        assert_eq!(a.transfer.sleep, Some(DEFAULT_SLEEP));
        assert_eq!(a.journal, Some(t.path().join("j.sqlite")));
        assert_eq!(a.plan.metadata, ["contributor:P", "subject:flag"]);
        let d = s.upload_defaults(None);
        assert_eq!(d.jobs.1, Origin::Profile("p".into()));
        assert_eq!(d.retries.1, Origin::Defaults);
        assert_eq!(s.s3_url_origin, Origin::BuiltIn);
    }
}
