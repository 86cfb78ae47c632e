//! The `ias3-emulator` binary: reads flags, starts the emulator, prints
//! `listening on http://ADDR` as its first line on stdout, and serves until killed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ias3_emulator::{
    parse_bytes, parse_rate, parse_seconds, Config, Emulator, Faults, SeedFile, SlowDownKind,
};

/// A local stand-in for the Internet Archive's IAS3 and metadata API, with fault injection.
///
/// One port serves both faces: S3 (PUT/DELETE/GET/HEAD /{id}/{key}, multipart uploads,
/// GET /?check_limit=1) and
/// archive.org (/metadata/{id}, /services/xauthn/?op=login, /services/user.php?op=whoami,
/// /services/search/v1/scrape, /advancedsearch.php, /services/tasks.php, /download/{id}/{name}
/// with Range and ZIP members, the data-node path /0/items/{id}/{name}, /view_archive.php).
/// Point the real `ia` at it with HTTP_PROXY=http://ADDR and `ia -i`. Fault decisions are a
/// hash of (seed, fault, method, path, attempt), so runs are reproducible.
#[derive(Parser, Debug)]
#[command(name = "ias3-emulator", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Directory for uploaded bodies.
    #[arg(long)]
    data_dir: PathBuf,
    /// The accepted access key.
    #[arg(long)]
    access_key: String,
    /// The accepted secret key.
    #[arg(long)]
    secret_key: Hidden,
    /// The account's e-mail (login, uploader of new items).
    #[arg(long, default_value = "user@example.com")]
    email: String,
    /// The account's password (for /services/xauthn/?op=login).
    #[arg(long, default_value = "password")]
    password: Hidden,
    /// The account's screen name.
    #[arg(long, default_value = "tester")]
    screenname: String,
    /// Seed of every fault decision.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Append one JSON line per request to FILE (secrets masked).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Another collection that exists from the start (repeatable; besides opensource,
    /// opensource_audio, opensource_movies, opensource_media, community, test_collection).
    #[arg(long, value_name = "ID")]
    collection: Vec<String>,

    /// Fraction (0..1) of S3 PUT/DELETE (and multipart calls) answered 503 SlowDown.
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    slowdown_rate: f64,
    /// Which SlowDown: overload, global-limit or spam.
    #[arg(long, default_value = "overload")]
    slowdown_kind: SlowDownKind,
    /// Add `Retry-After: SECS` to SlowDown answers.
    #[arg(long, value_name = "SECS")]
    retry_after: Option<u64>,
    /// How long check_limit reports over_limit after a global-limit SlowDown.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    global_limit_ms: u64,
    /// Fraction of PUTs whose connection is reset half-way through the body.
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    reset_rate: f64,
    /// Fraction of S3 PUT/DELETE (and multipart calls) answered 500 InternalError.
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    error_rate: f64,
    /// The first N Complete calls of every multipart upload are answered 503 SlowDown.
    #[arg(long, value_name = "N", default_value_t = 0)]
    complete_slowdowns: u32,
    /// Smallest part (but the last) a multipart Complete accepts, else 400 EntityTooSmall
    /// (suffixes as --bandwidth).
    #[arg(long, value_parser = parse_bytes, value_name = "BYTES", default_value = "5MiB")]
    min_part_size: u64,
    /// Fraction of PUTs damaged in transit: first byte flipped, stored, answered 200 with the
    /// ETag of what was stored (only an ETag check catches it).
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    corrupt_rate: f64,
    /// Fraction of PUTs stored in full whose answer is lost (connection reset instead of 200).
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    lose_answer_rate: f64,
    /// Fraction of PUTs answered 307 TemporaryRedirect to the same path (`?redirected=1`).
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    redirect_rate: f64,
    /// The first N PUT attempts of every key fail with 500 InternalError.
    #[arg(long, value_name = "N", default_value_t = 0)]
    fail_first: u32,
    /// Fraction of metadata API GET/POST answered 500.
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    metadata_error_rate: f64,
    /// Delay before answering every request.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,
    /// Delay before serving each new TCP connection.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    connect_delay_ms: u64,
    /// Per-connection cap on request-body reading, bytes/s (suffixes K, M, G, KiB, MiB, GiB).
    #[arg(long, value_parser = parse_bytes, value_name = "RATE")]
    bandwidth: Option<u64>,
    /// Stop reading a PUT body for this many seconds half-way (each key at most once).
    #[arg(long, value_parser = parse_seconds, value_name = "SECS")]
    stall_secs: Option<Duration>,
    /// Fraction of PUTs stalled when --stall-secs is given.
    #[arg(long, value_parser = parse_rate, default_value = "1")]
    stall_rate: f64,
    /// Uploaded files show in the metadata API only MS after their PUT.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    task_delay_ms: u64,
    /// Fraction of catalog tasks that end in error (wait_admin 2 in /services/tasks.php).
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    task_error_rate: f64,
    /// Answer /download/ID/NAME with 302 to the data-node path /0/items/ID/NAME (and ZIP
    /// members with 302 to /view_archive.php), as archive.org does.
    #[arg(long)]
    download_redirect: bool,
    /// Fraction of file GETs (S3 GET, /download/, data node) answered 503.
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    get_error_rate: f64,
    /// Fraction of file GETs whose connection is reset half-way through the body.
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    get_reset_rate: f64,
    /// Fraction of file GETs whose first byte is flipped (headers and metadata unchanged).
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    get_corrupt_rate: f64,
    /// Pause a file GET's body this many seconds half-way (each path at most once).
    #[arg(long, value_parser = parse_seconds, value_name = "SECS")]
    get_stall_secs: Option<Duration>,
    /// Fraction of file GETs stalled when --get-stall-secs is given.
    #[arg(long, value_parser = parse_rate, default_value = "1")]
    get_stall_rate: f64,
    /// Cap on how fast a file GET's body is sent, bytes/s (suffixes as --bandwidth).
    #[arg(long, value_parser = parse_bytes, value_name = "RATE")]
    get_bandwidth: Option<u64>,
    /// Items to create at start, one JSON object a line: {"identifier", "metadata": {...},
    /// "files": [{"name", "content" (text) or "size" (bytes made up), "source", "original",
    /// "format", "mtime", "private"}]} (see the README).
    #[arg(long, value_name = "FILE")]
    seed_items: Option<PathBuf>,
}

