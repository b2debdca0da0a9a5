//! Stream tickets: short-lived, single-use stand-ins for a session token in a stream URL.
//! Browsers cannot set headers on `EventSource` or `WebSocket`, and a long-lived token in a
//! query string ends up in proxy logs; a ticket found there is spent or expired by the time
//! anyone reads it. Tickets live only in memory (a restart spends them all; clients ask for
//! another), keyed by the SHA-256 of the ticket, and bound to the session that asked, so the
//! stream they open is that session's and ends with it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::token;
use crate::domain::SessionId;

/// Tickets one session may hold unspent; asking for another drops its oldest.
pub const PER_SESSION: usize = 16;

/// Unspent tickets the server keeps in all; past it, expired ones are dropped, and if none
/// has expired the request is refused.
pub const CAPACITY: usize = 10_000;

pub struct Tickets {
    lifetime: Duration,
    capacity: usize,
    open: Mutex<HashMap<[u8; 32], Ticket>>,
}

struct Ticket {
    session: SessionId,
    expires: Instant,
}

#[derive(Debug, PartialEq, Eq)]
pub enum IssueError {
    /// Every place is taken by an unexpired ticket.
    Full,
    /// The OS random source failed.
    Random,
}

impl Tickets {
    pub fn new(lifetime: Duration, capacity: usize) -> Tickets {
        Tickets {
            lifetime,
            capacity,
            open: Mutex::new(HashMap::new()),
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A new ticket for `session`, usable once until `now + lifetime`.
    pub fn issue(&self, session: SessionId, now: Instant) -> Result<String, IssueError> {
        let issued = token::issue().map_err(|_| IssueError::Random)?;
        let mut open = self.lock();
        open.retain(|_, ticket| ticket.expires > now);
        let held: Vec<([u8; 32], Instant)> = open
            .iter()
            .filter(|(_, ticket)| ticket.session == session)
            .map(|(key, ticket)| (*key, ticket.expires))
            .collect();
        if held.len() >= PER_SESSION
            && let Some((oldest, _)) = held.iter().min_by_key(|(_, expires)| *expires)
        {
            open.remove(oldest);
        }
        if open.len() >= self.capacity {
            return Err(IssueError::Full);
        }
        open.insert(
            issued.digest,
            Ticket {
                session,
                expires: now + self.lifetime,
            },
        );
        Ok(issued.token)
    }

    /// Spends `ticket`: the session it was issued to, if it is known and unexpired. A ticket
    /// works once, whatever the answer.
    pub fn redeem(&self, ticket: &str, now: Instant) -> Option<SessionId> {
        let spent = self.lock().remove(&token::digest(ticket))?;
        (spent.expires > now).then_some(spent.session)
    }

    /// The map, even if a thread panicked while holding it: every change to it is one call
    /// that leaves it consistent.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Ticket>> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_ticket_works_once_for_its_session() {
        let tickets = Tickets::new(MINUTE, CAPACITY);
        let now = Instant::now();
        let ticket = tickets.issue(SessionId(7), now).expect("issued");
        assert_eq!(tickets.redeem(&ticket, now), Some(SessionId(7)));
        assert_eq!(tickets.redeem(&ticket, now), None);
        assert_eq!(tickets.redeem("made-up", now), None);
    }

    #[test]
    fn a_ticket_works_until_its_lifetime_ends() {
        let tickets = Tickets::new(MINUTE, CAPACITY);
        let now = Instant::now();
        let fresh = tickets.issue(SessionId(1), now).expect("issued");
        let stale = tickets.issue(SessionId(1), now).expect("issued");
        let last_moment = now + MINUTE - Duration::from_millis(1);
        assert_eq!(tickets.redeem(&fresh, last_moment), Some(SessionId(1)));
        assert_eq!(tickets.redeem(&stale, now + MINUTE), None);
    }

    #[test]
    fn a_session_holds_at_most_its_share_and_loses_the_oldest() {
        let tickets = Tickets::new(MINUTE, CAPACITY);
        let start = Instant::now();
        let at = |n: usize| start + Duration::from_millis(n as u64);
        let held: Vec<String> = (0..PER_SESSION)
            .map(|n| tickets.issue(SessionId(1), at(n)).expect("issued"))
            .collect();
        let other = tickets.issue(SessionId(2), at(0)).expect("issued");
        let one_more = tickets
            .issue(SessionId(1), at(PER_SESSION))
            .expect("issued");
        let now = at(PER_SESSION);
        assert_eq!(
            tickets.redeem(&held[0], now),
            None,
            "the oldest was dropped"
        );
        for ticket in held[1..].iter().chain([&one_more]) {
            assert_eq!(tickets.redeem(ticket, now), Some(SessionId(1)));
        }
        assert_eq!(tickets.redeem(&other, now), Some(SessionId(2)));
    }

    #[test]
    fn a_full_desk_refuses_until_tickets_expire() {
        let tickets = Tickets::new(MINUTE, 3);
        let now = Instant::now();
        for session in 1..=3 {
            tickets.issue(SessionId(session), now).expect("issued");
        }
        assert_eq!(
            tickets.issue(SessionId(4), now),
            Err(IssueError::Full),
            "one past the capacity"
        );
        assert!(tickets.issue(SessionId(4), now + MINUTE).is_ok());
    }
}
