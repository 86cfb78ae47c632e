//! One attempt at one PUT: the file is reopened, read on a blocking thread that hashes it while
//! it streams (bounded channel, so memory stays constant for any size), sent with an exact
//! `Content-Length`, and watched for stalls and a late answer. The result says whether the
//! whole body went out, so the caller knows when a failure is ambiguous.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::sync::{mpsc, oneshot};

use crate::http::{self, error_chain};
use crate::ias3::{self, Class, RequestSpec, S3Error};
use crate::secret::Credentials;

const CHUNK: usize = 256 * 1024;
/// Chunks buffered between the reader thread and the socket: 4 x 256 KiB per file in flight.
const DEPTH: usize = 4;

/// Bytes of the current attempt accepted by the HTTP stack, readable by the progress display.
pub use crate::events::Progress;

#[derive(Debug)]
pub enum AttemptResult {
    /// 2xx with an ETag equal to the MD5 of what was sent.
    Stored {
        md5: String,
    },
    /// 3xx with a `Location` (IAS3 redirects PUTs to another host): send there instead.
    Redirect {
        location: String,
        status: u16,
    },
    Failed(AttemptError),
}

#[derive(Debug)]
pub struct AttemptError {
    pub class: Class,
    pub reason: String,
    pub retry_after: Option<Duration>,
    /// The MD5 of the whole body when every byte was handed to the connection: the server may
    /// have stored the file even though the answer was lost.
    pub sent_md5: Option<String>,
    /// The server answered success but stored other bytes (ETag mismatch): a damaged copy
    /// stays under that name until a later attempt replaces it.
    pub stored_damaged: bool,
    /// iaup gave up waiting (stall or answer timeout): the server may still be reading or
    /// storing what was sent.
    pub abandoned: bool,
}

impl AttemptError {
    fn new(class: Class, reason: impl Into<String>) -> AttemptError {
        AttemptError {
            class,
            reason: reason.into(),
            retry_after: None,
            sent_md5: None,
            stored_damaged: false,
            abandoned: false,
        }
    }
}

pub struct Watch {
    pub stall: Duration,
    pub answer_timeout: Duration,
}

/// `"abc"`, `W/"ABC"` -> `abc`: the form compared with our MD5.
pub fn normalize_etag(v: &str) -> String {
    v.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase()
}

/// Hashes a whole file (for `--verify`'s Content-MD5), on a blocking thread.
pub async fn md5_file(path: &Path) -> std::io::Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&path)?;
        let mut h = Md5::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(hex::encode(h.finalize()))
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Starts the reader thread: it sends exactly `size` bytes (or an error), then the MD5.
fn spawn_reader(
    file: std::fs::File,
    size: u64,
) -> (
    mpsc::Receiver<Result<Bytes, std::io::Error>>,
    oneshot::Receiver<String>,
) {
    let (tx, rx) = mpsc::channel(DEPTH);
    let (md5_tx, md5_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut f = file.take(size);
        let mut h = Md5::new();
        let mut left = size;
        while left > 0 {
            let mut buf = vec![0u8; CHUNK.min(left as usize)];
            let n = match f.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("the file shrank while being sent ({left} bytes missing)"),
                    )));
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            buf.truncate(n);
            h.update(&buf);
            left -= n as u64;
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return; // the attempt was dropped
            }
        }
        let _ = md5_tx.send(hex::encode(h.finalize()));
    });
    (rx, md5_rx)
}

