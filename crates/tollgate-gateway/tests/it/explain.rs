//! `explain` says what the gateway answers a tenant; the real gateway then answers exactly
//! that, for every kind of tenant an operator asks about.

use chrono::{TimeDelta, Utc};
use tollgate_core::console::explain::{Explain, Explanation, Fix};
use tollgate_core::store::keys::KeyIssue;
use tollgate_core::store::plans::PlanCreate;
use tollgate_core::store::routes::RouteCreate;
use tollgate_core::store::subscriptions::Renew;
use tollgate_core::store::tenants::{TenantBlock, TenantCreate, TenantSuspend};
use tollgate_core::{Command, Ctx};

use crate::harness::{World, world};

/// A tenant on `plan` that joined `days_ago`, with a key; returns its secret.
async fn tenant(w: &World, slug: &str, plan: &str, days_ago: i64) -> String {
    let joined = Ctx { actor: "test".into(), now: Utc::now() - TimeDelta::days(days_ago) };
    TenantCreate { name: slug.into(), plan: plan.into(), ..Default::default() }.run(&w.console, &joined).await.unwrap();
    w.run(KeyIssue { tenant: slug.into(), scopes: vec!["read".into()], ..Default::default() }).await.secret
}

async fn explain(w: &World, slug: &str) -> Explanation {
    w.run(Explain { tenant: slug.into(), route: None }).await
}

/// Calls `path` as the holder of `secret`: the status and the problem's code, if any.
async fn call(w: &World, secret: &str, path: &str) -> (u16, Option<String>) {
    let r = w.client.get(format!("{}{path}", w.url)).bearer_auth(secret).send().await.unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (status, body["code"].as_str().map(str::to_string).filter(|_| status != 200))
}

/// Asserts that every route's explained answer is what the gateway then answers.
async fn answers_match(w: &World, slug: &str, secret: &str) -> Explanation {
    let e = explain(w, slug).await;
    for r in &e.routes {
        let got = call(w, secret, &format!("{}/x", r.route)).await;
        assert_eq!(got, (r.status, r.code.clone()), "{slug} on {}: explain said {:?}", r.route, r.answer);
    }
    e
}

#[tokio::test]
async fn explain_says_what_the_gateway_then_answers_for_every_kind_of_tenant() {
    let w = world(100, 1).await;
    w.run(PlanCreate {
        name: "Weekly".into(),
        billing_period: Some(tollgate_core::store::plans::BillingPeriod::Week),
        credits_per_period: Some(100),
        features: vec!["search".into()],
        grace_days: Some(3),
        ..Default::default()
    })
    .await;
    w.run(PlanCreate { name: "Empty".into(), credits_per_period: Some(0), ..Default::default() }).await;
    w.run(RouteCreate {
        path_prefix: "/v2/search".into(),
        upstream_url: format!("http://{}", w.upstream),
        cost: Some(1),
        required_feature: Some("search".into()),
        ..Default::default()
    })
    .await;

    let healthy = answers_match(&w, "acme", &w.secret).await;
    assert_eq!(healthy.verdict, "serving", "acme has credits and a current period: {healthy:?}");
    assert!(healthy.routes.iter().all(|r| r.status == 200 && r.fix.is_none()), "served everywhere: {healthy:?}");

    let lapsed = tenant(&w, "lapsed", "weekly", 17).await;
    let e = answers_match(&w, "lapsed", &lapsed).await;
    assert_eq!(e.verdict, "refused", "every route refuses a period that ended 10 days ago");
    assert_eq!(e.summary, "every call gets 402 SUBSCRIPTION_PAST_DUE", "the badge says why");
    assert!(
        e.routes[0].answer.ends_with("the period ended 10 days ago and the 3-day grace is over"),
        "with the dates in words: {}",
        e.routes[0].answer
    );
    assert_eq!(e.routes[0].fix, Some(Fix::Renew), "renewing fixes it");
    w.run(Renew { tenant: "lapsed".into(), reason: None }).await;
    assert_eq!(answers_match(&w, "lapsed", &lapsed).await.verdict, "serving", "and after renewal it serves");

    let broke = tenant(&w, "broke", "empty", 0).await;
    let e = answers_match(&w, "broke", &broke).await;
    let paid = e.routes.iter().find(|r| r.route == "/v1").unwrap();
    assert_eq!(paid.code.as_deref(), Some("INSUFFICIENT_CREDITS"), "zero credits: {e:?}");
    assert_eq!((paid.fix, paid.fix_hint.as_deref()), (Some(Fix::TopUp), Some("top up at least 1 credit")), "top up");
    let feature = e.routes.iter().find(|r| r.route == "/v2/search").unwrap();
    assert_eq!(feature.code.as_deref(), Some("FEATURE_NOT_IN_PLAN"), "the plan lacks search, checked before credits");
    assert_eq!(feature.fix, Some(Fix::ChangePlan), "a plan with the feature fixes that route");

    let blocked = tenant(&w, "blocked", "pro", 0).await;
    w.run(TenantBlock { tenant: "blocked".into(), reason: None }).await;
    let e = answers_match(&w, "blocked", &blocked).await;
    assert_eq!(e.summary, "every call gets 403 TENANT_BLOCKED", "blocked: {e:?}");
    assert_eq!(e.routes[0].fix, Some(Fix::Resume), "resuming lifts a block");

    let suspended = tenant(&w, "suspended", "pro", 0).await;
    w.run(TenantSuspend { tenant: "suspended".into(), reason: None }).await;
    let e = answers_match(&w, "suspended", &suspended).await;
    assert_eq!(e.summary, "every call gets 402 ACCOUNT_SUSPENDED_NONPAYMENT", "suspended: {e:?}");
}

#[tokio::test]
async fn explain_names_one_route_by_a_path_and_refuses_an_unknown_one() {
    let w = world(5, 1).await;
    let e = w.run(Explain { tenant: "acme".into(), route: Some("/v1/search/deep".into()) }).await;
    assert_eq!((e.routes.len(), e.routes[0].route.as_str()), (1, "/v1"), "a path finds the route that serves it");
    let err = Explain { tenant: "acme".into(), route: Some("/nowhere".into()) }
        .run(&w.console, &Ctx::now("test"))
        .await
        .expect_err("no route serves /nowhere");
    assert_eq!(err.body().field.as_deref(), Some("route"), "the error names the field: {err}");
    let err = Explain { tenant: "ghost".into(), route: None }.run(&w.console, &Ctx::now("test")).await.unwrap_err();
    assert_eq!(err.body().code, "NOT_FOUND", "an unknown tenant is not found: {err}");
}
