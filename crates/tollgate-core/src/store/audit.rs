//! The audit log: who did what to which thing, when, why, and the state before and after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::domain::ctx::Ctx;
use crate::domain::validate;
use crate::store::dialects;
use crate::store::{Connection, on};

/// One console action as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct AuditEntry {
    /// Position in the log; later actions have larger ids.
    pub id: i64,
    /// When the action happened.
    pub at: DateTime<Utc>,
    /// Who did it.
    pub actor: String,
    /// The console command, e.g. `credits.topup`.
    pub action: String,
    /// What it acted on, e.g. `tenant:acme`.
    pub target: String,
    /// The operator's note, when given.
    pub reason: Option<String>,
    /// The thing before the action (absent when it was created).
    #[sqlx(json(nullable))]
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The thing after the action (absent when it was removed).
    #[sqlx(json(nullable))]
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

/// What one action changed, to be written beside it.
pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub target: String,
    pub reason: Option<&'a str>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    /// More things whose live state must be reloaded (besides `target`).
    pub also: Vec<String>,
}

impl<'a> Change<'a> {
    /// Something new: nothing before, `after` now.
    pub fn created(action: &'a str, target: String, after: &impl Serialize) -> Self {
        Self { action, target, reason: None, before: None, after: snapshot(after), also: Vec::new() }
    }

    /// Something changed from `before` to `after`.
    pub fn updated(action: &'a str, target: String, before: &impl Serialize, after: &impl Serialize) -> Self {
        Self { action, target, reason: None, before: snapshot(before), after: snapshot(after), also: Vec::new() }
    }

    /// Something removed: `before`, nothing after.
    pub fn removed(action: &'a str, target: String, before: &impl Serialize) -> Self {
        Self { action, target, reason: None, before: snapshot(before), after: None, also: Vec::new() }
    }

    /// The operator's note for this change.
    pub fn because(mut self, reason: Option<&'a str>) -> Self {
        self.reason = reason;
        self
    }
}

/// Writes `change` inside the caller's transaction, so the action and its record commit together.
pub(crate) async fn record(conn: &mut Connection, ctx: &Ctx, change: Change<'_>) -> Result<AuditEntry, ConsoleError> {
    let entry = on!(conn, |c| sqlx::query_as::<_, AuditEntry>(
        "INSERT INTO audit_log (at, actor, action, target, reason, before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
    )
    .bind(ctx.now)
    .bind(&ctx.actor)
    .bind(change.action)
    .bind(&change.target)
    .bind(change.reason)
    .bind(change.before.map(sqlx::types::Json))
    .bind(change.after.map(sqlx::types::Json))
    .fetch_one(c)
    .await)?;
    Ok(entry)
}

/// Serializes a domain value for the audit log.
fn snapshot<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    Some(serde_json::to_value(value).expect("domain types serialize"))
}

/// `audit.list`: the latest actions first (by when they happened, which is not always the
/// order they were recorded in: an import or the demo records actions dated earlier),
/// narrowed by any of the filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct AuditList {
    /// Only actions on this tenant (its slug, e.g. `acme`).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: Option<String>,
    /// Only actions by this actor: a whole one (`cli:alice`) or its kind (`cli`, `desktop`, `dashboard`).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub actor: Option<String>,
    /// Only this command (`credits.topup`) or group of commands (`credits`).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 100, pattern = r"^[a-z][a-z0-9_.-]*$")]
    pub action: Option<String>,
    /// Only actions at or after this instant (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[cfg_attr(feature = "cli", arg(long))]
    pub since: Option<DateTime<Utc>>,
    /// Only actions on this target, e.g. `tenant:acme`, `plan:pro`, `settings`.
    #[cfg_attr(feature = "cli", arg(long))]
    pub target: Option<String>,
    /// Only entries listed after this one (its id, for paging).
    #[cfg_attr(feature = "cli", arg(long))]
    pub before_id: Option<i64>,
    /// At most this many entries (1-1000, default 100).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A filter's text, trimmed; empty means no filter.
pub(crate) fn filter_text(field: &str, value: Option<&str>) -> Result<Option<String>, ConsoleError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    validate::plain_text(field, value)?;
    if value.chars().count() > 100 {
        return Err(ConsoleError::invalid(field, "must be at most 100 characters"));
    }
    Ok(Some(value.to_string()))
}

/// A page size between 1 and 1000, 100 when not given.
pub(crate) fn page_limit(limit: Option<i64>) -> Result<i64, ConsoleError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(ConsoleError::invalid("limit", format!("must be between 1 and 1000, got {n}"))),
    }
}

/// What [`list`] narrows the log to; `None` leaves a filter out.
pub(crate) struct AuditFilter<'a> {
    pub target: Option<&'a str>,
    /// A tenant's slug: entries whose target is that tenant.
    pub tenant: Option<&'a str>,
    /// An actor, or an actor's prefix before `:` (`cli` finds `cli:alice`).
    pub actor: Option<&'a str>,
    /// A command, or a group before `.` (`credits` finds `credits.topup`).
    pub action: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    /// Continue after this entry.
    pub before_id: Option<i64>,
}

/// The latest `limit` entries matching `filter`. Times are stored in one format (RFC 3339
/// in UTC), so their text order is time order; `id` breaks ties. A page continues after
/// the entry `before_id` in that order.
pub(crate) async fn list(conn: &mut Connection, filter: AuditFilter<'_>, limit: i64) -> sqlx::Result<Vec<AuditEntry>> {
    let sql = dialects!(conn.engine(),
        "SELECT * FROM audit_log
         WHERE ($1 IS NULL OR target = $1)
           AND ($2 IS NULL OR target = 'tenant:' || $2)
           AND ($3 IS NULL OR actor = $3 OR substr(actor, 1, length($3) + 1) = $3 || ':')
           AND ($4 IS NULL OR action = $4 OR substr(action, 1, length($4) + 1) = $4 || '.')
           AND ($5 IS NULL OR " {"julianday(at) >= julianday($5)", "at >= $5"} ")
           AND ($6 IS NULL OR (at, id) < (SELECT at, id FROM audit_log WHERE id = $6))
         ORDER BY at DESC, id DESC LIMIT $7"
    );
    on!(conn, |c| sqlx::query_as::<_, AuditEntry>(sql)
        .bind(filter.target)
        .bind(filter.tenant)
        .bind(filter.actor)
        .bind(filter.action)
        .bind(filter.since)
        .bind(filter.before_id)
        .bind(limit)
        .fetch_all(c)
        .await)
}

/// The newest entry's id (0 for an empty log): the version a snapshot includes.
pub(crate) async fn last_id(conn: &mut Connection) -> sqlx::Result<i64> {
    on!(conn, |c| sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetch_one(c).await)
}
