//! Per-request charges of `strict` requests, found through the request log: a strict
//! request's record ([`crate::store::request_log`]) names where its charge was committed,
//! so "was request X charged, to whom, for how much, and when?" has an answer for as long
//! as the ring keeps the request, without a row per request in the database.
//!
//! On SQLite that is a strict journal row ([`crate::store::ledger::journal`]): while it
//! waits for its fold (one flush interval) the row itself, afterwards the tenant's first
//! debit entry whose `journal_through` reaches it. On PostgreSQL, the entry itself.
//!
//! The record is written after the charge's commit and never fsynced: a power loss can lose
//! a request's record (the detail), never its charge (the fsynced row or entry counts it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::ledger::Committed;
use crate::store::request_log::{Lookup, RequestId, RequestLog};
use crate::store::{Connection, on};

/// A strict request's charge, as [`charged_request`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChargedRequest {
    pub request_id: String,
    /// The tenant's slug.
    pub tenant: String,
    /// Credits charged for this request (positive).
    pub amount: i64,
    /// The ledger entry that holds it, with the tenant's other usage of its interval;
    /// `null` while the charge waits in the strict journal for the next usage flush.
    pub entry_id: Option<i64>,
    /// When the request was served.
    pub charged_at: DateTime<Utc>,
}

/// The charge of request `request_id` if it was served in `strict` durability and the
/// request log `log` still holds it; `None` otherwise (not served, not charged, no longer
/// in the log, or served in `batched`, whose usage is kept per tenant only).
pub async fn charged_request(
    conn: &mut Connection,
    log: Option<&RequestLog>,
    request_id: &str,
) -> Result<Option<ChargedRequest>, sqlx::Error> {
    let (Some(log), Some(id)) = (log, RequestId::parse(request_id)) else { return Ok(None) };
    let record = match log.find(id) {
        Ok(Lookup::Found(record)) => record,
        Ok(Lookup::Gone) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(sqlx::Error::Io(e)),
    };
    let (Some(committed), Some(tenant_id)) = (record.committed, record.tenant_id) else { return Ok(None) };
    if record.cost <= 0 || !record.code.as_str().is_empty() {
        return Ok(None);
    }
    // The entry (or row) must be the request's tenant's: a record from a database that was
    // replaced since would otherwise name another's.
    let found: Option<(String, Option<i64>)> = match committed {
        Committed::Entry(entry_id) => on!(conn, |c| sqlx::query_as(
            "SELECT t.slug, l.id FROM ledger l JOIN tenants t ON t.id = l.tenant_id
             WHERE l.id = $1 AND l.tenant_id = $2 AND l.kind = 'debit'",
        )
        .bind(entry_id)
        .bind(tenant_id)
        .fetch_optional(c)
        .await)?,
        // Folded (the entry) or not yet (the row): a fold sets the entry in the commit that
        // charges the row, and the row is deleted only later, so one of the two is there;
        // unless the fold was refused (then nothing was charged, whatever entry follows).
        Committed::Journal(row) => on!(conn, |c| sqlx::query_as(
            "SELECT slug, entry FROM (
                 SELECT t.slug, (SELECT MIN(l.id) FROM ledger l WHERE l.tenant_id = t.id AND l.kind = 'debit'
                                                             AND l.journal_through >= $1) AS entry
                 FROM tenants t
                 WHERE t.id = $2
                   AND NOT EXISTS (SELECT 1 FROM refused_debits r WHERE r.tenant_id = t.id
                                      AND r.journal_from <= $1 AND r.journal_through >= $1)) AS found
             WHERE entry IS NOT NULL
                OR EXISTS (SELECT 1 FROM usage_journal j WHERE j.id = $1 AND j.tenant_id = $2)",
        )
        .bind(row)
        .bind(tenant_id)
        .fetch_optional(c)
        .await)?,
    };
    Ok(found.map(|(tenant, entry_id)| ChargedRequest {
        request_id: id.to_string(),
        tenant,
        amount: record.cost,
        entry_id,
        charged_at: DateTime::from_timestamp_millis(record.at_ms).unwrap_or_default(),
    }))
}

/// `charge.show`: what a `strict` request was charged, to whom and when, by its request
/// id (the `x-request-id` the gateway answered with), while the request log holds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct ChargeShow {
    /// The request id, e.g. `req_5f3a9c1e_000000000017`.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 200)]
    pub request_id: String,
}
