//! The live state the gateway decides from: keys, tenants, plans, routes and balances in
//! memory, so no request waits on the database.
//!
//! Balances here are authoritative for admission: `balance` is what may still be spent
//! (the stored balance minus usage not yet written and minus reservations in flight).
//! Console writes move it by deltas on commit ([`crate::store::Write`]); everything else
//! a console write changed is read inside its transaction and applied right after its
//! COMMIT, only when newer than what memory holds ([`Version`]). [`reconcile`] checks
//! the whole state against the database now and then.

pub mod alerts;
pub mod event_filter;
pub mod events;
pub mod leased;
pub mod relay;
pub mod settlement;
pub mod webhook_watch;

mod admit;
mod answer;
mod follow;
mod load;
pub mod reconcile;
pub mod standing;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_utils::sync::ShardedLock;

use chrono::{DateTime, Utc};

pub use admit::{Admission, Admitted, Reservation};
pub use answer::{RateNow, RouteAnswer, TenantAnswers};
pub(crate) use load::Fresh;

use crate::ConsoleError;
use crate::domain::budget::{BudgetPeriod, KeySpend};
use crate::domain::cidr::Cidr;
use crate::domain::metrics::{RouteLabels, RouteSlot};
use crate::store::ledger::Balances;
use crate::store::plans::Plan;
use crate::store::routes::Route;
use crate::store::settings::Settings;
use crate::store::subscriptions::SubscriptionStatus;
use crate::store::tenants::Standing;

/// Which committed console write a piece of the live state reflects: the id of that
/// write's audit entry (0 for what was loaded at start).
///
/// Audit ids follow commit order: every console write inserts its audit entry inside its
/// transaction while holding SQLite's write lock (taken at its first write, held until
/// COMMIT; console writes also queue on the store's single writer connection), so no other
/// write can insert one until it has committed; a rolled-back write's id is reused but
/// never applied. So no new column or counter is
/// needed: a change carrying an older version than memory holds was overtaken by a later
/// commit, and is dropped. Writes made behind the console's back carry no version; the
/// reconciler finds them.
pub type Version = i64;

/// A value with the [`Version`] it was read at.
#[derive(Debug, Default)]
struct Versioned<T> {
    version: Version,
    value: T,
}

/// A key as the gateway needs it.
#[derive(Debug, Clone, Eq)]
pub struct LiveKey {
    pub id: i64,
    pub tenant_id: i64,
    /// Shown in events, never the secret (shared with every event of the key).
    pub prefix: Arc<str>,
    pub revoked: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
    /// The key's spend cap, if it has one: boxed, since few keys have one and every key is
    /// held in memory (a key is 96 bytes instead of 120; 1.3 MB less RSS with 100,000 keys).
    pub cap: Option<Box<SpendCap>>,
}

/// A key's spend cap and what it had spent when it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendCap {
    pub budget: Budget,
    /// Memory counts on from here: see [`TenantState::key_spend`].
    pub stored: KeySpend,
}

/// Keys are the same when everything but their stored spend is: what a key spent is written
/// with its call counts, seconds behind memory (which counts on from it), so a stored spend
/// that differs is not drift.
impl PartialEq for LiveKey {
    fn eq(&self, other: &Self) -> bool {
        let Self { id, tenant_id, prefix, revoked, expires_at, scopes, cap } = self;
        let budget = |cap: &Option<Box<SpendCap>>| cap.as_ref().map(|c| c.budget);
        (id, tenant_id, prefix, revoked, expires_at, scopes, budget(cap))
            == (
                &other.id,
                &other.tenant_id,
                &other.prefix,
                &other.revoked,
                &other.expires_at,
                &other.scopes,
                budget(&other.cap),
            )
    }
}

/// A key's spend cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: i64,
    pub period: BudgetPeriod,
}