/// A flag value that `Debug` never shows (the secret key, the password), like `Config`'s.
#[derive(Clone)]
struct Hidden(String);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(redacted)")
    }
}

impl std::str::FromStr for Hidden {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Hidden, Self::Err> {
        Ok(Hidden(s.to_string()))
    }
}

impl Args {
    fn into_config(self) -> Config {
        let mut config = Config::new(self.data_dir, &self.access_key, &self.secret_key.0);
        config.addr = self.addr;
        config.email = self.email;
        config.password = self.password.0;
        config.screenname = self.screenname;
        config.seed = self.seed;
        config.log = self.log;
        config.collections.extend(self.collection);
        config.faults = Faults {
            slowdown_rate: self.slowdown_rate,
            slowdown_kind: self.slowdown_kind,
            retry_after: self.retry_after,
            global_limit_ms: self.global_limit_ms,
            reset_rate: self.reset_rate,
            error_rate: self.error_rate,
            complete_slowdowns: self.complete_slowdowns,
            corrupt_rate: self.corrupt_rate,
            lose_answer_rate: self.lose_answer_rate,
            redirect_rate: self.redirect_rate,
            fail_first: self.fail_first,
            metadata_error_rate: self.metadata_error_rate,
            latency: Duration::from_millis(self.latency_ms),
            connect_delay: Duration::from_millis(self.connect_delay_ms),
            bandwidth: self.bandwidth,
            stall: self.stall_secs,
            stall_rate: self.stall_rate,
            task_delay: Duration::from_millis(self.task_delay_ms),
            task_error_rate: self.task_error_rate,
            get_error_rate: self.get_error_rate,
            get_reset_rate: self.get_reset_rate,
            get_corrupt_rate: self.get_corrupt_rate,
            get_stall: self.get_stall_secs,
            get_stall_rate: self.get_stall_rate,
            get_bandwidth: self.get_bandwidth,
        };
        config.download_redirect = self.download_redirect;
        config.min_part_size = self.min_part_size;
        config
    }
}

