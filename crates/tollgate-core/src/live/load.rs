//! Filling the live state from the database: everything at start, one thing after each
//! console command.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use super::{Live, LiveKey, TenantState, lock};
use crate::plans::Plan;
use crate::routes::Route;
use crate::settings;
use crate::store::Store;
use crate::subscriptions::SubscriptionStatus;
use crate::tenants::Standing;

#[derive(sqlx::FromRow)]
struct KeyRow {
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
struct TenantRow {
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
}

/// Each tenant with its subscription and the requests it made this period.
macro_rules! tenant_query {
    ($filter:literal) => {
        concat!(
            "SELECT t.id, t.slug, t.standing, t.billing_link, t.balance, s.plan_id, s.status, s.period_start,
                s.period_end, s.grace_until,
                (SELECT COALESCE(SUM(l.requests), 0) FROM ledger l WHERE l.tenant_id = t.id AND l.kind = 'debit'
                    AND julianday(l.created_at) >= julianday(s.period_start)) AS period_used
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

fn key_entry(row: KeyRow) -> Option<([u8; 32], Arc<LiveKey>)> {
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

fn tenant_state(row: TenantRow) -> TenantState {
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
        rate_tat: None,
        period_used: row.period_used,
    }
}

fn sorted(mut routes: Vec<Route>) -> Arc<Vec<Arc<Route>>> {
    routes.sort_by(|a, b| b.path_prefix.len().cmp(&a.path_prefix.len()).then(a.id.cmp(&b.id)));
    Arc::new(routes.into_iter().map(Arc::new).collect())
}

/// Keys as the gateway needs them (hash included, to index them by).
macro_rules! key_query {
    ($filter:literal) => {
        concat!("SELECT id, tenant_id, prefix, secret_hash, scopes, expires_at, revoked_at FROM api_keys ", $filter)
    };
}

impl Live {
    /// Loads everything. With no usage pending (nothing is running yet), stored balances
    /// are exactly what may be spent.
    pub async fn load(store: &Store) -> Result<Self, sqlx::Error> {
        let mut conn = store.read().acquire().await?;
        let keys: Vec<KeyRow> = sqlx::query_as(key_query!("")).fetch_all(&mut *conn).await?;
        let tenants: Vec<TenantRow> = sqlx::query_as(tenant_query!("")).fetch_all(&mut *conn).await?;
        let plans: Vec<Plan> = sqlx::query_as("SELECT * FROM plans").fetch_all(&mut *conn).await?;
        let routes: Vec<Route> = sqlx::query_as("SELECT * FROM routes").fetch_all(&mut *conn).await?;
        let settings = settings::load(&mut conn).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        Ok(Self {
            keys: keys.into_iter().filter_map(key_entry).collect::<HashMap<_, _, _>>().into(),
            tenants: tenants
                .into_iter()
                .map(|row| (row.id, Arc::new(Mutex::new(tenant_state(row)))))
                .collect::<HashMap<_, _>>()
                .into(),
            plans: plans.into_iter().map(|p| (p.id, Arc::new(p))).collect::<HashMap<_, _>>().into(),
            routes: sorted(routes).into(),
            settings: Arc::new(settings).into(),
        })
    }

    /// Reloads what a console command changed, named by its audit target
    /// (`tenant:<slug>`, `plan:<slug>`, `route:<id>`, `settings`).
    pub(crate) async fn refresh(&self, conn: &mut SqliteConnection, target: &str) -> Result<(), sqlx::Error> {
        match target.split_once(':') {
            Some(("tenant", slug)) => self.refresh_tenant(conn, slug).await,
            Some(("plan", slug)) => {
                let plan: Option<Plan> =
                    sqlx::query_as("SELECT * FROM plans WHERE slug = ?").bind(slug).fetch_optional(conn).await?;
                if let Some(plan) = plan {
                    self.plans.write().expect("plans lock").insert(plan.id, Arc::new(plan));
                }
                Ok(())
            }
            Some(("route", _)) => {
                let routes: Vec<Route> = sqlx::query_as("SELECT * FROM routes").fetch_all(conn).await?;
                *self.routes.write().expect("routes lock") = sorted(routes);
                Ok(())
            }
            _ if target == "settings" => {
                let settings = settings::load(conn).await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
                *self.settings.write().expect("settings lock") = Arc::new(settings);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Reloads a tenant's standing, subscription and keys. Its balance is kept: memory
    /// leads the database by the usage not yet written, and credit movements arrive as deltas.
    async fn refresh_tenant(&self, conn: &mut SqliteConnection, slug: &str) -> Result<(), sqlx::Error> {
        let Some(row) = sqlx::query_as::<_, TenantRow>(tenant_query!("WHERE t.slug = ?"))
            .bind(slug)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(());
        };
        let id = row.id;
        let existing = self.cell(id);
        match existing {
            Some(cell) => {
                let mut t = lock(&cell);
                let fresh = tenant_state(row);
                if fresh.period_start != t.period_start {
                    t.period_used = 0;
                }
                t.standing = fresh.standing;
                t.billing_link = fresh.billing_link;
                t.plan_id = fresh.plan_id;
                t.status = fresh.status;
                t.period_start = fresh.period_start;
                t.period_end = fresh.period_end;
                t.grace_until = fresh.grace_until;
            }
            None => {
                self.tenants.write().expect("tenants lock").insert(id, Arc::new(Mutex::new(tenant_state(row))));
            }
        }
        let keys: Vec<KeyRow> = sqlx::query_as(key_query!("WHERE tenant_id = ?")).bind(id).fetch_all(conn).await?;
        let mut map = self.keys.write().expect("keys lock");
        for (digest, key) in keys.into_iter().filter_map(key_entry) {
            map.insert(digest, key);
        }
        Ok(())
    }
}
