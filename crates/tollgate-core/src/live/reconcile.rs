//! Reconciliation: the live state compared with the database, every minute and on
//! `verify`. Any difference is drift (a change that reached one and not the other, e.g.
//! a row edited behind the console's back), so each is logged, counted
//! ([`Live::drift`]) and repaired by taking the database's side. It should stay 0.
//!
//! Compared: keys (tenant, prefix, revocation, expiry, scopes), tenants (standing,
//! billing link, plan and subscription), plans, routes, settings, and balances: memory's
//! `balance + reserved + unwritten` must equal the stored balance. Balances are read on the
//! writer connection, because every write (console or ledger writer) brings memory in
//! step before it lets that connection go: holding it, the two cannot be caught apart.
//!
//! A snapshot is read at one instant (one read transaction) together with the newest audit
//! id, `G`: every console write up to `G` is in it. Comparing waits until no console write
//! is between its COMMIT and memory, so every write up to `G` has reached memory too; what
//! memory holds at a version above `G` is newer than the snapshot and left alone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::load::{key_entry, put, sorted, tenant_state};
use super::{Live, LiveKey, TenantState, Version, Versioned, lock};
use tokio::sync::watch;

use crate::store::plans::{self, Plan};
use crate::store::routes::{self, Route};
use crate::store::settings::{self, Settings};
use crate::store::{Connection, Store, accounts, audit};

/// How often a node reconciles unless told otherwise.
pub const EVERY: Duration = Duration::from_secs(60);

/// Longest a pass waits for console writes in flight to reach memory before giving up.
const QUIET_WITHIN: Duration = Duration::from_secs(5);

/// Keys read and compared per step: a pass holds this many rows (and a set of every key's
/// digest, 32 bytes each) rather than a second copy of every key, and yields to the runtime
/// after each step. Reading and comparing a page takes the runtime's thread for a fraction
/// of a millisecond, so a request (on a one-CPU server, on the same thread) waits behind one
/// page at most, never behind a pass over every key.
const KEYS_PER_PAGE: i64 = 512;

/// The database at one instant, as memory holds it, but for the keys: those are compared
/// a page at a time ([`Live::repair_keys_paged`]) in the same read transaction.
pub(super) struct Snapshot {
    /// The newest console write it includes.
    version: Version,
    /// Keys to compare with memory in full (tests); empty when they are paged.
    keys: HashMap<[u8; 32], Arc<LiveKey>>,
    tenants: HashMap<i64, TenantState>,
    plans: HashMap<i64, Plan>,
    routes: Vec<Route>,
    settings: Settings,
}

impl Snapshot {
    /// Everything but the keys, in `tx` (a read transaction the keys are then paged in).
    async fn read(tx: &mut Connection) -> Result<Self, sqlx::Error> {
        let version: Version = audit::last_id(&mut *tx).await?;
        let tenants = accounts::tenant_facts(&mut *tx).await?;
        let plans = plans::all(&mut *tx).await?;
        let routes = routes::list(&mut *tx).await?;
        let settings = settings::load(&mut *tx).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        Ok(Self {
            version,
            keys: HashMap::new(),
            tenants: tenants.into_iter().map(tenant_state).map(|t| (t.id, t)).collect(),
            plans: plans.into_iter().map(|p| (p.id, p)).collect(),
            routes,
            settings,
        })
    }
}

/// Compares `live` with the database once and repairs what differs. Returns how many
/// things differed, or `None` when console writes kept committing for 5 s, so no pass
/// could be made.
pub async fn reconcile(live: &Live, store: &Store) -> Result<Option<u64>, sqlx::Error> {
    let mut tx = store.snapshot().await?;
    let snapshot = Snapshot::read(&mut tx).await?;
    let deadline = tokio::time::Instant::now() + QUIET_WITHIN;
    while live.committing.load(Ordering::SeqCst) > 0 {
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let at = snapshot.version;
    // Each step's repairs are counted as soon as they are in memory: the later steps yield,
    // and whoever sees a repair take effect must also see it counted.
    let count = |n: u64| {
        live.drift.fetch_add(n, Ordering::Relaxed);
        n
    };
    let mut drift = count(live.repair(snapshot, false));
    drift += count(live.repair_keys_paged(&mut tx, at).await?);
    tx.finish().await?;
    drift += count(repair_balances(live, store).await?);
    Ok(Some(drift))
}

/// Compares every balance with the database while holding the writer connection, and
/// takes the database's figure where they differ: what may still be spent becomes the
/// stored balance less what is reserved and what is on its way to the ledger.
async fn repair_balances(live: &Live, store: &Store) -> Result<u64, sqlx::Error> {
    if live.credits_leased() {
        return Ok(0); // the balances held here are not what is spent (see `leased`)
    }
    let mut write = store.begin().await?;
    let stored = accounts::balances(&mut write).await;
    let stored = write.check(stored)?;
    let mut drift = 0;
    for (id, balance) in stored {
        let Some(cell) = live.cell(id) else { continue };
        let mut t = lock(&cell);
        let spendable = balance - t.reserved - t.unwritten;
        if t.balance != spendable {
            tracing::warn!(tenant = %t.slug, memory = t.balance, database = spendable, reserved = t.reserved,
                unwritten = t.unwritten, "drift: balance");
            t.balance = spendable;
            drift += 1;
        }
    }
    let _ = write.commit().await; // read only: nothing to keep
    Ok(drift)
}

/// Reconciles every `every` (which may change while it runs) until `stop` turns true.
pub async fn run(live: Arc<Live>, store: Store, mut every: watch::Receiver<Duration>, mut stop: watch::Receiver<bool>) {
    loop {
        let period = *every.borrow_and_update();
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            changed = every.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return, // the node is gone
            },
            _ = stop.wait_for(|s| *s) => return,
        }
        match reconcile(&live, &store).await {
            Ok(Some(0)) => tracing::debug!("live state agrees with the database"),
            Ok(Some(drift)) => tracing::warn!(drift, since_start = live.drift(), "live state drifted; repaired"),
            Ok(None) => tracing::info!("reconciliation skipped: console writes kept committing"),
            Err(e) => tracing::warn!(error = %e, "cannot reconcile the live state"),
        }
    }
}

