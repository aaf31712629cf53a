//! `GET /_tollgate/key`: a key reads its own standing (tenant, plan, balance, period, rate
//! limit, quota, its budget and what is left), without spending, counting or rate-limiting
//! anything; a dead key, a blocked tenant and a stranger learn nothing there.

use serde_json::Value;
use tollgate_core::Command;
use tollgate_core::domain::budget::BudgetPeriod;
use tollgate_core::store::keys::{KeyBudgetSet, KeyRevoke};
use tollgate_core::store::plans::PlanUpdate;
use tollgate_core::store::routes::RouteCreate;
use tollgate_core::store::tenants::{TenantBlock, TenantSuspend};

use crate::harness::{World, world};

const PATH: &str = "/_tollgate/key";

async fn standing(w: &World, key: Option<&str>) -> (u16, Value) {
    let mut request = w.client.get(format!("{}{PATH}", w.url));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn a_key_reads_its_tenant_plan_balance_and_budget() {
    let w = world(500, 7).await;
    w.run(PlanUpdate { plan: "pro".into(), rate_per_second: Some(10), burst: Some(20), ..Default::default() }).await;
    let prefix = w.secret[..16].to_string();
    w.run(KeyBudgetSet { key: prefix.clone(), budget: Some(100), period: Some(BudgetPeriod::Day) }).await;
    assert_eq!(w.get("/v1/x").await.status(), 200);
    let (status, s) = standing(&w, Some(&w.secret)).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["tenant"], "acme");
    assert_eq!(s["plan"], "pro");
    assert_eq!(s["standing"], "active");
    assert_eq!(s["balance"], 500 - 7);
    assert_eq!(s["rate_limit"], serde_json::json!({"per_second": 10, "burst": 20}));
    assert_eq!(s["subscription"]["status"], "active");
    assert!(s["billing_link"].as_str().unwrap().ends_with("/acme"));
    assert_eq!(s["key"]["prefix"], prefix.as_str());
    assert_eq!(s["key"]["scopes"], serde_json::json!(["read"]));
    let budget = &s["key"]["budget"];
    assert_eq!(
        (budget["limit"].as_i64(), budget["used"].as_i64(), budget["remaining"].as_i64()),
        (Some(100), Some(7), Some(93))
    );
    assert_eq!(budget["period"], "day");
    // Reading spends nothing, whatever the rate limit: 30 reads past a burst of 20.
    for _ in 0..30 {
        assert_eq!(standing(&w, Some(&w.secret)).await.0, 200);
    }
    assert_eq!(w.balance().await, 500 - 7);
    assert_eq!(w.get("/v1/x").await.status(), 200, "the rate limit was not spent by reading");
}

#[tokio::test]
async fn a_tenant_that_owes_sees_why_while_dead_keys_and_blocked_tenants_learn_nothing() {
    let w = world(500, 1).await;
    w.run(TenantSuspend { tenant: "acme".into(), reason: None }).await;
    let (status, s) = standing(&w, Some(&w.secret)).await;
    assert_eq!((status, s["standing"].as_str()), (200, Some("suspended")), "the standing says why calls get 402");

    let (status, p) = standing(&w, None).await;
    assert_eq!((status, p["code"].as_str()), (401, Some("MISSING_API_KEY")));
    let (status, p) = standing(&w, Some("tg_live_0000000000000000000000000000000000000000")).await;
    assert_eq!((status, p["code"].as_str()), (401, Some("INVALID_API_KEY")));

    w.run(TenantBlock { tenant: "acme".into(), reason: None }).await;
    let (status, p) = standing(&w, Some(&w.secret)).await;
    assert_eq!((status, p["code"].as_str()), (403, Some("TENANT_BLOCKED")));
    for hidden in ["tenant", "balance", "plan", "link"] {
        assert!(p.get(hidden).is_none(), "a blocked tenant learns no {hidden}: {p}");
    }
    w.run(KeyRevoke { key: w.secret[..16].to_string(), reason: None }).await;
    let (status, p) = standing(&w, Some(&w.secret)).await;
    assert_eq!((status, p["code"].as_str()), (401, Some("API_KEY_REVOKED")));
    assert!(p.get("tenant").is_none() && p.get("balance").is_none(), "a revoked key learns nothing: {p}");
}

#[tokio::test]
async fn no_route_can_take_the_reserved_path() {
    let w = world(0, 1).await;
    let create = RouteCreate {
        path_prefix: "/_tollgate/key".into(),
        upstream_url: format!("http://{}", w.upstream),
        ..Default::default()
    };
    let e = create.run(&w.console, &tollgate_core::Ctx::now("test")).await.unwrap_err();
    assert!(e.to_string().contains("/_tollgate/"), "{e}");
}
