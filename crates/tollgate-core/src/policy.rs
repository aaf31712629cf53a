//! The admission decision for one request, as a pure function of gathered facts:
//! the checks run in contract order and the first failure answers. Pure, so the
//! order is testable exhaustively and persistence stays with the caller.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::rate::{self, RateLimit, RateVerdict};
use crate::subscriptions::SubscriptionStatus;
use crate::tenants::Standing;

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

/// The tenant, subscription and plan facts behind a known key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Tenant standing: blocked (abuse, 403) or suspended (nonpayment, 402).
    pub standing: Standing,
    /// Subscription status, interpreted together with the dates below.
    pub status: SubscriptionStatus,
    /// End of the current billing period (or trial).
    pub period_end: DateTime<Utc>,
    /// Explicit end of a past-due grace window; `None` uses `period_end + grace_days`.
    pub grace_until: Option<DateTime<Utc>>,
    /// Plan slug, echoed in denial facts so clients know which plan to upgrade.
    pub plan: String,
    /// Features the plan includes.
    pub features: Vec<String>,
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
    pub account: Option<&'a Account>,
}

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
    /// 402: balance below the route cost.
    InsufficientCredits,
}

impl DenialCode {
    /// Every code in contract order (the first failing check comes first), so
    /// docs and tests can enumerate codes without missing one.
    pub const ALL: [DenialCode; 14] = [
        Self::MissingApiKey,
        Self::InvalidApiKey,
        Self::ApiKeyRevoked,
        Self::ApiKeyExpired,
        Self::TenantBlocked,
        Self::ScopeNotGranted,
        Self::AccountSuspendedNonpayment,
        Self::SubscriptionCanceled,
        Self::SubscriptionExpired,
        Self::SubscriptionPastDue,
        Self::FeatureNotInPlan,
        Self::RateLimited,
        Self::QuotaExhausted,
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
            Self::ScopeNotGranted => (403, "SCOPE_NOT_GRANTED"),
            Self::AccountSuspendedNonpayment => (402, "ACCOUNT_SUSPENDED_NONPAYMENT"),
            Self::SubscriptionCanceled => (402, "SUBSCRIPTION_CANCELED"),
            Self::SubscriptionExpired => (402, "SUBSCRIPTION_EXPIRED"),
            Self::SubscriptionPastDue => (402, "SUBSCRIPTION_PAST_DUE"),
            Self::FeatureNotInPlan => (402, "FEATURE_NOT_IN_PLAN"),
            Self::RateLimited => (429, "RATE_LIMITED"),
            Self::QuotaExhausted => (402, "QUOTA_EXHAUSTED"),
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_end: Option<DateTime<Utc>>,
    /// End of the grace window that was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A refusal: the code decides status and title, the facts fill the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// Why; the HTTP status is `code.status()`.
    pub code: DenialCode,
    /// What explains it.
    pub facts: DenialFacts,
}

/// Whether the request goes upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Forward the request and debit `cost` credits.
    Allow {
        /// Credits to debit.
        cost: i64,
    },
    /// Answer with the denial instead of forwarding.
    Deny(Denial),
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
        Err(denial) => Outcome::Deny(*denial),
    };
    Decision { outcome, next_tat }
}

/// Result of one stage; the denial is boxed so the happy path stays small.
type Check<T = ()> = Result<T, Box<Denial>>;

/// The contract order, in one place.
fn run_checks(req: &Request<'_>, now: DateTime<Utc>, tat: &mut Option<i64>) -> Check<i64> {
    let (key, account) = authenticate(req, now)?; // 401
    check_not_blocked(account)?; // 403
    check_scope(key, req.route)?; // 403
    check_standing(account)?; // 402
    check_subscription(account, now)?; // 402
    check_feature(account, req.route)?; // 402
    *tat = check_rate(account, now.timestamp_nanos_opt().unwrap_or(i64::MAX))?; // 429
    check_quota(account)?; // 402
    check_credits(account, req.route)?; // 402
    Ok(req.route.cost)
}

