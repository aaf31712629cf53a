//! The credit ledger: append-only entries from which every balance is derived. One entry
//! may change, and only grow: the gateway's open usage entry of a tenant, while it is the
//! tenant's newest (a trigger enforces it; see [`charge_usage`]).
//!
//! This module is the only code that moves credits: [`post`] for console movements,
//! [`charge_usage`] for served usage, and [`leases`] for nodes sharing one PostgreSQL. Each writes the entries and the tenants' new
//! balances in the caller's transaction, so `balance == sum(ledger)` holds after every
//! commit.

pub mod journal;
pub mod leases;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::store::dialects;
use crate::store::{Connection, on};
use crate::store::{Write, is_storage_failure};

/// Why credits moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum EntryKind {
    /// The plan's credits for a new period.
    Grant,
    /// Credits the customer bought.
    Topup,
    /// Usage charged by the gateway.
    Debit,
    /// Usage given back.
    Refund,
    /// An operator's correction, up or down.
    Adjustment,
    /// Credits that lapsed.
    Expiry,
}

/// One ledger entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct LedgerEntry {
    pub id: i64,
    pub tenant_id: i64,
    pub kind: EntryKind,
    /// Signed: positive adds credits, negative spends them.
    pub amount: i64,
    /// The tenant's balance right after this entry.
    pub balance_after: i64,
    pub actor: String,
    pub reason: Option<String>,
    /// The gateway request this entry charges or refunds.
    pub request_id: Option<String>,
    /// Repeating a movement with the same key returns the first entry instead of a second one.
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Served requests a usage debit covers (usage is written summed per tenant); 1 for
    /// every other entry.
    pub requests: i64,
    /// For a top-up: what the customer paid, in minor units of `paid_currency`, when the
    /// operator recorded it.
    pub paid_minor: Option<i64>,
    /// ISO 4217 code of `paid_minor`.
    pub paid_currency: Option<String>,
}

/// A movement to record.
#[derive(Debug, Clone)]
pub struct Posting<'a> {
    pub tenant_id: i64,
    pub kind: EntryKind,
    pub amount: i64,
    pub reason: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    /// What the customer paid for it (a top-up), kept with the entry.
    pub paid: Option<Paid<'a>>,
}

/// Money received for credits: minor units of an ISO 4217 currency.
#[derive(Debug, Clone, Copy)]
pub struct Paid<'a> {
    pub minor: i64,
    pub currency: &'a str,
}

/// The entry a posting produced, and whether it was already there (an idempotent replay).
#[derive(Debug, Clone)]
pub struct Posted {
    pub entry: LedgerEntry,
    pub replayed: bool,
}

/// The gateway's in-memory balances, when a gateway runs in this process: every posting
/// moves them with the ledger. The store knows them only by this trait, so it never names
/// the gateway's state (the layer above).
pub trait Balances: Send + Sync {
    /// Sets `credits` aside for a removal at once; refused when the gateway has spent them.
    fn hold(&self, tenant_id: i64, credits: i64) -> Result<(), ConsoleError>;
    /// A held removal was committed.
    fn spend_held(&self, tenant_id: i64, credits: i64);
    /// A held removal was abandoned: the credits are spendable again.
    fn release_held(&self, tenant_id: i64, credits: i64);
    /// Committed credits were added.
    fn credit(&self, tenant_id: i64, credits: i64);
}

/// Records `posting` in the caller's write, and moves the gateway's in-memory balance
/// (`balances`, when a gateway runs) with it: a removal is held there at once (and refused if
/// the gateway has spent the credits) and given back if the write is abandoned; an
/// addition appears when the write commits.
pub async fn post(
    write: &mut Write,
    balances: Option<&Arc<dyn Balances>>,
    actor: &str,
    now: DateTime<Utc>,
    posting: Posting<'_>,
) -> Result<Posted, ConsoleError> {
    let (tenant_id, amount) = (posting.tenant_id, posting.amount);
    let posted = record(write, actor, now, posting).await?;
    if let (false, Some(balances)) = (posted.replayed, balances) {
        if amount < 0 {
            balances.hold(tenant_id, -amount)?;
            let (spent, released) = (balances.clone(), balances.clone());
            write.after_commit(move || spent.spend_held(tenant_id, -amount));
            write.on_abandon(move || released.release_held(tenant_id, -amount));
        } else {
            let balances = balances.clone();
            write.after_commit(move || balances.credit(tenant_id, amount));
        }
    }
    Ok(posted)
}

