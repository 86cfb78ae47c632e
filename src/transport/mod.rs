//! The shared transport under every command: the HTTP client and its redirect policy
//! ([`client`]), the client of file PUTs with `Expect: 100-continue` ([`expect`]), the one retry loop with its policy, budget and decision table ([`retry`]),
//! the transient-or-fatal class of transport errors ([`classify`]), the stall and answer
//! timeouts of streamed bodies ([`watch`]) and the AIMD concurrency limiter ([`limiter`]).
//!
//! It knows no API face: what an answer means is told by a [`Face`] each caller supplies
//! (`ias3::S3` reads S3 XML errors, `archive::ARCHIVE` the metadata API's JSON). Small
//! replayable requests go through [`send`]; streamed uploads and metadata writes drive
//! [`retry::run`] with their own attempt.

pub mod classify;
pub mod client;
pub mod expect;
pub mod limiter;
pub mod retry;
pub mod watch;

use std::time::Duration;

use reqwest::header::HeaderMap;

pub use classify::{classify_error, is_transient};
pub use client::{client, USER_AGENT};
pub use retry::{retry_after, Class, RetryPolicy};
use retry::{Attempts, Budget, Failure, GiveUp, Outcome, Tried};

/// How one API face reads a complete answer.
pub trait Face: Sync {
    /// What the answer means for the transfer.
    fn classify(&self, answer: &Answer) -> Class;
    /// A short human reason for a failed answer.
    fn describe(&self, answer: &Answer) -> String;
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
    /// `HTTP 500: <the start of the body>`, for answers no face explains better.
    pub fn describe_plain(&self) -> String {
        let snippet: String = self.body.trim().chars().take(200).collect();
        if snippet.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("HTTP {}: {snippet}", self.status)
        }
    }
}

/// The plain reading of an answer, for requests whose answers have no error format of their
/// own: 2xx success; 408, 429 and 5xx transient; anything else fatal.
pub fn classify_status(status: u16) -> Class {
    match status {
        200..=299 => Class::Success,
        429 | 503 => Class::Overload,
        408 | 500..=599 => Class::Transient,
        _ => Class::Fatal,
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

/// The error of a request to one of archive.org's APIs (either face).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{what}: {reason}")]
    Refused { what: String, reason: String },
    #[error("{what}: the answer is not what archive.org sends ({reason})")]
    BadAnswer { what: String, reason: String },
}

/// Called before each retry with (retry number, delay, reason).
pub type OnRetry<'a> = &'a (dyn Fn(u32, Duration, &str) + Send + Sync);

/// Sends a small, replayable request, retried by the decision table on transport errors and
/// on answers `face` classes as worth another attempt. Returns the final answer, which may
/// be a failure status (the caller decides what a 404 means); gives up with [`HttpError`]
/// when the budget is spent or a transport error is fatal.
pub async fn send(
    what: &str,
    policy: &RetryPolicy,
    face: &dyn Face,
    build: impl Fn() -> reqwest::RequestBuilder,
    on_retry: OnRetry<'_>,
) -> Result<Answer, HttpError> {
    send_paced(what, policy, face, None, build, on_retry).await
}

/// [`send`] with each attempt holding a slot of `limiter` while it is in flight (never while
/// it sleeps in backoff), and telling it of overload answers and successes (AIMD): the bulk
/// commands (delete, metadata writes) pace themselves as upload does.
pub async fn send_paced(
    what: &str,
    policy: &RetryPolicy,
    face: &dyn Face,
    limiter: Option<&limiter::Limiter>,
    build: impl Fn() -> reqwest::RequestBuilder,
    on_retry: OnRetry<'_>,
) -> Result<Answer, HttpError> {
    let mut budget = Budget::new(*policy);
    let mut transfer = Attempts {
        attempt: |_: u32| attempt_small(build(), face, limiter),
        on_retry: |n: u32, delay: Duration, reason: &str| on_retry(n, delay, reason),
    };
    match retry::run(&mut budget, &mut transfer).await {
        Outcome::Done(answer) => Ok(answer),
        Outcome::GaveUp {
            why: GiveUp::Exhausted | GiveUp::TooManyPauses,
            last,
            attempts,
        } => Err(HttpError::Exhausted {
            what: what.to_owned(),
            reason: last.reason,
            attempts,
        }),
        Outcome::GaveUp { last, .. } => Err(HttpError::Transport {
            what: what.to_owned(),
            reason: last.reason,
        }),
        Outcome::Stopped => unreachable!("a small request is never stopped"),
    }
}

/// One attempt of [`send`]: answers the face classes as worth another attempt are failures,
/// every other answer is the result.
async fn attempt_small(
    req: reqwest::RequestBuilder,
    face: &dyn Face,
    limiter: Option<&limiter::Limiter>,
) -> Tried<Answer> {
    let permit = match limiter {
        Some(l) => Some(l.acquire().await),
        None => None,
    };
    let received = receive(req).await;
    drop(permit);
    match received {
        Ok(answer) => match face.classify(&answer) {
            class @ (Class::Transient | Class::Overload | Class::Pause) => {
                if class == Class::Overload {
                    limiter.map(limiter::Limiter::on_overload);
                }
                Tried::Failed(Failure {
                    class: Class::Transient,
                    reason: face.describe(&answer),
                    retry_after: retry_after(&answer.headers),
                })
            }
            class @ (Class::Success | Class::Fatal | Class::FatalForGroup) => {
                if class == Class::Success {
                    limiter.map(limiter::Limiter::on_success);
                }
                Tried::Done(answer)
            }
        },
        Err(e) => Tried::Failed(Failure::new(classify_error(&e), error_chain(&e))),
    }
}

/// Sends one request and reads its whole (small) answer.
pub async fn receive(req: reqwest::RequestBuilder) -> Result<Answer, reqwest::Error> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}
