//! The one retry loop of every transfer: a policy (exponential backoff with full jitter,
//! capped, honouring `Retry-After`), a per-transfer [`Budget`] that counts attempts and is spent
//! by retries, the decision table [`next_step`] from a failure's [`Class`] to the next
//! [`Step`], and the driver [`run`] that repeats a [`Transfer`]'s attempts by that table.
//!
//! The class of a failure comes from the API face that read the answer (`ias3` for S3 XML
//! errors, `archive` for the metadata API's JSON) or from [`super::classify`] for transport
//! errors; this module knows neither face.

use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;

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

/// What one answer or transport error means for the transfer, as its API face reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Success,
    /// Worth another attempt after a backoff: a network fault, 5xx, 408, 429, damage in
    /// transit (an ETag or Content-MD5 mismatch).
    Transient,
    /// The server asks everyone to slow down: retry after a backoff, and lower concurrency.
    Overload,
    /// The server's queue is full for everyone: hold new requests until it clears. Spends no
    /// retry where the budget allows pauses; elsewhere it is [`Class::Overload`].
    Pause,
    /// The same request will fail again.
    Fatal,
    /// Refused in a way no request of the same group (an item) can succeed.
    FatalForGroup,
}

/// Why a transfer stopped trying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    Fatal,
    FatalForGroup,
    /// The retries are spent.
    Exhausted,
    /// The pauses allowed are spent.
    TooManyPauses,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Done,
    /// Try again after `delay`; spends one retry.
    Retry {
        delay: Duration,
    },
    /// Hold until the server's queue clears, then try again; spends one pause.
    Pause,
    GiveUp(GiveUp),
}

/// One transfer's account: attempts made, retries and pauses spent, against its policy.
#[derive(Clone, Debug)]
pub struct Budget {
    policy: RetryPolicy,
    attempts: u32,
    retries: u32,
    pauses: u32,
    /// `None`: this transfer cannot pause (no run-wide gate), a [`Class::Pause`] is a retry.
    max_pauses: Option<u32>,
}

impl Budget {
    pub fn new(policy: RetryPolicy) -> Budget {
        Budget {
            policy,
            attempts: 0,
            retries: 0,
            pauses: 0,
            max_pauses: None,
        }
    }

