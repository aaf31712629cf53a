//! Per-request charges of `strict` requests, found through the request log: a strict
//! request's record ([`crate::store::request_log`]) names the ledger entry that holds its charge,
//! so "was request X charged, to whom, for how much, and when?" has an answer for as long
//! as the ring keeps the request, without a row per request in the database.
//!
//! The record is written after the charge's commit and never fsynced: a power loss can lose
//! a request's record (the detail), never its charge (the fsynced entry counts it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// The ledger entry that holds it, with the tenant's other usage of its interval.
    pub entry_id: i64,
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
    let (Some(entry_id), Some(tenant_id)) = (record.entry_id, record.tenant_id) else { return Ok(None) };
    if record.cost <= 0 || !record.code.as_str().is_empty() {
        return Ok(None);
    }
    // The entry must be a debit of the request's tenant: a record from a database that
    // was replaced since would otherwise name another's entry.
    let tenant: Option<String> = on!(conn, |c| sqlx::query_scalar(
        "SELECT t.slug FROM ledger l JOIN tenants t ON t.id = l.tenant_id
         WHERE l.id = $1 AND l.tenant_id = $2 AND l.kind = 'debit'",
    )
    .bind(entry_id)
    .bind(tenant_id)
    .fetch_optional(c)
    .await)?;
    Ok(tenant.map(|tenant| ChargedRequest {
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
