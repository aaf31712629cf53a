//! Filling the live state from the database: everything at start, and what each console
//! command changed, read before its COMMIT and applied after it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{Live, LiveKey, RouteTable, TenantState, Version, Versioned, lock};
use crate::domain::cidr::Cidr;
use crate::domain::metrics::RouteLabels;
use crate::store::Store;
use crate::store::plans::Plan;
use crate::store::routes::Route;
use crate::store::settings::{self, Settings};
use crate::store::subscriptions::SubscriptionStatus;
use crate::store::tenants::Standing;

#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    id: i64,
    tenant_id: i64,
    prefix: String,
    secret_hash: String,
    #[sqlx(json)]
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct TenantRow {
    id: i64,
    slug: String,
    standing: Standing,
    billing_link: Option<String>,
    balance: i64,
    plan_id: i64,
    status: SubscriptionStatus,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
    grace_until: Option<DateTime<Utc>>,
    period_used: i64,
    #[sqlx(json)]
    ip_allow: Vec<Cidr>,
    #[sqlx(json)]
    ip_deny: Vec<Cidr>,
}

/// Each tenant with its subscription and the requests charged this period, as stored
/// (the usage writes keep the count; start-up never sums the ledger).
macro_rules! tenant_query {
    ($filter:literal) => {
        concat!(
            "SELECT t.id, t.slug, t.standing, t.billing_link, t.balance, s.plan_id, s.status, s.period_start,
                s.period_end, s.grace_until, t.period_used, t.ip_allow, t.ip_deny
             FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id ",
            $filter
        )
    };
}

