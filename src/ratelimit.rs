//! Rate limits: token buckets in memory, keyed by client address or by account. A bucket
//! holds a rule's `attempts` and refills continuously over its window, so a limit never locks
//! anyone out for good: one attempt comes back every `window / attempts`. Every budget is a
//! setting, so that tests can choose windows nothing refills during. Memory is bounded: each
//! rule keeps at most `MAX_KEYS` buckets. Only buckets that have refilled (idle keys) are ever
//! forgotten, so a flood of new keys can never wipe out a lockout that is still running; a rule
//! whose buckets are all in use refuses new keys until one refills (it fails closed).
//!
//! An attempt whose outcome is known only after slow work (a password check) is *reserved*
//! before that work and given back if it turns out not to count, so that however many arrive
//! at once, no more than the budget are ever let through.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What is being limited; each rule has its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Failed password checks per account (login and password change).
    LoginFailuresPerAccount,
    /// Failed password checks per client address (login and password change).
    LoginFailuresPerAddress,
    RegistrationsPerAddress,
    ResetRequestsPerEmail,
    ResetRequestsPerAddress,
    /// Message sends per user.
    SendsPerUser,
}

impl Rule {
    const ALL: [Rule; 6] = [
        Rule::LoginFailuresPerAccount,
        Rule::LoginFailuresPerAddress,
        Rule::RegistrationsPerAddress,
        Rule::ResetRequestsPerEmail,
        Rule::ResetRequestsPerAddress,
        Rule::SendsPerUser,
    ];

    /// The rule's name in metrics: its setting's, without the dashes.
    pub fn name(self) -> &'static str {
        match self {
            Rule::LoginFailuresPerAccount => "login_failures_per_account",
            Rule::LoginFailuresPerAddress => "login_failures_per_address",
            Rule::RegistrationsPerAddress => "registrations_per_address",
            Rule::ResetRequestsPerEmail => "reset_requests_per_email",
            Rule::ResetRequestsPerAddress => "reset_requests_per_address",
            Rule::SendsPerUser => "sends_per_user",
        }
    }
}

/// So many attempts per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub attempts: u32,
    pub window: Duration,
}

impl Budget {
    fn capacity(self) -> f64 {
        f64::from(self.attempts)
    }

    fn per_second(self) -> f64 {
        self.capacity() / self.window.as_secs_f64()
    }
}

/// The budget of every rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    pub login_failures_per_account: Budget,
    pub login_failures_per_address: Budget,
    pub registrations_per_address: Budget,
    pub reset_requests_per_email: Budget,
    pub reset_requests_per_address: Budget,
    pub sends_per_user: Budget,
}

impl Budgets {
    fn of(&self, rule: Rule) -> Budget {
        match rule {
            Rule::LoginFailuresPerAccount => self.login_failures_per_account,
            Rule::LoginFailuresPerAddress => self.login_failures_per_address,
            Rule::RegistrationsPerAddress => self.registrations_per_address,
            Rule::ResetRequestsPerEmail => self.reset_requests_per_email,
            Rule::ResetRequestsPerAddress => self.reset_requests_per_address,
            Rule::SendsPerUser => self.sends_per_user,
        }
    }
}

/// Buckets kept at most per rule. Each rule has its own, so that a flood of one kind of key
/// (reset requests for made-up emails, say) cannot crowd out another (account lockouts).
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

type Buckets = HashMap<Rule, HashMap<String, Bucket>>;

pub struct Limiter {
    enabled: bool,
    budgets: Budgets,
    buckets: Mutex<Buckets>,
    /// Refused attempts per rule (in the order of `Rule::ALL`), for the metrics.
    refused: [AtomicU64; Rule::ALL.len()],
}

/// A refused attempt: how long until one more is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

/// Attempts taken ahead of slow work. Dropped, they are given back; `spend` keeps them.
#[must_use = "a reservation is given back as soon as it is dropped"]
pub struct Reservation<'a> {
    limiter: &'a Limiter,
    taken: Vec<(Rule, String)>,
}

