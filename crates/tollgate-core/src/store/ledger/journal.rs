//! The strict journal: where a `strict` group commit puts its usage, one compact row per
//! tenant, so the fsynced commit its callers wait for appends a page or two instead of
//! rewriting every tenant's row and open entry. The rows are not credit movements yet:
//! the gateway's next usage write of the tenant folds them into its usage entry
//! ([`super::charge_usage`] with [`Absorbed`]), which records the highest row it took
//! (`ledger.journal_through`): a row is folded when its tenant's newest such entry reaches
//! it. Folded rows are deleted a range at a time ([`forget_through`]), never one by one:
//! the rows of one tenant are spread over every page of the journal, and deleting them as
//! each tenant is folded would rewrite every page many times a second. `serve` folds what a
//! crash left before it loads balances. `balance == sum(ledger)` holds throughout, as it
//! does with batched usage still in memory.

use std::collections::HashMap;

use sqlx::Row;

use super::{Usage, UsageError, statement};
use crate::store::{Connection, Durability, Store, Write, on};

/// Journal rows a usage write takes in: per tenant the highest row id (kept as its
/// entry's `journal_through`), and every row (deleted with a refused fold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Absorbed {
    pub through: HashMap<i64, i64>,
    pub rows: Vec<i64>,
}

impl Absorbed {
    /// Takes in row `id` of `tenant_id`.
    pub fn add(&mut self, tenant_id: i64, id: i64) {
        let through = self.through.entry(tenant_id).or_insert(id);
        *through = (*through).max(id);
        self.rows.push(id);
    }
}

/// A journal row: strict usage committed and not yet in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct JournalRow {
    pub id: i64,
    pub tenant_id: i64,
    pub credits: i64,
    pub requests: i64,
    /// When the last of its calls was served, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// Rows per multi-row statement (well under SQLite's limit on bound parameters).
const ROWS_PER_STATEMENT: usize = 400;

/// Appends one row per entry of `usage` (summed per tenant by the caller) as a write of
/// its own, durable on power loss, sent to SQLite's thread in one round trip; `committed`
/// gets each tenant's row id right after the commit. Checks no balance: the gateway
/// reserved the credits in memory, and the fold is where the ledger can refuse (then
/// `verify` reports it). `None` on PostgreSQL, which has no journal.
pub async fn append<T>(
    store: &Store,
    usage: &[Usage],
    committed: impl FnOnce(HashMap<i64, i64>) -> T,
) -> Option<Result<T, UsageError>> {
    let build = |sql: &mut sqlx::QueryBuilder<sqlx::Sqlite>| {
        for (n, chunk) in usage.chunks(ROWS_PER_STATEMENT / 4).enumerate() {
            if n > 0 {
                sql.push("; ");
            }
            sql.push("INSERT INTO usage_journal (tenant_id, credits, requests, at_ms) ");
            sql.push_values(chunk, |mut b, u| {
                b.push_bind(u.tenant_id).push_bind(u.credits).push_bind(u.requests).push_bind(u.at.timestamp_millis());
            });
            sql.push(" RETURNING tenant_id, id");
        }
    };
    let rows = |rows: Vec<sqlx::sqlite::SqliteRow>| -> sqlx::Result<HashMap<i64, i64>> {
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    };
    let written = store.write_at_once(Durability::PowerLoss, build, |r| rows(r).map(committed)).await?;
    Some(written.and_then(|ids| ids).map_err(super::usage_error))
}

/// Deletes the rows of a fold the ledger refused (recorded for `verify` in the same
/// write): no entry takes them, so they would otherwise be folded again at the next start.
pub async fn forget(write: &mut Write, rows: &[i64]) -> Result<(), UsageError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let deleted = on!(&mut **write, |c| {
            let mut delete = sqlx::QueryBuilder::new("DELETE FROM usage_journal WHERE id IN (");
            let mut ids = delete.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            delete.push(")");
            delete.build().execute(c).await.map(|done| done.rows_affected())
        });
        statement(write, deleted)?;
    }
    Ok(())
}

/// Deletes every row up to `id`, all of them folded: a range, so whole pages are freed
/// (and reused by the rows that follow: the journal holds about one flush interval).
pub async fn forget_through(write: &mut Write, id: i64) -> sqlx::Result<u64> {
    let deleted = on!(&mut **write, |c| sqlx::query("DELETE FROM usage_journal WHERE id <= $1")
        .bind(id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()));
    write.check(deleted)
}

/// The rows no usage entry has taken yet: a tenant's newest entry with a `journal_through`
/// says how far it was folded (ids only grow).
macro_rules! unfolded {
    () => {
        "FROM usage_journal j
         WHERE j.id > COALESCE((SELECT l.journal_through FROM ledger l
                                WHERE l.tenant_id = j.tenant_id AND l.journal_through IS NOT NULL
                                ORDER BY l.id DESC LIMIT 1), 0)"
    };
}

/// Every row not yet folded, oldest first, and the highest row id (folded or not).
pub async fn unfolded(conn: &mut Connection) -> sqlx::Result<(Vec<JournalRow>, Option<i64>)> {
    let rows = on!(conn, |c| sqlx::query_as::<_, JournalRow>(concat!(
        "SELECT j.id, j.tenant_id, j.credits, j.requests, j.at_ms ",
        unfolded!(),
        " ORDER BY j.id"
    ))
    .fetch_all(c)
    .await)?;
    let last = on!(conn, |c| sqlx::query_scalar("SELECT MAX(id) FROM usage_journal").fetch_one(c).await)?;
    Ok((rows, last))
}

/// Credits of tenant `tenant_id` committed in the journal and not yet folded (the tenant page
/// shows them apart from usage only memory holds).
pub async fn unfolded_credits_of(conn: &mut Connection, tenant_id: i64) -> sqlx::Result<i64> {
    on!(conn, |c| sqlx::query_scalar(concat!(
        "SELECT CAST(COALESCE(SUM(j.credits), 0) AS BIGINT) ",
        unfolded!(),
        " AND j.tenant_id = $1"
    ))
    .bind(tenant_id)
    .fetch_one(c)
    .await)
}

/// Calls and credits committed in the journal and not yet folded (for `verify`).
pub async fn unfolded_totals(conn: &mut Connection) -> sqlx::Result<(i64, i64)> {
    on!(conn, |c| sqlx::query_as(concat!(
        "SELECT CAST(COALESCE(SUM(j.requests), 0) AS BIGINT), CAST(COALESCE(SUM(j.credits), 0) AS BIGINT) ",
        unfolded!()
    ))
    .fetch_one(c)
    .await)
}
