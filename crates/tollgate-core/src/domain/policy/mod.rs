//! The admission decision for one request, as a pure function of gathered facts:
//! the checks run in contract order and the first failure answers. Pure, so the
//! order is testable exhaustively and persistence stays with the caller.

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::cidr::IpRules;
use crate::domain::rate::{self, RateLimit, RateVerdict};

mod denial;
#[cfg(test)]
mod tests;

use crate::domain::standing::{Standing, SubscriptionStatus};
pub use denial::{BudgetFacts, Denial, DenialCode, DenialFacts};

use crate::domain::budget::KeyBudget;

/// What the gateway learned about the API key sent with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// No key was sent: answered with 401 `MISSING_API_KEY`.
    Missing,
    /// A key was sent but matches no stored key: 401 `INVALID_API_KEY`.
    Unknown,
    /// The key exists; its facts decide the remaining 401/403 checks.
    Known(KeyFacts),
}

/// Facts about a stored key that can make it unusable or too narrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts {
    /// Revoked keys are refused even if also expired (revocation is deliberate).
    pub revoked: bool,
    /// The key stops working at this instant; `None` never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes granted to the key, matched against the route's required scope.
    pub scopes: Vec<String>,
    /// The key's own spend cap this period, if it has one.
    pub budget: Option<KeyBudget>,
}

/// What the matched route demands of a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFacts {
    /// Credits one call costs; also what `Allow` reports so the caller debits it.
    pub cost: i64,
    /// Plan feature the route belongs to, if it is not in every plan.
    pub required_feature: Option<String>,
    /// Key scope the route needs, if any.
    pub required_scope: Option<String>,
}

/// The tenant, subscription and plan facts behind a known key (the plan's parts borrowed
/// from the live state: admission builds one for every request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account<'a> {
    /// Tenant standing: blocked (abuse, 403) or suspended (nonpayment, 402).
    pub standing: Standing,
    /// Subscription status, interpreted together with the dates below.
    pub status: SubscriptionStatus,
    /// End of the current billing period (or trial).
    pub period_end: DateTime<Utc>,
    /// Explicit end of a past-due grace window; `None` uses `period_end + grace_days`.
    pub grace_until: Option<DateTime<Utc>>,
    /// Plan slug, echoed in denial facts so clients know which plan to upgrade.
    pub plan: Cow<'a, str>,
    /// Features the plan includes.
    pub features: Cow<'a, [String]>,
    /// Days a lapsed or past-due subscription keeps working; negatives count as 0.
    pub grace_days: i64,
    /// Plan rate limit; `None` is unlimited.
    pub rate: Option<RateLimit>,
    /// Requests allowed per billing period; `None` is unlimited.
    pub period_quota: Option<i64>,
    /// Requests already used this billing period.
    pub period_used: i64,
    /// Credit balance the route cost is checked against.
    pub balance: i64,
    /// Stored GCRA TAT (ns since epoch) of the tenant's bucket; `None` is fresh.
    pub rate_tat: Option<i64>,
}

/// Everything `decide` looks at, borrowed so building one costs nothing.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The key state from authentication.
    pub key: &'a KeyState,
    /// The matched route.
    pub route: &'a RouteFacts,
    /// The key's account; `None` only when the key is not `Known`. A known key
    /// without an account is refused as `INVALID_API_KEY` (fail closed).
    pub account: Option<&'a Account<'a>>,
    /// The client's address and the address rules it must pass.
    pub ip: IpFacts<'a>,
}

/// Where a request comes from, and the tenant's and the route's address rules; a request
/// must pass both. Checked with the other 403s, after the key is known.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpFacts<'a> {
    /// The client's address as the gateway resolved it (trusted proxies already walked).
    /// `None` when no request is at hand (`explain`): the rules are then not judged.
    pub client: Option<IpAddr>,
    /// The key's tenant's rules.
    pub tenant: IpRules<'a>,
    /// The matched route's rules.
    pub route: IpRules<'a>,
}

