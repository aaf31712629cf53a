//! A per-address limit on requests without a usable key, so a flood of them cannot crowd
//! out paying traffic.
//!
//! "Keyless" means a request the gateway would answer 401 `MISSING_API_KEY` /
//! `INVALID_API_KEY` or 404 `ROUTE_NOT_FOUND`: it costs work and earns nothing. Each
//! client address has a GCRA bucket ([`tollgate_core::domain::rate`]); past it, such requests are
//! answered 429 `RATE_LIMITED` with `Retry-After`. Requests with a known key are never
//! counted or refused here (their plan's limit applies), even from the same address.
//!
//! Memory is fixed: a set-associative table of [`SETS`] × [`WAYS`] addresses, allocated
//! once. An address takes a free slot in its set, or one whose bucket has drained (which
//! is the same as a fresh bucket, so nothing is lost), or else the slot closest to
//! draining. IPv6 clients are counted per /64, the block one subscriber usually holds.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use tollgate_core::domain::rate::{self, RateLimit, RateVerdict};

/// Sets in the table.
pub const SETS: usize = 2048;
/// Addresses per set: 2048 × 8 = 16,384 addresses in about 400 KiB.
pub const WAYS: usize = 8;

/// The default limit: 50 keyless requests per second per address, with bursts of 100.
pub const DEFAULT_LIMIT: RateLimit = RateLimit { per_second: 50, burst: 100 };

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The address (IPv4 as IPv4-mapped IPv6, IPv6 cut to /64); meaningless while free.
    addr: u128,
    /// GCRA theoretical arrival time, ns since the epoch; `i64::MIN` when free.
    tat: i64,
}

const FREE: Slot = Slot { addr: 0, tat: i64::MIN };

/// The table of buckets; share it behind the gateway.
pub struct KeylessLimiter {
    limit: RateLimit,
    sets: Box<[Mutex<[Slot; WAYS]>]>,
    hasher: RandomState,
}

impl KeylessLimiter {
    /// A table enforcing `limit` per client address.
    pub fn new(limit: RateLimit) -> Self {
        let sets = (0..SETS).map(|_| Mutex::new([FREE; WAYS])).collect();
        Self { limit, sets, hasher: RandomState::new() }
    }

    /// The limit in force.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Counts one keyless request from `ip` at `now_ns`: `Ok` to answer it normally, or
    /// `Err(seconds)` to answer 429 with `Retry-After: seconds` (at least 1).
    pub fn check(&self, ip: IpAddr, now_ns: i64) -> Result<(), u64> {
        let addr = match ip.to_canonical() {
            IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => u128::from(v6) & !u128::from(u64::MAX),
        };
        let set = &self.sets[(self.hasher.hash_one(addr) as usize) % SETS];
        let mut slots = set.lock().unwrap_or_else(PoisonError::into_inner);
        let i = match slots.iter().position(|s| s.tat != i64::MIN && s.addr == addr) {
            Some(i) => i,
            None => {
                // A free or drained slot if any (its bucket is as good as fresh), else
                // the one that drains first.
                let i = slots.iter().enumerate().min_by_key(|(_, s)| s.tat).map_or(0, |(i, _)| i);
                slots[i] = Slot { addr, tat: i64::MIN };
                i
            }
        };
        let tat = Some(slots[i].tat).filter(|t| *t != i64::MIN);
        match rate::check(self.limit, tat, now_ns) {
            RateVerdict::Allowed { next_tat, .. } => {
                slots[i].tat = next_tat;
                Ok(())
            }
            RateVerdict::Limited { retry_after_ns, .. } => {
                Err(u64::try_from(retry_after_ns).unwrap_or(0).div_ceil(1_000_000_000).max(1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_900_000_000_000_000_000;

    #[test]
    fn an_address_gets_its_burst_then_waits() {
        let limiter = KeylessLimiter::new(RateLimit { per_second: 10, burst: 4 });
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        for n in 0..5 {
            assert_eq!(limiter.check(ip, NOW), Ok(()), "request {n} is within burst + 1");
        }
        assert_eq!(limiter.check(ip, NOW), Err(1), "then 429 with Retry-After");
        assert_eq!(limiter.check("203.0.113.8".parse().unwrap(), NOW), Ok(()), "another address is not affected");
        assert_eq!(limiter.check(ip, NOW + 100_000_000), Ok(()), "one interval later, one more passes");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_is_ipv4() {
        let limiter = KeylessLimiter::new(RateLimit { per_second: 1, burst: 0 });
        assert_eq!(limiter.check("2001:db8::1".parse().unwrap(), NOW), Ok(()));
        assert!(limiter.check("2001:db8::ffff:2".parse().unwrap(), NOW).is_err(), "same /64");
        assert_eq!(limiter.check("192.0.2.1".parse().unwrap(), NOW), Ok(()));
        assert!(limiter.check("::ffff:192.0.2.1".parse().unwrap(), NOW).is_err(), "the same IPv4 client");
    }

    #[test]
    fn the_table_stays_fixed_under_many_addresses() {
        let limiter = KeylessLimiter::new(RateLimit { per_second: 1, burst: 0 });
        for n in 0..100_000u32 {
            let _ = limiter.check(IpAddr::V4(n.into()), NOW);
        }
        assert_eq!(limiter.sets.len() * WAYS, SETS * WAYS, "no growth");
        let busy = limiter.sets.iter().flat_map(|s| *s.lock().unwrap()).filter(|s| s.tat != i64::MIN).count();
        assert_eq!(busy, SETS * WAYS, "every slot in use, none added");
    }
}