/// A tenant's admission state; guarded by its own lock so tenants never contend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantState {
    pub id: i64,
    /// Shared with every event and admission of the tenant.
    pub slug: Arc<str>,
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
    /// Credits of served requests handed to the ledger writer and not yet committed: the
    /// stored balance is `balance + reserved + unwritten` (what reconciliation checks).
    pub unwritten: i64,
    /// GCRA theoretical arrival time, ns since the epoch.
    pub rate_tat: Option<i64>,
    /// Requests admitted in the current period (for the plan's quota).
    pub period_used: i64,
    /// The tenant's address rules, parsed when loaded (empty: no allocation, no check).
    pub ip_allow: Vec<Cidr>,
    pub ip_deny: Vec<Cidr>,
    /// What each of its keys with a budget has spent (or holds for calls in flight) in the
    /// current period, counted from the stored spend when the key was first used.
    pub key_spend: HashMap<i64, KeySpend>,
    /// The console write the fields above `balance` reflect.
    pub version: Version,
}

impl TenantState {
    /// Takes the stored facts (standing, billing link, subscription) from `fresh`; keeps
    /// the balance, the reservations, the rate limiter and the period's count, which move
    /// in memory ahead of the database. A new period starts its count afresh.
    fn take_facts(&mut self, fresh: &TenantState) {
        if fresh.period_start != self.period_start {
            self.period_used = 0;
        }
        self.slug.clone_from(&fresh.slug);
        self.standing = fresh.standing;
        self.billing_link.clone_from(&fresh.billing_link);
        self.plan_id = fresh.plan_id;
        self.status = fresh.status;
        self.period_start = fresh.period_start;
        self.period_end = fresh.period_end;
        self.grace_until = fresh.grace_until;
        self.ip_allow.clone_from(&fresh.ip_allow);
        self.ip_deny.clone_from(&fresh.ip_deny);
        self.version = fresh.version;
    }

    /// Whether the stored facts equal `other`'s (what [`TenantState::take_facts`] copies).
    fn same_facts(&self, other: &TenantState) -> bool {
        (self.slug == other.slug)
            && (self.standing, &self.billing_link, self.plan_id, self.status)
                == (other.standing, &other.billing_link, other.plan_id, other.status)
            && (self.period_start, self.period_end, self.grace_until)
                == (other.period_start, other.period_end, other.grace_until)
            && (&self.ip_allow, &self.ip_deny) == (&other.ip_allow, &other.ip_deny)
    }
}

type Cell = Arc<Mutex<TenantState>>;

/// The routes, most specific first, each with its metrics slot (found with the route, so
/// a request never looks its slot up).
pub(crate) type RouteTable = Arc<Vec<MatchedRoute>>;

/// A route as a request finds it: the route, its metrics slot, and its prefix shared with
/// every event on it (naming the route in an event copies nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedRoute {
    pub route: Arc<Route>,
    pub slot: RouteSlot,
    pub prefix: Arc<str>,
}

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
///
/// Its maps are read by every gateway thread on every request and written by the console
/// and the reconciler now and then: behind sharded locks, a reader takes only its own
/// thread's shard (a plain `RwLock`'s reader count moved between CPUs on every read).
#[derive(Debug, Default)]
pub struct Live {
    keys: ShardedLock<HashMap<[u8; 32], Versioned<Arc<LiveKey>>, Digests>>,
    tenants: ShardedLock<HashMap<i64, Cell>>,
    plans: ShardedLock<HashMap<i64, Versioned<Arc<Plan>>>>,
    /// Longest prefix first, so the first match is the most specific; each with its
    /// metrics slot.
    routes: ShardedLock<Versioned<RouteTable>>,
    /// The routes' metrics slots, stable for the life of the process.
    route_labels: RouteLabels,
    settings: ShardedLock<Versioned<Arc<Settings>>>,
    /// Console writes between the start of their COMMIT and the end of applying it here.
    committing: AtomicUsize,
    /// Differences from the database the reconciler found (and repaired) since start.
    drift: AtomicU64,
    /// Credits are spent from leases ([`leased`]), not from the balances held here: on a
    /// node that shares its database with others, whose spending this one cannot see.
    credits_leased: AtomicBool,
}

/// Marks a console write as committing until dropped (after its effects reached memory),
/// so the reconciler never mistakes a commit on its way to memory for drift.
pub(crate) struct Committing(Arc<Live>);

