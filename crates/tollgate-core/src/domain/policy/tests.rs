//! The policy's contract: every code, every pair of failing conditions, the facts.
use super::DenialCode::*;
use super::*;
use crate::domain::budget::KeyBudget;
use crate::domain::cidr::Cidr;
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
    account: Account<'static>,
    client: IpAddr,
    tenant_allow: Vec<Cidr>,
    tenant_deny: Vec<Cidr>,
    route_allow: Vec<Cidr>,
    route_deny: Vec<Cidr>,
}

fn cidrs(items: &[&str]) -> Vec<Cidr> {
    items.iter().map(|s| s.parse().expect("test CIDR")).collect()
}

/// Passes every check: rate 10/s burst 5 (T = 100ms), quota and balance to spare.
fn baseline() -> Fixture {
    let (read, search) = (Some("read".to_string()), Some("search".to_string()));
    let expires_at = Some(now() + hours(1));
    let budget = Some(KeyBudget { limit: 1000, spent: 0, resets_at: now() + hours(24) });
    let key = KeyFacts { revoked: false, expires_at, scopes: vec!["read".into()], budget };
    let route = RouteFacts { cost: 5, required_feature: search, required_scope: read };
    let account = Account {
        standing: Standing::Active,
        status: Active,
        period_end: now() + hours(240),
        grace_until: None,
        plan: "pro".into(),
        features: vec!["search".into()].into(),
        grace_days: 3,
        rate: Some(RateLimit { per_second: 10, burst: 5 }),
        period_quota: Some(1000),
        period_used: 10,
        balance: 100,
        rate_tat: None,
    };
    Fixture {
        key: KeyState::Known(key),
        route,
        account,
        client: "10.1.2.3".parse().expect("test address"),
        tenant_allow: cidrs(&["10.0.0.0/8"]),
        tenant_deny: cidrs(&["10.9.0.0/16"]),
        route_allow: vec![],
        route_deny: vec![],
    }
}

fn ip_facts(f: &Fixture) -> IpFacts<'_> {
    IpFacts {
        client: Some(f.client),
        tenant: IpRules { allow: &f.tenant_allow, deny: &f.tenant_deny },
        route: IpRules { allow: &f.route_allow, deny: &f.route_deny },
    }
}

fn run(f: &Fixture) -> Decision {
    let request = Request { key: &f.key, route: &f.route, account: Some(&f.account), ip: ip_facts(f) };
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
const CONDITIONS: [(&str, DenialCode, &str); 20] = [
    ("missing key", MissingApiKey, "key"),
    ("unknown key", InvalidApiKey, "key"),
    ("revoked key", ApiKeyRevoked, ""),
    ("key expiring now", ApiKeyExpired, ""),
    ("blocked tenant", TenantBlocked, "standing"),
    ("address denied by the tenant", IpNotAllowed, ""),
    ("address outside the route's allow list", IpNotAllowed, ""),
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
    ("key budget spent", KeyBudgetExhausted, ""),
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
        "address denied by the tenant" => f.tenant_deny.push(Cidr::V4 { net: 0x0a01_0203, prefix: 32 }),
        "address outside the route's allow list" => f.route_allow = cidrs(&["192.0.2.0/24", "2001:db8::/32"]),
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
        "key budget spent" => known.into_iter().for_each(|k| {
            if let Some(b) = &mut k.budget {
                b.spent = 996; // 996 + the route's 5 > 1000
            }
        }),
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
        assert_eq!(decision.next_tat.is_some(), rate_passed, "`{name}`: next_tat iff the rate check ran and passed");
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
    // C(20, 2) = 190 pairs minus exclusive ones: key 1 + standing 1 + subscription C(6, 2) = 15.
    assert_eq!(checked, 190 - 17, "every compatible pair should be checked");
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
        assert_eq!(retry_after, Some(seconds), "retry_after should be ceil((ahead - tau) / 1s) >= 1 for {ahead_ns}ns");
        assert_eq!(decision.next_tat, None, "a limited request must not advance the TAT");
    }
}