impl Reservation<'_> {
    /// The attempts count: they are not given back.
    pub fn spend(mut self) {
        self.taken.clear();
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.taken.is_empty() {
            self.limiter.give_back(&self.taken, Instant::now());
        }
    }
}

impl Limiter {
    pub fn new(enabled: bool, budgets: Budgets) -> Limiter {
        Limiter {
            enabled,
            budgets,
            buckets: Mutex::new(HashMap::new()),
            refused: Default::default(),
        }
    }

    /// How many attempts each rule has refused since the start, by the rule's name.
    pub fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Rule::ALL
            .iter()
            .zip(&self.refused)
            .map(|(rule, refused)| (rule.name(), refused.load(Ordering::Relaxed)))
    }

    /// Counts a refusal against the rule that made it.
    fn count_refusal(&self, rule: Rule) {
        if let Some(at) = Rule::ALL.iter().position(|r| *r == rule) {
            self.refused[at].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Uses up one attempt, or says how long to wait for one.
    pub fn hit(&self, rule: Rule, key: &str) -> Result<(), Limited> {
        self.take_at(&[(rule, key)], Instant::now())
            .map(Reservation::spend)
    }

    /// Takes one attempt from each of the rules and keys, all or none: refused if any of
    /// them has none left (the wait is the longest of theirs).
    pub fn reserve(&self, attempts: &[(Rule, &str)]) -> Result<Reservation<'_>, Limited> {
        self.take_at(attempts, Instant::now())
    }

    fn take_at(&self, attempts: &[(Rule, &str)], now: Instant) -> Result<Reservation<'_>, Limited> {
        let mut reservation = Reservation {
            limiter: self,
            taken: Vec::new(),
        };
        if !self.enabled {
            return Ok(reservation);
        }
        let mut buckets = self.lock();
        let mut wait = None;
        for &(rule, key) in attempts {
            let budget = self.budgets.of(rule);
            let keys = buckets.entry(rule).or_default();
            if !keys.contains_key(key) && keys.len() >= MAX_KEYS {
                evict_idle(keys, budget, now);
                if keys.len() >= MAX_KEYS {
                    wait = wait.max(Some(until_one_refills(keys, budget, now)));
                    self.count_refusal(rule);
                    continue;
                }
            }
            let bucket = refilled(keys, budget, key, now);
            if bucket.tokens < 1.0 {
                let seconds = (1.0 - bucket.tokens) / budget.per_second();
                let retry_after = Duration::from_secs_f64(seconds.ceil().max(1.0));
                wait = wait.max(Some(retry_after));
                self.count_refusal(rule);
            }
        }
        if let Some(retry_after) = wait {
            return Err(Limited { retry_after });
        }
        for &(rule, key) in attempts {
            let budget = self.budgets.of(rule);
            refilled(buckets.entry(rule).or_default(), budget, key, now).tokens -= 1.0;
            reservation.taken.push((rule, key.to_owned()));
        }
        Ok(reservation)
    }

    fn give_back(&self, taken: &[(Rule, String)], now: Instant) {
        let mut buckets = self.lock();
        for (rule, key) in taken {
            let budget = self.budgets.of(*rule);
            let bucket = refilled(buckets.entry(*rule).or_default(), budget, key, now);
            bucket.tokens = (bucket.tokens + 1.0).min(budget.capacity());
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Forgets the buckets that have refilled by now: their keys are idle, and a new bucket for
/// them would be just as full. Buckets still in use are never forgotten.
fn evict_idle(keys: &mut HashMap<String, Bucket>, budget: Budget, now: Instant) {
    keys.retain(|_, bucket| level(bucket, budget, now) < budget.capacity());
}

/// How long until the first of these buckets has refilled, and so can be forgotten to make
/// room for a new key.
fn until_one_refills(keys: &HashMap<String, Bucket>, budget: Budget, now: Instant) -> Duration {
    let missing = keys
        .values()
        .map(|bucket| budget.capacity() - level(bucket, budget, now))
        .fold(budget.capacity(), f64::min);
    Duration::from_secs_f64((missing / budget.per_second()).ceil().max(1.0))
}

/// The attempts a bucket holds now, counting its refill since it was last used.
fn level(bucket: &Bucket, budget: Budget, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * budget.per_second()).min(budget.capacity())
}

/// The bucket of a key, full if new, refilled for the time since it was last used.
fn refilled<'b>(
    keys: &'b mut HashMap<String, Bucket>,
    budget: Budget,
    key: &str,
    now: Instant,
) -> &'b mut Bucket {
    let bucket = keys.entry(key.to_owned()).or_insert(Bucket {
        tokens: budget.capacity(),
        updated: now,
    });
    bucket.tokens = level(bucket, budget, now);
    bucket.updated = now;
    bucket
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60;

    fn budget(attempts: u32, seconds: u64) -> Budget {
        Budget {
            attempts,
            window: Duration::from_secs(seconds),
        }
    }

    fn limiter() -> Limiter {
        Limiter::new(
            true,
            Budgets {
                login_failures_per_account: budget(10, 15 * MINUTE),
                login_failures_per_address: budget(50, 15 * MINUTE),
                registrations_per_address: budget(10, 60 * MINUTE),
                reset_requests_per_email: budget(3, 60 * MINUTE),
                reset_requests_per_address: budget(10, 60 * MINUTE),
                sends_per_user: budget(30, 10),
            },
        )
    }

    fn take(limits: &Limiter, rule: Rule, key: &str, now: Instant) -> Result<(), Limited> {
        limits.take_at(&[(rule, key)], now).map(Reservation::spend)
    }

    #[test]
    fn a_limit_fires_at_its_threshold() {
        let limits = limiter();
        let start = Instant::now();
        for _ in 0..10 {
            assert!(take(&limits, Rule::LoginFailuresPerAccount, "ada", start).is_ok());
        }
        let refused = take(&limits, Rule::LoginFailuresPerAccount, "ada", start);
        assert_eq!(
            refused,
            Err(Limited {
                retry_after: Duration::from_secs(90)
            })
        );
        // Another key and another rule are untouched.
        assert!(take(&limits, Rule::LoginFailuresPerAccount, "bob", start).is_ok());
        assert!(take(&limits, Rule::LoginFailuresPerAddress, "ada", start).is_ok());
    }

    #[test]
    fn refusals_are_counted_by_the_rule_that_refused() {
        let limits = limiter();
        let now = Instant::now();
        let refused = |limits: &Limiter, rule: Rule| {
            limits
                .refusals()
                .find(|(name, _)| *name == rule.name())
                .map(|(_, n)| n)
        };
        for _ in 0..3 {
            take(&limits, Rule::ResetRequestsPerEmail, "a@b.org", now).expect("within budget");
        }
        assert_eq!(refused(&limits, Rule::ResetRequestsPerEmail), Some(0));
        for _ in 0..2 {
            assert!(take(&limits, Rule::ResetRequestsPerEmail, "a@b.org", now).is_err());
        }
        assert_eq!(refused(&limits, Rule::ResetRequestsPerEmail), Some(2));
        assert_eq!(refused(&limits, Rule::ResetRequestsPerAddress), Some(0));
        assert_eq!(limits.refusals().count(), Rule::ALL.len());
    }

    #[test]
    fn a_limit_recovers_over_its_window() {
        let limits = limiter();
        let start = Instant::now();
        for _ in 0..30 {
            take(&limits, Rule::SendsPerUser, "7", start).expect("within budget");
        }
        assert!(take(&limits, Rule::SendsPerUser, "7", start).is_err());
        let one_back = start + Duration::from_millis(340);
        assert!(take(&limits, Rule::SendsPerUser, "7", one_back).is_ok());
        assert!(take(&limits, Rule::SendsPerUser, "7", one_back).is_err());
        let window_later = start + Duration::from_secs(11);
        for _ in 0..30 {
            take(&limits, Rule::SendsPerUser, "7", window_later).expect("refilled");
        }
    }

    #[test]
    fn a_dropped_reservation_is_given_back_and_a_spent_one_is_not() {
        let limits = limiter();
        let now = Instant::now();
        let rules = [(Rule::ResetRequestsPerEmail, "a@b.org")];
        for _ in 0..20 {
            drop(limits.take_at(&rules, now).expect("given back each time"));
        }
        let held: Vec<_> = (0..3)
            .map(|_| limits.take_at(&rules, now).expect("within budget"))
            .collect();
        assert!(
            limits.take_at(&rules, now).is_err(),
            "held reservations count while held"
        );
        drop(held);
        for _ in 0..3 {
            limits.take_at(&rules, now).expect("given back").spend();
        }
        assert!(
            limits.take_at(&rules, now).is_err(),
            "spent ones stay spent"
        );
    }

    #[test]
    fn a_reservation_takes_all_of_its_rules_or_none() {
        let limits = limiter();
        let now = Instant::now();
        for _ in 0..10 {
            take(&limits, Rule::LoginFailuresPerAccount, "ada", now).expect("within budget");
        }
        let both = [
            (Rule::LoginFailuresPerAccount, "ada"),
            (Rule::LoginFailuresPerAddress, "192.0.2.1"),
        ];
        assert!(limits.take_at(&both, now).is_err());
        // The refused reservation took nothing from the address.
        for _ in 0..50 {
            take(&limits, Rule::LoginFailuresPerAddress, "192.0.2.1", now).expect("untouched");
        }
    }

    #[test]
    fn a_hit_uses_up_its_attempt() {
        let limits = limiter();
        for _ in 0..3 {
            limits
                .hit(Rule::ResetRequestsPerEmail, "a@b.org")
                .expect("within budget");
        }
        assert!(limits.hit(Rule::ResetRequestsPerEmail, "a@b.org").is_err());
    }

    #[test]
    fn off_means_off() {
        let off = Limiter::new(false, limiter().budgets);
        for _ in 0..1000 {
            assert!(off.hit(Rule::ResetRequestsPerEmail, "a@b.org").is_ok());
        }
    }

    fn kept(limits: &Limiter, rule: Rule) -> usize {
        limits.lock().get(&rule).map_or(0, HashMap::len)
    }

    #[test]
    fn memory_stays_bounded_and_idle_keys_make_room() {
        let limits = limiter();
        let start = Instant::now();
        for i in 0..MAX_KEYS {
            take(
                &limits,
                Rule::RegistrationsPerAddress,
                &i.to_string(),
                start,
            )
            .expect("fresh key");
        }
        assert_eq!(kept(&limits, Rule::RegistrationsPerAddress), MAX_KEYS);
        // At the limit, a new key is refused while every bucket is still in use...
        let refused = take(&limits, Rule::RegistrationsPerAddress, "new", start);
        assert_eq!(
            refused.err().map(|l| l.retry_after),
            Some(Duration::from_secs(6 * MINUTE)),
            "until the first bucket has its attempt back (an hour / 10)"
        );
        assert_eq!(kept(&limits, Rule::RegistrationsPerAddress), MAX_KEYS);
        // ...and once they have refilled, the idle ones go and the new key gets a bucket.
        let later = start + Duration::from_secs(60 * MINUTE);
        assert!(take(&limits, Rule::RegistrationsPerAddress, "new", later).is_ok());
        assert_eq!(kept(&limits, Rule::RegistrationsPerAddress), 1);
    }

    #[test]
    fn a_flood_of_other_keys_does_not_unlock_an_account() {
        let limits = limiter();
        let now = Instant::now();
        for _ in 0..10 {
            take(&limits, Rule::LoginFailuresPerAccount, "user:1", now).expect("within budget");
        }
        assert!(take(&limits, Rule::LoginFailuresPerAccount, "user:1", now).is_err());
        for i in 0..(MAX_KEYS + 10) {
            let _ = take(
                &limits,
                Rule::ResetRequestsPerEmail,
                &format!("{i}@x.org"),
                now,
            );
            let _ = take(
                &limits,
                Rule::LoginFailuresPerAccount,
                &format!("email:{i}"),
                now,
            );
        }
        assert!(
            take(&limits, Rule::LoginFailuresPerAccount, "user:1", now).is_err(),
            "the lockout is still there"
        );
    }
}
