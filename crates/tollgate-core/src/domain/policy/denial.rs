//! Denials: the stable codes clients branch on, their HTTP statuses, and the facts that
//! explain each one in the problem body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a request was refused; stable strings clients can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DenialCode {
    /// 401: no key sent.
    MissingApiKey,
    /// 401: key not recognised.
    InvalidApiKey,
    /// 401: key revoked.
    ApiKeyRevoked,
    /// 401: key past its expiry.
    ApiKeyExpired,
    /// 403: tenant blocked for abuse.
    TenantBlocked,
    /// 403: the client's address is refused by the tenant's or the route's IP rules.
    IpNotAllowed,
    /// 403: key lacks the route's scope.
    ScopeNotGranted,
    /// 402: tenant suspended for nonpayment.
    AccountSuspendedNonpayment,
    /// 402: subscription canceled.
    SubscriptionCanceled,
    /// 402: subscription or trial expired.
    SubscriptionExpired,
    /// 402: payment overdue beyond the grace window.
    SubscriptionPastDue,
    /// 402: route's feature not in the plan.
    FeatureNotInPlan,
    /// 429: plan rate limit exceeded.
    RateLimited,
    /// 402: period quota used up.
    QuotaExhausted,
    /// 402: the key's own budget for the period would be exceeded (the tenant's other
    /// keys may still work).
    KeyBudgetExhausted,
    /// 402: balance below the route cost.
    InsufficientCredits,
}

impl DenialCode {
    /// Every code in contract order (the first failing check comes first), so
    /// docs and tests can enumerate codes without missing one.
    pub const ALL: [DenialCode; 16] = [
        Self::MissingApiKey,
        Self::InvalidApiKey,
        Self::ApiKeyRevoked,
        Self::ApiKeyExpired,
        Self::TenantBlocked,
        Self::IpNotAllowed,
        Self::ScopeNotGranted,
        Self::AccountSuspendedNonpayment,
        Self::SubscriptionCanceled,
        Self::SubscriptionExpired,
        Self::SubscriptionPastDue,
        Self::FeatureNotInPlan,
        Self::RateLimited,
        Self::QuotaExhausted,
        Self::KeyBudgetExhausted,
        Self::InsufficientCredits,
    ];

    /// HTTP status the code is answered with, fixed by the contract.
    #[must_use]
    pub fn status(self) -> u16 {
        self.spec().0
    }

    /// Wire name (e.g. `"INSUFFICIENT_CREDITS"`), identical to the serde form,
    /// for problem bodies and logs without going through a serializer.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.spec().1
    }

    /// Status and wire name side by side, so a new code cannot miss either.
    fn spec(self) -> (u16, &'static str) {
        match self {
            Self::MissingApiKey => (401, "MISSING_API_KEY"),
            Self::InvalidApiKey => (401, "INVALID_API_KEY"),
            Self::ApiKeyRevoked => (401, "API_KEY_REVOKED"),
            Self::ApiKeyExpired => (401, "API_KEY_EXPIRED"),
            Self::TenantBlocked => (403, "TENANT_BLOCKED"),
            Self::IpNotAllowed => (403, "IP_NOT_ALLOWED"),
            Self::ScopeNotGranted => (403, "SCOPE_NOT_GRANTED"),
            Self::AccountSuspendedNonpayment => (402, "ACCOUNT_SUSPENDED_NONPAYMENT"),
            Self::SubscriptionCanceled => (402, "SUBSCRIPTION_CANCELED"),
            Self::SubscriptionExpired => (402, "SUBSCRIPTION_EXPIRED"),
            Self::SubscriptionPastDue => (402, "SUBSCRIPTION_PAST_DUE"),
            Self::FeatureNotInPlan => (402, "FEATURE_NOT_IN_PLAN"),
            Self::RateLimited => (429, "RATE_LIMITED"),
            Self::QuotaExhausted => (402, "QUOTA_EXHAUSTED"),
            Self::KeyBudgetExhausted => (402, "KEY_BUDGET_EXHAUSTED"),
            Self::InsufficientCredits => (402, "INSUFFICIENT_CREDITS"),
        }
    }
}

/// The facts that explain a denial, carried into the problem body so a client
/// can act (top up, upgrade, wait) without a support ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DenialFacts {
    /// Current credit balance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<i64>,
    /// Credits the route costs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<i64>,
    /// Plan slug of the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Feature the route needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_feature: Option<String>,
    /// Scope the route needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    /// End of the billing period or trial.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "whole_seconds")]
    pub period_end: Option<DateTime<Utc>>,
    /// End of the grace window that was applied.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "whole_seconds")]
    pub grace_until: Option<DateTime<Utc>>,
    /// Whole seconds to wait before retrying, rounded up, at least 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Period quota of the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    /// Requests used this period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<i64>,
    /// When the key expired.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "whole_seconds")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The model a request asked for (a usage-metered route's price list lacks it); boxed,
    /// as it is rare, to keep every denial small.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<Box<String>>,
    /// Why a payment the request carried was not taken (`PAYMENT_FAILED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_error: Option<Box<String>>,
    /// The key's budget, for `KEY_BUDGET_EXHAUSTED` (boxed for the same reason).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Box<BudgetFacts>>,
}

/// A key's budget as a refused client reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetFacts {
    /// Credits the key may spend per period.
    pub budget: i64,
    /// Credits it has spent this period.
    pub budget_used: i64,
    /// When the budget is whole again.
    #[serde(serialize_with = "whole_seconds_at")]
    pub budget_resets_at: DateTime<Utc>,
}

fn whole_seconds_at<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// An instant as a client reads it: RFC 3339 to the second (`2026-12-02T07:32:24Z`).
fn whole_seconds<S: serde::Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => s.serialize_none(),
    }
}

/// A refusal: the code decides status and title, the facts fill the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// Why; the HTTP status is `code.status()`.
    pub code: DenialCode,
    /// What explains it.
    pub facts: DenialFacts,
}