#[test]
fn unlimited_plan_and_missing_account() {
    let mut f = baseline();
    (f.account.rate, f.account.period_quota) = (None, None);
    let allowed = Decision { outcome: Outcome::Allow { cost: 5 }, next_tat: None };
    assert_eq!(run(&f), allowed, "an unlimited plan should pass without a TAT to store");
    let orphan = Request { key: &f.key, route: &f.route, account: None, ip: ip_facts(&f) };
    let got = code(&decide(&orphan, now()));
    assert_eq!(got, Some(InvalidApiKey), "a known key without an account should fail closed");
    let missing = Request { key: &KeyState::Missing, route: &f.route, account: None, ip: ip_facts(&f) };
    let got = code(&decide(&missing, now()));
    assert_eq!(got, Some(MissingApiKey), "a missing key should need no account");
}

#[test]
fn codes_map_to_status_and_wire_names() {
    let statuses = DenialCode::ALL.map(DenialCode::status);
    let expected = [401, 401, 401, 401, 403, 403, 403, 402, 402, 402, 402, 402, 429, 402, 402, 402];
    assert_eq!(statuses, expected, "statuses should follow the contract");
    for code in DenialCode::ALL {
        let json = serde_json::to_string(&code).expect("a code serializes");
        let quoted = format!("\"{}\"", code.as_str());
        assert_eq!(json, quoted, "as_str should match the serde name of {code:?}");
    }
    let empty = serde_json::to_string(&DenialFacts::default()).expect("facts serialize");
    assert_eq!(empty, "{}", "absent facts should be left out of the problem body");
}

/// The stage of the contract a code belongs to: authenticate (401) → key scope / tenant
/// blocked (403) → standing and subscription (402) → plan feature (402) → rate (429) →
/// quota and credits (402), as DESIGN.md states it.
fn stage(code: DenialCode) -> (usize, u16) {
    match code {
        MissingApiKey | InvalidApiKey | ApiKeyRevoked | ApiKeyExpired => (0, 401),
        TenantBlocked | IpNotAllowed | ScopeNotGranted => (1, 403),
        AccountSuspendedNonpayment | SubscriptionCanceled | SubscriptionExpired | SubscriptionPastDue => (2, 402),
        FeatureNotInPlan => (3, 402),
        RateLimited => (4, 429),
        QuotaExhausted | KeyBudgetExhausted | InsufficientCredits => (5, 402),
    }
}

#[test]
fn address_rules_of_tenant_and_route_both_apply() {
    let mut f = baseline();
    assert_eq!(code(&run(&f)), None, "inside the tenant's allow list");
    f.client = "192.0.2.7".parse().expect("address");
    assert_eq!(code(&run(&f)), Some(IpNotAllowed), "outside the tenant's allow list");
    f.tenant_allow.clear();
    assert_eq!(code(&run(&f)), None, "an empty allow list lets everyone in");
    f.route_deny = cidrs(&["192.0.2.0/24"]);
    assert_eq!(code(&run(&f)), Some(IpNotAllowed), "the route's deny list applies too");
    f.route_allow = cidrs(&["192.0.2.7"]);
    assert_eq!(code(&run(&f)), Some(IpNotAllowed), "deny wins over allow");
    assert_eq!(facts(&f), DenialFacts::default(), "a refused address learns nothing about the account");
    f.client = "::ffff:10.9.1.1".parse().expect("address");
    (f.route_allow, f.route_deny) = (vec![], vec![]);
    assert_eq!(code(&run(&f)), Some(IpNotAllowed), "an IPv4-mapped client meets IPv4 rules");
    let unknown = Request {
        ip: IpFacts { client: None, ..ip_facts(&f) },
        ..Request { key: &f.key, route: &f.route, account: Some(&f.account), ip: ip_facts(&f) }
    };
    assert_eq!(code(&decide(&unknown, now())), None, "without a request's address (explain) the rules are not judged");
    f.client = "10.9.1.1".parse().expect("address");
    f.account.balance = 0;
    assert_eq!(code(&run(&f)), Some(IpNotAllowed), "403 before any 402");
}

