//! The credit ledger: append-only entries from which every balance is derived.
//!
//! [`post`] is the only code that moves credits. It writes the entry and the tenant's new
//! balance in the caller's transaction, so `balance == sum(ledger)` holds after every commit.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;
use utoipa::ToSchema;

use crate::audit::page_limit;
use crate::command::{Command, Ctx};
use crate::list::List;
use crate::store::Write;
use crate::{Console, ConsoleError, tenants};

/// Why credits moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "snake_case")]
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
}

/// The entry a posting produced, and whether it was already there (an idempotent replay).
#[derive(Debug, Clone)]
pub struct Posted {
    pub entry: LedgerEntry,
    pub replayed: bool,
}

/// Records `posting` in the caller's write, and moves the in-memory balance with it:
/// a removal is held there at once (and refused if the gateway has spent the credits),
/// an addition appears when the write commits.
pub async fn post(
    write: &mut Write,
    actor: &str,
    now: DateTime<Utc>,
    posting: Posting<'_>,
) -> Result<Posted, ConsoleError> {
    let (tenant_id, amount) = (posting.tenant_id, posting.amount);
    let posted = record(write, actor, now, posting).await?;
    if !posted.replayed {
        if amount < 0 {
            write.hold(tenant_id, -amount)?;
        } else {
            write.credit(tenant_id, amount);
        }
    }
    Ok(posted)
}

/// Writes one entry and the new stored balance; refuses to take the balance below zero
/// or past `i64`, and replays an earlier entry with the same idempotency key.
pub(crate) async fn record(
    conn: &mut SqliteConnection,
    actor: &str,
    now: DateTime<Utc>,
    posting: Posting<'_>,
) -> Result<Posted, ConsoleError> {
    if let Some(key) = posting.idempotency_key {
        let earlier =
            sqlx::query_as::<_, LedgerEntry>("SELECT * FROM ledger WHERE tenant_id = ? AND idempotency_key = ?")
                .bind(posting.tenant_id)
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(entry) = earlier {
            if entry.kind == posting.kind && entry.amount == posting.amount {
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
    let balance: i64 = sqlx::query_scalar("SELECT balance FROM tenants WHERE id = ?")
        .bind(posting.tenant_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| ConsoleError::not_found("tenant", posting.tenant_id))?;
    let after = balance
        .checked_add(posting.amount)
        .ok_or_else(|| ConsoleError::invalid("amount", "the balance would overflow"))?;
    if after < 0 {
        return Err(ConsoleError::InsufficientCredits { balance, needed: -posting.amount });
    }
    sqlx::query("UPDATE tenants SET balance = ? WHERE id = ?")
        .bind(after)
        .bind(posting.tenant_id)
        .execute(&mut *conn)
        .await?;
    let entry = sqlx::query_as::<_, LedgerEntry>(
        "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, reason, request_id, idempotency_key, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(posting.tenant_id)
    .bind(posting.kind)
    .bind(posting.amount)
    .bind(after)
    .bind(actor)
    .bind(posting.reason)
    .bind(posting.request_id)
    .bind(posting.idempotency_key)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
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

impl Command for LedgerList {
    const NAME: &'static str = "ledger.list";
    const SUMMARY: &'static str = "List a tenant's credit movements, newest first";
    type Output = List<LedgerEntry>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<LedgerEntry>, ConsoleError> {
        let limit = page_limit(self.limit)?;
        let mut conn = console.store().read().acquire().await?;
        let tenant = tenants::by_slug(&mut conn, &self.tenant).await?;
        Ok(List(
            sqlx::query_as::<_, LedgerEntry>(
                "SELECT * FROM ledger WHERE tenant_id = ? AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
            )
            .bind(tenant.id)
            .bind(self.before_id)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?,
        ))
    }
}
