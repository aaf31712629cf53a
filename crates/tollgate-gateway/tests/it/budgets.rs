//! Spend caps per key: a key past its budget for the period gets 402
//! `KEY_BUDGET_EXHAUSTED` (with the budget, what it spent and when it renews) while the
//! tenant's other keys keep working; calls the upstream did not serve give their credits
//! back to the budget; the console changes it at once; and what a key spent survives a
//! restart.

use serde_json::Value;
use tollgate_core::domain::budget::BudgetPeriod;
use tollgate_core::domain::policy::{DenialCode, Outcome};
use tollgate_core::live::Live;
use tollgate_core::store::keys::{KeyBudgetSet, KeyIssue, KeyList, PresentedKey};

use crate::harness::{World, world};

async fn call(w: &World, secret: &str, path: &str) -> reqwest::Response {
    w.client.get(format!("{}{path}", w.url)).bearer_auth(secret).send().await.unwrap()
}

/// The prefix of the world's own key.
fn prefix(w: &World) -> String {
    w.secret[..16].to_string()
}

async fn used(w: &World) -> i64 {
    let keys = w.run(KeyList { tenant: "acme".into() }).await;
    keys.0.iter().find(|k| k.prefix == prefix(w)).expect("the key").budget_used
}

#[tokio::test]
async fn a_key_past_its_budget_is_refused_while_the_tenants_other_keys_work() {
    let w = world(1000, 3).await;
    let set = KeyBudgetSet { key: prefix(&w), budget: Some(10), period: Some(BudgetPeriod::Day) };
    let key = w.run(set).await;
    assert_eq!((key.budget, key.budget_period), (Some(10), BudgetPeriod::Day));
    for _ in 0..3 {
        assert_eq!(call(&w, &w.secret, "/v1/x").await.status(), 200);
    }
    let r = call(&w, &w.secret, "/v1/x").await;
    assert_eq!(r.status(), 402);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "KEY_BUDGET_EXHAUSTED");
    assert_eq!(
        (problem["budget"].as_i64(), problem["budget_used"].as_i64(), problem["cost"].as_i64()),
        (Some(10), Some(9), Some(3))
    );
    let tomorrow = tollgate_core::domain::budget::BudgetPeriod::Day.end(chrono::Utc::now());
    assert_eq!(problem["budget_resets_at"], tomorrow.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    assert!(problem["link"].as_str().is_some(), "a 402 says where to pay");
    assert_eq!(w.balance().await, 1000 - 9, "the tenant paid for three calls only");
    assert_eq!(used(&w).await, 9, "key.list shows what the key spent");

    let other = w.run(KeyIssue { tenant: "acme".into(), scopes: vec!["read".into()], ..Default::default() }).await;
    assert_eq!(call(&w, &other.secret, "/v1/x").await.status(), 200, "another key of the tenant still works");

    // Raised in the console: the very next call passes; removed: no cap at all.
    w.run(KeyBudgetSet { key: prefix(&w), budget: Some(12), period: None }).await;
    assert_eq!(call(&w, &w.secret, "/v1/x").await.status(), 200, "raised to 12: one more call fits");
    assert_eq!(call(&w, &w.secret, "/v1/x").await.status(), 402);
    let cleared = w.run(KeyBudgetSet { key: prefix(&w), budget: None, period: None }).await;
    assert_eq!((cleared.budget, cleared.budget_period), (None, BudgetPeriod::Day));
    assert_eq!(call(&w, &w.secret, "/v1/x").await.status(), 200, "no budget, no cap");
}

#[tokio::test]
async fn calls_not_served_give_the_budget_back() {
    let w = world(1000, 4).await;
    w.run(KeyBudgetSet { key: prefix(&w), budget: Some(8), period: None }).await;
    for _ in 0..5 {
        assert_eq!(call(&w, &w.secret, "/v1/fail").await.status(), 500, "the upstream's 5xx, not charged");
    }
    assert_eq!(used(&w).await, 0, "failed calls hold nothing");
    assert_eq!(call(&w, &w.secret, "/v1/x").await.status(), 200);
    assert_eq!(call(&w, &w.secret, "/v1/x").await.status(), 200);
    assert_eq!(call(&w, &w.secret, "/v1/x").await.status(), 402, "8 spent");
}

#[tokio::test]
async fn what_a_key_spent_survives_a_restart() {
    let w = world(1000, 5).await;
    w.run(KeyBudgetSet { key: prefix(&w), budget: Some(10), period: None }).await;
    assert_eq!(call(&w, &w.secret, "/v1/x").await.status(), 200);
    assert_eq!(call(&w, &w.secret, "/v1/x").await.status(), 200);
    w.traffic.flush().await.expect("key use written");
    // A gateway starting now on this database: the key has spent 10 of its 10.
    let restarted = Live::load(w.console.store()).await.unwrap();
    let route = restarted.route("GET", "/v1/x").unwrap();
    let admission =
        restarted.admit(PresentedKey::Key(&w.secret), &route, "127.0.0.1".parse().unwrap(), chrono::Utc::now());
    match admission.outcome {
        Outcome::Deny(denial) => assert_eq!(denial.code, DenialCode::KeyBudgetExhausted),
        other => panic!("expected the budget to be spent after a restart, got {other:?}"),
    }
    let keys = w.run(KeyList { tenant: "acme".into() }).await;
    let stored = keys.0.iter().find(|k| k.prefix == prefix(&w)).unwrap();
    assert_eq!(stored.budget_spent, 10, "written with the key's call count");
    let report = w.run(tollgate_core::console::verify::Verify {}).await;
    assert!(report.ok && report.drift == Some(0), "a written spend is not drift: {report:?}");
}

#[tokio::test]
async fn a_budget_needs_a_sane_amount() {
    let w = world(0, 1).await;
    let bad = KeyBudgetSet { key: prefix(&w), budget: Some(-1), period: None };
    let e = tollgate_core::Command::run(bad, &w.console, &tollgate_core::Ctx::now("test")).await.unwrap_err();
    assert!(e.to_string().contains("budget"), "{e}");
    let keys = w.run(KeyList { tenant: "acme".into() }).await;
    assert_eq!(keys.0[0].budget, None, "nothing changed");
}
