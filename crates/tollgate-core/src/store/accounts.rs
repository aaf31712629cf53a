//! The rows the gateway's memory is built from: keys with their hashes, and tenants with
//! their subscriptions and the requests counted this period.

use crate::domain::budget::BudgetPeriod;
use chrono::{DateTime, Utc};

use crate::domain::cidr::Cidr;
use crate::domain::standing::{Standing, SubscriptionStatus};
use crate::store::{Connection, on};

/// A key as the gateway needs it (hash included, to index them by).
#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub(crate) id: i64,
    pub(crate) tenant_id: i64,
    pub(crate) prefix: String,
    pub(crate) secret_hash: String,
    #[sqlx(json)]
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) revoked_at: Option<DateTime<Utc>>,
    pub(crate) budget: Option<i64>,
    pub(crate) budget_period: BudgetPeriod,
    pub(crate) budget_spent: i64,
    pub(crate) budget_since: Option<DateTime<Utc>>,
}

/// A tenant with its subscription, as the gateway needs it.
#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    pub(crate) id: i64,
    pub(crate) slug: String,
    pub(crate) standing: Standing,
    pub(crate) billing_link: Option<String>,
    pub(crate) balance: i64,
    pub(crate) plan_id: i64,
    pub(crate) status: SubscriptionStatus,
    pub(crate) period_start: DateTime<Utc>,
    pub(crate) period_end: DateTime<Utc>,
    pub(crate) grace_until: Option<DateTime<Utc>>,
    pub(crate) period_used: i64,
    #[sqlx(json)]
    pub(crate) ip_allow: Vec<Cidr>,
    #[sqlx(json)]
    pub(crate) ip_deny: Vec<Cidr>,
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

/// Tenants' stored facts with their subscriptions (see [`TenantState::take_facts`]),
/// without counting the period's requests (0): memory keeps its own count, and a tenant
/// new to memory has made no requests through it. Cheap enough to run inside a write.
macro_rules! tenant_facts {
    ($filter:literal) => {
        concat!(
            "SELECT t.id, t.slug, t.standing, t.billing_link, t.balance, s.plan_id, s.status, s.period_start,
                s.period_end, s.grace_until, CAST(0 AS BIGINT) AS period_used, t.ip_allow, t.ip_deny
             FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id ",
            $filter
        )
    };
}

/// Every tenant's stored facts.
pub(crate) const TENANT_FACTS: &str = tenant_facts!("");

/// Keys as the gateway needs them (hash included, to index them by).
macro_rules! key_query {
    ($filter:literal) => {
        concat!(
            "SELECT id, tenant_id, prefix, secret_hash, scopes, expires_at, revoked_at,
                    budget, budget_period, budget_spent, budget_since FROM api_keys ",
            $filter
        )
    };
}

/// Every key, as [`key_entry`] takes it.
pub(crate) const ALL_KEYS: &str = key_query!("");

/// One page of keys, in id order after `?1`, at most `?2` (reconciliation reads the keys a
/// page at a time, so a pass never holds a second copy of them all).
pub(crate) const KEYS_AFTER: &str = key_query!("WHERE id > $1 ORDER BY id LIMIT $2");

/// Every key.
pub(crate) async fn keys(conn: &mut Connection) -> sqlx::Result<Vec<KeyRow>> {
    on!(conn, |c| sqlx::query_as(ALL_KEYS).fetch_all(c).await)
}

/// Tenant `tenant_id`'s keys.
pub(crate) async fn keys_of(conn: &mut Connection, tenant_id: i64) -> sqlx::Result<Vec<KeyRow>> {
    on!(conn, |c| sqlx::query_as(key_query!("WHERE tenant_id = $1")).bind(tenant_id).fetch_all(c).await)
}

/// One page of keys: at most `limit`, in id order after `after`.
pub(crate) async fn keys_after(conn: &mut Connection, after: i64, limit: i64) -> sqlx::Result<Vec<KeyRow>> {
    on!(conn, |c| sqlx::query_as(KEYS_AFTER).bind(after).bind(limit).fetch_all(c).await)
}

/// Every tenant with its stored period count (start-up never sums the ledger).
pub(crate) async fn tenants(conn: &mut Connection) -> sqlx::Result<Vec<TenantRow>> {
    on!(conn, |c| sqlx::query_as(tenant_query!("")).fetch_all(c).await)
}

/// Every tenant's stored facts, without the period count.
pub(crate) async fn tenant_facts(conn: &mut Connection) -> sqlx::Result<Vec<TenantRow>> {
    on!(conn, |c| sqlx::query_as(TENANT_FACTS).fetch_all(c).await)
}

/// Tenant `slug`'s stored facts, without the period count.
pub(crate) async fn tenant_facts_of(conn: &mut Connection, slug: &str) -> sqlx::Result<Option<TenantRow>> {
    on!(conn, |c| sqlx::query_as(tenant_facts!("WHERE t.slug = $1")).bind(slug).fetch_optional(c).await)
}

/// Every tenant's stored balance: `(id, balance)`.
pub(crate) async fn balances(conn: &mut Connection) -> sqlx::Result<Vec<(i64, i64)>> {
    on!(conn, |c| sqlx::query_as("SELECT id, balance FROM tenants").fetch_all(c).await)
}
