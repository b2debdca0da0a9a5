//! A histogram made of atomics: observing a value is one increment of its bucket and one of
//! the sum, with no lock, so it can sit on the request path and under the writer's mutex.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Request durations, in seconds: from a cached read (about a millisecond) to a slow write
/// queued behind others.
pub const REQUEST_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Time of one group commit, in seconds: mostly one sync of the write-ahead log.
pub const COMMIT_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
/// Writes in one group commit: powers of two up to the writer's largest group (64).
pub const GROUP_SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

pub struct Histogram {
    /// Upper bounds of the buckets, ascending; a value lands in the first bound it does not
    /// exceed, or in the last count (`+Inf`).
    bounds: &'static [f64],
    /// One count per bound and one past the last; not cumulative (the exposition adds them
    /// up), so an observation touches one of them.
    counts: Box<[AtomicU64]>,
    /// The sum of every value observed, as the bits of an `f64`.
    sum: AtomicU64,
}

/// The counts of a histogram at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub bounds: &'static [f64],
    /// Per bucket, not cumulative; one more than `bounds` (the values above every bound).
    pub counts: Vec<u64>,
    pub sum: f64,
}

impl Snapshot {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        // A float cannot be added atomically; retry on the rare race with another observer.
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }

    pub fn observe_duration(&self, duration: Duration) {
        self.observe(duration.as_secs_f64());
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            bounds: self.bounds,
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum: f64::from_bits(self.sum.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_they_do_not_exceed() {
        let histogram = Histogram::new(&[1.0, 2.0, 4.0]);
        for value in [0.0, 1.0, 1.5, 2.0, 4.0, 4.5, 100.0] {
            histogram.observe(value);
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.counts, vec![2, 2, 1, 2]);
        assert_eq!(snapshot.count(), 7);
        assert!((snapshot.sum - 113.0).abs() < 1e-9, "{}", snapshot.sum);
    }

    #[test]
    fn observations_from_many_threads_are_all_counted() {
        let histogram = std::sync::Arc::new(Histogram::new(GROUP_SIZES));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let histogram = std::sync::Arc::clone(&histogram);
                std::thread::spawn(move || (0..1000).for_each(|_| histogram.observe(3.0)))
            })
            .collect();
        for thread in threads {
            thread.join().expect("thread");
        }
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count(), 8000);
        assert_eq!(snapshot.counts[2], 8000, "3 is at most 4");
        assert_eq!(snapshot.sum, 24_000.0);
    }

    #[test]
    fn the_bucket_bounds_ascend() {
        for bounds in [REQUEST_SECONDS, COMMIT_SECONDS, GROUP_SIZES] {
            assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        }
    }
}
