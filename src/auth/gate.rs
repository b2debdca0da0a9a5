//! A counting semaphore with a bounded wait: at most `capacity` holders at once, and a caller
//! that cannot get in within the wait is told so instead of queueing forever.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub struct Gate {
    in_use: Mutex<usize>,
    freed: Condvar,
    capacity: usize,
    max_wait: Duration,
}

/// Holding one place in the gate; dropping it frees the place.
pub struct Pass<'a>(&'a Gate);

impl Gate {
    pub fn new(capacity: usize, max_wait: Duration) -> Gate {
        Gate {
            in_use: Mutex::new(0),
            freed: Condvar::new(),
            capacity,
            max_wait,
        }
    }

    /// A place in the gate, or `None` if none came free within the maximum wait.
    pub fn enter(&self) -> Option<Pass<'_>> {
        let deadline = Instant::now() + self.max_wait;
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        while *in_use >= self.capacity {
            let left = deadline.checked_duration_since(Instant::now())?;
            in_use = self
                .freed
                .wait_timeout(in_use, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *in_use += 1;
        Some(Pass(self))
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut in_use = self.0.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        *in_use -= 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_capacity_then_refuses_after_the_wait() {
        let gate = Gate::new(2, Duration::from_millis(20));
        let first = gate.enter().expect("first place");
        let _second = gate.enter().expect("second place");
        let started = Instant::now();
        assert!(gate.enter().is_none());
        assert!(started.elapsed() >= Duration::from_millis(20));
        drop(first);
        assert!(gate.enter().is_some());
    }

    #[test]
    fn a_waiter_gets_the_place_freed_during_its_wait() {
        let gate = Gate::new(1, Duration::from_secs(5));
        std::thread::scope(|scope| {
            let pass = gate.enter().expect("place");
            let waiter = scope.spawn(|| gate.enter().is_some());
            std::thread::sleep(Duration::from_millis(20));
            drop(pass);
            assert!(waiter.join().expect("waiter"));
        });
    }
}
