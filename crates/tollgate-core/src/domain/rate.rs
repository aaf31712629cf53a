//! Per-tenant rate limiting with GCRA (generic cell rate algorithm).
//!
//! GCRA keeps one number per bucket, the theoretical arrival time (TAT), so the
//! state fits in one column and a check is a pure function of (limit, TAT, now).
//! That makes the limiter deterministic to test and lets the caller decide when
//! to persist the new TAT (only when a request is actually admitted).

use serde::{Deserialize, Serialize};

/// Nanoseconds in a second; all times here are integer nanoseconds since the epoch.
const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Sustained rate and burst of a plan.
///
/// Kept as plain numbers (not a plan) so the limiter has no dependency on how
/// plans are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RateLimit {
    /// Sustained requests per second. Must be > 0; a 0 is treated as 1 so a
    /// misconfigured plan throttles hard instead of dividing by zero.
    pub per_second: u32,
    /// Extra requests admitted at once on top of the sustained rate: `burst`
    /// b lets b + 1 requests through back-to-back; 0 means strict spacing.
    pub burst: u32,
}

impl RateLimit {
    /// Emission interval T: the spacing between requests at the sustained
    /// rate. At least 1 ns so rates above 1e9/s still make progress.
    fn interval_ns(self) -> i128 {
        (NANOS_PER_SECOND / i128::from(self.per_second.max(1))).max(1)
    }

    /// Tolerance tau = T * burst: how far ahead of now the TAT may run.
    fn tolerance_ns(self) -> i128 {
        self.interval_ns() * i128::from(self.burst)
    }
}

/// Result of one check, with what the caller needs to persist or report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// The request conforms; store `next_tat` so the next check sees it.
    Allowed {
        /// New TAT (ns since epoch) to persist for the bucket.
        next_tat: i64,
        /// How many more requests would pass right now, for rate-limit headers.
        remaining: u32,
    },
    /// The request does not conform; the stored TAT must stay unchanged.
    Limited {
        /// Nanoseconds until the earliest instant a request would pass (> 0),
        /// so clients can back off exactly instead of polling.
        retry_after_ns: i64,
        /// Nanoseconds until the bucket is fully refilled (full burst again).
        reset_ns: i64,
    },
}

/// Saturates an i128 into the i64 range so extreme inputs never overflow.
fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

