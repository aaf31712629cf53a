//! Credit leases, for gateway nodes that share one PostgreSQL: a node takes a block of a
//! tenant's credits in one conditional UPDATE, spends it in memory, records its usage
//! against the lease in groups, and gives back what it did not spend. A lease expires; the
//! sweeper gives back the unspent part of an expired lease exactly (its usage is committed
//! with it, so the unspent part is known).
//!
//! Per tenant, after every commit: `balance + Σ(granted − used of open leases) = Σ(ledger)`;
//! per lease: `used = −Σ(its debits)`. [`Cluster::verify`] checks both.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use crate::store::Connection;

/// A block of a tenant's credits held by one node until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Lease {
    pub id: i64,
    pub tenant_id: i64,
    pub granted: i64,
    pub expires_at: DateTime<Utc>,
}

/// Usage of one lease to record: `credits` over `requests` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseUsage {
    pub lease_id: i64,
    pub credits: i64,
    pub requests: i64,
}

/// Why usage could not be recorded against a lease.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The lease is closed (returned, or swept after it expired) or would be overspent:
    /// the node spent what it did not hold. Nothing of the group was written.
    #[error("lease {0} is closed or does not hold that much")]
    Refused(i64),
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

/// A tenant whose balance and open leases do not add up to its ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct LeaseMismatch {
    pub tenant: String,
    pub balance: i64,
    /// What its open leases hold and have not used.
    pub outstanding: i64,
    pub ledger_sum: i64,
}

/// What [`Cluster::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClusterReport {
    pub ok: bool,
    pub tenants_checked: i64,
    pub mismatches: Vec<LeaseMismatch>,
    /// Leases whose recorded use differs from their ledger debits.
    pub leases_off: Vec<i64>,
    /// Credits held in open leases, all tenants together.
    pub outstanding: i64,
}

/// What a node asks for: up to `want` credits of tenant `tenant_id`, at `now`, for `ttl`,
/// as one of `nodes` nodes.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub tenant_id: i64,
    pub node: &'a str,
    pub want: i64,
    /// The call waiting for it: a share smaller than this is no use (0 for a refill).
    pub least: i64,
    pub nodes: i64,
    pub now: DateTime<Utc>,
    pub ttl: TimeDelta,
}

/// The tenant's row is locked `FOR NO KEY UPDATE`: a usage entry written earlier in the same
/// transaction holds `KEY SHARE` on it (the ledger's foreign key), which `FOR UPDATE` would
/// wait on, and two nodes renewing at once would deadlock.
async fn grant(conn: &mut PgConnection, ask: &Ask<'_>) -> sqlx::Result<Option<Lease>> {
    sqlx::query_as(
        "WITH share AS (
            SELECT id, LEAST(balance, GREATEST($7, LEAST($2, GREATEST(1, balance / (2 * $3))))) AS amount
            FROM tenants WHERE id = $1 AND balance > 0 FOR NO KEY UPDATE),
         taken AS (
            UPDATE tenants t SET balance = t.balance - share.amount FROM share
            WHERE t.id = share.id AND t.balance >= share.amount RETURNING share.amount)
         INSERT INTO leases (tenant_id, node, granted, granted_at, expires_at)
         SELECT $1, $4, amount, $5, $6 FROM taken
         RETURNING id, tenant_id, granted, expires_at",
    )
    .bind(ask.tenant_id)
    .bind(ask.want.max(1))
    .bind(ask.nodes.max(1))
    .bind(ask.node)
    .bind(ask.now)
    .bind(ask.now + ask.ttl)
    .bind(ask.least)
    .fetch_optional(conn)
    .await
}