/// The stored facts of a tenant, for the log.
fn facts(t: &TenantState) -> impl std::fmt::Debug + '_ {
    (&t.slug, t.standing, &t.billing_link, t.plan_id, t.status, t.period_start, t.period_end, t.grace_until)
}

impl Live {
    /// Takes the database's side wherever memory holds something at most as new as the
    /// snapshot and different from it; returns how many things that was. Never waits.
    /// With `all_keys`, the snapshot's keys are every key (memory's others are drift);
    /// otherwise they are compared a page at a time afterwards.
    pub(super) fn repair(&self, db: Snapshot, all_keys: bool) -> u64 {
        let at = db.version;
        let keys = self.repair_key_values(&db.keys, at)
            + if all_keys { self.remove_keys_not_in(|digest| db.keys.contains_key(digest), at) } else { 0 };
        self.repair_tenants(db.tenants, at)
            + keys
            + self.repair_plans(db.plans, at)
            + self.repair_routes(db.routes, at)
            + self.repair_settings(db.settings, at)
    }

    fn repair_tenants(&self, db: HashMap<i64, TenantState>, at: Version) -> u64 {
        let mut drift = 0;
        {
            let mut tenants = self.tenants.write().expect("tenants lock");
            tenants.retain(|id, cell| {
                let gone = !db.contains_key(id) && lock(cell).version <= at;
                if gone {
                    tracing::warn!(tenant_id = id, "drift: a tenant in memory is not in the database");
                    drift += 1;
                }
                !gone
            });
        }
        for (id, mut fresh) in db {
            fresh.version = at;
            let Some(cell) = self.cell(id) else {
                tracing::warn!(tenant = %fresh.slug, "drift: a tenant in the database was missing from memory");
                self.put_tenant(fresh, |_| false);
                drift += 1;
                continue;
            };
            let mut held = lock(&cell);
            if held.version <= at && !held.same_facts(&fresh) {
                tracing::warn!(tenant = %fresh.slug, memory = ?facts(&held), database = ?facts(&fresh), "drift: tenant");
                held.take_facts(&fresh);
                drift += 1;
            }
        }
        drift
    }

    /// Compares the keys of `tx` (a read transaction at version `at`) with memory a page
    /// at a time, yielding between pages, then drops what memory holds that the database
    /// does not.
    async fn repair_keys_paged(&self, tx: &mut Connection, at: Version) -> Result<u64, sqlx::Error> {
        let mut seen: HashSet<[u8; 32]> = HashSet::with_capacity(self.counts().0);
        let (mut after, mut drift) = (0, 0);
        loop {
            let rows = accounts::keys_after(&mut *tx, after, KEYS_PER_PAGE).await?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            let page: HashMap<[u8; 32], Arc<LiveKey>> = rows.into_iter().filter_map(key_entry).collect();
            drift += self.repair_key_values(&page, at);
            seen.extend(page.into_keys());
            tokio::task::yield_now().await;
        }
        // Every key of the database is in memory now (repaired above), and only this pass
        // removes keys from memory: holding as many as the database, memory holds no other,
        // and the walk over every key in memory is not needed.
        if self.counts().0 == seen.len() {
            return Ok(drift);
        }
        Ok(drift + self.remove_keys_not_seen(&seen, at).await)
    }

