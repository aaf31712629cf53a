//! The ledger's invariant, read back: every balance equals the sum of its ledger, every
//! period count the usage its ledger charged, and no debit was refused.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::dialects;
use crate::store::on;
use crate::store::{Engine, Store};

/// A tenant whose stored balance disagrees with its ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Mismatch {
    pub tenant: String,
    /// `tenants.balance`.
    pub balance: i64,
    /// The sum of the tenant's ledger amounts.
    pub ledger_sum: i64,
    /// `balance_after` of the tenant's newest entry (0 without entries).
    pub last_balance_after: i64,
}

/// A tenant whose stored count of requests this period (what the quota and start-up use)
/// disagrees with the usage its ledger charged since the period began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct PeriodCountMismatch {
    pub tenant: String,
    /// `tenants.period_used`.
    pub stored: i64,
    /// The requests the tenant's debits since the period's start cover.
    pub ledger: i64,
}

/// A served request whose debit the ledger refused: memory spent credits the database
/// did not have. Each one needs the operator's look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct RefusedDebit {
    pub tenant: String,
    pub amount: i64,
    pub requests: i64,
    pub request_id: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
    pub reason: String,
}

/// What [`ledger`] found.
pub(crate) struct LedgerCheck {
    pub tenants_checked: i64,
    pub entries_checked: i64,
    /// Leases whose recorded use differs from their debits (PostgreSQL only).
    pub leases_off: Vec<i64>,
    /// Tenants whose balance disagrees with their ledger.
    pub mismatches: Vec<Mismatch>,
    pub period_count_mismatches: Vec<PeriodCountMismatch>,
    /// The newest 100.
    pub refused_debits: Vec<RefusedDebit>,
    /// Strict usage durable in the journal, not yet folded into the ledger: (requests, credits).
    pub journal: (i64, i64),
}

/// Checks every tenant in one read transaction, so the balances and the ledger are seen at
/// the same instant.
pub(crate) async fn ledger(store: &Store) -> sqlx::Result<LedgerCheck> {
    let mut tx = store.snapshot().await?;
    // On PostgreSQL a tenant's credits are its balance and what its nodes' open leases
    // still hold; and each lease's recorded use must be its debits.
    let sql = dialects!(tx.engine(),
        "SELECT t.slug AS tenant, t.balance" {"", " + CAST(COALESCE((SELECT SUM(granted - used) FROM leases l
                                                  WHERE l.tenant_id = t.id AND l.closed_at IS NULL), 0) AS BIGINT)"} " AS balance,
                CAST(COALESCE((SELECT SUM(amount) FROM ledger l WHERE l.tenant_id = t.id), 0) AS BIGINT) AS ledger_sum,
                COALESCE((SELECT balance_after FROM ledger l WHERE l.tenant_id = t.id ORDER BY id DESC LIMIT 1), 0)
                    AS last_balance_after
         FROM tenants t ORDER BY t.slug"
    );
    let rows: Vec<Mismatch> = on!(&mut *tx, |c| sqlx::query_as(sql).fetch_all(c).await)?;
    let sql = dialects!(tx.engine(),
        "SELECT tenant, stored, ledger FROM (
            SELECT t.slug AS tenant, t.period_used AS stored,
                   CAST(COALESCE((SELECT SUM(l.requests) FROM ledger l WHERE l.tenant_id = t.id AND l.kind = 'debit'
                             AND " {"julianday(l.created_at) >= julianday(s.period_start)", "l.created_at >= s.period_start"} "), 0) AS BIGINT)
                       AS ledger
            FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id) AS counts
         WHERE stored <> ledger ORDER BY tenant"
    );
    let period_count_mismatches: Vec<PeriodCountMismatch> = on!(&mut *tx, |c| sqlx::query_as(sql).fetch_all(c).await)?;
    let entries_checked: i64 = on!(&mut *tx, |c| sqlx::query_scalar("SELECT COUNT(*) FROM ledger").fetch_one(c).await)?;
    let refused_debits: Vec<RefusedDebit> = on!(&mut *tx, |c| sqlx::query_as(
        "SELECT COALESCE(t.slug, '#' || r.tenant_id) AS tenant, r.amount, r.requests, r.request_id, r.at, r.reason
         FROM refused_debits r LEFT JOIN tenants t ON t.id = r.tenant_id ORDER BY r.id DESC LIMIT 100",
    )
    .fetch_all(c)
    .await)?;
    let journal = crate::store::ledger::journal::unfolded_totals(&mut tx).await?;
    let leases_off: Vec<i64> = match tx.engine() {
        Engine::Sqlite => Vec::new(),
        Engine::Postgres => on!(&mut *tx, |c| sqlx::query_scalar(
            "SELECT l.id FROM leases l
             WHERE l.used <> -COALESCE((SELECT SUM(amount) FROM ledger e WHERE e.lease_id = l.id), 0) ORDER BY l.id"
        )
        .fetch_all(c)
        .await)?,
    };
    tx.finish().await?;
    let tenants_checked = rows.len() as i64;
    let mismatches =
        rows.into_iter().filter(|m| m.balance != m.ledger_sum || m.balance != m.last_balance_after).collect();
    Ok(LedgerCheck {
        tenants_checked,
        entries_checked,
        mismatches,
        period_count_mismatches,
        refused_debits,
        journal,
        leases_off,
    })
}
