//! Deterministic fault decisions. Each decision is a hash of (seed, fault name, method, path,
//! attempt number) mapped to 0..1 and compared with the rate, so which request fails does not
//! depend on how concurrent requests interleave: only on what is asked and how often. This module
//! also owns the per-(method, path) attempt counters and the once-per-key stall memory; it does
//! not know HTTP.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use md5::{Digest, Md5};

/// A number in 0..1 derived from the inputs alone.
pub fn unit_hash(seed: u64, fault: &str, method: &str, path: &str, attempt: u32) -> f64 {
    let mut h = Md5::new();
    h.update(seed.to_le_bytes());
    for part in [fault, method, path] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update(attempt.to_le_bytes());
    let out = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    // 53 bits give an exact f64 in 0..1.
    (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether a fault with `rate` hits this request.
pub fn hits(rate: f64, seed: u64, fault: &str, method: &str, path: &str, attempt: u32) -> bool {
    if rate <= 0.0 {
        return false;
    }
    if rate >= 1.0 {
        return true;
    }
    unit_hash(seed, fault, method, path, attempt) < rate
}

/// Counts attempts per (method, path) and remembers which keys were stalled.
#[derive(Default)]
pub struct Attempts {
    counts: Mutex<HashMap<(String, String), u32>>,
    stalled: Mutex<HashSet<String>>,
}

impl Attempts {
    /// Registers one more attempt and returns its number, starting at 1.
    pub fn next(&self, method: &str, path: &str) -> u32 {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts
            .entry((method.to_string(), path.to_string()))
            .or_insert(0);
        *n += 1;
        *n
    }

    /// Marks `path` as stalled; false if it already was (a key stalls at most once).
    pub fn claim_stall(&self, path: &str) -> bool {
        let mut stalled = self.stalled.lock().unwrap_or_else(|e| e.into_inner());
        stalled.insert(path.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_depend_only_on_inputs() {
        let a = unit_hash(7, "slowdown", "PUT", "/item/a.txt", 1);
        let b = unit_hash(7, "slowdown", "PUT", "/item/a.txt", 1);
        assert_eq!(a, b);
        assert!((0.0..1.0).contains(&a));
        assert_ne!(a, unit_hash(8, "slowdown", "PUT", "/item/a.txt", 1));
        assert_ne!(a, unit_hash(7, "slowdown", "PUT", "/item/a.txt", 2));
        assert_ne!(a, unit_hash(7, "error", "PUT", "/item/a.txt", 1));
    }

    #[test]
    fn rate_is_roughly_respected() {
        let n = (0..2000)
            .filter(|i| hits(0.3, 1, "error", "PUT", &format!("/it/{i}"), 1))
            .count();
        assert!((500..700).contains(&n), "{n} of 2000 hit at rate 0.3");
        assert!(!hits(0.0, 1, "error", "PUT", "/it/x", 1));
        assert!(hits(1.0, 1, "error", "PUT", "/it/x", 1));
    }

    #[test]
    fn attempts_count_per_method_and_path() {
        let a = Attempts::default();
        assert_eq!(a.next("PUT", "/i/k"), 1);
        assert_eq!(a.next("PUT", "/i/k"), 2);
        assert_eq!(a.next("DELETE", "/i/k"), 1);
        assert!(a.claim_stall("/i/k"));
        assert!(!a.claim_stall("/i/k"));
    }
}