/// Checks one request against a bucket.
///
/// `tat` is the bucket's stored TAT (`None` for a fresh bucket) and `now_ns`
/// the current time in ns since the epoch. All arithmetic is done in i128 and
/// saturated back to i64, so no combination of inputs panics or wraps.
pub fn check(limit: RateLimit, tat: Option<i64>, now_ns: i64) -> RateVerdict {
    let interval = limit.interval_ns();
    let tolerance = limit.tolerance_ns();
    let now = i128::from(now_ns);
    // An idle bucket's TAT lies in the past; it cannot bank more than a full burst.
    let tat = tat.map_or(now, i128::from).max(now);
    let ahead = tat - now;
    if ahead > tolerance {
        return RateVerdict::Limited { retry_after_ns: saturate(ahead - tolerance), reset_ns: saturate(ahead) };
    }
    let next_tat = tat + interval;
    let slack = tolerance - (next_tat - now);
    let remaining = if slack < 0 { 0 } else { slack / interval + 1 };
    RateVerdict::Allowed { next_tat: saturate(next_tat), remaining: u32::try_from(remaining).unwrap_or(u32::MAX) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    /// Sends `count` requests at `now`, threading the TAT, and returns the verdicts.
    fn burst_at(limit: RateLimit, tat: &mut Option<i64>, now: i64, count: usize) -> Vec<RateVerdict> {
        (0..count)
            .map(|_| {
                let verdict = check(limit, *tat, now);
                if let RateVerdict::Allowed { next_tat, .. } = verdict {
                    *tat = Some(next_tat);
                }
                verdict
            })
            .collect()
    }

    fn is_allowed(verdict: &RateVerdict) -> bool {
        matches!(verdict, RateVerdict::Allowed { .. })
    }

    #[test]
    fn burst_lets_b_plus_one_through_then_limits() {
        for burst in [0, 1, 3, 10] {
            let limit = RateLimit { per_second: 5, burst };
            let mut tat = None;
            let verdicts = burst_at(limit, &mut tat, 1_000 * SECOND, burst as usize + 2);
            let allowed = verdicts.iter().filter(|v| is_allowed(v)).count();
            assert_eq!(allowed, burst as usize + 1, "burst {burst} should admit exactly burst + 1 at once");
            assert!(!is_allowed(&verdicts[burst as usize + 1]), "request burst + 2 should be limited (burst {burst})");
        }
    }

    #[test]
    fn burst_zero_means_strict_spacing() {
        let limit = RateLimit { per_second: 4, burst: 0 };
        let interval = SECOND / 4;
        let mut tat = None;
        assert!(is_allowed(&burst_at(limit, &mut tat, 0, 1)[0]), "first request on a fresh bucket should pass");
        assert!(!is_allowed(&check(limit, tat, interval - 1)), "a request before T has elapsed should be limited");
        assert!(is_allowed(&check(limit, tat, interval)), "a request exactly T later should pass");
    }

    #[test]
    fn refills_one_request_per_interval() {
        let limit = RateLimit { per_second: 10, burst: 2 };
        let interval = SECOND / 10;
        let mut tat = None;
        let start = 50 * SECOND;
        assert_eq!(
            burst_at(limit, &mut tat, start, 3).iter().filter(|v| is_allowed(v)).count(),
            3,
            "burst should pass"
        );
        let later = burst_at(limit, &mut tat, start + interval, 2);
        assert!(is_allowed(&later[0]), "one request should pass after one interval of refill");
        assert!(!is_allowed(&later[1]), "only one request should have refilled after one interval");
    }

    #[test]
    fn retry_after_points_at_the_first_passing_instant() {
        let limit = RateLimit { per_second: 2, burst: 1 };
        let mut tat = None;
        burst_at(limit, &mut tat, 0, 2);
        let RateVerdict::Limited { retry_after_ns, reset_ns } = check(limit, tat, 0) else {
            panic!("third request at once should be limited with burst 1");
        };
        assert_eq!(retry_after_ns, SECOND / 2, "retry_after should be tat - tau - now");
        assert_eq!(reset_ns, SECOND, "reset should be the time until tat reaches now");
        assert!(
            !is_allowed(&check(limit, tat, retry_after_ns - 1)),
            "one ns before retry_after should still be limited"
        );
        assert!(is_allowed(&check(limit, tat, retry_after_ns)), "at retry_after the request should pass");
        let RateVerdict::Allowed { remaining, .. } = check(limit, tat, reset_ns) else {
            panic!("after reset the bucket should admit requests");
        };
        assert_eq!(remaining, 1, "after reset the full burst should be available again");
    }

    #[test]
    fn remaining_counts_down_to_zero() {
        let limit = RateLimit { per_second: 1, burst: 3 };
        let mut tat = None;
        let remaining: Vec<u32> = burst_at(limit, &mut tat, 7 * SECOND, 4)
            .into_iter()
            .map(|v| match v {
                RateVerdict::Allowed { remaining, .. } => remaining,
                RateVerdict::Limited { .. } => panic!("the first burst + 1 requests should pass"),
            })
            .collect();
        assert_eq!(remaining, vec![3, 2, 1, 0], "remaining should count down by one per admitted request");
    }

    #[test]
    fn idle_bucket_banks_at_most_one_burst() {
        let limit = RateLimit { per_second: 1, burst: 2 };
        let mut tat = Some(0);
        let verdicts = burst_at(limit, &mut tat, 1_000_000 * SECOND, 4);
        assert_eq!(
            verdicts.iter().filter(|v| is_allowed(v)).count(),
            3,
            "a long-idle bucket should allow only burst + 1"
        );
    }

    #[test]
    fn extreme_inputs_never_overflow() {
        let huge = RateLimit { per_second: u32::MAX, burst: u32::MAX };
        let slow = RateLimit { per_second: 1, burst: u32::MAX };
        let zero = RateLimit { per_second: 0, burst: 0 };
        for limit in [huge, slow, zero] {
            for (tat, now) in
                [(None, i64::MAX), (Some(i64::MAX), i64::MIN), (Some(i64::MIN), i64::MAX), (None, i64::MIN)]
            {
                match check(limit, tat, now) {
                    RateVerdict::Allowed { next_tat, .. } => {
                        assert!(next_tat >= now, "next_tat should never wrap below now ({limit:?}, {tat:?}, {now})");
                    }
                    RateVerdict::Limited { retry_after_ns, reset_ns } => {
                        assert!(retry_after_ns > 0, "retry_after should be positive ({limit:?}, {tat:?}, {now})");
                        assert!(
                            reset_ns >= retry_after_ns,
                            "reset should not precede retry ({limit:?}, {tat:?}, {now})"
                        );
                    }
                }
            }
        }
        let RateVerdict::Limited { retry_after_ns, .. } = check(zero, Some(i64::MAX), i64::MIN) else {
            panic!("a TAT far in the future should limit");
        };
        assert_eq!(retry_after_ns, i64::MAX, "retry_after should saturate rather than wrap");
    }
}