/// One line of a `--seed-items` file.
#[derive(serde::Deserialize)]
struct SeedLine {
    identifier: String,
    #[serde(default)]
    metadata: serde_json::Value,
    #[serde(default)]
    files: Vec<SeedLineFile>,
}

/// One file of a `--seed-items` line.
#[derive(serde::Deserialize)]
struct SeedLineFile {
    name: String,
    content: Option<String>,
    size: Option<u64>,
    source: Option<String>,
    original: Option<String>,
    format: Option<String>,
    mtime: Option<u64>,
    #[serde(default)]
    private: bool,
}

impl SeedLineFile {
    fn into_seed(self) -> SeedFile {
        let data = match (self.content, self.size) {
            (Some(text), _) => text.into_bytes(),
            (None, size) => made_up_bytes(&self.name, size.unwrap_or(0)),
        };
        let mut file = SeedFile::original(self.name, data);
        file.source = self.source.unwrap_or(file.source);
        file.original = self.original;
        file.format = self.format;
        file.mtime = self.mtime;
        file.private = self.private;
        file
    }
}

/// `size` bytes that depend on `name` only (an MD5 chain), so reruns seed the same files.
fn made_up_bytes(name: &str, size: u64) -> Vec<u8> {
    use md5::{Digest, Md5};
    let mut out = Vec::with_capacity(size as usize);
    let mut block = Md5::digest(name.as_bytes());
    while (out.len() as u64) < size {
        out.extend_from_slice(&block);
        block = Md5::digest(block);
    }
    out.truncate(size as usize);
    out
}

/// Creates the items of a `--seed-items` file.
fn seed_items(emulator: &Emulator, path: &std::path::Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut count = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let seed: SeedLine =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        let files = seed
            .files
            .into_iter()
            .map(SeedLineFile::into_seed)
            .collect();
        emulator
            .seed_item(&seed.identifier, seed.metadata, files)
            .map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?;
        count += 1;
    }
    Ok(count)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed_file = args.seed_items.clone();
    let config = args.into_config();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let emulator = match Emulator::start(config).await {
            Ok(emu) => emu,
            Err(e) => {
                eprintln!("error: cannot start the emulator: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(path) = seed_file {
            if let Err(e) = seed_items(&emulator, &path) {
                eprintln!("error: --seed-items: {e}");
                return ExitCode::FAILURE;
            }
        }
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "listening on {}", emulator.url());
            let _ = out.flush();
        }
        let _ = tokio::signal::ctrl_c().await;
        drop(emulator);
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_args_hides_secret_and_password() {
        let args = Args::parse_from([
            "ias3-emulator",
            "--data-dir",
            "/tmp/x",
            "--access-key",
            "AK",
            "--secret-key",
            "sk-zz9",
            "--password",
            "pw-zz9",
        ]);
        let shown = format!("{args:?}");
        assert!(
            !shown.contains("sk-zz9") && !shown.contains("pw-zz9"),
            "{shown}"
        );
        let config = args.into_config();
        assert_eq!(config.secret_key, "sk-zz9");
        assert_eq!(config.password, "pw-zz9");
    }

    #[test]
    fn multipart_flags_reach_the_config() {
        let base = [
            "ias3-emulator",
            "--data-dir",
            "/tmp/x",
            "--access-key",
            "AK",
        ];
        let defaults = Args::parse_from(base.iter().chain(&["--secret-key", "s"])).into_config();
        assert_eq!(defaults.min_part_size, 5 << 20);
        assert_eq!(defaults.faults.complete_slowdowns, 0);
        let set = Args::parse_from(base.iter().chain(&[
            "--secret-key",
            "s",
            "--min-part-size",
            "64KiB",
            "--complete-slowdowns",
            "3",
        ]))
        .into_config();
        assert_eq!(set.min_part_size, 64 << 10);
        assert_eq!(set.faults.complete_slowdowns, 3);
    }
}