fn digest(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl KeyRow {
    /// The key's row id (reconciliation pages by it).
    pub(super) fn id(&self) -> i64 {
        self.id
    }
}

pub(super) fn key_entry(row: KeyRow) -> Option<([u8; 32], Arc<LiveKey>)> {
    let digest = digest(&row.secret_hash)?;
    let key = LiveKey {
        id: row.id,
        tenant_id: row.tenant_id,
        prefix: row.prefix,
        revoked: row.revoked_at.is_some(),
        expires_at: row.expires_at,
        scopes: row.scopes,
    };
    Some((digest, Arc::new(key)))
}

pub(super) fn tenant_state(row: TenantRow) -> TenantState {
    TenantState {
        id: row.id,
        slug: row.slug,
        standing: row.standing,
        billing_link: row.billing_link,
        plan_id: row.plan_id,
        status: row.status,
        period_start: row.period_start,
        period_end: row.period_end,
        grace_until: row.grace_until,
        balance: row.balance,
        reserved: 0,
        unwritten: 0,
        rate_tat: None,
        period_used: row.period_used,
        ip_allow: row.ip_allow,
        ip_deny: row.ip_deny,
        version: 0,
    }
}

/// The route table: most specific first, each route with its metrics slot from `labels`.
pub(super) fn sorted(mut routes: Vec<Route>, labels: &RouteLabels) -> RouteTable {
    routes.sort_by(|a, b| b.path_prefix.len().cmp(&a.path_prefix.len()).then(a.id.cmp(&b.id)));
    Arc::new(
        routes.into_iter().map(|r| (labels.slot(&r.path_prefix), r)).map(|(slot, r)| (Arc::new(r), slot)).collect(),
    )
}

/// Tenants' stored facts with their subscriptions (see [`TenantState::take_facts`]),
/// without counting the period's requests (0): memory keeps its own count, and a tenant
/// new to memory has made no requests through it. Cheap enough to run inside a write.
macro_rules! tenant_facts {
    ($filter:literal) => {
        concat!(
            "SELECT t.id, t.slug, t.standing, t.billing_link, t.balance, s.plan_id, s.status, s.period_start,
                s.period_end, s.grace_until, 0 AS period_used, t.ip_allow, t.ip_deny
             FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id ",
            $filter
        )
    };
}

/// Every tenant's stored facts.
pub(super) const TENANT_FACTS: &str = tenant_facts!("");

/// Keys as the gateway needs them (hash included, to index them by).
macro_rules! key_query {
    ($filter:literal) => {
        concat!("SELECT id, tenant_id, prefix, secret_hash, scopes, expires_at, revoked_at FROM api_keys ", $filter)
    };
}

/// Every key, as [`key_entry`] takes it.
pub(super) const ALL_KEYS: &str = key_query!("");

/// One page of keys, in id order after `?1`, at most `?2` (reconciliation reads the keys a
/// page at a time, so a pass never holds a second copy of them all).
pub(super) const KEYS_AFTER: &str = key_query!("WHERE id > ?1 ORDER BY id LIMIT ?2");

impl Live {
    /// Loads everything. With no usage pending (nothing is running yet), stored balances
    /// are exactly what may be spent.
    pub async fn load(store: &Store) -> Result<Self, sqlx::Error> {
        let mut conn = store.read().acquire().await?;
        let keys: Vec<KeyRow> = sqlx::query_as(ALL_KEYS).fetch_all(&mut *conn).await?;
        let tenants: Vec<TenantRow> = sqlx::query_as(tenant_query!("")).fetch_all(&mut *conn).await?;
        let plans: Vec<Plan> = sqlx::query_as("SELECT * FROM plans").fetch_all(&mut *conn).await?;
        let routes: Vec<Route> = sqlx::query_as("SELECT * FROM routes").fetch_all(&mut *conn).await?;
        let settings = settings::load(&mut conn).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let route_labels = RouteLabels::default();
        Ok(Self {
            keys: keys
                .into_iter()
                .filter_map(key_entry)
                .map(|(digest, key)| (digest, Versioned { version: 0, value: key }))
                .collect::<HashMap<_, _, _>>()
                .into(),
            tenants: tenants
                .into_iter()
                .map(|row| (row.id, Arc::new(Mutex::new(tenant_state(row)))))
                .collect::<HashMap<_, _>>()
                .into(),
            plans: plans
                .into_iter()
                .map(|p| (p.id, Versioned { version: 0, value: Arc::new(p) }))
                .collect::<HashMap<_, _>>()
                .into(),
            routes: Versioned { version: 0, value: sorted(routes, &route_labels) }.into(),
            route_labels,
            settings: Versioned { version: 0, value: Arc::new(settings) }.into(),
            ..Self::default()
        })
    }
}

/// What a console write changed, as memory needs it: read inside the write's transaction
/// (which sees its own writes) and applied after its COMMIT with [`Live::apply`].
pub(crate) enum Fresh {
    /// A tenant's standing and subscription, with all its keys.
    Tenant(TenantState, Vec<([u8; 32], Arc<LiveKey>)>),
    Plan(Plan),
    /// Every route (a change to one can change which matches first).
    Routes(Vec<Route>),
    Settings(Settings),
    /// The target is gone or names nothing memory holds.
    Nothing,
}

impl Fresh {
    /// Reads what the audit target `target` (`tenant:<slug>`, `plan:<slug>`, `route:<id>`,
    /// `settings`) now is.
    pub(crate) async fn read(conn: &mut SqliteConnection, target: &str) -> Result<Self, sqlx::Error> {
        Ok(match target.split_once(':') {
            Some(("tenant", slug)) => {
                let row = sqlx::query_as::<_, TenantRow>(tenant_facts!("WHERE t.slug = ?"))
                    .bind(slug)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(row) = row else { return Ok(Self::Nothing) };
                let keys: Vec<KeyRow> =
                    sqlx::query_as(key_query!("WHERE tenant_id = ?")).bind(row.id).fetch_all(conn).await?;
                Self::Tenant(tenant_state(row), keys.into_iter().filter_map(key_entry).collect())
            }
            Some(("plan", slug)) => {
                let plan = sqlx::query_as("SELECT * FROM plans WHERE slug = ?").bind(slug).fetch_optional(conn).await?;
                plan.map_or(Self::Nothing, Self::Plan)
            }
            Some(("route", _)) => Self::Routes(sqlx::query_as("SELECT * FROM routes").fetch_all(conn).await?),
            _ if target == "settings" => {
                Self::Settings(settings::load(conn).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?)
            }
            _ => Self::Nothing,
        })
    }
}

impl Live {
    /// Applies what the console write `version` committed, part by part only where memory
    /// holds something older. Never waits: it runs right after COMMIT.
    pub(crate) fn apply(&self, fresh: Fresh, version: Version) {
        match fresh {
            Fresh::Tenant(mut state, keys) => {
                state.version = version;
                self.put_tenant(state, |held| held.version < version);
                let mut map = self.keys.write().expect("keys lock");
                for (digest, key) in keys {
                    put(&mut map, digest, key, version, |held| held < version);
                }
            }
            Fresh::Plan(plan) => {
                let mut plans = self.plans.write().expect("plans lock");
                put(&mut plans, plan.id, Arc::new(plan), version, |held| held < version);
            }
            Fresh::Routes(routes) => {
                let mut held = self.routes.write().expect("routes lock");
                if held.version < version {
                    *held = Versioned { version, value: sorted(routes, &self.route_labels) };
                }
            }
            Fresh::Settings(settings) => {
                let mut held = self.settings.write().expect("settings lock");
                if held.version < version {
                    *held = Versioned { version, value: Arc::new(settings) };
                }
            }
            Fresh::Nothing => {}
        }
    }

    /// Adds a tenant memory lacks, or takes `fresh`'s stored facts into the one it holds
    /// when `replace` says so. Its balance is kept: memory leads the database by the usage
    /// not yet written, and credit movements arrive as deltas.
    pub(super) fn put_tenant(&self, fresh: TenantState, replace: impl FnOnce(&TenantState) -> bool) {
        let existing = {
            let mut tenants = self.tenants.write().expect("tenants lock");
            match tenants.entry(fresh.id) {
                std::collections::hash_map::Entry::Occupied(cell) => cell.get().clone(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(Arc::new(Mutex::new(fresh)));
                    return;
                }
            }
        };
        let mut held = lock(&existing);
        if replace(&held) {
            held.take_facts(&fresh);
        }
    }
}

/// Inserts `value` at `id` with `version`, or replaces what is there when `replace` says
/// so given the version it holds.
pub(super) fn put<K: std::hash::Hash + Eq, V, S: std::hash::BuildHasher>(
    map: &mut HashMap<K, Versioned<V>, S>,
    id: K,
    value: V,
    version: Version,
    replace: impl FnOnce(Version) -> bool,
) {
    match map.entry(id) {
        std::collections::hash_map::Entry::Occupied(mut held) => {
            if replace(held.get().version) {
                *held.get_mut() = Versioned { version, value };
            }
        }
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(Versioned { version, value });
        }
    }
}
