//! Operator credit movements: top-up, adjustment, refund. Each needs an idempotency key,
//! so a retried or double-clicked request moves credits once.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::store::ledger::{EntryKind, LedgerEntry};
use crate::store::request_log::{Lookup, RequestId, RequestLog};
use crate::store::{Connection, on};

/// What a credit movement did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreditMovement {
    pub tenant: String,
    /// The ledger entry (the original one when this was a replay).
    pub entry: LedgerEntry,
    /// The tenant's balance now.
    pub balance: i64,
    /// True when the idempotency key had been used already and nothing moved this time.
    pub replayed: bool,
}

/// `credits.topup`: add credits the customer paid for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// Credits to add (positive).
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    #[schema(minimum = 1, maximum = 1e15)]
    pub amount: i64,
    /// Unique per top-up; repeating it returns the first result.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[!-~]{1,200}$")]
    pub idempotency_key: String,
    /// Why, for the audit log.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub note: Option<String>,
    /// What the customer paid, in minor units of the tenant's plan currency (4900 = 49.00
    /// USD); kept with the entry for the overview's revenue.
    #[cfg_attr(feature = "cli", arg(long = "paid", value_name = "PAID_MINOR"))]
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1e15)]
    pub paid_minor: Option<i64>,
}

/// `credits.adjust`: an operator's correction, up or down (never below zero).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// Signed credits: positive adds, negative removes.
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub amount: i64,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[!-~]{1,200}$")]
    pub idempotency_key: String,
    /// Required: an adjustment must say why.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub reason: String,
}

/// `credits.refund`: give back credits the gateway charged for one request. The request
/// must be a charge (a `debit` entry) of this tenant, and all refunds against it together
/// cannot exceed what it cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct Refund {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// Credits to give back (positive; at most what is left of the charge).
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    #[schema(minimum = 1, maximum = 1e15)]
    pub amount: i64,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[!-~]{1,200}$")]
    pub idempotency_key: String,
    /// The gateway request whose charge is refunded (its `X-Request-Id`, as in the ledger).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub request_id: String,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub reason: Option<String>,
}

pub(crate) struct Movement {
    pub(crate) kind: EntryKind,
    pub(crate) amount: i64,
    /// For a refund: the charged request it gives credits back for.
    pub(crate) request_id: Option<String>,
    /// For a top-up: what the customer paid, in the tenant's plan currency.
    pub(crate) paid_minor: Option<i64>,
}

/// Checks that `request_id` is a charge of `tenant_id` with at least `amount` credits not
/// yet refunded. A request's charge is found as a debit naming it (a database written
/// before usage was summed), or in the request log for a recent request, `strict` or
/// `batched` (its usage is summed per tenant in the ledger, so the log is the only
/// per-request record; see [`crate::store::charges`]). Refunds are a scan of the tenant's
/// entries: they are rare, and an index on request ids would cost every usage entry the
/// gateway writes.
pub(crate) async fn check_refundable(
    conn: &mut Connection,
    log: Option<&RequestLog>,
    tenant_id: i64,
    request_id: &str,
    amount: i64,
) -> Result<(), ConsoleError> {
    let (charged, refunded): (Option<i64>, Option<i64>) = on!(conn, |c| sqlx::query_as(
        "SELECT CAST(-SUM(CASE WHEN kind = 'debit' THEN amount END) AS BIGINT),
                CAST(SUM(CASE WHEN kind = 'refund' THEN amount END) AS BIGINT)
         FROM ledger WHERE tenant_id = $1 AND request_id = $2",
    )
    .bind(tenant_id)
    .bind(request_id)
    .fetch_one(c)
    .await)?;
    let charged = charged.or_else(|| logged_charge(log?, tenant_id, request_id));
    let Some(charged) = charged else {
        // Not this tenant's charge (another's, a denial, a typo): nothing to give back.
        return Err(ConsoleError::not_found("charge", request_id));
    };
    let left = charged - refunded.unwrap_or(0);
    if amount > left {
        return Err(ConsoleError::invalid(
            "amount",
            format!(
                "request {request_id} was charged {charged} credits and {left} are left to refund; {amount} is too many"
            ),
        ));
    }
    Ok(())
}

/// What the request log says `request_id` charged `tenant_id`, if it was served to them.
fn logged_charge(log: &RequestLog, tenant_id: i64, request_id: &str) -> Option<i64> {
    match log.find(RequestId::parse(request_id)?) {
        Ok(Lookup::Found(r)) if r.tenant_id == Some(tenant_id) && r.code.as_str().is_empty() && r.cost > 0 => {
            Some(r.cost)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the request log to find a charge to refund");
            None
        }
    }
}
