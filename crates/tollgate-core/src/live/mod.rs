//! The live state the gateway decides from: keys, tenants, plans, routes and balances in
//! memory, so no request waits on the database.
//!
//! Balances here are authoritative for admission: `balance` is what may still be spent
//! (the stored balance minus usage not yet written and minus reservations in flight).
//! Console writes move it by deltas on commit ([`crate::store::Write`]); everything else
//! is reloaded from the database right after the console command commits.

mod admit;
mod load;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::{DateTime, Utc};

pub use admit::{Admission, Admitted, Reservation};

use crate::ConsoleError;
use crate::plans::Plan;
use crate::routes::Route;
use crate::settings::Settings;
use crate::subscriptions::SubscriptionStatus;
use crate::tenants::Standing;

/// A key as the gateway needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveKey {
    pub id: i64,
    pub tenant_id: i64,
    /// Shown in events, never the secret.
    pub prefix: String,
    pub revoked: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

/// A tenant's admission state; guarded by its own lock so tenants never contend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantState {
    pub id: i64,
    pub slug: String,
    pub standing: Standing,
    pub billing_link: Option<String>,
    pub plan_id: i64,
    pub status: SubscriptionStatus,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub grace_until: Option<DateTime<Utc>>,
    /// Credits that may still be spent.
    pub balance: i64,
    /// Credits set aside for requests in flight and console removals not yet committed.
    pub reserved: i64,
    /// GCRA theoretical arrival time, ns since the epoch.
    pub rate_tat: Option<i64>,
    /// Requests admitted in the current period (for the plan's quota).
    pub period_used: i64,
}

type Cell = Arc<Mutex<TenantState>>;

/// Hashes a SHA-256 digest by taking 8 of its bytes: they are already uniformly random,
/// so hashing them again (SipHash) only costs time on every request.
#[derive(Default)]
pub(crate) struct DigestHasher(u64);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(first) = bytes.first_chunk::<8>() {
            self.0 ^= u64::from_le_bytes(*first);
        } else {
            for b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(*b);
            }
        }
    }
}

type Digests = std::hash::BuildHasherDefault<DigestHasher>;

/// The whole in-memory state; share it as `Arc<Live>`.
#[derive(Debug, Default)]
pub struct Live {
    keys: RwLock<HashMap<[u8; 32], Arc<LiveKey>, Digests>>,
    tenants: RwLock<HashMap<i64, Cell>>,
    plans: RwLock<HashMap<i64, Arc<Plan>>>,
    /// Longest prefix first, so the first match is the most specific.
    routes: RwLock<Arc<Vec<Arc<Route>>>>,
    settings: RwLock<Arc<Settings>>,
}

fn lock(cell: &Cell) -> MutexGuard<'_, TenantState> {
    cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Live {
    /// The key whose SHA-256 is `digest`.
    pub fn key(&self, digest: &[u8; 32]) -> Option<Arc<LiveKey>> {
        self.keys.read().expect("keys lock").get(digest).cloned()
    }

    fn cell(&self, tenant_id: i64) -> Option<Cell> {
        self.tenants.read().expect("tenants lock").get(&tenant_id).cloned()
    }

    /// How many keys and tenants are loaded (for start-up messages and benchmarks).
    pub fn counts(&self) -> (usize, usize) {
        (self.keys.read().expect("keys lock").len(), self.tenants.read().expect("tenants lock").len())
    }

    /// A copy of a tenant's state.
    pub fn tenant(&self, tenant_id: i64) -> Option<TenantState> {
        self.cell(tenant_id).map(|c| lock(&c).clone())
    }

    /// A plan by id.
    pub fn plan(&self, plan_id: i64) -> Option<Arc<Plan>> {
        self.plans.read().expect("plans lock").get(&plan_id).cloned()
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().expect("settings lock").clone()
    }

    /// The most specific route for `method` and `path`: the longest prefix that ends at a
    /// path-segment boundary (`/v1` matches `/v1` and `/v1/x`, not `/v10`). `path` must be
    /// [`normalize`](crate::path::normalize)d first, or dot segments walk around prefixes.
    pub fn route(&self, method: &str, path: &str) -> Option<Arc<Route>> {
        let routes = self.routes.read().expect("routes lock").clone();
        routes
            .iter()
            .find(|r| {
                crate::path::under_prefix(path, &r.path_prefix)
                    && (r.methods.is_empty() || r.methods.iter().any(|m| m == method))
            })
            .cloned()
    }

    /// Adds committed credits.
    pub(crate) fn credit(&self, tenant_id: i64, amount: i64) {
        if let Some(cell) = self.cell(tenant_id) {
            let mut t = lock(&cell);
            t.balance = t.balance.saturating_add(amount);
        }
    }

    /// Sets credits aside for a console removal; refuses what is not available.
    pub(crate) fn hold(&self, tenant_id: i64, amount: i64) -> Result<(), ConsoleError> {
        let Some(cell) = self.cell(tenant_id) else { return Ok(()) };
        let mut t = lock(&cell);
        if t.balance < amount {
            return Err(ConsoleError::InsufficientCredits { balance: t.balance, needed: amount });
        }
        t.balance -= amount;
        t.reserved += amount;
        Ok(())
    }

    /// A held removal was committed.
    pub(crate) fn spend_held(&self, tenant_id: i64, amount: i64) {
        if let Some(cell) = self.cell(tenant_id) {
            lock(&cell).reserved -= amount;
        }
    }

    /// A held removal was abandoned.
    pub(crate) fn release_held(&self, tenant_id: i64, amount: i64) {
        if let Some(cell) = self.cell(tenant_id) {
            let mut t = lock(&cell);
            t.reserved -= amount;
            t.balance += amount;
        }
    }
}