mod order {
    use proptest::prelude::*;

    use super::*;

    /// Facts that never fail a check: more credits, fewer calls, more features and scopes
    /// than needed, a key expiring later, an idle rate bucket.
    #[derive(Debug, Clone)]
    struct Noise {
        balance: i64,
        used: i64,
        extra_feature: bool,
        extra_scope: bool,
        expires_in_s: Option<i64>,
        idle_bucket_s: Option<i64>,
        period_end_h: i64,
    }

    fn noise() -> impl Strategy<Value = Noise> {
        (5i64..1_000_000, 0i64..999, any::<bool>(), any::<bool>(), prop::option::of(1i64..10_000_000)).prop_flat_map(
            |(balance, used, extra_feature, extra_scope, expires_in_s)| {
                (prop::option::of(0i64..1_000_000), 1i64..100_000).prop_map(move |(idle_bucket_s, period_end_h)| {
                    Noise { balance, used, extra_feature, extra_scope, expires_in_s, idle_bucket_s, period_end_h }
                })
            },
        )
    }

    fn apply_noise(n: &Noise, f: &mut Fixture) {
        if let KeyState::Known(k) = &mut f.key {
            k.expires_at = n.expires_in_s.map(|s| now() + TimeDelta::seconds(s));
            if n.extra_scope {
                k.scopes.push("write".into());
            }
        }
        let a = &mut f.account;
        (a.balance, a.period_used, a.period_end) = (n.balance, n.used, now() + hours(n.period_end_h));
        a.rate_tat = n.idle_bucket_s.map(|s| ns(now()) - s * 1_000_000_000);
        if n.extra_feature {
            a.features.to_mut().push("export-lite".into());
        }
    }

    /// A set of failing conditions that can hold together (one per exclusive group), in a
    /// random order. Only conditions from a random point of the contract on are drawn, so
    /// the late checks meet each other without an early one hiding them.
    fn conditions() -> impl Strategy<Value = Vec<usize>> {
        let order = Just((0..CONDITIONS.len()).collect::<Vec<_>>()).prop_shuffle();
        (0..CONDITIONS.len(), order, prop::collection::vec(any::<bool>(), CONDITIONS.len())).prop_map(
            |(from, order, wanted)| {
                let mut chosen: Vec<usize> = Vec::new();
                for i in order.into_iter().filter(|&i| i >= from && wanted[i]) {
                    let group = CONDITIONS[i].2;
                    if group.is_empty() || chosen.iter().all(|&j| CONDITIONS[j].2 != group) {
                        chosen.push(i);
                    }
                }
                chosen
            },
        )
    }

    proptest! {
        /// Whatever holds at once, the earliest failing check in contract order answers,
        /// and so the status classes come in the order 401 < 403 < 402 < 429 < 402.
        #[test]
        fn the_earliest_failing_check_answers(noise in noise(), chosen in conditions()) {
            let mut f = baseline();
            apply_noise(&noise, &mut f);
            prop_assert_eq!(code(&run(&f)), None, "noise alone never denies: {:?}", noise);
            for &i in &chosen {
                apply(CONDITIONS[i].0, &mut f);
            }
            let decision = run(&f);
            let expected = chosen.iter().map(|&i| CONDITIONS[i].1).min_by_key(|c| rank(*c));
            let names: Vec<&str> = chosen.iter().map(|&i| CONDITIONS[i].0).collect();
            prop_assert_eq!(code(&decision), expected, "conditions {:?}", names);
            if let Some(got) = code(&decision) {
                prop_assert_eq!(got.status(), stage(got).1, "{:?} answers with its stage's status", got);
                for &i in &chosen {
                    prop_assert!(stage(got).0 <= stage(CONDITIONS[i].1).0, "{:?} answered before an earlier stage {:?}", got, CONDITIONS[i].0);
                }
                prop_assert_eq!(decision.next_tat.is_some(), rank(got) > rank(RateLimited), "the rate bucket moves only once the rate check passed");
            }
        }
    }
}
