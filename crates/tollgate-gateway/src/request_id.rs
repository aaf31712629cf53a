//! Request ids: unique per process start and cheap to make (a random prefix and a counter).
//! The counter also places the request in the request log's ring.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_core::store::request_log::RequestId;

static PREFIX: OnceLock<u32> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new id, shown as `req_5f3a9c1e_000000000017`.
pub fn next() -> RequestId {
    let prefix = *PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)) as u32
    });
    RequestId { prefix, counter: COUNTER.fetch_add(1, Ordering::Relaxed) }
}
