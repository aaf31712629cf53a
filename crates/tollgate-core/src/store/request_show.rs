//! `request.show`: what became of one request, found by the id its client got
//! (`x-request-id`, or `request_id` in a refusal's body), from the request log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::traffic::Denial;

/// One request as the log kept it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestShown {
    pub request_id: String,
    /// `served` (the upstream answered below 500), `refused` (Tollgate answered with a
    /// code) or `failed` (the upstream answered 500 or more).
    pub outcome: String,
    pub at: DateTime<Utc>,
    pub method: String,
    /// The status the client got.
    pub status: u16,
    /// The denial or failure code, for a refusal.
    pub code: Option<String>,
    /// What the code means.
    pub meaning: Option<String>,
    /// Tenant slug, once the key was known.
    pub tenant: Option<String>,
    pub key_prefix: Option<String>,
    /// The matched route's path prefix.
    pub route: Option<String>,
    /// Credits charged.
    pub cost: i64,
    pub latency_us: u32,
    /// The stored sample of this refusal (with its facts), when it was among the first of
    /// its kind in its minute.
    pub denial: Option<Denial>,
}

/// `request.show`: was a request served, to whom, for how much and when; or why it was
/// refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct RequestShow {
    /// The request id, e.g. req_5f3a9c1e_000000000017.
    pub request_id: String,
}

/// What a code the gateway answers with means, for the operator.
pub fn meaning(code: &str) -> &'static str {
    match code {
        "MISSING_API_KEY" => "no API key was sent",
        "INVALID_API_KEY" => "the API key is not one Tollgate knows",
        "API_KEY_REVOKED" => "the API key was revoked",
        "API_KEY_EXPIRED" => "the API key is past its expiry",
        "TENANT_BLOCKED" => "the tenant is blocked",
        "IP_NOT_ALLOWED" => "the client's address is refused by the tenant's or the route's IP rules",
        "SCOPE_NOT_GRANTED" => "the key lacks the scope the route requires",
        "ACCOUNT_SUSPENDED_NONPAYMENT" => "the tenant is suspended for nonpayment",
        "SUBSCRIPTION_CANCELED" => "the tenant's subscription is canceled",
        "SUBSCRIPTION_EXPIRED" => "the tenant's subscription or trial expired",
        "SUBSCRIPTION_PAST_DUE" => "the tenant's payment is overdue beyond the grace period",
        "FEATURE_NOT_IN_PLAN" => "the route needs a feature the tenant's plan lacks",
        "RATE_LIMITED" => "too many requests: the plan's rate limit, or the limit on requests without a usable key",
        "QUOTA_EXHAUSTED" => "the plan's quota for the period is used up",
        "INSUFFICIENT_CREDITS" => "the balance was below the route's cost",
        "ROUTE_NOT_FOUND" => "no route matches the method and path",
        "UPSTREAM_UNAVAILABLE" => "the upstream could not be reached (nothing was charged)",
        "UPSTREAM_TIMEOUT" => "the upstream did not answer in time (nothing was charged)",
        "STORAGE_UNAVAILABLE" => "the charge could not be committed (strict durability; nothing was charged)",
        "INVALID_HOST" => "the Host header was missing, repeated or invalid",
        "INVALID_PATH" => "the path was ambiguous or malformed",
        "BAD_REQUEST_BODY" => "the client's request body broke off or was malformed",
        "CLIENT_CLOSED_REQUEST" => "the client went away before the answer (nothing was charged)",
        _ => "a code this version does not describe",
    }
}
