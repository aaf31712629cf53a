//! Per-request charges of `strict` requests: each one's share of the usage entry that
//! charged it ([`crate::ledger::charge_usage`] writes them), so "was request X charged, to
//! whom, for how much, and when?" has an answer for as long as the retention setting says.
//!
//! Pruned oldest first in small batches, each its own short write, so no console write or
//! settlement ever waits behind a large prune.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;
use utoipa::ToSchema;

use crate::command::{Command, Ctx};
use crate::settings;
use crate::store::Store;
use crate::{Console, ConsoleError};

/// A strict request's charge, as [`charged_request`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ChargedRequest {
    pub request_id: String,
    /// The tenant's slug.
    pub tenant: String,
    /// Credits charged for this request (positive).
    pub amount: i64,
    /// The ledger entry that holds it, with the requests committed alongside.
    pub entry_id: i64,
    /// That entry's time: when the last of its requests was served.
    pub charged_at: DateTime<Utc>,
}

/// The charge of request `request_id` if it was served in `strict` durability within the
/// retention period; `None` otherwise (not served, not charged, pruned, or served in
/// `batched`, whose usage is kept per tenant only).
pub async fn charged_request(
    conn: &mut SqliteConnection,
    request_id: &str,
) -> Result<Option<ChargedRequest>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.request_id, t.slug AS tenant, c.amount, c.entry_id, l.created_at AS charged_at
         FROM charged_requests c JOIN ledger l ON l.id = c.entry_id JOIN tenants t ON t.id = l.tenant_id
         WHERE c.request_id = ?",
    )
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

/// Records deleted per write.
pub const PRUNE_BATCH: i64 = 1000;

/// How often the records are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes the records whose entry is older than the retention the settings give, in
/// batches of [`PRUNE_BATCH`], yielding between them. Returns how many went.
pub async fn prune(store: &Store, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let days = {
        let mut conn = store.read().acquire().await?;
        settings::load(&mut conn).await.map(|s| s.retention_days).unwrap_or(30)
    };
    let cutoff = now - TimeDelta::days(days);
    let mut deleted = 0;
    loop {
        // Oldest entries first: entry ids follow time, so the first record inside the
        // retention ends the prune.
        let oldest: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT c.request_id, l.created_at FROM charged_requests c JOIN ledger l ON l.id = c.entry_id
             ORDER BY c.entry_id LIMIT ?",
        )
        .bind(PRUNE_BATCH)
        .fetch_all(store.read())
        .await?;
        let full = oldest.len() as i64 == PRUNE_BATCH;
        let old: Vec<&str> = oldest.iter().take_while(|(_, at)| *at < cutoff).map(|(id, _)| id.as_str()).collect();
        if old.is_empty() {
            return Ok(deleted);
        }
        let mut write = store.begin().await?;
        let mut delete = sqlx::QueryBuilder::<sqlx::Sqlite>::new("DELETE FROM charged_requests WHERE request_id IN (");
        let mut ids = delete.separated(", ");
        for id in &old {
            ids.push_bind(*id);
        }
        delete.push(")");
        let done = delete.build().execute(&mut *write).await;
        deleted += write.check(done)?.rows_affected();
        write.commit().await?;
        if !full || old.len() < oldest.len() {
            return Ok(deleted);
        }
        tokio::task::yield_now().await;
    }
}

/// Prunes every [`PRUNE_EVERY`], first a minute after start.
pub(crate) async fn run(store: Store) {
    let mut next = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep_until(next).await;
        next += PRUNE_EVERY;
        match prune(&store, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "pruned old per-request charges"),
            Err(e) => tracing::warn!(error = %e, "cannot prune old per-request charges"),
        }
    }
}

/// `charge.show`: what a `strict` request was charged, to whom and when, by its request
/// id (the `x-request-id` the gateway answered with), within the retention period.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct ChargeShow {
    /// The request id, e.g. `req_5f3a9c1e_000000000017`.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 200)]
    pub request_id: String,
}

impl Command for ChargeShow {
    const NAME: &'static str = "charge.show";
    const SUMMARY: &'static str = "Show what a strict request was charged, to whom and when";
    type Output = ChargedRequest;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<ChargedRequest, ConsoleError> {
        let id = self.request_id.trim();
        if id.is_empty() || id.len() > 200 {
            return Err(ConsoleError::invalid("request_id", "must be 1 to 200 characters"));
        }
        let mut conn = console.store().read().acquire().await?;
        charged_request(&mut conn, id).await?.ok_or_else(|| ConsoleError::not_found("charge of request", id))
    }
}
