//! Request ids: unique per process start and cheap to make (a random prefix and a counter).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static PREFIX: OnceLock<String> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new id such as `req_5f3a9c1e_000000000017`.
pub fn next() -> String {
    let prefix = PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("{:08x}", (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) as u32)
    });
    format!("req_{prefix}_{:012}", COUNTER.fetch_add(1, Ordering::Relaxed))
}
