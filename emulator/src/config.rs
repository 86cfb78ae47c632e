//! What an emulator is started with: the account it recognises ([`Config`]) and the faults it
//! injects ([`Faults`]). Plain data with defaults; nothing here touches the network. Parsing of
//! human-friendly values used by the binary (`10MiB`, `0.5`) lives here too so it is unit-tested.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything an [`crate::Emulator`] needs to start. Its `Debug` hides the secret and password.
#[derive(Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port (default `127.0.0.1:0`).
    pub addr: SocketAddr,
    /// Uploaded bodies are stored under this directory.
    pub data_dir: PathBuf,
    /// The one access key accepted in `Authorization: LOW key:secret`.
    pub access_key: String,
    /// The secret that goes with `access_key`.
    pub secret_key: String,
    /// The account's e-mail (login name, `uploader` of new items).
    pub email: String,
    /// The account's password, for `/services/xauthn/?op=login`.
    pub password: String,
    /// The account's screen name.
    pub screenname: String,
    /// Seed of every fault decision.
    pub seed: u64,
    /// Append one JSON line per request to this file.
    pub log: Option<PathBuf>,
    /// Collections that exist before anything is uploaded: their metadata documents answer
    /// as IA's do for a collection (`mediatype: collection`), so a client can check that the
    /// collection it uploads to exists. Default: [`DEFAULT_COLLECTIONS`].
    pub collections: Vec<String>,
    /// Answer `/download/{id}/{name}` with `302` to the data-node path `/{dir}/{name}`
    /// (`/0/items/{id}/{name}`, on the same port), as archive.org does; ZIP members go to
    /// `/view_archive.php?archive=...&file=...`. Off by default: downloads answer directly.
    pub download_redirect: bool,
    /// A multipart upload's parts other than the last must be at least this long, or its
    /// Complete is refused with `400 EntityTooSmall` (default [`DEFAULT_MIN_PART_SIZE`], S3's
    /// 5 MiB; tests set it low).
    pub min_part_size: u64,
    /// Faults to inject (none by default).
    pub faults: Faults,
}

/// S3's minimum size of a multipart upload's part (but the last).
pub const DEFAULT_MIN_PART_SIZE: u64 = 5 << 20;

/// The collections every emulator has: IA's open collections anyone may upload to, and the
/// one for tests.
pub const DEFAULT_COLLECTIONS: &[&str] = &[
    "opensource",
    "opensource_audio",
    "opensource_movies",
    "opensource_media",
    "community",
    "test_collection",
];

impl Config {
    /// A configuration with the default account details and no faults.
    pub fn new(data_dir: impl Into<PathBuf>, access_key: &str, secret_key: &str) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            access_key: access_key.to_string(),
            secret_key: secret_key.to_string(),
            email: "user@example.com".to_string(),
            password: "password".to_string(),
            screenname: "tester".to_string(),
            seed: 0,
            log: None,
            collections: DEFAULT_COLLECTIONS.iter().map(|c| c.to_string()).collect(),
            download_redirect: false,
            min_part_size: DEFAULT_MIN_PART_SIZE,
            faults: Faults::default(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .field("access_key", &self.access_key)
            .field("secret_key", &"(redacted)")
            .field("email", &self.email)
            .field("password", &"(redacted)")
            .field("screenname", &self.screenname)
            .field("seed", &self.seed)
            .field("log", &self.log)
            .field("collections", &self.collections)
            .field("download_redirect", &self.download_redirect)
            .field("min_part_size", &self.min_part_size)
            .field("faults", &self.faults)
            .finish()
    }
}

/// Which of IA's three `503 SlowDown` answers to give.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlowDownKind {
    /// Plain overload: back off and retry.
    #[default]
    Overload,
    /// The global task queue is full: pause everything (also reported by `check_limit`).
    GlobalLimit,
    /// The upload was flagged as spam: retrying never helps.
    Spam,
}

impl SlowDownKind {
    /// The name used on the command line and in request records.
    pub fn name(self) -> &'static str {
        match self {
            SlowDownKind::Overload => "overload",
            SlowDownKind::GlobalLimit => "global-limit",
            SlowDownKind::Spam => "spam",
        }
    }
}

impl std::str::FromStr for SlowDownKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "overload" => Ok(SlowDownKind::Overload),
            "global-limit" | "global" => Ok(SlowDownKind::GlobalLimit),
            "spam" => Ok(SlowDownKind::Spam),
            other => Err(format!(
                "unknown slowdown kind {other:?} (expected overload, global-limit or spam)"
            )),
        }
    }
}

