//! A latency histogram with fixed buckets and one atomic counter per bucket.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the buckets, in microseconds: from 50 µs (a refusal answered from
/// memory) to 10 s (a slow upstream, a stalled disk). `+Inf` comes after them.
pub const LATENCY_BOUNDS_US: [u64; 17] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// Observations counted per bucket (not cumulatively: one add per observation); the
/// cumulative counts Prometheus wants are summed at scrape time.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub const fn new() -> Self {
        Self { buckets: [const { AtomicU64::new(0) }; BUCKETS], sum_us: AtomicU64::new(0) }
    }

    /// Counts one observation of `us` microseconds.
    pub fn observe_us(&self, us: u64) {
        // Bounds are inclusive (`le`): a value equal to a bound belongs to that bucket.
        let bucket = LATENCY_BOUNDS_US.partition_point(|bound| *bound < us);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The counts as Prometheus exposes them: cumulative, the last (`+Inf`) being the total.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = [0u64; BUCKETS];
        let mut total = 0;
        for (bucket, count) in self.buckets.iter().zip(&mut cumulative) {
            total += bucket.load(Ordering::Relaxed);
            *count = total;
        }
        HistogramSnapshot { cumulative, sum_us: self.sum_us.load(Ordering::Relaxed) }
    }
}

/// A histogram read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Observations at or below each bound of [`LATENCY_BOUNDS_US`], then all of them.
    pub cumulative: [u64; BUCKETS],
    pub sum_us: u64,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        Self { cumulative: [0; BUCKETS], sum_us: 0 }
    }
}

impl HistogramSnapshot {
    /// Adds `other`'s observations (histograms kept per thread are summed at a scrape).
    pub fn add(&mut self, other: &HistogramSnapshot) {
        for (total, more) in self.cumulative.iter_mut().zip(&other.cumulative) {
            *total += more;
        }
        self.sum_us += other.sum_us;
    }

    /// How many observations there were.
    pub fn count(&self) -> u64 {
        self.cumulative[BUCKETS - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let h = Histogram::new();
        for us in [0, 50, 51, 1_000, 20_000_000] {
            h.observe_us(us);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative[0], 2, "0 and 50 µs are at or below the 50 µs bound");
        assert_eq!(s.cumulative[1], 3, "51 µs joins at 100 µs, and the bucket keeps the ones below");
        assert_eq!(s.cumulative[4], 4, "1 ms is at or below its own bound");
        assert_eq!(s.cumulative[16], 4, "20 s is above the last bound");
        assert_eq!(s.count(), 5, "+Inf counts everything");
        assert_eq!(s.sum_us, 20_001_101, "the sum adds every observation");
        assert!(s.cumulative.windows(2).all(|w| w[0] <= w[1]), "never decreasing: {:?}", s.cumulative);
    }
}