/// Served usage of one tenant, summed over `requests` calls, to charge in one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub tenant_id: i64,
    /// Positive credits.
    pub credits: i64,
    /// Calls the entry covers (at least 1).
    pub requests: i64,
    /// When the last of them was served: the time of the entry it opens.
    pub at: DateTime<Utc>,
}

/// Where a committed `strict` charge is held, as its request's record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Committed {
    /// In this usage entry of the ledger.
    Entry(i64),
    /// In this strict journal row, until a fold moves it into the tenant's first debit
    /// entry whose `journal_through` reaches it ([`journal`]).
    Journal(i64),
}

/// Why [`charge_usage`] wrote nothing (the write is then over: drop it).
#[derive(Debug)]
pub enum UsageError {
    /// The ledger refused an entry: it would take a stored balance below zero, or names a
    /// tenant that does not exist. Storage itself works.
    Refused,
    /// The database failed.
    Storage(sqlx::Error),
}

/// Rows per multi-row statement: few round trips to SQLite's thread, well under its
/// limit on bound parameters.
const ROWS_PER_INSERT: usize = 100;

/// Charges served usage in the caller's write: per tenant, one debit entry carrying the
/// calls it covers, and the tenant's row (its stored balance and its period's request
/// counter). Returns each tenant's entry id.
///
/// A tenant whose entry `open` names adds to that entry in place (amount, calls and
/// `balance_after` move; its time and the balance before it stay) while it is still the
/// tenant's newest entry, ends at the stored balance, and opened in the tenant's current
/// period, all checked in the same statement: a console movement or a renewal since then
/// closed it. Otherwise, and for every other tenant, a new entry is appended. Either way
/// the `balance_after` chain and `balance == sum(ledger)` hold after the commit; adding in
/// place changes one ledger row per tenant and no index, where an append adds a row and
/// its index entries.
///
/// Usage that comes from strict journal rows names them in `absorbed`: each tenant's entry
/// records the highest it took (`journal_through`) in the same write, so a row is charged
/// exactly once, by the fold that commits (the rows themselves are deleted later, a range
/// at a time: see [`journal`]).
///
/// Every statement is a round trip to SQLite's thread, so nothing else is read back: each
/// entry's `balance_after` is the stored balance minus this usage, and the ledger's CHECK
/// refuses a negative result.
pub async fn charge_usage(
    write: &mut Write,
    usage: &[Usage],
    open: &HashMap<i64, i64>,
    absorbed: &journal::Absorbed,
) -> Result<HashMap<i64, i64>, UsageError> {
    let engine = write.engine();
    let mut totals: HashMap<i64, Usage> = HashMap::with_capacity(usage.len());
    for u in usage {
        if u.credits <= 0 || u.requests <= 0 {
            return Err(UsageError::Refused);
        }
        let total = totals.entry(u.tenant_id).or_insert(Usage { credits: 0, requests: 0, ..*u });
        total.credits += u.credits;
        total.requests += u.requests;
        total.at = total.at.max(u.at);
    }
    let mut entries: HashMap<i64, i64> = HashMap::with_capacity(totals.len());
    let continued: Vec<(&Usage, i64)> =
        totals.values().filter_map(|u| open.get(&u.tenant_id).map(|entry| (u, *entry))).collect();
    for chunk in continued.chunks(ROWS_PER_INSERT) {
        let updated = on!(&mut **write, |c| {
            let mut update = sqlx::QueryBuilder::new(
                "UPDATE ledger SET amount = ledger.amount - v.column3, requests = ledger.requests + v.column4,
                        balance_after = t.balance - v.column3,
                        journal_through = COALESCE(v.column5, ledger.journal_through)
                 FROM (",
            );
            update.push_values(chunk, |mut b, (u, entry)| {
                b.push_bind(u.tenant_id).push_bind(*entry).push_bind(u.credits).push_bind(u.requests);
                b.push_bind(absorbed.through.get(&u.tenant_id).copied());
            });
            update.push(dialects!(engine,
                ") AS v JOIN tenants t ON t.id = v.column1
                 WHERE ledger.id = v.column2 AND ledger.tenant_id = v.column1 AND ledger.kind = 'debit'
                   AND ledger.id = (SELECT MAX(l.id) FROM ledger l WHERE l.tenant_id = v.column1)
                   AND ledger.balance_after = t.balance
                   AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.tenant_id = v.column1
                                   AND " {"julianday(ledger.created_at) < julianday(s.period_start)", "ledger.created_at < s.period_start"} ")
                 RETURNING ledger.tenant_id, ledger.id"
            ));
            update.build_query_as::<(i64, i64)>().fetch_all(c).await
        });
        entries.extend(statement(write, updated)?);
    }
    let opened: Vec<&Usage> = totals.values().filter(|u| !entries.contains_key(&u.tenant_id)).collect();
    for chunk in opened.chunks(ROWS_PER_INSERT) {
        let inserted = on!(&mut **write, |c| {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, created_at, requests, journal_through)
                 SELECT v.column1, 'debit', -v.column2, t.balance - v.column2, 'gateway', v.column3, v.column4, v.column5
                 FROM (",
            );
            insert.push_values(chunk, |mut b, u| {
                b.push_bind(u.tenant_id).push_bind(u.credits).push_bind(u.at).push_bind(u.requests);
                b.push_bind(absorbed.through.get(&u.tenant_id).copied());
            });
            insert.push(") AS v JOIN tenants t ON t.id = v.column1 RETURNING tenant_id, id");
            insert.build_query_as::<(i64, i64)>().fetch_all(c).await
        });
        let inserted = statement(write, inserted)?;
        if inserted.len() != chunk.len() {
            return Err(UsageError::Refused); // usage of a tenant that does not exist
        }
        entries.extend(inserted);
    }
    let totals: Vec<&Usage> = totals.values().collect();
    for chunk in totals.chunks(ROWS_PER_INSERT * 3) {
        // The balance, and the period's count as `verify` counts it: the calls of entries
        // whose time is at or after the period's start (an entry opened before a renewal
        // is not continued past it). One statement, one row per tenant.
        let done = on!(&mut **write, |c| {
            let mut update = sqlx::QueryBuilder::new(dialects!(engine,
                "UPDATE tenants SET balance = balance - v.column2,
                        period_used = period_used + CASE WHEN " {"julianday(l.created_at) >= julianday(s.period_start)", "l.created_at >= s.period_start"} "
                                                         THEN v.column3 ELSE 0 END
                 FROM ("));
            update.push_values(chunk, |mut b, u| {
                b.push_bind(u.tenant_id).push_bind(u.credits).push_bind(u.requests).push_bind(entries[&u.tenant_id]);
            });
            update.push(
                ") AS v JOIN ledger l ON l.id = v.column4 LEFT JOIN subscriptions s ON s.tenant_id = v.column1
                 WHERE tenants.id = v.column1",
            );
            update.build().execute(c).await.map(|done| done.rows_affected())
        });
        statement(write, done)?;
    }
    Ok(entries)
}

/// A CHECK constraint failing means the ledger refused the data, not that storage failed.
fn statement<T>(write: &mut Write, result: Result<T, sqlx::Error>) -> Result<T, UsageError> {
    write.check(result).map_err(usage_error)
}

/// Storage failures apart from the ledger refusing the data (a CHECK, an unknown tenant).
fn usage_error(e: sqlx::Error) -> UsageError {
    match e {
        e @ (sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut) => UsageError::Storage(e),
        sqlx::Error::Database(d) if d.is_check_violation() => UsageError::Refused,
        e if !is_storage_failure(&e) => UsageError::Refused,
        e => UsageError::Storage(e),
    }
}

/// Writes one entry and the new stored balance; refuses to take the balance below zero
/// or past `i64`, and replays an earlier entry with the same idempotency key.
pub(crate) async fn record(
    conn: &mut Connection,
    actor: &str,
    now: DateTime<Utc>,
    posting: Posting<'_>,
) -> Result<Posted, ConsoleError> {
    if let Some(key) = posting.idempotency_key {
        let earlier = on!(&mut *conn, |c| sqlx::query_as::<_, LedgerEntry>(
            "SELECT * FROM ledger WHERE tenant_id = $1 AND idempotency_key = $2"
        )
        .bind(posting.tenant_id)
        .bind(key)
        .fetch_optional(c)
        .await)?;
        if let Some(entry) = earlier {
            let paid = posting.paid.map(|p| (p.minor, p.currency.to_string()));
            let entry_paid = entry.paid_minor.zip(entry.paid_currency.clone());
            if entry.kind == posting.kind && entry.amount == posting.amount && entry_paid == paid {
                return Ok(Posted { entry, replayed: true });
            }
            return Err(ConsoleError::Conflict {
                code: "IDEMPOTENCY_KEY_REUSED",
                message: format!(
                    "idempotency key '{key}' was already used for a {:?} of {} credits",
                    entry.kind, entry.amount
                ),
            });
        }
    }
    // On PostgreSQL other nodes take leases from the balance meanwhile: the row is locked
    // until this write commits, so the balance written below is not stale.
    let sql = dialects!(conn.engine(), "SELECT balance FROM tenants WHERE id = $1" {"", " FOR NO KEY UPDATE"});
    let balance: i64 = on!(&mut *conn, |c| sqlx::query_scalar(sql).bind(posting.tenant_id).fetch_optional(c).await)?
        .ok_or_else(|| ConsoleError::not_found("tenant", posting.tenant_id))?;
    let after = balance
        .checked_add(posting.amount)
        .ok_or_else(|| ConsoleError::invalid("amount", "the balance would overflow"))?;
    if after < 0 {
        return Err(ConsoleError::InsufficientCredits { balance, needed: -posting.amount });
    }
    on!(&mut *conn, |c| sqlx::query("UPDATE tenants SET balance = $1 WHERE id = $2")
        .bind(after)
        .bind(posting.tenant_id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    let conn_engine = conn.engine();
    let entry = on!(&mut *conn, |c| {
        // On PostgreSQL what the tenant holds includes its nodes' open leases, as their
        // usage entries count it.
        sqlx::query_as::<_, LedgerEntry>(dialects!(conn_engine,
        "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, reason, request_id, idempotency_key, created_at,
                             paid_minor, paid_currency)
         VALUES ($1, $2, $3, $4" {"", " + COALESCE((SELECT SUM(granted - used) FROM leases WHERE tenant_id = $1 AND closed_at IS NULL), 0)"}
         ", $5, $6, $7, $8, $9, $10, $11) RETURNING *"
    ))
    .bind(posting.tenant_id)
    .bind(posting.kind)
    .bind(posting.amount)
    .bind(after)
    .bind(actor)
    .bind(posting.reason)
    .bind(posting.request_id)
    .bind(posting.idempotency_key)
    .bind(now)
    .bind(posting.paid.map(|p| p.minor))
    .bind(posting.paid.map(|p| p.currency))
    .fetch_one(c).await
    })?;
    Ok(Posted { entry, replayed: false })
}

/// `ledger.list`: a tenant's entries, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct LedgerList {
    /// The tenant whose entries to list.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// Only entries older than this id (for paging).
    #[cfg_attr(feature = "cli", arg(long))]
    pub before_id: Option<i64>,
    /// At most this many entries (1-1000, default 100).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Tenant `tenant_id`'s newest `limit` entries, before entry `before_id` when given.
pub(crate) async fn entries(
    conn: &mut Connection,
    tenant_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<LedgerEntry>> {
    on!(conn, |c| sqlx::query_as(
        "SELECT * FROM ledger WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    )
    .bind(tenant_id)
    .bind(before_id)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// The entry of tenant `tenant_id` posted under `key`, if any.
pub(crate) async fn by_idempotency_key(conn: &mut Connection, tenant_id: i64, key: &str) -> sqlx::Result<Option<i64>> {
    on!(conn, |c| sqlx::query_scalar("SELECT id FROM ledger WHERE tenant_id = $1 AND idempotency_key = $2")
        .bind(tenant_id)
        .bind(key)
        .fetch_optional(c)
        .await)
}

/// Keeps a charge the ledger refused where `verify` reports it, with the first and last of
/// the strict journal rows it held (`journal`), so their requests are known as not charged.
pub(crate) async fn record_refused(
    conn: &mut Connection,
    usage: &Usage,
    request_id: Option<&str>,
    journal: Option<(i64, i64)>,
) -> sqlx::Result<()> {
    on!(conn, |c| {
        sqlx::query(
        "INSERT INTO refused_debits (tenant_id, amount, requests, request_id, at, reason, journal_from, journal_through)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(usage.tenant_id)
    .bind(usage.credits)
    .bind(usage.requests)
    .bind(request_id)
    .bind(usage.at)
    .bind("the balance in the database could not cover it")
    .bind(journal.map(|(from, _)| from))
    .bind(journal.map(|(_, through)| through))
    .execute(c).await.map(|done| done.rows_affected())
    })?;
    Ok(())
}
