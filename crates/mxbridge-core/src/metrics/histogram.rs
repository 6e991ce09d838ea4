//! A lock-free histogram of durations with fixed bucket bounds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) for request-handling times: a transaction is stored in one
/// database transaction, normally milliseconds; the tail shows a struggling database.
pub(crate) const LATENCY_BOUNDS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Counts observations per bucket; the exposition makes the counts cumulative.
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// One per bound, plus the last for observations above every bound (`+Inf`).
    buckets: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// A consistent-enough copy for one scrape.
#[derive(Debug, PartialEq)]
pub(crate) struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`, ending with `(+Inf, count)`.
    pub(crate) cumulative: Vec<(f64, u64)>,
    pub(crate) sum_seconds: f64,
    pub(crate) count: u64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        let slot = self.bounds.iter().position(|&b| seconds <= b).unwrap_or(self.bounds.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut running = 0;
        let mut cumulative = Vec::with_capacity(self.buckets.len());
        for (i, bucket) in self.buckets.iter().enumerate() {
            running += bucket.load(Ordering::Relaxed);
            cumulative.push((self.bounds.get(i).copied().unwrap_or(f64::INFINITY), running));
        }
        // `count` is the +Inf bucket, so the two can never disagree within one scrape.
        let count = running;
        HistogramSnapshot { cumulative, sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9, count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_observations_land_in_cumulative_buckets() {
        let h = Histogram::new(&[0.01, 0.1, 1.0]);
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(10)); // on the bound: `le` is inclusive
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_secs(3));
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![(0.01, 2), (0.1, 3), (1.0, 3), (f64::INFINITY, 4)]);
        assert_eq!(s.count, 4);
        assert!((s.sum_seconds - 3.065).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn test_empty_histogram_has_zero_buckets() {
        let s = Histogram::new(&LATENCY_BOUNDS).snapshot();
        assert_eq!(s.cumulative.len(), LATENCY_BOUNDS.len() + 1);
        assert!(s.cumulative.iter().all(|&(_, n)| n == 0));
        assert_eq!((s.count, s.sum_seconds), (0, 0.0));
    }
}
