//! Reading a request body in constant memory: frames go straight to a file (or nowhere, when
//! draining a refused request) while the MD5 is computed, at most at the configured bandwidth,
//! with the stall and reset faults applied at the half-way point. It reports what happened;
//! the caller decides the answer.

use std::path::Path;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

/// A body that sends nothing for this long is abandoned (S3's `RequestTimeout`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How to read one body.
#[derive(Clone, Debug, Default)]
pub struct ReadPlan {
    /// The declared length, if any.
    pub expected: Option<u64>,
    /// Bytes per second, at most.
    pub bandwidth: Option<u64>,
    /// Pause this long once half the body was read.
    pub stall: Option<Duration>,
    /// Stop and reset the connection once half the body was read.
    pub reset: bool,
    /// Flip the first byte, as damage in transit would: the file is stored (and its ETag
    /// computed) from the damaged bytes, so only a client that checks the ETag notices.
    pub corrupt: bool,
}

/// What reading found.
#[derive(Debug)]
pub enum ReadOutcome {
    /// The whole body arrived.
    Complete { size: u64, md5: String },
    /// The body ended (or broke) before its declared length.
    Incomplete { size: u64 },
    /// The reset point was reached: the caller must abort the connection.
    Reset { size: u64 },
    /// Nothing arrived for [`IDLE_TIMEOUT`].
    TimedOut { size: u64 },
    /// Writing the file failed.
    Storage { size: u64, error: std::io::Error },
}

impl ReadOutcome {
    /// Bytes read before the outcome.
    pub fn size(&self) -> u64 {
        match self {
            ReadOutcome::Complete { size, .. }
            | ReadOutcome::Incomplete { size }
            | ReadOutcome::Reset { size }
            | ReadOutcome::TimedOut { size }
            | ReadOutcome::Storage { size, .. } => *size,
        }
    }
}

struct Throttle {
    rate: Option<u64>,
    start: Instant,
}

impl Throttle {
    async fn pace(&self, total: u64) {
        let Some(rate) = self.rate.filter(|r| *r > 0) else {
            return;
        };
        let due = Duration::from_secs_f64(total as f64 / rate as f64);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
}

/// Reads `body` to its end, into `dest` when given.
pub async fn read(mut body: Incoming, dest: Option<&Path>, plan: &ReadPlan) -> ReadOutcome {
    let mut file = match dest {
        Some(path) => match tokio::fs::File::create(path).await {
            Ok(f) => Some(tokio::io::BufWriter::with_capacity(1 << 20, f)),
            Err(error) => return ReadOutcome::Storage { size: 0, error },
        },
        None => None,
    };
    let half = plan.expected.map(|n| (n / 2).max(1));
    let throttle = Throttle {
        rate: plan.bandwidth,
        start: Instant::now(),
    };
    let mut hasher = Md5::new();
    let mut size: u64 = 0;
    let mut stalled = false;
    loop {
        let frame = match tokio::time::timeout(IDLE_TIMEOUT, body.frame()).await {
            Err(_) => return ReadOutcome::TimedOut { size },
            Ok(None) => break,
            Ok(Some(Err(_))) => return ReadOutcome::Incomplete { size },
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        if plan.corrupt && size == 0 && !data.is_empty() {
            let mut damaged = data.to_vec();
            damaged[0] ^= 0xff;
            data = damaged.into();
        }
        size += data.len() as u64;
        hasher.update(&data);
        if let Some(f) = file.as_mut() {
            if let Err(error) = f.write_all(&data).await {
                return ReadOutcome::Storage { size, error };
            }
        }
        throttle.pace(size).await;
        if half.is_some_and(|h| size >= h) {
            if plan.reset {
                return ReadOutcome::Reset { size };
            }
            if let (Some(pause), false) = (plan.stall, stalled) {
                stalled = true;
                tokio::time::sleep(pause).await;
            }
        }
    }
    if plan.expected.is_some_and(|n| size < n) {
        return ReadOutcome::Incomplete { size };
    }
    if let Some(mut f) = file {
        if let Err(error) = f.flush().await {
            return ReadOutcome::Storage { size, error };
        }
    }
    ReadOutcome::Complete {
        size,
        md5: hex::encode(hasher.finalize()),
    }
}