async fn record(
    conn: &mut PgConnection,
    usage: &[LeaseUsage],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), RecordError> {
    let usage: Vec<&LeaseUsage> = usage.iter().filter(|u| u.credits > 0).collect();
    // The tenants' rows first, in one order whichever node records (two groups cannot
    // deadlock), held until commit: each entry written next sees every entry committed
    // before it and is numbered after them, so the newest entry's `balance_after` is what
    // the tenant holds, whichever node wrote it.
    let leases: Vec<i64> = usage.iter().map(|u| u.lease_id).collect();
    sqlx::query(
        "SELECT 1 FROM tenants WHERE id IN (SELECT tenant_id FROM leases WHERE id = ANY($1))
         ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(&leases)
    .execute(&mut *conn)
    .await?;
    for u in usage {
        let tenant: Option<i64> = sqlx::query_scalar(
            "UPDATE leases SET used = used + $2 WHERE id = $1 AND closed_at IS NULL AND used + $2 <= granted
             RETURNING tenant_id",
        )
        .bind(u.lease_id)
        .bind(u.credits)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(tenant) = tenant else { return Err(RecordError::Refused(u.lease_id)) };
        // What the tenant has left, leases included: the same figure after this entry
        // whichever node wrote it.
        sqlx::query(
            "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, created_at, requests, lease_id)
             SELECT $1, 'debit', -$2, t.balance + COALESCE((SELECT SUM(granted - used) FROM leases
                                                          WHERE tenant_id = $1 AND closed_at IS NULL), 0),
                    $3, $4, $5, $6
             FROM tenants t WHERE t.id = $1",
        )
        .bind(tenant)
        .bind(u.credits)
        .bind(actor)
        .bind(now)
        .bind(u.requests.max(1))
        .bind(u.lease_id)
        .execute(&mut *conn)
        .await?;
        // The period's count, as `verify` counts it from the debits.
        sqlx::query("UPDATE tenants SET period_used = period_used + $2 WHERE id = $1")
            .bind(tenant)
            .bind(u.requests.max(1))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Locks, in id order and before any lease row, the tenants `leases` (a query of
/// `tenant_id`s taking `$1`) names: every writer of leases takes tenants first and in one
/// order, so none waits on another in a circle.
async fn lock_tenants_of<T>(conn: &mut PgConnection, leases: &'static str, arg: T) -> sqlx::Result<()>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    let sql = format!("SELECT 1 FROM tenants WHERE id IN ({leases}) ORDER BY id FOR NO KEY UPDATE");
    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(arg).execute(conn).await.map(drop)
}

/// Waits for, then holds until commit, tenant `tenant_id`'s row (see [`record`]).
async fn lock_tenant(conn: &mut PgConnection, tenant_id: i64) -> sqlx::Result<()> {
    sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE").bind(tenant_id).execute(conn).await.map(drop)
}

/// Closes the open leases `$which` selects at `$1` and gives each one's unspent credits back
/// to its tenant's balance, in one statement; answers the credits given back.
macro_rules! close_leases {
    ($which:literal) => {
        concat!(
            "WITH closed AS (
                UPDATE leases SET closed_at = $1 WHERE closed_at IS NULL AND ",
            $which,
            " RETURNING tenant_id, granted - used AS unspent),
             sums AS (SELECT tenant_id, SUM(unspent) AS unspent FROM closed GROUP BY tenant_id),
             back AS (UPDATE tenants t SET balance = t.balance + sums.unspent FROM sums
                      WHERE t.id = sums.tenant_id RETURNING sums.unspent)
             SELECT COALESCE(SUM(unspent), 0)::BIGINT FROM back"
        )
    };
}

/// What the open leases still hold, per tenant: empty on SQLite, where there are none.
pub(crate) async fn held(conn: &mut Connection) -> sqlx::Result<HashMap<i64, i64>> {
    let Connection::Postgres(c) = conn else { return Ok(HashMap::new()) };
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT tenant_id, SUM(granted - used)::BIGINT FROM leases WHERE closed_at IS NULL GROUP BY tenant_id",
    )
    .fetch_all(&mut **c)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The shared database, as the nodes' leases see it.
#[derive(Debug, Clone)]
pub struct Cluster {
    pool: PgPool,
}

impl Cluster {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Grants `node` up to `want` credits of tenant `tenant_id` until `now + ttl`, in one
    /// statement: never more than the balance holds, and near its end only a share of it
    /// (`balance / (2 × nodes)`, at least 1), so no node holds credits another needs.
    /// `None` when the balance is empty.
    pub async fn grant(&self, ask: &Ask<'_>) -> sqlx::Result<Option<Lease>> {
        grant(&mut *self.pool.acquire().await?, ask).await
    }

    /// Records a group of leases' usage in one transaction (group commit): each one a
    /// ledger debit naming its lease, with the lease's use grown by as much. All or nothing.
    pub async fn record(&self, usage: &[LeaseUsage], actor: &str, now: DateTime<Utc>) -> Result<(), RecordError> {
        let mut tx = self.pool.begin().await?;
        record(&mut tx, usage, actor, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Swaps lease `old` for a new one in one transaction: what `old` used is recorded
    /// (`usage`), the rest given back, and the new lease granted as [`Self::grant`] would.
    pub async fn renew(
        &self,
        old: i64,
        usage: Option<LeaseUsage>,
        actor: &str,
        ask: &Ask<'_>,
    ) -> Result<Option<Lease>, RecordError> {
        let mut tx = self.pool.begin().await?;
        record(&mut tx, usage.as_slice(), actor, ask.now).await?;
        sqlx::query_scalar::<_, i64>(close_leases!("id = $2")).bind(ask.now).bind(old).fetch_one(&mut *tx).await?;
        let lease = grant(&mut tx, ask).await?;
        tx.commit().await?;
        Ok(lease)
    }

    /// Closes lease `lease_id` and gives its unspent credits back to the balance; the
    /// credits given back (0 when it was already closed).
    pub async fn give_back(&self, lease_id: i64, now: DateTime<Utc>) -> sqlx::Result<i64> {
        let mut tx = self.pool.begin().await?;
        lock_tenants_of(&mut tx, "SELECT tenant_id FROM leases WHERE id = $1", lease_id).await?;
        let back = sqlx::query_scalar(close_leases!("id = $2")).bind(now).bind(lease_id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(back)
    }

    /// Gives `credits` back to tenant `tenant_id` for request `request_id`, whose usage was
    /// recorded before its upstream failed: a refund entry, the balance grown by as much.
    pub async fn refund(
        &self,
        tenant_id: i64,
        credits: i64,
        request_id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_tenant(&mut tx, tenant_id).await?;
        sqlx::query(
            "WITH t AS (UPDATE tenants SET balance = balance + $2 WHERE id = $1 RETURNING balance)
             INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, reason, request_id, created_at)
             SELECT $1, 'refund', $2, t.balance + COALESCE((SELECT SUM(granted - used) FROM leases
                                                          WHERE tenant_id = $1 AND closed_at IS NULL), 0),
                    $3, 'the upstream failed', $4, $5
             FROM t",
        )
        .bind(tenant_id)
        .bind(credits)
        .bind(actor)
        .bind(request_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Closes every lease that expired before `now` and gives back what each did not use;
    /// the credits given back.
    pub async fn sweep(&self, now: DateTime<Utc>) -> sqlx::Result<i64> {
        let mut tx = self.pool.begin().await?;
        let expired = "SELECT tenant_id FROM leases WHERE closed_at IS NULL AND expires_at < $1";
        lock_tenants_of(&mut tx, expired, now).await?;
        let back = sqlx::query_scalar(close_leases!("expires_at < $1")).bind(now).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(back)
    }

    /// Checks, in one snapshot, that every tenant's balance and open leases add up to its
    /// ledger and that every lease's recorded use is its ledger debits.
    pub async fn verify(&self) -> sqlx::Result<ClusterReport> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        let rows: Vec<LeaseMismatch> = sqlx::query_as(
            "SELECT t.slug AS tenant, t.balance,
                    COALESCE((SELECT SUM(granted - used) FROM leases l WHERE l.tenant_id = t.id AND l.closed_at IS NULL), 0)::BIGINT
                        AS outstanding,
                    COALESCE((SELECT SUM(amount) FROM ledger e WHERE e.tenant_id = t.id), 0)::BIGINT AS ledger_sum
             FROM tenants t ORDER BY t.slug",
        )
        .fetch_all(&mut *tx)
        .await?;
        let leases_off: Vec<i64> = sqlx::query_scalar(
            "SELECT l.id FROM leases l
             WHERE l.used <> -COALESCE((SELECT SUM(amount) FROM ledger e WHERE e.lease_id = l.id), 0) ORDER BY l.id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let tenants_checked = rows.len() as i64;
        let outstanding = rows.iter().map(|r| r.outstanding).sum();
        let mismatches: Vec<LeaseMismatch> =
            rows.into_iter().filter(|r| r.balance + r.outstanding != r.ledger_sum).collect();
        Ok(ClusterReport {
            ok: mismatches.is_empty() && leases_off.is_empty(),
            tenants_checked,
            mismatches,
            leases_off,
            outstanding,
        })
    }
}
