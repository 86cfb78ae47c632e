//! One attempt at one file: a GET (with `Range: bytes=N-` when `N` bytes are kept from
//! before), redirects followed by hand (the run's client follows none) with `Authorization`
//! kept only where `transport::client::redirect_allowed` says the keys may go, and the body
//! streamed into the [`Sink`] under a stall timeout. A `206` continues the kept bytes only when
//! its `Content-Range` starts where they end (and names the listed size); any other answer to
//! a ranged request starts over from byte 0. What the answer means for a retry is the
//! [`Failure`]'s class: 429/503 overload, other 5xx and transport faults transient, a 403 a
//! restricted file (not retried), anything else fatal.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use md5::{Digest, Md5};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_RANGE, LAST_MODIFIED, LOCATION, RANGE};

use crate::events::Progress;
use crate::hash::PartSink;
use crate::transport::client::{redirect_allowed, MAX_REDIRECTS};
use crate::transport::retry::Failure;
use crate::transport::{classify_error, error_chain, retry_after, Class};

/// Where the bytes of a download go.
pub enum Sink {
    /// `NAME.part` beside the destination.
    Part(PartSink),
    /// `--stdout`: the bytes are gone once written, so they can be continued but never redone.
    Stdout { hash: Md5, written: u64 },
}

impl Sink {
    pub fn written(&self) -> u64 {
        match self {
            Sink::Part(p) => p.written(),
            Sink::Stdout { written, .. } => *written,
        }
    }

    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Part(p) => p.write(data),
            Sink::Stdout { hash, written } => {
                crate::output::data_bytes(data)?;
                hash.update(data);
                *written += data.len() as u64;
                Ok(())
            }
        }
    }

    /// Starts over from byte 0; impossible once bytes went to stdout.
    fn restart(&mut self) -> Result<(), Failure> {
        match self {
            Sink::Part(p) => p.restart().map_err(|e| {
                Failure::new(Class::Fatal, format!("cannot rewrite the .part file: {e}"))
            }),
            Sink::Stdout { written: 0, .. } => Ok(()),
            Sink::Stdout { .. } => Err(Failure::new(
                Class::Fatal,
                "the server cannot continue where stdout stopped, and what was written cannot be \
                 taken back",
            )),
        }
    }
}

/// What one attempt needs to know.
pub struct Request<'a> {
    pub client: &'a reqwest::Client,
    pub url: &'a str,
    /// `LOW access:secret`, when keys are configured.
    pub authorization: Option<&'a str>,
    /// The size the item lists.
    pub size: Option<u64>,
    pub answer_timeout: Duration,
    pub stall: Duration,
}

/// Runs one attempt: on success every byte is in `sink`, and the answer's `Last-Modified` is
/// returned.
pub async fn attempt(
    req: &Request<'_>,
    sink: &mut Sink,
    progress: &Progress,
) -> Result<Option<SystemTime>, Failure> {
    let mut url = req.url.to_owned();
    let mut auth = req.authorization;
    let mut redirects = 0;
    let mut restarted = false;
    loop {
        let offset = sink.written();
        progress.sent.store(offset, Ordering::Relaxed);
        let mut get = req.client.get(&url);
        if let Some(a) = auth {
            get = get.header(AUTHORIZATION, a);
        }
        if offset > 0 {
            get = get.header(RANGE, format!("bytes={offset}-"));
        }
        let resp = match tokio::time::timeout(req.answer_timeout, get.send()).await {
            Err(_) => return Err(no_answer(req.answer_timeout)),
            Ok(Err(e)) => return Err(Failure::new(classify_error(&e), error_chain(&e))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        match status {
            301 | 302 | 303 | 307 | 308 => {
                let next = location(&url, &headers).ok_or_else(|| {
                    Failure::new(Class::Fatal, format!("HTTP {status} without a Location"))
                })?;
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(Failure::new(Class::Fatal, "too many redirects"));
                }
                // The keys go only where they may; the data node serves public files anyway.
                if !redirect_allowed(&url, &next) {
                    auth = None;
                }
                url = next;
            }
            200 | 206 => {
                let continues = status == 206 && range_continues(&headers, offset, req.size);
                if offset > 0 && !continues {
                    if restarted {
                        return Err(Failure::new(
                            Class::Transient,
                            format!("HTTP {status} does not continue the kept bytes"),
                        ));
                    }
                    // Not the bytes that follow ours: start over, from byte 0.
                    sink.restart()?;
                    restarted = true;
                    continue;
                }
                return body(resp, sink, req, progress).await.map(|()| {
                    headers
                        .get(LAST_MODIFIED)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| httpdate::parse_http_date(v).ok())
                });
            }
            416 if offset > 0 && !restarted => {
                // The kept bytes are more than the server has: they are not its file.
                sink.restart()?;
                restarted = true;
            }
            _ => return Err(refused(status, &headers)),
        }
    }
}

