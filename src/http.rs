//! The HTTP client and the retry policy every command shares.
//!
//! One `reqwest::Client` per run (keep-alive, rustls, HTTP/1.1 as IAS3 speaks it). Retries live
//! here too: exponential backoff with full jitter, capped, honouring `Retry-After`, and the
//! transient-or-fatal decision for transport errors, made by walking the error's `source()`
//! chain. Streaming uploads run their own loop in `engine` (a file body cannot be replayed) but
//! use the same policy and classification.

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::ias3::{self, Class, S3Error};

pub const USER_AGENT: &str = concat!("iaup/", env!("CARGO_PKG_VERSION"));

/// A client with connection reuse for `pool` concurrent requests per host.
pub fn client(pool: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .http1_only()
        .pool_max_idle_per_host(pool.max(1))
        .pool_idle_timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        // IAS3 redirects PUTs (307) to the right host; reqwest resends the body only when it
        // can, and never to another host with our Authorization. We follow none and report.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the TLS backend is compiled in")
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 10,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(120),
        }
    }
}

/// Longest `Retry-After` we obey; beyond it the server is asking for a pause we'd rather show.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

impl RetryPolicy {
    /// The short budget of one-off checks and logins before a run (the key check, a
    /// collection's existence, `--status-check`): a few quick retries, not a transfer's budget.
    pub const CHECK: RetryPolicy = RetryPolicy {
        retries: 3,
        base: Duration::from_millis(500),
        cap: Duration::from_secs(5),
    };

    /// The sleep before retry number `retry` (1 = first retry). When the server said how long
    /// to wait (`Retry-After`), that, plus up to a quarter more so clients told the same do not
    /// return together; otherwise full jitter: uniform in `[0, min(cap, base * 2^(retry-1))]`.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra
                .min(MAX_RETRY_AFTER)
                .mul_f64(rand::random_range(1.0..=1.25));
        }
        let exp = self
            .base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.cap);
        if exp.is_zero() {
            Duration::ZERO
        } else {
            exp.mul_f64(rand::random_range(0.0..=1.0))
        }
    }
}

/// `Retry-After` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Transport errors worth another attempt: connect failures, resets, timeouts, truncated
/// answers. Not: certificate problems, malformed URLs.
pub fn is_transient(err: &reqwest::Error) -> bool {
    if err.is_builder() || err.is_redirect() {
        return false;
    }
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("invalid dns name") {
            return false;
        }
        source = e.source();
    }
    true
}

/// One request, no retries, to see that `url` can be reached at all. Any HTTP answer counts
/// (the caller checks what it means); `Err` (with the reason) only when no connection could
/// be made: refused, no such host, a TLS failure, or no answer within `timeout`.
pub async fn probe(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), String> {
    match client.get(url).timeout(timeout).send().await {
        Err(e) if e.is_connect() || e.is_timeout() => Err(error_chain(&e)),
        _ => Ok(()),
    }
}

/// The message of an error with its causes, on one line: reqwest's top-level text alone
/// ("error sending request") says nothing.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let t = e.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        source = e.source();
    }
    s
}

/// A complete small answer.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn s3_error(&self) -> Option<S3Error> {
        S3Error::parse(&self.body)
    }

    pub fn describe(&self) -> String {
        ias3::describe(self.status, self.s3_error().as_ref(), &self.body)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{what}: {reason}")]
    Transport { what: String, reason: String },
    #[error("{what}: {reason} (gave up after {attempts} {})", if *attempts == 1 { "attempt" } else { "attempts" })]
    Exhausted {
        what: String,
        reason: String,
        attempts: u32,
    },
}

/// Called before each retry with (retry number, delay, reason).
pub type OnRetry<'a> = &'a (dyn Fn(u32, Duration, &str) + Send + Sync);

/// Sends a small, replayable request with retries on transport errors, 5xx, 408, 429 and
/// overload SlowDown. Returns the final answer, which may be a failure status (the caller
/// decides what a 404 means); gives up with [`HttpError`] when the budget is spent.
pub async fn send_with_retry(
    what: &str,
    policy: &RetryPolicy,
    build: impl Fn() -> reqwest::RequestBuilder,
    on_retry: OnRetry<'_>,
) -> Result<Answer, HttpError> {
    let mut retry = 0;
    loop {
        let (reason, ra) = match build().send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                match resp.text().await {
                    Ok(body) => {
                        let answer = Answer {
                            status,
                            headers,
                            body,
                        };
                        let s3 = answer.s3_error();
                        match ias3::classify(status, s3.as_ref()) {
                            Class::Transient
                            | Class::SlowDown(ias3::SlowDown::Overload)
                            | Class::SlowDown(ias3::SlowDown::GlobalLimit) => {
                                (answer.describe(), retry_after(&answer.headers))
                            }
                            _ => return Ok(answer),
                        }
                    }
                    Err(e) => (error_chain(&e), None),
                }
            }
            Err(e) if is_transient(&e) => (error_chain(&e), None),
            Err(e) => {
                return Err(HttpError::Transport {
                    what: what.to_owned(),
                    reason: error_chain(&e),
                })
            }
        };
        if retry >= policy.retries {
            return Err(HttpError::Exhausted {
                what: what.to_owned(),
                reason,
                attempts: retry + 1,
            });
        }
        retry += 1;
        let delay = policy.backoff(retry, ra);
        on_retry(retry, delay, &reason);
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_jittered_and_respects_retry_after() {
        let p = RetryPolicy {
            retries: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(8),
        };
        for retry in 1..30 {
            let d = p.backoff(retry, None);
            assert!(d <= Duration::from_secs(8), "{d:?}");
        }
        assert!(p.backoff(1, None) <= Duration::from_secs(1));
        // Retry-After is obeyed as given (plus a little jitter), whatever the retry number.
        for retry in [1, 5, 20] {
            let d = p.backoff(retry, Some(Duration::from_secs(5)));
            assert!(
                d >= Duration::from_secs(5) && d <= Duration::from_millis(6250),
                "{d:?}"
            );
        }
        let capped = p.backoff(1, Some(Duration::from_secs(100_000)));
        assert!(capped >= Duration::from_secs(600) && capped <= Duration::from_secs(750));
        let zero = RetryPolicy {
            base: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.backoff(3, None), Duration::ZERO);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }
}
