//! Run-wide flow control: an AIMD concurrency limit (halve on sustained overload, climb back
//! by about one slot per window of successes). The S3 face's pause while IAS3's global queue
//! is full is `ias3::check_limit::Gate`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub struct Limiter {
    max: f64,
    state: Mutex<LimitState>,
    notify: Notify,
}

struct LimitState {
    limit: f64,
    in_flight: usize,
    last_decrease: Option<Instant>,
    /// The last answers, `true` for an overload SlowDown.
    recent: std::collections::VecDeque<bool>,
}

/// Answers remembered to tell sustained overload from sporadic SlowDowns.
const WINDOW: usize = 20;
/// Fewer answers than this say nothing yet.
const MIN_SAMPLES: usize = 8;
/// The share of SlowDowns among recent answers that means "the server is overloaded".
const OVERLOAD_SHARE: f64 = 0.5;

impl LimitState {
    fn remember(&mut self, slowdown: bool) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(slowdown);
    }

    fn overloaded(&self) -> bool {
        let n = self.recent.len();
        n >= MIN_SAMPLES
            && self.recent.iter().filter(|s| **s).count() as f64 >= OVERLOAD_SHARE * n as f64
    }
}

/// A slot in flight; dropping it frees the slot.
pub struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.limiter.state.lock().unwrap_or_else(|e| e.into_inner());
        s.in_flight -= 1;
        drop(s);
        self.limiter.notify.notify_waiters();
    }
}

/// One decrease per this window, so a burst of SlowDowns from requests that were already in
/// flight counts as one signal.
const DECREASE_WINDOW: Duration = Duration::from_secs(2);

impl Limiter {
    pub fn new(max: usize) -> Limiter {
        let max = max.max(1) as f64;
        Limiter {
            max,
            state: Mutex::new(LimitState {
                limit: max,
                in_flight: 0,
                last_decrease: None,
                recent: std::collections::VecDeque::with_capacity(WINDOW),
            }),
            notify: Notify::new(),
        }
    }

    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if (s.in_flight as f64) < s.limit.floor().max(1.0) {
                    s.in_flight += 1;
                    return Permit { limiter: self };
                }
            }
            notified.await;
        }
    }

    /// Additive increase: +1 slot per `limit` successes.
    pub fn on_success(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.remember(false);
        let before = s.limit.floor();
        s.limit = (s.limit + 1.0 / s.limit).min(self.max);
        let grew = s.limit.floor() > before;
        drop(s);
        if grew {
            self.notify.notify_waiters();
        }
    }

    /// Multiplicative decrease when SlowDowns are sustained (at least half of the recent
    /// answers): a sporadic SlowDown only delays its own file, which honours `Retry-After`.
    /// Returns the new limit when it changed.
    pub fn on_overload(&self) -> Option<usize> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.remember(true);
        let now = Instant::now();
        if !s.overloaded() || s.last_decrease.is_some_and(|t| now - t < DECREASE_WINDOW) {
            return None;
        }
        s.last_decrease = Some(now);
        let before = s.limit.floor() as usize;
        s.limit = (s.limit / 2.0).max(1.0);
        let after = s.limit.floor() as usize;
        (after != before).then_some(after)
    }

    pub fn current(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .limit
            .floor() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn aimd_halves_and_recovers() {
        let l = Limiter::new(8);
        assert_eq!(l.current(), 8);
        // Sporadic SlowDowns (1 in 5) do not shrink the run.
        for _ in 0..4 {
            for _ in 0..4 {
                l.on_success();
            }
            assert_eq!(l.on_overload(), None);
        }
        // Sustained ones do, once per window.
        let mut changes = Vec::new();
        for _ in 0..12 {
            changes.extend(l.on_overload());
        }
        assert_eq!(changes, [4], "one decrease per window");
        // About one slot per window of `limit` successes.
        for _ in 0..5 {
            l.on_success();
        }
        assert_eq!(l.current(), 5);
        for _ in 0..100 {
            l.on_success();
        }
        assert_eq!(l.current(), 8, "capped at --jobs");
    }

    #[tokio::test]
    async fn acquire_blocks_at_limit() {
        let l = Limiter::new(1);
        let p = l.acquire().await;
        let blocked = tokio::time::timeout(Duration::from_millis(50), l.acquire()).await;
        assert!(blocked.is_err());
        drop(p);
        let again = tokio::time::timeout(Duration::from_millis(50), l.acquire()).await;
        assert!(again.is_ok());
    }
}