    /// A budget that may also sit through `max` pauses, which spend no retry.
    pub fn with_pauses(policy: RetryPolicy, max: u32) -> Budget {
        Budget {
            max_pauses: Some(max),
            ..Budget::new(policy)
        }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Attempts started so far (redirects followed included).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn retries(&self) -> u32 {
        self.retries
    }

    pub fn pauses(&self) -> u32 {
        self.pauses
    }

    /// Counts a new attempt and returns its number (1 = the first).
    pub fn start_attempt(&mut self) -> u32 {
        self.attempts += 1;
        self.attempts
    }

    /// Spends what `step` costs.
    pub fn spend(&mut self, step: &Step) {
        match step {
            Step::Retry { .. } => self.retries += 1,
            Step::Pause => self.pauses += 1,
            Step::Done | Step::GiveUp(_) => {}
        }
    }
}

/// The decision table: what follows a result of class `class`, given what `budget` has left
/// and the server's `Retry-After`. Pure but for the jitter of the delay.
///
/// | class          | budget left          | step                      |
/// |----------------|----------------------|---------------------------|
/// | Success        | any                  | Done                      |
/// | Fatal          | any                  | GiveUp(Fatal)             |
/// | FatalForGroup  | any                  | GiveUp(FatalForGroup)     |
/// | Pause          | pauses allowed, left | Pause                     |
/// | Pause          | pauses allowed, none | GiveUp(TooManyPauses)     |
/// | Pause (no pauses allowed), Overload, Transient | retries left | Retry { backoff } |
/// | Pause (no pauses allowed), Overload, Transient | none left    | GiveUp(Exhausted) |
pub fn next_step(class: Class, budget: &Budget, retry_after: Option<Duration>) -> Step {
    match class {
        Class::Success => Step::Done,
        Class::Fatal => Step::GiveUp(GiveUp::Fatal),
        Class::FatalForGroup => Step::GiveUp(GiveUp::FatalForGroup),
        Class::Pause if budget.max_pauses.is_some() => {
            if budget.max_pauses.is_some_and(|max| budget.pauses >= max) {
                Step::GiveUp(GiveUp::TooManyPauses)
            } else {
                Step::Pause
            }
        }
        Class::Pause | Class::Overload | Class::Transient => {
            if budget.retries >= budget.policy.retries {
                Step::GiveUp(GiveUp::Exhausted)
            } else {
                Step::Retry {
                    delay: budget.policy.backoff(budget.retries + 1, retry_after),
                }
            }
        }
    }
}

/// A failed attempt, as its face classified it.
#[derive(Clone, Debug)]
pub struct Failure {
    pub class: Class,
    pub reason: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn new(class: Class, reason: impl Into<String>) -> Failure {
        Failure {
            class,
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// The result of one attempt.
#[derive(Debug)]
pub enum Tried<T> {
    /// Finished with what the caller wanted to know (which may be a refusal it reads itself).
    Done(T),
    Failed(Failure),
    /// Try again at once, spending no retry (a redirect that is followed).
    Again,
    /// Stop without a verdict (interrupted).
    Stopped,
}

/// How a transfer ended.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    GaveUp {
        why: GiveUp,
        last: Failure,
        attempts: u32,
    },
    Stopped,
}

/// One transfer: its attempt, and what it does around the steps the table decides. The
/// futures are `Send`, so a transfer runs on any worker of the runtime; implementations may
/// write these methods as `async fn`.
pub trait Transfer {
    type Output;

    /// Makes attempt number `attempt` (1 = the first). A body is rebuilt here each time.
    fn attempt(&mut self, attempt: u32) -> impl Future<Output = Tried<Self::Output>> + Send;