fn deny<T>(code: DenialCode, facts: DenialFacts) -> Check<T> {
    Err(Box::new(Denial { code, facts }))
}

/// Facts every account-level denial shares: the plan to upgrade from.
fn plan_facts(account: &Account) -> DenialFacts {
    DenialFacts { plan: Some(account.plan.clone()), ..DenialFacts::default() }
}

fn authenticate<'a>(req: &Request<'a>, now: DateTime<Utc>) -> Check<(&'a KeyFacts, &'a Account)> {
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

fn check_not_blocked(account: &Account) -> Check {
    match account.standing {
        Standing::Blocked => deny(DenialCode::TenantBlocked, DenialFacts::default()),
        Standing::Active | Standing::Suspended => Ok(()),
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

fn check_standing(account: &Account) -> Check {
    match account.standing {
        Standing::Suspended => deny(DenialCode::AccountSuspendedNonpayment, plan_facts(account)),
        Standing::Active | Standing::Blocked => Ok(()),
    }
}

fn check_subscription(account: &Account, now: DateTime<Utc>) -> Check {
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

fn check_feature(account: &Account, route: &RouteFacts) -> Check {
    match &route.required_feature {
        Some(feature) if !account.features.contains(feature) => {
            let facts = DenialFacts { required_feature: Some(feature.clone()), ..plan_facts(account) };
            deny(DenialCode::FeatureNotInPlan, facts)
        }
        _ => Ok(()),
    }
}

/// Returns the TAT to store when the plan is limited and the request conforms.
fn check_rate(account: &Account, now_ns: i64) -> Check<Option<i64>> {
    let Some(limit) = account.rate else { return Ok(None) };
    match rate::check(limit, account.rate_tat, now_ns) {
        RateVerdict::Allowed { next_tat, .. } => Ok(Some(next_tat)),
        RateVerdict::Limited { retry_after_ns, .. } => {
            let seconds = u64::try_from(retry_after_ns).unwrap_or(0).div_ceil(1_000_000_000).max(1);
            deny(DenialCode::RateLimited, DenialFacts { retry_after: Some(seconds), ..plan_facts(account) })
        }
    }
}

fn check_quota(account: &Account) -> Check {
    match account.period_quota {
        Some(quota) if account.period_used >= quota => {
            let facts = DenialFacts { quota: Some(quota), used: Some(account.period_used), ..plan_facts(account) };
            deny(DenialCode::QuotaExhausted, facts)
        }
        _ => Ok(()),
    }
}

fn check_credits(account: &Account, route: &RouteFacts) -> Check {
    if account.balance < route.cost {
        let facts = DenialFacts { balance: Some(account.balance), cost: Some(route.cost), ..plan_facts(account) };
        return deny(DenialCode::InsufficientCredits, facts);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::DenialCode::*;
    use super::*;
    use SubscriptionStatus::{Active, PastDue, Trialing};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_906_000_000, 0).expect("valid test instant")
    }
    fn ns(at: DateTime<Utc>) -> i64 {
        at.timestamp_nanos_opt().expect("test instant in range")
    }
    fn hours(n: i64) -> TimeDelta {
        TimeDelta::hours(n)
    }

    /// An owned request that conditions can mutate.
    struct Fixture {
        key: KeyState,
        route: RouteFacts,
        account: Account,
    }

    /// Passes every check: rate 10/s burst 5 (T = 100ms), quota and balance to spare.
    fn baseline() -> Fixture {
        let (read, search) = (Some("read".to_string()), Some("search".to_string()));
        let expires_at = Some(now() + hours(1));
        let key = KeyFacts { revoked: false, expires_at, scopes: vec!["read".into()] };
        let route = RouteFacts { cost: 5, required_feature: search, required_scope: read };
        let account = Account {
            standing: Standing::Active,
            status: Active,
            period_end: now() + hours(240),
            grace_until: None,
            plan: "pro".into(),
            features: vec!["search".into()],
            grace_days: 3,
            rate: Some(RateLimit { per_second: 10, burst: 5 }),
            period_quota: Some(1000),
            period_used: 10,
            balance: 100,
            rate_tat: None,
        };
        Fixture { key: KeyState::Known(key), route, account }
    }

    fn run(f: &Fixture) -> Decision {
        let request = Request { key: &f.key, route: &f.route, account: Some(&f.account) };
        decide(&request, now())
    }
    fn code(decision: &Decision) -> Option<DenialCode> {
        match &decision.outcome {
            Outcome::Deny(denial) => Some(denial.code),
            Outcome::Allow { .. } => None,
        }
    }
    fn facts(f: &Fixture) -> DenialFacts {
        match run(f).outcome {
            Outcome::Deny(denial) => denial.facts,
            allowed @ Outcome::Allow { .. } => panic!("expected a denial, got {allowed:?}"),
        }
    }
    fn rank(code: DenialCode) -> usize {
        DenialCode::ALL.iter().position(|c| *c == code).expect("every code is in ALL")
    }

    /// (name, code, exclusive group): one failing condition per stage, in contract
    /// order, at the boundary instant where one applies. Conditions sharing a
    /// non-empty group set the same field, so they cannot hold together.
    const CONDITIONS: [(&str, DenialCode, &str); 17] = [
        ("missing key", MissingApiKey, "key"),
        ("unknown key", InvalidApiKey, "key"),
        ("revoked key", ApiKeyRevoked, ""),
        ("key expiring now", ApiKeyExpired, ""),
        ("blocked tenant", TenantBlocked, "standing"),
        ("scope not granted", ScopeNotGranted, ""),
        ("suspended tenant", AccountSuspendedNonpayment, "standing"),
        ("canceled", SubscriptionCanceled, "subscription"),
        ("expired", SubscriptionExpired, "subscription"),
        ("trial ending now", SubscriptionExpired, "subscription"),
        ("past due, grace_until now", SubscriptionPastDue, "subscription"),
        ("past due, default grace ends now", SubscriptionPastDue, "subscription"),
        ("active lapsed, grace ends now", SubscriptionPastDue, "subscription"),
        ("feature not in plan", FeatureNotInPlan, ""),
        ("rate limited", RateLimited, ""),
        ("quota used up", QuotaExhausted, ""),
        ("balance below cost", InsufficientCredits, ""),
    ];

    /// Makes the named condition hold, touching only that condition's fields.
    fn apply(name: &str, f: &mut Fixture) {
        let known = match &mut f.key {
            KeyState::Known(k) => Some(k),
            KeyState::Missing | KeyState::Unknown => None,
        };
        let a = &mut f.account;
        match name {
            "missing key" => f.key = KeyState::Missing,
            "unknown key" => f.key = KeyState::Unknown,
            "revoked key" => known.into_iter().for_each(|k| k.revoked = true),
            "key expiring now" => known.into_iter().for_each(|k| k.expires_at = Some(now())),
            "blocked tenant" => a.standing = Standing::Blocked,
            "scope not granted" => f.route.required_scope = Some("admin".into()),
            "suspended tenant" => a.standing = Standing::Suspended,
            "canceled" => a.status = SubscriptionStatus::Canceled,
            "expired" => a.status = SubscriptionStatus::Expired,
            "trial ending now" => (a.status, a.period_end) = (Trialing, now()),
            "past due, grace_until now" => (a.status, a.grace_until) = (PastDue, Some(now())),
            "past due, default grace ends now" => (a.status, a.period_end) = (PastDue, now() - hours(72)),
            "active lapsed, grace ends now" => a.period_end = now() - hours(72),
            "feature not in plan" => f.route.required_feature = Some("export".into()),
            "rate limited" => a.rate_tat = Some(ns(now() + hours(1))),
            "quota used up" => a.period_used = 1000,
            "balance below cost" => a.balance = 4,
            other => panic!("no such condition: {other}"),
        }
    }

    #[test]
    fn baseline_is_allowed_and_consumes_rate() {
        let decision = run(&baseline());
        assert_eq!(decision.outcome, Outcome::Allow { cost: 5 }, "baseline should be allowed");
        let next = Some(ns(now()) + 100_000_000);
        assert_eq!(decision.next_tat, next, "a passing rate check should return now + T");
    }

    #[test]
    fn conditions_cover_every_code_in_contract_order() {
        for code in DenialCode::ALL {
            assert!(CONDITIONS.iter().any(|c| c.1 == code), "some condition should produce {code:?}");
        }
        for pair in CONDITIONS.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(rank(a.1) <= rank(b.1), "`{}` should be listed before `{}` (contract order)", a.0, b.0);
        }
    }

    #[test]
    fn each_condition_alone_denies_with_its_code() {
        for (name, expected, _) in CONDITIONS {
            let mut f = baseline();
            apply(name, &mut f);
            let decision = run(&f);
            assert_eq!(code(&decision), Some(expected), "`{name}` alone should deny");
            let rate_passed = rank(expected) > rank(RateLimited);
            assert_eq!(
                decision.next_tat.is_some(),
                rate_passed,
                "`{name}`: next_tat iff the rate check ran and passed"
            );
        }
    }

    #[test]
    fn every_pair_answers_with_the_earlier_check() {
        let mut checked = 0;
        for (i, earlier) in CONDITIONS.iter().enumerate() {
            for later in &CONDITIONS[i + 1..] {
                if !earlier.2.is_empty() && earlier.2 == later.2 {
                    continue; // same field: the two cannot hold together
                }
                for (first, second) in [(earlier, later), (later, earlier)] {
                    let mut f = baseline();
                    apply(first.0, &mut f);
                    apply(second.0, &mut f);
                    let (a, b, want) = (first.0, second.0, earlier.0);
                    assert_eq!(code(&run(&f)), Some(earlier.1), "`{a}` + `{b}` should answer as `{want}` alone does");
                }
                checked += 1;
            }
        }
        // C(17, 2) = 136 pairs minus exclusive ones: key 1 + standing 1 + subscription C(6, 2) = 15.
        assert_eq!(checked, 136 - 17, "every compatible pair should be checked");
    }

    #[test]
    fn grace_windows_and_boundaries() {
        let past_due = Some(SubscriptionPastDue);
        // (case, status, period_end - now, grace_until - now, grace_days, expected), in hours.
        let cases = [
            ("past due inside explicit grace", PastDue, -240, Some(1), 3, None),
            ("explicit grace beats default", PastDue, 0, Some(-1), 3, past_due),
            ("past due inside default grace", PastDue, -48, None, 3, None),
            ("past due after default grace", PastDue, -73, None, 3, past_due),
            ("active lapsed inside grace", Active, -24, None, 3, None),
            ("active ending now is in grace", Active, 0, None, 3, None),
            ("active lapsed after grace", Active, -73, None, 3, past_due),
            ("negative grace means none", Active, 0, None, -5, past_due),
            ("huge grace saturates", Active, -240, None, i64::MAX, None),
            ("trialing inside period", Trialing, 1, None, 3, None),
            ("trial ended, no grace", Trialing, -1, None, 3, Some(SubscriptionExpired)),
        ];
        for (case, status, end, grace, grace_days, expected) in cases {
            let mut f = baseline();
            let a = &mut f.account;
            (a.status, a.period_end, a.grace_days) = (status, now() + hours(end), grace_days);
            a.grace_until = grace.map(|h| now() + hours(h));
            assert_eq!(code(&run(&f)), expected, "`{case}` should give {expected:?}");
        }
        let mut f = baseline();
        (f.account.balance, f.account.period_used) = (5, 999);
        assert_eq!(run(&f).outcome, Outcome::Allow { cost: 5 }, "balance == cost with one request left should pass");
    }

    #[test]
    fn denials_carry_the_facts_that_explain_them() {
        let none = DenialFacts::default;
        let pro = || DenialFacts { plan: Some("pro".into()), ..none() };
        let cases = [
            ("missing key", none()),
            ("key expiring now", DenialFacts { expires_at: Some(now()), ..none() }),
            ("scope not granted", DenialFacts { required_scope: Some("admin".into()), ..none() }),
            ("suspended tenant", pro()),
            ("canceled", DenialFacts { period_end: Some(now() + hours(240)), ..pro() }),
            ("trial ending now", DenialFacts { period_end: Some(now()), ..pro() }),
            (
                "past due, default grace ends now",
                DenialFacts { period_end: Some(now() - hours(72)), grace_until: Some(now()), ..pro() },
            ),
            ("feature not in plan", DenialFacts { required_feature: Some("export".into()), ..pro() }),
            ("rate limited", DenialFacts { retry_after: Some(3600), ..pro() }),
            ("quota used up", DenialFacts { quota: Some(1000), used: Some(1000), ..pro() }),
            ("balance below cost", DenialFacts { balance: Some(4), cost: Some(5), ..pro() }),
        ];
        for (name, expected) in cases {
            let mut f = baseline();
            apply(name, &mut f);
            assert_eq!(facts(&f), expected, "`{name}` should carry exactly the facts that explain it");
        }
    }

    #[test]
    fn rate_limited_carries_retry_after_rounded_up() {
        // tau = 5 * 100ms; a TAT `ahead` of now must wait `ahead - tau`, rounded up to whole seconds.
        for (ahead_ns, seconds) in [(10_500_000_000, 10), (500_000_001, 1), (1_600_000_000, 2)] {
            let mut f = baseline();
            f.account.rate_tat = Some(ns(now()) + ahead_ns);
            let decision = run(&f);
            assert_eq!(code(&decision), Some(RateLimited), "a TAT {ahead_ns}ns ahead should be rate limited");
            let retry_after = facts(&f).retry_after;
            assert_eq!(
                retry_after,
                Some(seconds),
                "retry_after should be ceil((ahead - tau) / 1s) >= 1 for {ahead_ns}ns"
            );
            assert_eq!(decision.next_tat, None, "a limited request must not advance the TAT");
        }
    }

    #[test]
    fn unlimited_plan_and_missing_account() {
        let mut f = baseline();
        (f.account.rate, f.account.period_quota) = (None, None);
        let allowed = Decision { outcome: Outcome::Allow { cost: 5 }, next_tat: None };
        assert_eq!(run(&f), allowed, "an unlimited plan should pass without a TAT to store");
        let orphan = Request { key: &f.key, route: &f.route, account: None };
        let got = code(&decide(&orphan, now()));
        assert_eq!(got, Some(InvalidApiKey), "a known key without an account should fail closed");
        let missing = Request { key: &KeyState::Missing, route: &f.route, account: None };
        let got = code(&decide(&missing, now()));
        assert_eq!(got, Some(MissingApiKey), "a missing key should need no account");
    }

    #[test]
    fn codes_map_to_status_and_wire_names() {
        let statuses = DenialCode::ALL.map(DenialCode::status);
        let expected = [401, 401, 401, 401, 403, 403, 402, 402, 402, 402, 402, 429, 402, 402];
        assert_eq!(statuses, expected, "statuses should follow the contract");
        for code in DenialCode::ALL {
            let json = serde_json::to_string(&code).expect("a code serializes");
            let quoted = format!("\"{}\"", code.as_str());
            assert_eq!(json, quoted, "as_str should match the serde name of {code:?}");
        }
        let empty = serde_json::to_string(&DenialFacts::default()).expect("facts serialize");
        assert_eq!(empty, "{}", "absent facts should be left out of the problem body");
    }
}