/// Whether the request goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forward the request and debit `cost` credits.
    Allow {
        /// Credits to debit.
        cost: i64,
    },
    /// Answer with the denial instead of forwarding (boxed: its facts are large, and the
    /// allowed path should not carry them).
    Deny(Box<Denial>),
}

/// The outcome plus the state the caller must persist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allow or deny.
    pub outcome: Outcome,
    /// New GCRA TAT to store when the rate check ran and passed; `None` when an
    /// earlier check failed, the plan is unlimited, or the rate check refused.
    pub next_tat: Option<i64>,
}

/// Decides one request at `now`. The checks run in contract order and the first
/// failure answers; `next_tat` is set once the rate check passes, even if the
/// quota or credit check then refuses, because the attempt counted.
#[must_use]
pub fn decide(req: &Request<'_>, now: DateTime<Utc>) -> Decision {
    let mut next_tat = None;
    let outcome = match run_checks(req, now, &mut next_tat) {
        Ok(cost) => Outcome::Allow { cost },
        Err(denial) => Outcome::Deny(denial),
    };
    Decision { outcome, next_tat }
}

/// Result of one stage; the denial is boxed so the happy path stays small.
type Check<T = ()> = Result<T, Box<Denial>>;

/// The contract order, in one place.
fn run_checks(req: &Request<'_>, now: DateTime<Utc>, tat: &mut Option<i64>) -> Check<i64> {
    let (key, account) = authenticate(req, now)?; // 401
    check_not_blocked(account)?; // 403
    check_ip(&req.ip)?; // 403
    check_scope(key, req.route)?; // 403
    check_standing(account)?; // 402
    check_subscription(account, now)?; // 402
    check_feature(account, req.route)?; // 402
    *tat = check_rate(account, now.timestamp_nanos_opt().unwrap_or(i64::MAX))?; // 429
    check_quota(account)?; // 402
    check_budget(key, req.route)?; // 402
    check_credits(account, req.route)?; // 402
    Ok(req.route.cost)
}

fn deny<T>(code: DenialCode, facts: DenialFacts) -> Check<T> {
    Err(Box::new(Denial { code, facts }))
}

/// Facts every account-level denial shares: the plan to upgrade from.
fn plan_facts(account: &Account<'_>) -> DenialFacts {
    DenialFacts { plan: Some(account.plan.to_string()), ..DenialFacts::default() }
}

fn authenticate<'a>(req: &Request<'a>, now: DateTime<Utc>) -> Check<(&'a KeyFacts, &'a Account<'a>)> {
    let key = match req.key {
        KeyState::Missing => return deny(DenialCode::MissingApiKey, DenialFacts::default()),
        KeyState::Unknown => return deny(DenialCode::InvalidApiKey, DenialFacts::default()),
        KeyState::Known(key) => key,
    };
    if key.revoked {
        return deny(DenialCode::ApiKeyRevoked, DenialFacts::default());
    }
    if let Some(expires_at) = key.expires_at.filter(|at| *at <= now) {
        return deny(DenialCode::ApiKeyExpired, DenialFacts { expires_at: Some(expires_at), ..DenialFacts::default() });
    }
    match req.account {
        Some(account) => Ok((key, account)),
        // A known key always has an account; if not, fail closed rather than panic.
        None => deny(DenialCode::InvalidApiKey, DenialFacts::default()),
    }
}

fn check_not_blocked(account: &Account<'_>) -> Check {
    match account.standing {
        Standing::Blocked => deny(DenialCode::TenantBlocked, DenialFacts::default()),
        Standing::Active | Standing::Suspended => Ok(()),
    }
}

/// Costs two length checks when neither the tenant nor the route has rules.
fn check_ip(ip: &IpFacts<'_>) -> Check {
    if ip.tenant.is_empty() && ip.route.is_empty() {
        return Ok(());
    }
    match ip.client {
        Some(client) if !ip.tenant.permits(client) || !ip.route.permits(client) => {
            deny(DenialCode::IpNotAllowed, DenialFacts::default())
        }
        _ => Ok(()),
    }
}