/// Sends one PUT and classifies the outcome. `progress` counts this attempt's bytes.
pub async fn put(
    client: &reqwest::Client,
    creds: &Credentials,
    spec: &RequestSpec,
    local: &Path,
    size: u64,
    watch: &Watch,
    progress: Arc<Progress>,
) -> AttemptResult {
    let file = {
        let path = local.to_path_buf();
        match tokio::task::spawn_blocking(move || std::fs::File::open(path)).await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                return AttemptResult::Failed(AttemptError::new(
                    Class::Fatal,
                    format!("cannot open {}: {e}", local.display()),
                ))
            }
            Err(e) => return AttemptResult::Failed(AttemptError::new(Class::Fatal, e.to_string())),
        }
    };
    match file.metadata() {
        Ok(m) if m.len() != size => {
            return AttemptResult::Failed(AttemptError::new(
                Class::Fatal,
                format!(
                    "{} changed size since the run was planned ({size} -> {} bytes); run again",
                    local.display(),
                    m.len()
                ),
            ))
        }
        _ => {}
    }
    let (chunks, md5_rx) = spawn_reader(file, size);
    let last_progress = Arc::new(AtomicU64::new(0));
    let body_done = Arc::new(AtomicBool::new(size == 0));
    let start = Instant::now();
    let stream = {
        struct State {
            chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
            progress: Arc<Progress>,
            last_progress: Arc<AtomicU64>,
            body_done: Arc<AtomicBool>,
            sent: u64,
        }
        let state = State {
            chunks,
            progress: progress.clone(),
            last_progress: last_progress.clone(),
            body_done: body_done.clone(),
            sent: 0,
        };
        futures::stream::unfold(state, move |mut st| async move {
            let item = st.chunks.recv().await?;
            if let Ok(b) = &item {
                st.sent += b.len() as u64;
                st.progress
                    .sent
                    .fetch_add(b.len() as u64, Ordering::Relaxed);
                st.last_progress
                    .store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
                if st.sent >= size {
                    st.body_done.store(true, Ordering::Relaxed);
                }
            }
            Some((item, st))
        })
    };
    let mut req = client.put(&spec.url);
    for (k, v) in spec.headers_with_auth(creds) {
        req = req.header(k, v);
    }
    let req = req.body(reqwest::Body::wrap_stream(stream));

    let watchdog = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let since =
                start.elapsed() - Duration::from_millis(last_progress.load(Ordering::Relaxed));
            if body_done.load(Ordering::Relaxed) {
                if since > watch.answer_timeout {
                    return format!(
                        "no answer {}s after the last byte was sent",
                        watch.answer_timeout.as_secs_f64()
                    );
                }
            } else if since > watch.stall {
                return format!(
                    "stalled: no byte accepted for {}s",
                    watch.stall.as_secs_f64()
                );
            }
        }
    };

    let outcome = tokio::select! {
        r = async {
            let resp = req.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.text().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        } => r,
        stalled = watchdog => {
            let mut e = AttemptError::new(Class::Transient, stalled);
            e.abandoned = true;
            if body_done.load(Ordering::Relaxed) {
                e.sent_md5 = md5_rx.await.ok();
            }
            return AttemptResult::Failed(e);
        }
    };
    let sent_all = body_done.load(Ordering::Relaxed);
    let md5 = if sent_all { md5_rx.await.ok() } else { None };
    match outcome {
        Err(e) => {
            let class = if http::is_transient(&e) {
                Class::Transient
            } else {
                Class::Fatal
            };
            let mut err = AttemptError::new(class, error_chain(&e));
            err.sent_md5 = md5;
            AttemptResult::Failed(err)
        }
        Ok((status, headers, body)) => {
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url::Url::parse(&spec.url).ok()?.join(l).ok());
                if let Some(location) = location {
                    return AttemptResult::Redirect {
                        location: location.to_string(),
                        status,
                    };
                }
            }
            let s3 = S3Error::parse(&body);
            match ias3::classify(status, s3.as_ref()) {
                Class::Success => {
                    let Some(md5) = md5 else {
                        return AttemptResult::Failed(AttemptError::new(
                            Class::Transient,
                            format!("HTTP {status} before the whole body was sent"),
                        ));
                    };
                    let etag = headers
                        .get(reqwest::header::ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| {
                            v.trim()
                                .trim_start_matches("W/")
                                .trim_matches('"')
                                .to_ascii_lowercase()
                        });
                    match etag {
                        Some(etag) if etag == md5 => AttemptResult::Stored { md5 },
                        Some(etag) => {
                            let mut e = AttemptError::new(
                                Class::Transient,
                                format!("ETag {etag} does not match the MD5 sent ({md5}): the server stored other bytes"),
                            );
                            e.stored_damaged = true;
                            AttemptResult::Failed(e)
                        }
                        None => {
                            // Ask the server (HEAD) before sending it all again.
                            let mut e = AttemptError::new(
                                Class::Transient,
                                format!("HTTP {status} without an ETag: cannot confirm the file arrived intact"),
                            );
                            e.sent_md5 = Some(md5);
                            AttemptResult::Failed(e)
                        }
                    }
                }
                class => {
                    let mut err =
                        AttemptError::new(class, ias3::describe(status, s3.as_ref(), &body));
                    err.retry_after = http::retry_after(&headers);
                    if status >= 500 && s3.as_ref().is_none_or(|e| e.code != "SlowDown") {
                        err.sent_md5 = md5;
                    }
                    AttemptResult::Failed(err)
                }
            }
        }
    }
}
