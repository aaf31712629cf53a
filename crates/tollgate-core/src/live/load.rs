//! Filling the live state from the database: everything at start, and what each console
//! command changed, read before its COMMIT and applied after it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::{Budget, Live, LiveKey, MatchedRoute, RouteTable, SpendCap, TenantState, Version, Versioned, lock};
use crate::domain::budget::KeySpend;

use crate::domain::metrics::RouteLabels;
use crate::store::accounts::{self, KeyRow, TenantRow};
use crate::store::plans::{self, Plan};
use crate::store::routes::{self, Route};
use crate::store::settings::{self, Settings};
use crate::store::{Connection, Store};

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

pub(super) fn key_entry(row: KeyRow) -> Option<([u8; 32], Arc<LiveKey>)> {
    let digest = digest(&row.secret_hash)?;
    let key = LiveKey {
        id: row.id,
        tenant_id: row.tenant_id,
        prefix: row.prefix.into(),
        revoked: row.revoked_at.is_some(),
        expires_at: row.expires_at,
        scopes: row.scopes,
        cap: row.budget.map(|limit| {
            Box::new(SpendCap {
                budget: Budget { limit, period: row.budget_period },
                stored: KeySpend {
                    since: row.budget_since.unwrap_or(DateTime::<Utc>::MIN_UTC),
                    spent: row.budget_spent,
                },
            })
        }),
    };
    Some((digest, Arc::new(key)))
}

pub(super) fn tenant_state(row: TenantRow) -> TenantState {
    TenantState {
        id: row.id,
        slug: row.slug.into(),
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
        key_spend: HashMap::new(),
        version: 0,
    }
}

/// The route table: most specific first, each route with its metrics slot from `labels`.
pub(super) fn sorted(mut routes: Vec<Route>, labels: &RouteLabels) -> RouteTable {
    routes.sort_by(|a, b| b.path_prefix.len().cmp(&a.path_prefix.len()).then(a.id.cmp(&b.id)));
    let matched = |r: Route| MatchedRoute {
        slot: labels.slot(&r.path_prefix),
        prefix: r.path_prefix.as_str().into(),
        route: Arc::new(r),
    };
    Arc::new(routes.into_iter().map(matched).collect())
}

impl Live {
    /// Loads everything. With no usage pending (nothing is running yet), stored balances
    /// are exactly what may be spent.
    pub async fn load(store: &Store) -> Result<Self, sqlx::Error> {
        let mut conn = store.reader().await?;
        let keys = accounts::keys(&mut conn).await?;
        let tenants = accounts::tenants(&mut conn).await?;
        let plans = plans::all(&mut conn).await?;
        let routes = routes::list(&mut conn).await?;
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
    /// Boxed: settings are large, and the other changes are many.
    Settings(Box<Settings>),
    /// The target is gone or names nothing memory holds.
    Nothing,
}

impl Fresh {
    /// Reads what the audit target `target` (`tenant:<slug>`, `plan:<slug>`, `route:<id>`,
    /// `settings`) now is.
    pub(crate) async fn read(conn: &mut Connection, target: &str) -> Result<Self, sqlx::Error> {
        Ok(match target.split_once(':') {
            Some(("tenant", slug)) => {
                let Some(row) = accounts::tenant_facts_of(&mut *conn, slug).await? else { return Ok(Self::Nothing) };
                let keys = accounts::keys_of(conn, row.id).await?;
                Self::Tenant(tenant_state(row), keys.into_iter().filter_map(key_entry).collect())
            }
            Some(("plan", slug)) => plans::find(conn, slug).await?.map_or(Self::Nothing, Self::Plan),
            Some(("route", _)) => Self::Routes(routes::list(conn).await?),
            _ if target == "settings" => {
                Self::Settings(Box::new(settings::load(conn).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?))
            }
            _ => Self::Nothing,
        })
    }
}

impl Live {
    /// Applies what the console write `version` committed, part by part only where memory
    /// holds something older. Never waits: it runs right after COMMIT.
    pub(crate) fn apply(&self, fresh: Fresh, version: Version) {
        self.apply_if(fresh, version, |held| held < version);
    }

    /// Applies what a committed snapshot read (another node's change, see `follow.rs`):
    /// `version` is the newest audit entry it saw, and a read at the same version replaces
    /// what memory holds (ids are handed out before commit, so a commit numbered below it
    /// may have landed after an earlier read at that version).
    pub(crate) fn apply_read(&self, fresh: Fresh, version: Version) {
        self.apply_if(fresh, version, |held| held <= version);
    }

    fn apply_if(&self, fresh: Fresh, version: Version, newer: impl Fn(Version) -> bool) {
        match fresh {
            Fresh::Tenant(mut state, keys) => {
                state.version = version;
                self.put_tenant(state, |held| newer(held.version));
                let mut map = self.keys.write().expect("keys lock");
                for (digest, key) in keys {
                    put(&mut map, digest, key, version, &newer);
                }
            }
            Fresh::Plan(plan) => {
                let mut plans = self.plans.write().expect("plans lock");
                put(&mut plans, plan.id, Arc::new(plan), version, &newer);
            }
            Fresh::Routes(routes) => {
                let mut held = self.routes.write().expect("routes lock");
                if newer(held.version) {
                    *held = Versioned { version, value: sorted(routes, &self.route_labels) };
                }
            }
            Fresh::Settings(settings) => {
                let mut held = self.settings.write().expect("settings lock");
                if newer(held.version) {
                    *held = Versioned { version, value: Arc::new(*settings) };
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
