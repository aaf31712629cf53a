//! `overview.show` sums what was put in: known plans, subscriptions, top-ups (with what was
//! paid), usage written by the settlement writer and 402s counted by the traffic log.

use chrono::{DateTime, TimeDelta, Utc};
use tollgate_core::live::events::GatewayEvent;
use tollgate_core::live::settlement::{Debit, Settlement};
use tollgate_core::store::credits::{Adjust, TopUp};
use tollgate_core::store::overview::{AtRisk, CreditDay, DenialDay, MoneyTotal, OverviewShow, Risk};
use tollgate_core::store::plans::{BillingPeriod, PlanCreate, PlanList};
use tollgate_core::store::settings::SettingsSet;
use tollgate_core::store::subscriptions::{SetStatus, SubscriptionStatus};
use tollgate_core::store::tenants::{TenantBlock, TenantCreate};
use tollgate_core::store::traffic::TrafficLog;

use crate::common::{World, assert_invalid, at, t0, world};

async fn priced(w: &World, slug: &str, price: i64, currency: &str, period: BillingPeriod, credits: i64) {
    w.run(PlanCreate {
        name: slug.to_uppercase(),
        slug: Some(slug.into()),
        price_minor: Some(price),
        currency: Some(currency.into()),
        billing_period: Some(period),
        credits_per_period: Some(credits),
        ..Default::default()
    })
    .await
    .expect("plan is created");
}

fn topup(tenant: &str, credits: i64, key: &str, paid: Option<i64>) -> TopUp {
    TopUp { tenant: tenant.into(), amount: credits, idempotency_key: key.into(), note: None, paid_minor: paid }
}

fn refused(at: DateTime<Utc>, tenant: &str, status: i64, code: &str) -> GatewayEvent {
    GatewayEvent {
        at,
        request_id: "r".into(),
        tenant: Some(tenant.into()),
        key_prefix: None,
        route: Some("/v1".into()),
        method: "GET".into(),
        path: "/v1/x".into(),
        status: status as u16,
        code: Some(code.to_owned().into()),
        cost: 0,
        balance: None,
        latency_us: 1,
        facts: None,
        node: None,
    }
}

fn money(currency: &str, minor: i64) -> MoneyTotal {
    MoneyTotal { currency: currency.into(), minor }
}