impl Drop for Committing {
    fn drop(&mut self) {
        self.0.committing.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock(cell: &Cell) -> MutexGuard<'_, TenantState> {
    cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Live {
    /// The key whose SHA-256 is `digest`.
    pub fn key(&self, digest: &[u8; 32]) -> Option<Arc<LiveKey>> {
        self.keys.read().expect("keys lock").get(digest).map(|k| k.value.clone())
    }

    fn cell(&self, tenant_id: i64) -> Option<Cell> {
        self.tenants.read().expect("tenants lock").get(&tenant_id).cloned()
    }

    /// How many keys and tenants are loaded (for start-up messages and benchmarks).
    pub fn counts(&self) -> (usize, usize) {
        (self.keys.read().expect("keys lock").len(), self.tenants.read().expect("tenants lock").len())
    }

    /// From now on, admission leaves the credit check to the node's leases: the policy
    /// sees no balance limit and nothing is reserved here (see [`leased::Leased`]).
    pub fn lease_credits(&self) {
        self.credits_leased.store(true, Ordering::Relaxed);
    }

    /// Whether credits are spent from leases (see [`Live::lease_credits`]).
    pub fn credits_leased(&self) -> bool {
        self.credits_leased.load(Ordering::Relaxed)
    }

    /// A copy of a tenant's state.
    pub fn tenant(&self, tenant_id: i64) -> Option<TenantState> {
        self.cell(tenant_id).map(|c| lock(&c).clone())
    }

    /// A plan by id.
    pub fn plan(&self, plan_id: i64) -> Option<Arc<Plan>> {
        self.plans.read().expect("plans lock").get(&plan_id).map(|p| p.value.clone())
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().expect("settings lock").value.clone()
    }

    /// The most specific route for `method` and `path`: the longest prefix that ends at a
    /// path-segment boundary (`/v1` matches `/v1` and `/v1/x`, not `/v10`). `path` must be
    /// [`normalize`](crate::domain::path::normalize)d first, or dot segments walk around prefixes.
    pub fn route(&self, method: &str, path: &str) -> Option<Arc<Route>> {
        self.matched_route(method, path).map(|m| m.route)
    }

    /// [`route`](Self::route), with the route's metrics slot and shared prefix.
    pub fn matched_route(&self, method: &str, path: &str) -> Option<MatchedRoute> {
        let routes = self.routes.read().expect("routes lock");
        routes
            .value
            .iter()
            .find(|m| {
                let r = &m.route;
                crate::domain::path::under_prefix(path, &r.path_prefix)
                    && (r.methods.is_empty() || r.methods.iter().any(|m| m == method))
            })
            .cloned()
    }

    /// The route label of each metrics slot, by index.
    pub fn route_labels(&self) -> Vec<Arc<str>> {
        self.route_labels.labels()
    }

    /// Differences between memory and the database the reconciler found and repaired
    /// since start; anything but 0 means some change reached one and not the other.
    pub fn drift(&self) -> u64 {
        self.drift.load(Ordering::Relaxed)
    }

    /// Marks a console write as committing until the returned guard is dropped.
    pub(crate) fn committing(self: &Arc<Self>) -> Committing {
        self.committing.fetch_add(1, Ordering::SeqCst);
        Committing(self.clone())
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
        if self.credits_leased() {
            return Ok(()); // the balance here is not what other nodes spent: the database decides
        }
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

    /// The ledger writer committed debits of `amount` credits that were handed over
    /// unwritten (or gave up on them: the ledger refused them).
    pub(crate) fn written(&self, tenant_id: i64, amount: i64) {
        if let Some(cell) = self.cell(tenant_id) {
            lock(&cell).unwritten -= amount;
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

/// The ledger moves the gateway's balances through this, without naming [`Live`].
impl Balances for Live {
    fn hold(&self, tenant_id: i64, credits: i64) -> Result<(), ConsoleError> {
        Live::hold(self, tenant_id, credits)
    }

    fn spend_held(&self, tenant_id: i64, credits: i64) {
        Live::spend_held(self, tenant_id, credits)
    }

    fn release_held(&self, tenant_id: i64, credits: i64) {
        Live::release_held(self, tenant_id, credits)
    }

    fn credit(&self, tenant_id: i64, credits: i64) {
        Live::credit(self, tenant_id, credits)
    }
}
