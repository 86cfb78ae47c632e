//! The `ias3-emulator` binary: reads flags, starts the emulator, prints
//! `listening on http://ADDR` as its first line on stdout, and serves until killed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ias3_emulator::{
    parse_bytes, parse_rate, parse_seconds, Config, Emulator, Faults, SlowDownKind,
};

/// A local stand-in for the Internet Archive's IAS3 and metadata API, with fault injection.
///
/// One port serves both faces: S3 (PUT/DELETE/GET/HEAD /{id}/{key}, GET /?check_limit=1) and
/// archive.org (/metadata/{id}, /services/xauthn/?op=login, /services/user.php?op=whoami).
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

    /// Fraction (0..1) of S3 PUT/DELETE answered 503 SlowDown.
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
    /// Fraction of S3 PUT/DELETE answered 500 InternalError.
    #[arg(long, value_parser = parse_rate, default_value = "0")]
    error_rate: f64,
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
        };
        config
    }
}

fn main() -> ExitCode {
    let config = Args::parse().into_config();
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
}
