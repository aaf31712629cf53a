//! Where an account stands: the tenant's standing and its subscription's place in the
//! billing cycle, the two facts of an account the policy reads.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether a tenant may use the API at all, apart from its subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Standing {
    /// In good standing.
    Active,
    /// Stopped for non-payment: the gateway answers 402 until resumed.
    Suspended,
    /// Stopped for abuse: the gateway answers 403 whatever is paid.
    Blocked,
}

/// Where a subscription stands in the billing cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// A free trial; it ends at `period_end` with no grace.
    Trialing,
    /// Paid for the current period.
    Active,
    /// A payment failed; traffic passes until `grace_until`.
    PastDue,
    /// Ended by the customer or the operator.
    Canceled,
    /// Ran out without renewal.
    Expired,
}