    /// Told each step before it is taken, with the failure that led to it: show a retry,
    /// lower concurrency, hold the run while the server's queue is full.
    fn on_step(
        &mut self,
        _step: &Step,
        _failed: &Failure,
        _attempt: u32,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Sleeps before a retry; an implementation may cut it short (Ctrl-C).
    fn wait(&mut self, delay: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(delay)
    }
}

/// Repeats `transfer`'s attempts by [`next_step`] until one is done, the table gives up, or the
/// transfer stops. The one retry loop: small requests, metadata writes and file uploads all
/// run through it.
pub async fn run<X: Transfer>(budget: &mut Budget, transfer: &mut X) -> Outcome<X::Output> {
    loop {
        let attempt = budget.start_attempt();
        let failed = match transfer.attempt(attempt).await {
            Tried::Done(v) => return Outcome::Done(v),
            Tried::Stopped => return Outcome::Stopped,
            Tried::Again => continue,
            Tried::Failed(f) => f,
        };
        // A failure classed Success is the attempt's contradiction: nothing to retry.
        let step = match next_step(failed.class, budget, failed.retry_after) {
            Step::Done => Step::GiveUp(GiveUp::Fatal),
            s => s,
        };
        transfer.on_step(&step, &failed, attempt).await;
        budget.spend(&step);
        match step {
            Step::Retry { delay } => transfer.wait(delay).await,
            Step::Pause => {}
            Step::GiveUp(why) => {
                return Outcome::GaveUp {
                    why,
                    last: failed,
                    attempts: attempt,
                }
            }
            Step::Done => unreachable!("mapped to GiveUp above"),
        }
    }
}

/// A [`Transfer`] from two closures: the attempt (returning its future), and a note called
/// before each retry with (retry number, delay, reason). For requests that need nothing else
/// around their steps.
pub struct Attempts<A, N> {
    pub attempt: A,
    pub on_retry: N,
}

impl<T, A, F, N> Transfer for Attempts<A, N>
where
    A: FnMut(u32) -> F,
    F: Future<Output = Tried<T>> + Send,
    N: FnMut(u32, Duration, &str),
{
    type Output = T;

    fn attempt(&mut self, attempt: u32) -> impl Future<Output = Tried<T>> + Send {
        (self.attempt)(attempt)
    }

    fn on_step(
        &mut self,
        step: &Step,
        failed: &Failure,
        attempt: u32,
    ) -> impl Future<Output = ()> + Send {
        if let Step::Retry { delay } = step {
            (self.on_retry)(attempt, *delay, &failed.reason);
        }
        std::future::ready(())
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

    const TWO: RetryPolicy = RetryPolicy {
        retries: 2,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(1),
    };

    #[test]
    fn the_budget_is_spent_by_retries_and_pauses_only() {
        let mut b = Budget::with_pauses(TWO, 1);
        let retry = next_step(Class::Transient, &b, None);
        assert!(matches!(retry, Step::Retry { delay } if delay <= TWO.base));
        b.spend(&retry);
        b.spend(&next_step(
            Class::Overload,
            &b,
            Some(Duration::from_secs(3)),
        ));
        assert_eq!(b.retries(), 2);
        assert_eq!(
            next_step(Class::Transient, &b, None),
            Step::GiveUp(GiveUp::Exhausted)
        );
        // A pause spends no retry, but pauses have their own bound.
        assert_eq!(next_step(Class::Pause, &b, None), Step::Pause);
        b.spend(&Step::Pause);
        assert_eq!(
            next_step(Class::Pause, &b, None),
            Step::GiveUp(GiveUp::TooManyPauses)
        );
        // Without pauses allowed, a pause is a retry.
        let plain = Budget::new(TWO);
        assert!(matches!(
            next_step(Class::Pause, &plain, None),
            Step::Retry { .. }
        ));
        // Retry-After decides the delay when given.
        let ra = next_step(Class::Overload, &plain, Some(Duration::from_secs(3)));
        assert!(
            matches!(ra, Step::Retry { delay } if delay >= Duration::from_secs(3)),
            "{ra:?}"
        );
        for (class, step) in [
            (Class::Success, Step::Done),
            (Class::Fatal, Step::GiveUp(GiveUp::Fatal)),
            (Class::FatalForGroup, Step::GiveUp(GiveUp::FatalForGroup)),
        ] {
            assert_eq!(next_step(class, &plain, None), step, "{class:?}");
        }
    }

    #[tokio::test]
    async fn run_repeats_until_done_and_counts_attempts() {
        let mut budget = Budget::new(RetryPolicy {
            base: Duration::ZERO,
            ..TWO
        });
        let mut notes = Vec::new();
        let mut x = Attempts {
            attempt: |n: u32| async move {
                match n {
                    1 => Tried::Again,
                    2 => Tried::Failed(Failure::new(Class::Transient, "reset")),
                    _ => Tried::Done(n),
                }
            },
            on_retry: |n: u32, _: Duration, why: &str| notes.push(format!("{n}: {why}")),
        };
        assert!(matches!(run(&mut budget, &mut x).await, Outcome::Done(3)));
        assert_eq!(notes, ["2: reset"]);
        assert_eq!((budget.attempts(), budget.retries()), (3, 1));

        let mut budget = Budget::new(RetryPolicy {
            base: Duration::ZERO,
            ..TWO
        });
        let mut x = Attempts {
            attempt: |_: u32| async { Tried::<()>::Failed(Failure::new(Class::Transient, "503")) },
            on_retry: |_: u32, _: Duration, _: &str| {},
        };
        match run(&mut budget, &mut x).await {
            Outcome::GaveUp {
                why,
                last,
                attempts,
            } => {
                assert_eq!((why, attempts), (GiveUp::Exhausted, 3));
                assert_eq!(last.reason, "503");
            }
            o => panic!("{o:?}"),
        }
    }
}