    /// [`Live::remove_keys_not_in`] in steps: the digests memory holds (at most as new as
    /// `at`) are copied under the read lock, then looked up a page at a time, yielding
    /// between pages.
    async fn remove_keys_not_seen(&self, seen: &HashSet<[u8; 32]>, at: Version) -> u64 {
        let held: Vec<[u8; 32]> = {
            let held = self.keys.read().expect("keys lock");
            held.iter().filter(|(_, k)| k.version <= at).map(|(digest, _)| *digest).collect()
        };
        let mut gone = Vec::new();
        for page in held.chunks(KEYS_PER_PAGE as usize) {
            gone.extend(page.iter().filter(|digest| !seen.contains(*digest)).copied());
            tokio::task::yield_now().await;
        }
        self.remove_keys(gone, at)
    }

    /// Takes the database's value for each key of `db` that memory lacks or holds
    /// differently (at most as new as `at`). Compared under the read lock, repaired under
    /// the write lock, so the gateway's key lookups are held up only for the repairs.
    fn repair_key_values(&self, db: &HashMap<[u8; 32], Arc<LiveKey>>, at: Version) -> u64 {
        let mut wrong: Vec<([u8; 32], Arc<LiveKey>)> = Vec::new();
        {
            let held = self.keys.read().expect("keys lock");
            for (digest, key) in db {
                match held.get(digest) {
                    Some(k) if k.version > at || k.value == *key => {}
                    other => {
                        let memory = other.map(|k| &k.value);
                        tracing::warn!(key = %key.prefix, ?memory, database = ?key, "drift: key");
                        wrong.push((*digest, key.clone()));
                    }
                }
            }
        }
        if wrong.is_empty() {
            return 0;
        }
        let mut held = self.keys.write().expect("keys lock");
        let drift = wrong.len() as u64;
        for (digest, key) in wrong {
            put(&mut held, digest, key, at, |version| version <= at);
        }
        drift
    }

    /// Drops the keys memory holds (at most as new as `at`) that `in_database` says the
    /// database does not.
    fn remove_keys_not_in(&self, in_database: impl Fn(&[u8; 32]) -> bool, at: Version) -> u64 {
        let gone: Vec<[u8; 32]> = {
            let held = self.keys.read().expect("keys lock");
            held.iter()
                .filter(|(digest, k)| k.version <= at && !in_database(digest))
                .map(|(digest, _)| *digest)
                .collect()
        };
        self.remove_keys(gone, at)
    }

    /// Drops the keys `gone` names that memory holds at most as new as `at`.
    fn remove_keys(&self, gone: Vec<[u8; 32]>, at: Version) -> u64 {
        if gone.is_empty() {
            return 0;
        }
        let mut held = self.keys.write().expect("keys lock");
        let mut drift = 0;
        for digest in gone {
            if let Some(k) = held.get(&digest).filter(|k| k.version <= at) {
                tracing::warn!(key = %k.value.prefix, "drift: a key in memory is not in the database");
                held.remove(&digest);
                drift += 1;
            }
        }
        drift
    }

    fn repair_plans(&self, db: HashMap<i64, Plan>, at: Version) -> u64 {
        let mut plans = self.plans.write().expect("plans lock");
        let mut drift = 0;
        plans.retain(|id, p| {
            let gone = p.version <= at && !db.contains_key(id);
            if gone {
                tracing::warn!(plan = %p.value.slug, "drift: a plan in memory is not in the database");
                drift += 1;
            }
            !gone
        });
        for (id, plan) in db {
            if plans.get(&id).is_some_and(|p| p.version > at || *p.value == plan) {
                continue;
            }
            tracing::warn!(plan = %plan.slug, memory = ?plans.get(&id).map(|p| &p.value), database = ?plan, "drift: plan");
            put(&mut plans, id, Arc::new(plan), at, |version| version <= at);
            drift += 1;
        }
        drift
    }

    fn repair_routes(&self, db: Vec<Route>, at: Version) -> u64 {
        let db = sorted(db, &self.route_labels);
        let mut routes = self.routes.write().expect("routes lock");
        if routes.version > at || routes.value == db {
            return 0;
        }
        tracing::warn!(memory = ?routes.value, database = ?db, "drift: routes");
        *routes = Versioned { version: at, value: db };
        1
    }

    fn repair_settings(&self, db: Settings, at: Version) -> u64 {
        let mut settings = self.settings.write().expect("settings lock");
        if settings.version > at || *settings.value == db {
            return 0;
        }
        tracing::warn!(memory = ?settings.value, database = ?db, "drift: settings");
        *settings = Versioned { version: at, value: Arc::new(db) };
        1
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A database holding one tenant (id 1) with one key, at `version`.
    pub(in crate::live) fn snapshot(
        version: Version,
        tenant: TenantState,
        key: Arc<LiveKey>,
        routes: Vec<Route>,
        settings: Settings,
    ) -> Snapshot {
        Snapshot {
            version,
            keys: HashMap::from([([7; 32], key)]),
            tenants: HashMap::from([(tenant.id, tenant)]),
            plans: HashMap::new(),
            routes,
            settings,
        }
    }
}