/// Streams the body into `sink`, giving up when no byte came for the stall timeout.
async fn body(
    mut resp: reqwest::Response,
    sink: &mut Sink,
    req: &Request<'_>,
    progress: &Progress,
) -> Result<(), Failure> {
    loop {
        let chunk = match tokio::time::timeout(req.stall, resp.chunk()).await {
            Err(_) => {
                return Err(Failure::new(
                    Class::Transient,
                    format!("stalled: no byte received for {}s", req.stall.as_secs_f64()),
                ))
            }
            Ok(Err(e)) => return Err(Failure::new(classify_error(&e), error_chain(&e))),
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(c))) => c,
        };
        sink.write(&chunk)
            .map_err(|e| Failure::new(Class::Fatal, format!("cannot write: {e}")))?;
        progress
            .sent
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if req.size.is_some_and(|s| sink.written() > s) {
            sink.restart()?;
            return Err(Failure::new(
                Class::Transient,
                "the server sent more bytes than the item lists",
            ));
        }
    }
}

/// True when a `206`'s `Content-Range` starts at `offset` (and names `size`, when known).
fn range_continues(headers: &HeaderMap, offset: u64, size: Option<u64>) -> bool {
    let Some(v) = headers.get(CONTENT_RANGE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((range, total)) = v
        .trim()
        .strip_prefix("bytes ")
        .and_then(|r| r.split_once('/'))
    else {
        return false;
    };
    let start = range
        .split_once('-')
        .and_then(|(a, _)| a.parse::<u64>().ok());
    let total_ok = match (size, total.parse::<u64>()) {
        (Some(s), Ok(t)) => s == t,
        (Some(_), Err(_)) => total == "*",
        (None, _) => true,
    };
    start == Some(offset) && total_ok
}

fn location(from: &str, headers: &HeaderMap) -> Option<String> {
    let l = headers.get(LOCATION)?.to_str().ok()?;
    Some(url::Url::parse(from).ok()?.join(l).ok()?.to_string())
}

fn no_answer(timeout: Duration) -> Failure {
    Failure::new(
        Class::Transient,
        format!("no answer within {}s", timeout.as_secs_f64()),
    )
}

/// A refusal: what it is and whether a retry can help.
fn refused(status: u16, headers: &HeaderMap) -> Failure {
    let (class, reason) = match status {
        403 => (
            Class::Fatal,
            "HTTP 403: the file is restricted; log in with `iaup configure` if it is yours, \
             otherwise it is not public"
                .to_owned(),
        ),
        404 => (Class::Fatal, "HTTP 404: not on the server".to_owned()),
        429 | 503 => (
            Class::Overload,
            format!("HTTP {status}: the server asks to slow down"),
        ),
        408 | 500..=599 => (Class::Transient, format!("HTTP {status}")),
        _ => (Class::Fatal, format!("HTTP {status}")),
    };
    Failure {
        class,
        reason,
        retry_after: retry_after(headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_RANGE, v.parse().unwrap());
        h
    }

    // Resume keeps the prefix only when the server continues exactly where it ends.
    #[test]
    fn a_206_continues_only_from_the_kept_offset_of_the_same_file() {
        assert!(range_continues(&range("bytes 100-199/200"), 100, Some(200)));
        assert!(range_continues(&range("bytes 100-199/200"), 100, None));
        assert!(!range_continues(&range("bytes 0-199/200"), 100, Some(200)));
        assert!(
            !range_continues(&range("bytes 100-199/300"), 100, Some(200)),
            "another size: another file"
        );
        assert!(!range_continues(&HeaderMap::new(), 100, Some(200)));
        assert!(!range_continues(&range("items 1-2/3"), 1, None));
    }

    #[test]
    fn refusals_are_classed() {
        let h = HeaderMap::new();
        let f = refused(403, &h);
        assert_eq!(f.class, Class::Fatal);
        assert!(f.reason.contains("restricted"), "{}", f.reason);
        assert_eq!(refused(503, &h).class, Class::Overload);
        assert_eq!(refused(429, &h).class, Class::Overload);
        assert_eq!(refused(502, &h).class, Class::Transient);
        assert_eq!(refused(404, &h).class, Class::Fatal);
    }
}
