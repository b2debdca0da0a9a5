//! Rate limits: token buckets in memory, keyed by client address or by account. A bucket
//! holds `capacity` attempts and refills continuously over its window, so a limit never locks
//! anyone out for good: one attempt comes back every `window / capacity`. Memory is bounded:
//! past `MAX_KEYS` buckets, the ones that have refilled (idle keys) are forgotten first.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What is being limited; each rule has its own capacity and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Failed logins per account (lower-cased email).
    LoginFailuresPerAccount,
    /// Failed logins per client address.
    LoginFailuresPerAddress,
    RegistrationsPerAddress,
    ResetRequestsPerEmail,
    ResetRequestsPerAddress,
    /// Message sends per user.
    SendsPerUser,
}

impl Rule {
    /// (attempts, window)
    fn budget(self) -> (f64, Duration) {
        const MINUTE: u64 = 60;
        match self {
            Rule::LoginFailuresPerAccount => (10.0, Duration::from_secs(15 * MINUTE)),
            Rule::LoginFailuresPerAddress => (50.0, Duration::from_secs(15 * MINUTE)),
            Rule::RegistrationsPerAddress => (10.0, Duration::from_secs(60 * MINUTE)),
            Rule::ResetRequestsPerEmail => (3.0, Duration::from_secs(60 * MINUTE)),
            Rule::ResetRequestsPerAddress => (10.0, Duration::from_secs(60 * MINUTE)),
            Rule::SendsPerUser => (30.0, Duration::from_secs(10)),
        }
    }
}

/// Buckets kept at most; idle ones go first when there are more.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct Limiter {
    enabled: bool,
    buckets: Mutex<HashMap<(Rule, String), Bucket>>,
}

/// A refused attempt: how long until one more is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl Limiter {
    pub fn new(enabled: bool) -> Limiter {
        Limiter {
            enabled,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether an attempt would be allowed now, without using one up.
    pub fn check(&self, rule: Rule, key: &str) -> Result<(), Limited> {
        self.at(rule, key, Instant::now(), false)
    }

    /// Uses up one attempt, or says how long to wait for one.
    pub fn hit(&self, rule: Rule, key: &str) -> Result<(), Limited> {
        self.at(rule, key, Instant::now(), true)
    }

    fn at(&self, rule: Rule, key: &str, now: Instant, take: bool) -> Result<(), Limited> {
        if !self.enabled {
            return Ok(());
        }
        let (capacity, window) = rule.budget();
        let per_second = capacity / window.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_KEYS {
            evict_idle(&mut buckets, now);
        }
        let bucket = buckets.entry((rule, key.to_owned())).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens < 1.0 {
            let wait = (1.0 - bucket.tokens) / per_second;
            return Err(Limited {
                retry_after: Duration::from_secs_f64(wait.ceil().max(1.0)),
            });
        }
        if take {
            bucket.tokens -= 1.0;
        }
        Ok(())
    }
}

/// Forgets buckets that have refilled by now (their keys are idle); if that is not enough,
/// forgets the ones touched longest ago.
fn evict_idle(buckets: &mut HashMap<(Rule, String), Bucket>, now: Instant) {
    buckets.retain(|(rule, _), bucket| {
        let (capacity, window) = rule.budget();
        let refilled = bucket.tokens
            + now.saturating_duration_since(bucket.updated).as_secs_f64() * capacity
                / window.as_secs_f64();
        refilled < capacity
    });
    if buckets.len() >= MAX_KEYS {
        let mut ages: Vec<Instant> = buckets.values().map(|b| b.updated).collect();
        ages.sort_unstable();
        let cutoff = ages[ages.len() / 2];
        buckets.retain(|_, bucket| bucket.updated > cutoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> Limiter {
        Limiter::new(true)
    }

    #[test]
    fn a_limit_fires_at_its_threshold() {
        let limits = limiter();
        let start = Instant::now();
        for _ in 0..10 {
            assert!(
                limits
                    .at(Rule::LoginFailuresPerAccount, "ada", start, true)
                    .is_ok()
            );
        }
        let refused = limits.at(Rule::LoginFailuresPerAccount, "ada", start, true);
        assert_eq!(
            refused,
            Err(Limited {
                retry_after: Duration::from_secs(90)
            })
        );
        // Another key and another rule are untouched.
        assert!(
            limits
                .at(Rule::LoginFailuresPerAccount, "bob", start, true)
                .is_ok()
        );
        assert!(
            limits
                .at(Rule::LoginFailuresPerAddress, "ada", start, true)
                .is_ok()
        );
    }

    #[test]
    fn a_limit_recovers_over_its_window() {
        let limits = limiter();
        let start = Instant::now();
        for _ in 0..30 {
            limits
                .at(Rule::SendsPerUser, "7", start, true)
                .expect("within budget");
        }
        assert!(limits.at(Rule::SendsPerUser, "7", start, true).is_err());
        let one_back = start + Duration::from_millis(340);
        assert!(limits.at(Rule::SendsPerUser, "7", one_back, true).is_ok());
        assert!(limits.at(Rule::SendsPerUser, "7", one_back, true).is_err());
        let window_later = start + Duration::from_secs(11);
        for _ in 0..30 {
            limits
                .at(Rule::SendsPerUser, "7", window_later, true)
                .expect("refilled");
        }
    }

    #[test]
    fn check_does_not_use_an_attempt_and_off_means_off() {
        let limits = limiter();
        let now = Instant::now();
        for _ in 0..20 {
            assert!(
                limits
                    .at(Rule::ResetRequestsPerEmail, "a@b.org", now, false)
                    .is_ok()
            );
        }
        let off = Limiter::new(false);
        for _ in 0..1000 {
            assert!(off.hit(Rule::ResetRequestsPerEmail, "a@b.org").is_ok());
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let limits = limiter();
        let now = Instant::now();
        for i in 0..(MAX_KEYS + 10) {
            limits
                .at(Rule::RegistrationsPerAddress, &i.to_string(), now, true)
                .expect("fresh key");
        }
        let kept = limits.buckets.lock().expect("lock").len();
        assert!(kept <= MAX_KEYS, "{kept} buckets kept");
    }
}
