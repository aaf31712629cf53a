//! One value per thread, for what every request writes (counts, queued records, idle
//! connections): a gateway thread writes only its own, so nothing on the request path takes
//! a cache line from another CPU; readers (a scrape, a writer task) visit them all.
//!
//! Threads are numbered as they first ask; with more threads than values two share one,
//! which stays correct (each value is still behind its own lock or atomics), only slower.

use crossbeam_utils::CachePadded;

/// A `T` per thread, each alone on its cache lines.
pub struct PerThread<T> {
    values: Box<[CachePadded<T>]>,
}

impl<T> PerThread<T> {
    /// Makes one value per thread slot with `make`: a few more slots than this machine has
    /// CPUs (the gateway runs a thread per CPU, beside the main runtime's).
    pub fn new(mut make: impl FnMut() -> T) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let slots = (cpus + 2).next_power_of_two().clamp(4, 64);
        Self { values: (0..slots).map(|_| CachePadded::new(make())).collect() }
    }

    /// This thread's value.
    pub fn mine(&self) -> &T {
        &self.values[self.slot()]
    }

    /// Which value is this thread's (two threads may share one: a test that needs them
    /// apart checks).
    pub fn slot(&self) -> usize {
        // A power of two: a mask, not a division, on every request.
        thread_number() & (self.values.len() - 1)
    }

    /// Every thread's value.
    pub fn all(&self) -> impl Iterator<Item = &T> {
        self.values.iter().map(|v| &**v)
    }
}

impl<T: Default> Default for PerThread<T> {
    fn default() -> Self {
        Self::new(T::default)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PerThread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.all()).finish()
    }
}

/// This thread's number: given to each thread the first time it asks.
fn thread_number() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static NUMBER: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn each_thread_writes_its_own_and_a_reader_sees_them_all() {
        let counts: PerThread<AtomicU64> = PerThread::default();
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        counts.mine().fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(counts.all().map(|c| c.load(Ordering::Relaxed)).sum::<u64>(), 3000);
        let first = counts.mine() as *const AtomicU64;
        assert_eq!(first, counts.mine() as *const AtomicU64, "a thread keeps its value");
    }
}