/// Faults to inject. All rates are fractions in 0..=1 and are decided per request from a hash
/// of (seed, fault, method, path, attempt), so concurrency does not change which requests fail.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Fraction of S3 PUT/DELETE (and multipart calls) answered `503 SlowDown`.
    pub slowdown_rate: f64,
    /// Which SlowDown text to send.
    pub slowdown_kind: SlowDownKind,
    /// Adds `Retry-After: N` to every SlowDown answer.
    pub retry_after: Option<u64>,
    /// How long `check_limit` reports `over_limit: 1` after a global-limit SlowDown
    /// (0 means the default of 1000 ms).
    pub global_limit_ms: u64,
    /// Fraction of PUTs whose connection is reset about half-way through the body.
    pub reset_rate: f64,
    /// Fraction of S3 PUT/DELETE (and multipart calls) answered `500 InternalError`.
    pub error_rate: f64,
    /// The first N Complete calls of every multipart upload are answered `503 SlowDown`.
    pub complete_slowdowns: u32,
    /// Fraction of PUTs whose body is damaged in transit (first byte flipped): stored and
    /// answered 200 with the ETag of the damaged bytes.
    pub corrupt_rate: f64,
    /// Fraction of PUTs stored in full whose answer is lost (the connection is reset instead
    /// of answering 200), as when a big PUT's answer times out: the file did land.
    pub lose_answer_rate: f64,
    /// Fraction of PUTs answered `307 TemporaryRedirect` to the same path with
    /// `?redirected=1` (IAS3 redirects PUTs far more often than Amazon does); a redirected
    /// request is never redirected again.
    pub redirect_rate: f64,
    /// The first N PUT attempts of every key fail with `500 InternalError`.
    pub fail_first: u32,
    /// Fraction of metadata API GET/POST answered 500.
    pub metadata_error_rate: f64,
    /// Delay before answering every request.
    pub latency: Duration,
    /// Delay before serving each new TCP connection.
    pub connect_delay: Duration,
    /// Cap on how fast a request body is read, bytes per second.
    pub bandwidth: Option<u64>,
    /// Stop reading a PUT body this long, half-way through (each key at most once).
    pub stall: Option<Duration>,
    /// Fraction of PUTs stalled when `stall` is set (0.0 means 1.0).
    pub stall_rate: f64,
    /// Files show in the metadata API only this long after their PUT.
    pub task_delay: Duration,
    /// Fraction of catalog tasks (archive, derive, metadata) that end in error: they stay in the
    /// task list with `wait_admin: 2` and never finish, as a red task at IA waits for an admin.
    pub task_error_rate: f64,
    /// Fraction of file GETs (S3 GET, `/download/`, data node) answered `503` (with
    /// `Retry-After` when `retry_after` is set).
    pub get_error_rate: f64,
    /// Fraction of file GETs whose connection is reset half-way through the body sent.
    pub get_reset_rate: f64,
    /// Fraction of file GETs whose first byte sent is flipped (the ETag and the metadata's MD5
    /// stay those of the true file: only a client that hashes what it got notices).
    pub get_corrupt_rate: f64,
    /// Pause a file GET's body this long half-way (each path at most once).
    pub get_stall: Option<Duration>,
    /// Fraction of file GETs stalled when `get_stall` is set (0.0 means 1.0).
    pub get_stall_rate: f64,
    /// Cap on how fast a file GET's body is sent, bytes per second.
    pub get_bandwidth: Option<u64>,
}

impl Faults {
    /// `global_limit_ms` with its default applied.
    pub(crate) fn global_limit_window(&self) -> Duration {
        match self.global_limit_ms {
            0 => Duration::from_millis(1000),
            ms => Duration::from_millis(ms),
        }
    }

    /// `stall_rate` with its default applied.
    pub(crate) fn effective_stall_rate(&self) -> f64 {
        if self.stall_rate == 0.0 {
            1.0
        } else {
            self.stall_rate
        }
    }
}

/// A value on the command line that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not a byte count such as `1000`, `64K`, `10MiB`.
    #[error("invalid byte rate {0:?} (examples: 1000, 64K, 10MiB, 1G)")]
    Bytes(String),
    /// Not a fraction between 0 and 1.
    #[error("invalid rate {0:?} (a number from 0 to 1)")]
    Rate(String),
    /// Not a number of seconds.
    #[error("invalid duration {0:?} (seconds, e.g. 2 or 0.5)")]
    Seconds(String),
}

/// Reads a byte count with an optional suffix: K/M/G are powers of 1000, KiB/MiB/GiB of 1024
/// (`KB`, `k`, `kib` and the like are accepted too).
pub fn parse_bytes(s: &str) -> Result<u64, ParseError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, suffix) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| ParseError::Bytes(s.to_string()))?;
    let mult: f64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024.0 * 1024.0,
        "gib" | "gi" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(ParseError::Bytes(s.to_string())),
    };
    let v = n * mult;
    if !v.is_finite() || v < 1.0 {
        return Err(ParseError::Bytes(s.to_string()));
    }
    Ok(v as u64)
}

/// Reads a fraction in 0..=1.
pub fn parse_rate(s: &str) -> Result<f64, ParseError> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(ParseError::Rate(s.to_string())),
    }
}

/// Reads a number of seconds, fractions allowed.
pub fn parse_seconds(s: &str) -> Result<Duration, ParseError> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(ParseError::Seconds(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_suffixes_are_decimal_or_binary() {
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert_eq!(parse_bytes("64K"), Ok(64_000));
        assert_eq!(parse_bytes("64KiB"), Ok(65_536));
        assert_eq!(parse_bytes("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_bytes("1.5M"), Ok(1_500_000));
        assert_eq!(parse_bytes("2G"), Ok(2_000_000_000));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert!(parse_bytes("fast").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("10XB").is_err());
    }

    #[test]
    fn rates_must_be_fractions() {
        assert_eq!(parse_rate("0.25"), Ok(0.25));
        assert!(parse_rate("1.5").is_err());
        assert!(parse_rate("-0.1").is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let mut c = Config::new("/tmp/x", "key", "very-secret");
        c.password = "hunter2".into();
        let text = format!("{c:?}");
        assert!(text.contains("key"));
        assert!(!text.contains("very-secret") && !text.contains("hunter2"));
    }

    #[test]
    fn defaults_apply_to_zero_values() {
        let f = Faults::default();
        assert_eq!(f.global_limit_window(), Duration::from_millis(1000));
        assert_eq!(f.effective_stall_rate(), 1.0);
        assert_eq!(
            "global-limit".parse::<SlowDownKind>(),
            Ok(SlowDownKind::GlobalLimit)
        );
    }
}