#[tokio::test]
async fn the_overview_equals_what_was_put_in() {
    let w = world().await;
    // Kept for good: the test's days lie in the past of the wall clock the pruner reads.
    w.run(SettingsSet { retention_days: Some(3650), ..Default::default() }).await.unwrap();
    priced(&w, "pro", 4900, "USD", BillingPeriod::Month, 1000).await;
    priced(&w, "annual", 12_000, "EUR", BillingPeriod::Year, 0).await;
    priced(&w, "weekly", 1000, "USD", BillingPeriod::Week, 0).await;
    let tenant = |slug: &str, plan: &str, trial: Option<i64>| TenantCreate {
        name: format!("{slug} Inc"),
        slug: Some(slug.into()),
        plan: plan.into(),
        trial_days: trial,
        ..Default::default()
    };
    let a1 = w.run(tenant("a1", "pro", None)).await.unwrap().tenant.id;
    let a2 = w.run(tenant("a2", "pro", None)).await.unwrap().tenant.id;
    w.run(tenant("c", "pro", Some(3))).await.unwrap();
    w.run(tenant("b", "annual", None)).await.unwrap();
    for slug in ["d", "e", "f"] {
        w.run(tenant(slug, "weekly", None)).await.unwrap();
    }
    w.run(SetStatus { tenant: "d".into(), status: SubscriptionStatus::PastDue, reason: None }).await.unwrap();
    w.run(TenantBlock { tenant: "f".into(), reason: None }).await.unwrap();

    // Top-ups: two paid on the first day, one unpaid on the second, one before the window.
    w.run(topup("a1", 500, "a1-t0", Some(2500))).await.unwrap();
    w.run(topup("b", 200, "b-t0", Some(900))).await.unwrap();
    let before = w.run_at(&at(-3), topup("a1", 1, "a1-old", Some(99))).await.unwrap();
    w.run_at(&at(1), topup("a2", 100, "a2-t1", None)).await.unwrap();
    w.run_at(&at(1), Adjust { tenant: "b".into(), amount: -50, idempotency_key: "b-adj".into(), reason: "x".into() })
        .await
        .unwrap();
    assert_eq!(before.entry.paid_minor, Some(99), "the paid amount is kept with the entry");
    assert_eq!(before.entry.paid_currency.as_deref(), Some("USD"), "in the plan's currency");

    // Usage as the gateway writes it: 30 calls of 2 credits on day one, 5 of 3 on day two.
    let (settlement, writer) = Settlement::spawn(w.console.store().clone());
    for i in 0..30 {
        settlement.record(Debit { tenant_id: a1, amount: 2, request_id: "u", at: t0() + TimeDelta::minutes(i) });
    }
    settlement.flush().await.unwrap();
    for _ in 0..5 {
        settlement.record(Debit { tenant_id: a2, amount: 3, request_id: "v", at: t0() + TimeDelta::hours(23) });
    }
    settlement.stop().await.unwrap();
    writer.await.unwrap();

    // Refusals as the gateway counts them: 402s more than a day old, 12 recent ones, a 429.
    let (traffic, task) = TrafficLog::spawn(w.console.store().clone());
    for i in 0..5 {
        traffic.record(&refused(t0() - TimeDelta::hours(1) + TimeDelta::seconds(i), "a1", 402, "INSUFFICIENT_CREDITS"));
    }
    for i in 0..12 {
        traffic.record(&refused(t0() + TimeDelta::hours(22) + TimeDelta::seconds(i), "a2", 402, "QUOTA_EXCEEDED"));
    }
    traffic.record(&refused(t0() + TimeDelta::hours(22), "a1", 429, "RATE_LIMITED"));
    traffic.stop();
    task.await.unwrap();

    let o = w.run_at(&at(1), OverviewShow { days: Some(2) }).await.unwrap();
    assert_eq!(o.since.to_rfc3339(), "2026-01-15T00:00:00+00:00", "two UTC days, today included");

    let plans: Vec<_> =
        o.plans.iter().map(|p| (p.slug.as_str(), p.active, p.trialing, p.past_due, p.mrr_minor)).collect();
    assert_eq!(
        plans,
        [("weekly", 2, 0, 1, 8667), ("pro", 2, 1, 0, 9800), ("annual", 1, 0, 0, 1000)],
        "active × price a month (2 × 1000 × 52/12 = 8666.7): a week is 52/12, a year 1/12; trials and past due bring nothing"
    );
    assert_eq!(o.mrr, [money("EUR", 1000), money("USD", 9800 + 8667)], "per currency, never summed across");

    let day = |day: &str, granted, topped_up, consumed, requests, adjusted| CreditDay {
        day: day.into(),
        granted,
        topped_up,
        consumed,
        requests,
        refunded: 0,
        adjusted,
        expired: 0,
    };
    assert_eq!(
        o.credits,
        [day("2026-01-15", 3000, 700, 60, 30, 0), day("2026-01-16", 0, 100, 15, 5, -50)],
        "grants of three pro tenants, top-ups, usage with its calls, the adjustment; nothing before the window"
    );

    let topups: Vec<_> =
        o.topups.iter().map(|t| (t.tenant.as_str(), t.credits, t.paid_minor, t.paid_currency.as_deref())).collect();
    assert_eq!(
        topups,
        [("a2", 100, None, None), ("b", 200, Some(900), Some("EUR")), ("a1", 500, Some(2500), Some("USD"))]
    );
    assert_eq!((o.topup_count, o.topup_credits), (3, 800));
    assert_eq!(o.topup_paid, [money("EUR", 900), money("USD", 2500)], "what was paid, per currency");

    let risk = |r: &AtRisk| (r.tenant.clone(), r.balance, r.recent_402s, r.risks.clone());
    assert_eq!(
        o.at_risk.iter().map(risk).collect::<Vec<_>>(),
        [
            ("d".to_string(), 0, 0, vec![Risk::PastDue, Risk::LowBalance]),
            ("e".to_string(), 0, 0, vec![Risk::LowBalance, Risk::PeriodEndingSoon]),
            ("c".to_string(), 1000, 0, vec![Risk::PeriodEndingSoon]),
            ("a2".to_string(), 1000 + 100 - 15, 12, vec![Risk::Many402s]),
        ],
        "past due first, then by balance; the blocked tenant and a1 (its 402s are over a day old) are not at risk"
    );
    assert_eq!(o.low_balance_threshold, 100);

    let denial = |day: &str, code: &str, requests| DenialDay { day: day.into(), code: code.into(), requests };
    assert_eq!(
        o.denials_402,
        [denial("2026-01-15", "INSUFFICIENT_CREDITS", 5), denial("2026-01-16", "QUOTA_EXCEEDED", 12)],
        "402s per day and code; the 429 is not among them"
    );

    // The plans list counts subscribers (the blocked tenant is still subscribed).
    let listed = w.run(PlanList::default()).await.unwrap();
    let subscribers: Vec<_> = listed.iter().map(|p| (p.slug.as_str(), p.subscribers)).collect();
    assert_eq!(subscribers, [("weekly", Some(3)), ("pro", Some(3)), ("annual", Some(1))]);

    // One day: only today's figures.
    let today = w.run_at(&at(1), OverviewShow { days: Some(1) }).await.unwrap();
    assert_eq!(today.credits, [day("2026-01-16", 0, 100, 15, 5, -50)]);
    assert_eq!(today.topup_paid, [], "the paid top-ups were yesterday");
}

#[tokio::test]
async fn a_bad_window_or_paid_amount_is_refused_and_changes_nothing() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    assert_invalid(w.run(OverviewShow { days: Some(0) }).await, "days");
    assert_invalid(w.run(OverviewShow { days: Some(91) }).await, "days");
    let before = w.dump().await;
    assert_invalid(w.run(topup("acme", 5, "k", Some(-1))).await, "paid_minor");
    assert_eq!(w.dump().await, before, "nothing moved");
    let first = w.run(topup("acme", 5, "k", Some(500))).await.unwrap();
    let again = w.run(topup("acme", 5, "k", Some(500))).await.unwrap();
    assert!(again.replayed && again.entry.id == first.entry.id, "a retried top-up replays");
}
