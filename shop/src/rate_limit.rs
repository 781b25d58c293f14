//! Login rate limits with backoff, never lockout: each key (an account's lower-cased username, a
//! client address) gets some failed attempts free; after that each further failure doubles the
//! wait before the next attempt is heard (1 s, 2 s, 4 s … up to a cap). Waiting always helps, so
//! nobody can lock a customer out for good, and a success clears the account's count.
//!
//! Kept in this process's memory: with several shop processes each applies its own limit (the
//! load balancer spreads an attacker's attempts, so the effective budget is a small multiple).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub free_attempts: u32,
    pub max_wait: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    not_before: Instant,
    last: Instant,
}

/// Entries untouched this long are forgotten when the table is pruned.
const FORGET_AFTER: Duration = Duration::from_secs(3600);
const PRUNE_ABOVE: usize = 100_000;

pub struct Limiter {
    backoff: Backoff,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Limiter {
    pub fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when `key` must wait before its next attempt.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(e) if e.not_before > now => Err(e.not_before - now),
            _ => Ok(()),
        }
    }

    pub fn failed(&self, key: &str, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > PRUNE_ABOVE {
            entries.retain(|_, e| now.saturating_duration_since(e.last) < FORGET_AFTER);
        }
        let entry = entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            not_before: now,
            last: now,
        });
        if now.saturating_duration_since(entry.last) >= FORGET_AFTER {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        if let Some(over) = entry.failures.checked_sub(self.backoff.free_attempts)
            && over > 0
        {
            let wait = Duration::from_secs(1u64 << (over - 1).min(20)).min(self.backoff.max_wait);
            entry.not_before = now + wait;
        }
    }

    pub fn succeeded(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_attempts_then_doubling_waits_up_to_the_cap() {
        let l = Limiter::new(Backoff {
            free_attempts: 2,
            max_wait: Duration::from_secs(5),
        });
        let t = Instant::now();
        for _ in 0..2 {
            assert!(l.check("ann", t).is_ok());
            l.failed("ann", t);
        }
        assert!(l.check("ann", t).is_ok(), "two free failures");
        l.failed("ann", t);
        assert_eq!(l.check("ann", t), Err(Duration::from_secs(1)));
        assert!(l.check("ann", t + Duration::from_secs(1)).is_ok());
        l.failed("ann", t);
        assert_eq!(l.check("ann", t), Err(Duration::from_secs(2)));
        for _ in 0..10 {
            l.failed("ann", t);
        }
        assert_eq!(l.check("ann", t), Err(Duration::from_secs(5)), "capped");
        assert!(l.check("bob", t).is_ok(), "per key");
        l.succeeded("ann");
        assert!(l.check("ann", t).is_ok());
    }
}
