//! iaup's own settings file, `config.toml`: a `[defaults]` table and named `[profiles.NAME]`
//! tables, each holding endpoints, which `ia.ini` to use and upload defaults. Read strictly:
//! unknown keys, syntax errors and keys that belong in `ia.ini` (`access`, `secret`) are errors
//! naming the file, and a line where one is known; a value is never echoed, so a secret pasted
//! here by mistake stays off the terminal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One layer of settings: `[defaults]` or one profile. Every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub s3_url: Option<String>,
    pub archive_url: Option<String>,
    /// The `ia.ini` to read, relative to config.toml's folder unless absolute.
    pub config_file: Option<PathBuf>,
    pub jobs: Option<u32>,
    pub retries: Option<u32>,
    pub sleep: Option<f64>,
    /// The resume journal, relative to config.toml's folder unless absolute.
    pub journal: Option<PathBuf>,
    /// Item metadata applied to every upload: field -> string or list of strings.
    #[serde(default)]
    pub metadata: BTreeMap<String, MetaValue>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum MetaValue {
    One(String),
    Many(Vec<String>),
}

impl MetaValue {
    pub fn values(&self) -> Vec<String> {
        match self {
            MetaValue::One(v) => vec![v.clone()],
            MetaValue::Many(v) => v.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IaupConfig {
    #[serde(default)]
    pub defaults: Layer,
    #[serde(default)]
    pub profiles: BTreeMap<String, Layer>,
}

#[derive(Debug, thiserror::Error)]
pub enum TomlError {
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error(
        "{}{}: `{key}` does not belong in iaup's config.toml; S3 keys stay in ia.ini \
         (run `iaup configure`, or point a profile's config_file at another ia.ini)",
        path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default()
    )]
    Secret {
        path: PathBuf,
        line: Option<usize>,
        key: String,
    },
    #[error("no profile {name:?} in {}; {}", path.display(), known(path, profiles))]
    NoProfile {
        name: String,
        path: PathBuf,
        profiles: Vec<String>,
    },
}

fn known(path: &Path, profiles: &[String]) -> String {
    if !path.exists() {
        "the file does not exist".to_owned()
    } else if profiles.is_empty() {
        "it defines no profiles".to_owned()
    } else {
        format!("the profiles there are: {}", profiles.join(", "))
    }
}

/// Keys that hold credentials: refused anywhere but inside a `metadata` table.
const SECRET_KEYS: &[&str] = &[
    "access",
    "secret",
    "access_key",
    "secret_key",
    "access_key_id",
    "secret_access_key",
    "logged-in-sig",
    "logged_in_sig",
];

/// Where iaup's own config.toml is: `$IAUP_CONFIG`, else `$XDG_CONFIG_HOME/iaup/config.toml`,
/// else `~/.config/iaup/config.toml`.
pub fn locate(
    iaup_config: Option<&Path>,
    xdg_config_home: Option<&Path>,
    home: Option<&Path>,
) -> Option<PathBuf> {
    if let Some(p) = iaup_config {
        return Some(p.to_path_buf());
    }
    let base = match xdg_config_home {
        Some(x) => x.to_path_buf(),
        None => home?.join(".config"),
    };
    Some(base.join("iaup").join("config.toml"))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads and checks `path`; a missing file is an empty config.
pub fn read(path: &Path) -> Result<IaupConfig, TomlError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(IaupConfig::default()),
        Err(e) => {
            return Err(TomlError::Read {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<IaupConfig, TomlError> {
    // The error's message only: its Display quotes the source line, which may hold a secret.
    let invalid = |e: toml::de::Error| TomlError::Invalid {
        path: path.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().replace('\n', "; "),
    };
    let doc = toml::de::DeTable::parse(text).map_err(invalid)?;
    if let Some((key, at)) = find_secret(doc.get_ref(), false) {
        return Err(TomlError::Secret {
            path: path.to_path_buf(),
            line: Some(line_of(text, at)),
            key,
        });
    }
    toml::from_str(text).map_err(invalid)
}

/// The first credential key in the document (outside `metadata` tables), with its offset.
fn find_secret(table: &toml::de::DeTable<'_>, in_metadata: bool) -> Option<(String, usize)> {
    for (k, v) in table {
        let name = k.get_ref().as_ref();
        if !in_metadata && SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return Some((name.to_owned(), k.span().start));
        }
        if let toml::de::DeValue::Table(t) = v.get_ref() {
            let meta = in_metadata || name == "metadata";
            if let Some(found) = find_secret(t, meta) {
                return Some(found);
            }
        }
    }
    None
}

impl IaupConfig {
    /// The named profile, or an error listing the profiles there are.
    pub fn profile(&self, path: &Path, name: &str) -> Result<&Layer, TomlError> {
        self.profiles.get(name).ok_or_else(|| TomlError::NoProfile {
            name: name.to_owned(),
            path: path.to_path_buf(),
            profiles: self.profiles.keys().cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<IaupConfig, TomlError> {
        parse(Path::new("/x/config.toml"), text)
    }

    #[test]
    fn reads_defaults_and_profiles() {
        let c = p(
            "[defaults]\njobs = 8\nmetadata = { collection = \"c\", subject = [\"a\", \"b\"] }\n\
                   [profiles.staging]\ns3_url = \"http://h\"\nconfig_file = \"staging.ini\"\n",
        )
        .unwrap();
        assert_eq!(c.defaults.jobs, Some(8));
        assert_eq!(c.defaults.metadata["subject"].values(), ["a", "b"]);
        assert_eq!(c.profiles["staging"].s3_url.as_deref(), Some("http://h"));
    }

    #[test]
    fn errors_name_file_line_and_key_never_a_value() {
        let e = p("[defaults]\njobs = 2\n\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/x/config.toml line 4") && e.contains("bogus"),
            "{e}"
        );
        let e = p("[defaults]\njobs = = 2\n").unwrap_err().to_string();
        assert!(e.contains("/x/config.toml line 2"), "{e}");
        let e = p("[profiles.a]\nsecret = \"hush-zz9\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`secret`") && e.contains("line 2"), "{e}");
        assert!(!e.contains("hush-zz9"), "{e}");
        let e = p("[profiles.a]\nsecret = hush-zz9\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hush-zz9"), "{e}");
        // A metadata field may be called `access`.
        assert!(p("[defaults.metadata]\naccess = \"open\"\n").is_ok());
    }
}