fn check_scope(key: &KeyFacts, route: &RouteFacts) -> Check {
    match &route.required_scope {
        Some(scope) if !key.scopes.contains(scope) => {
            let facts = DenialFacts { required_scope: Some(scope.clone()), ..DenialFacts::default() };
            deny(DenialCode::ScopeNotGranted, facts)
        }
        _ => Ok(()),
    }
}

fn check_standing(account: &Account<'_>) -> Check {
    match account.standing {
        Standing::Suspended => deny(DenialCode::AccountSuspendedNonpayment, plan_facts(account)),
        Standing::Active | Standing::Blocked => Ok(()),
    }
}

fn check_subscription(account: &Account<'_>, now: DateTime<Utc>) -> Check {
    use DenialCode as D;
    use SubscriptionStatus as S;
    // period_end + grace_days, saturating so a huge configured grace cannot panic.
    let default_end = TimeDelta::try_days(account.grace_days.max(0))
        .and_then(|grace| account.period_end.checked_add_signed(grace))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let past_due_end = account.grace_until.unwrap_or(default_end);
    let lapsed = account.period_end <= now;
    let (code, grace_until) = match account.status {
        S::Canceled => (D::SubscriptionCanceled, account.grace_until),
        S::Expired => (D::SubscriptionExpired, account.grace_until),
        S::Trialing if lapsed => (D::SubscriptionExpired, None), // trials have no grace
        S::PastDue if now >= past_due_end => (D::SubscriptionPastDue, Some(past_due_end)),
        S::Active if lapsed && now >= default_end => (D::SubscriptionPastDue, Some(default_end)),
        S::Trialing | S::PastDue | S::Active => return Ok(()),
    };
    deny(code, DenialFacts { period_end: Some(account.period_end), grace_until, ..plan_facts(account) })
}

fn check_feature(account: &Account<'_>, route: &RouteFacts) -> Check {
    match &route.required_feature {
        Some(feature) if !account.features.contains(feature) => {
            let facts = DenialFacts { required_feature: Some(feature.clone()), ..plan_facts(account) };
            deny(DenialCode::FeatureNotInPlan, facts)
        }
        _ => Ok(()),
    }
}

/// Returns the TAT to store when the plan is limited and the request conforms.
fn check_rate(account: &Account<'_>, now_ns: i64) -> Check<Option<i64>> {
    let Some(limit) = account.rate else { return Ok(None) };
    match rate::check(limit, account.rate_tat, now_ns) {
        RateVerdict::Allowed { next_tat, .. } => Ok(Some(next_tat)),
        RateVerdict::Limited { retry_after_ns, .. } => {
            let seconds = u64::try_from(retry_after_ns).unwrap_or(0).div_ceil(1_000_000_000).max(1);
            deny(DenialCode::RateLimited, DenialFacts { retry_after: Some(seconds), ..plan_facts(account) })
        }
    }
}

fn check_quota(account: &Account<'_>) -> Check {
    match account.period_quota {
        Some(quota) if account.period_used >= quota => {
            let facts = DenialFacts { quota: Some(quota), used: Some(account.period_used), ..plan_facts(account) };
            deny(DenialCode::QuotaExhausted, facts)
        }
        _ => Ok(()),
    }
}

fn check_budget(key: &KeyFacts, route: &RouteFacts) -> Check {
    match key.budget {
        Some(b) if b.spent.saturating_add(route.cost) > b.limit => {
            let facts = BudgetFacts { budget: b.limit, budget_used: b.spent, budget_resets_at: b.resets_at };
            deny(
                DenialCode::KeyBudgetExhausted,
                DenialFacts { cost: Some(route.cost), budget: Some(Box::new(facts)), ..DenialFacts::default() },
            )
        }
        _ => Ok(()),
    }
}

fn check_credits(account: &Account<'_>, route: &RouteFacts) -> Check {
    if account.balance < route.cost {
        let facts = DenialFacts { balance: Some(account.balance), cost: Some(route.cost), ..plan_facts(account) };
        return deny(DenialCode::InsufficientCredits, facts);
    }
    Ok(())
}
