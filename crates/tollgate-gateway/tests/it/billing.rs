//! Money through the gateway: reserve, settle, release, and console changes that let the
//! very next request through.

use std::time::Duration;

use tollgate_core::console::verify::Verify;
use tollgate_core::store::charges::charged_request;
use tollgate_core::store::credits::TopUp;
use tollgate_core::store::ledger::{EntryKind, LedgerList};
use tollgate_core::store::plans::{PlanCreate, PlanUpdate};
use tollgate_core::store::routes::RouteCreate;
use tollgate_core::store::settings::{Durability, SettingsSet};
use tollgate_core::store::subscriptions::ChangePlan;

use crate::harness::{World, world, world_with_ring};

/// The debit entries (amount, requests covered), newest first, once the usage summed in
/// memory is written.
async fn debits(w: &World) -> Vec<(i64, i64)> {
    w.settlement.flush().await.expect("usage written");
    let entries = w.run(LedgerList { tenant: "acme".into(), limit: Some(1000), ..Default::default() }).await;
    entries.iter().filter(|e| e.kind == EntryKind::Debit).map(|e| (e.amount, e.requests)).collect()
}

#[tokio::test]
async fn a_top_up_lets_the_very_next_request_through() {
    let w = world(0, 3).await;
    let r = w.get("/v1/search").await;
    assert_eq!(r.status(), 402, "no credits");
    w.run(TopUp { tenant: "acme".into(), amount: 3, idempotency_key: "t1".into(), note: None, paid_minor: None }).await;
    let r = w.get("/v1/search").await;
    assert_eq!(r.status(), 200, "the top-up applies at once, no sleep");
    assert_eq!(r.headers()["x-credits-remaining"], "0", "the call spent the top-up");
    assert_eq!(w.get("/v1/search").await.status(), 402, "and the next one has nothing left");
    assert_eq!(debits(&w).await, vec![(-3, 1)], "one debit of the route's cost");
    assert!(w.run(Verify {}).await.ok, "the ledger balances");
}

#[tokio::test]
async fn a_plan_change_unlocks_a_feature_at_once() {
    let w = world(100, 1).await;
    w.run(RouteCreate {
        path_prefix: "/v2/export".into(),
        upstream_url: format!("http://{}", w.upstream),
        required_feature: Some("export".into()),
        ..Default::default()
    })
    .await;
    let r = w.get("/v2/export").await;
    assert_eq!(r.status(), 402, "the plan lacks the feature");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (body["code"].as_str(), body["required_feature"].as_str()),
        (Some("FEATURE_NOT_IN_PLAN"), Some("export")),
        "names it"
    );
    w.run(PlanCreate { name: "Max".into(), features: vec!["export".into(), "search".into()], ..Default::default() })
        .await;
    w.run(ChangePlan { tenant: "acme".into(), plan: "max".into(), reason: None }).await;
    assert_eq!(w.get("/v2/export").await.status(), 200, "the next request passes");
}

/// 64 clients on one tenant with 1,000 credits (cost 1) send 1,280 requests at once in
/// `durability`: exactly 1,000 are served, and the ledger, the stored balance, the stored
/// period count and `verify` agree. Returns the request ids of the 200s.
async fn sixty_four_concurrent_clients(durability: Durability) -> (World, Vec<String>) {
    let w = world_with_ring(1000, 1, 1_000_000).await;
    w.run(SettingsSet { durability: Some(durability), ..Default::default() }).await;
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (client, url, secret) = (w.client.clone(), w.url.clone(), w.secret.clone());
            tokio::spawn(async move {
                let mut ok = Vec::new();
                for _ in 0..20 {
                    let r = client.get(format!("{url}/v1/x")).bearer_auth(&secret).send().await.unwrap();
                    match r.status().as_u16() {
                        200 => ok.push(r.headers()["x-request-id"].to_str().unwrap().to_owned()),
                        402 => {}
                        other => panic!("unexpected status {other}"),
                    }
                }
                ok
            })
        })
        .collect();
    let mut served = Vec::new();
    for t in tasks {
        served.extend(t.await.unwrap());
    }
    assert_eq!(served.len(), 1000, "1,280 attempts, exactly 1,000 served");
    assert_eq!(w.hits.count(), 1000, "the upstream saw exactly the served ones");
    assert_eq!(w.balance().await, 0, "nothing left in memory");
    let debits = debits(&w).await;
    assert_eq!(debits.iter().map(|(amount, _)| amount).sum::<i64>(), -1000, "the ledger charged every credit");
    assert_eq!(debits.iter().map(|(_, requests)| requests).sum::<i64>(), 1000, "and counts every request");
    let mut conn = w.console.store().reader().await.unwrap();
    let (balance, period_used): (i64, i64) = tollgate_core::on!(&mut conn, |c| sqlx::query_as(
        "SELECT balance, period_used FROM tenants WHERE slug = 'acme'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!((balance, period_used), (0, 1000), "stored balance and period count agree");
    let report = w.run(Verify {}).await;
    assert!(report.ok, "balance == sum(ledger): {report:?}");
    (w, served)
}

// Multi-threaded: the gateway's connections run on several workers, so admissions truly
// overlap (a single-threaded runtime would serialise them and prove nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_clients_spend_exactly_the_balance_batched() {
    let (w, _) = sixty_four_concurrent_clients(Durability::Batched).await;
    let entries = debits(&w).await.len();
    assert!(entries <= 100, "usage is summed per tenant: {entries} entries for 1,000 requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_clients_spend_exactly_the_balance_strict() {
    let (w, served) = sixty_four_concurrent_clients(Durability::Strict).await;
    let entries = debits(&w).await.len();
    assert!(entries < 1000, "concurrent strict requests share commits and entries: {entries} entries");
    let mut conn = w.console.store().reader().await.unwrap();
    for id in &served {
        let charge = charged_request(&mut conn, Some(&w.requests), id).await.unwrap();
        let charge = charge.unwrap_or_else(|| panic!("the charge of served request {id} is on record"));
        assert_eq!((charge.tenant.as_str(), charge.amount), ("acme", 1), "whose and how much");
    }
    drop(conn);
    // Found by the operator through the request log and the entry its record names, and
    // refunded by its id.
    let shown = w.run(tollgate_core::store::charges::ChargeShow { request_id: served[0].clone() }).await;
    assert_eq!((shown.tenant.as_str(), shown.amount), ("acme", 1));
    let refund = tollgate_core::store::credits::Refund {
        tenant: "acme".into(),
        amount: 1,
        idempotency_key: "r1".into(),
        request_id: served[0].clone(),
        reason: None,
    };
    assert_eq!(w.run(refund).await.balance, 1, "the refund by request id gives the credit back");
    assert!(w.run(Verify {}).await.ok);
}

#[tokio::test]
async fn batched_usage_reaches_the_ledger_as_one_entry_per_tenant_per_flush() {
    let w = world(1000, 2).await;
    w.run(SettingsSet { usage_flush_ms: Some(60_000), ..Default::default() }).await;
    for _ in 0..50 {
        assert_eq!(w.get("/v1/x").await.status(), 200);
    }
    // Before the flush: the ledger does not have the usage yet, the operator's view does.
    let stored: i64 = tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT balance FROM tenants WHERE slug = 'acme'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(stored, 1000, "nothing written yet");
    let shown = w.run(tollgate_core::store::tenants::TenantShow { tenant: "acme".into() }).await;
    assert_eq!(shown.tenant.balance, 900, "the tenant page counts the usage not yet written");
    let listed = w.run(tollgate_core::store::tenants::TenantList::default()).await;
    assert_eq!(listed.0[0].balance, 900, "and so does the tenant list");
    assert_eq!(debits(&w).await, vec![(-100, 50)], "50 requests, one entry");
    assert!(w.run(Verify {}).await.ok, "balance == sum(ledger)");
}

#[tokio::test]
async fn eight_os_threads_admitting_at_once_never_overspend() {
    let w = world(1000, 1).await;
    let route = w.live.route("GET", "/v1/x").expect("the /v1 route");
    let barrier = std::sync::Barrier::new(8);
    let kept = std::sync::Mutex::new(Vec::new());
    let allowed: usize = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let mut allowed = 0;
                    for _ in 0..400 {
                        let admission = w.live.admit(
                            tollgate_core::store::keys::PresentedKey::Key(&w.secret),
                            &route,
                            std::net::Ipv4Addr::LOCALHOST.into(),
                            chrono::Utc::now(),
                        );
                        if let Some(reservation) = admission.reservation {
                            allowed += 1;
                            kept.lock().unwrap().push(reservation);
                        }
                    }
                    allowed
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    assert_eq!(allowed, 1000, "3,200 admissions from 8 threads at once, exactly 1,000 allowed");
    assert_eq!(w.balance().await, 0, "all reserved");
    let mut reservations = kept.into_inner().unwrap();
    drop(reservations.drain(400..).collect::<Vec<_>>());
    assert_eq!(w.balance().await, 600, "the 600 let go came back");
    for r in reservations {
        r.spend();
    }
    assert_eq!(w.balance().await, 600, "the 400 spent stay spent");
}

#[tokio::test]
async fn upstream_failures_charge_nothing() {
    let w = world(10, 2).await;
    w.run(SettingsSet { upstream_timeout_ms: Some(300), ..Default::default() }).await;
    let r = w.get("/v1/fail").await;
    assert_eq!(r.status(), 500, "an upstream 5xx passes through");
    assert_eq!(r.headers()["x-credits-remaining"], "10", "and is not charged");
    let r = w.get("/v1/slow").await;
    assert_eq!(r.status(), 504, "a slow upstream is a gateway timeout");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "UPSTREAM_TIMEOUT", "as a problem");
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    w.run(RouteCreate {
        path_prefix: "/gone".into(),
        upstream_url: format!("http://{dead}"),
        cost: Some(2),
        ..Default::default()
    })
    .await;
    let r = w.get("/gone").await;
    assert_eq!(r.status(), 502, "a refused connection is a bad gateway");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "UPSTREAM_UNAVAILABLE", "as a problem");
    assert_eq!(w.balance().await, 10, "no failure cost anything");
    let r = w.get("/v1/teapot").await;
    assert_eq!(r.status(), 418, "a 4xx from the upstream is its answer");
    assert_eq!(w.balance().await, 8, "and is charged: the upstream served it");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(debits(&w).await, vec![(-2, 1)], "only the served request is in the ledger");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_headers() {
    let w = world(1000, 1).await;
    w.run(PlanUpdate { plan: "pro".into(), rate_per_second: Some(1), burst: Some(2), ..Default::default() }).await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(w.get("/v1/x").await);
    }
    let statuses: Vec<u16> = codes.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 200, 429], "a burst of 2 allows three at once, then 429");
    let limited = codes.pop().unwrap();
    assert_eq!(limited.headers()["retry-after"], "1", "Retry-After in whole seconds");
    assert!(limited.headers().contains_key("ratelimit"), "RateLimit header");
    assert_eq!(
        limited.headers()["ratelimit-policy"],
        "\"plan\";q=1;w=1;burst=2",
        "RateLimit-Policy names the plan's limit"
    );
    assert_eq!(limited.json::<serde_json::Value>().await.unwrap()["code"], "RATE_LIMITED", "code");
    assert_eq!(w.balance().await, 997, "a rate-limited request costs nothing");
}

#[tokio::test]
async fn the_quota_counts_served_requests() {
    let w = world(1000, 1).await;
    w.run(PlanUpdate { plan: "pro".into(), period_quota: Some(2), ..Default::default() }).await;
    assert_eq!(w.get("/v1/x").await.status(), 200, "1 of 2");
    assert_eq!(w.get("/v1/fail").await.status(), 500, "a failed call does not count");
    assert_eq!(w.get("/v1/x").await.status(), 200, "2 of 2");
    let r = w.get("/v1/x").await;
    assert_eq!(r.status(), 402, "quota used up");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "QUOTA_EXHAUSTED", "code");
}

#[tokio::test]
async fn denials_are_stored_and_served_traffic_is_summed_per_minute() {
    use tollgate_core::store::traffic::{DenialList, UsageList};
    let w = world(3, 1).await;
    for _ in 0..5 {
        w.get("/v1/x").await;
    }
    let mut stored = Vec::new();
    for _ in 0..100 {
        stored = w.run(DenialList::default()).await.0;
        if stored.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored.len(), 2, "each denial is stored");
    w.traffic.flush().await.expect("the counts are written now rather than within seconds");
    assert_eq!(
        (stored[0].code.as_str(), stored[0].tenant.as_deref()),
        ("INSUFFICIENT_CREDITS", Some("acme")),
        "with code and tenant"
    );
    let usage = w.run(UsageList { tenant: Some("acme".into()), ..Default::default() }).await;
    let (requests, credits): (i64, i64) = usage.iter().fold((0, 0), |(r, c), u| (r + u.requests, c + u.credits));
    assert_eq!((requests, credits), (3, 3), "served requests are summed, not stored one by one");
    assert!(usage.len() <= 2, "one row per minute, tenant and route");
    let rows = w.run(tollgate_core::store::tenants::TenantList::default()).await;
    let acme = rows.iter().find(|t| t.slug == "acme").expect("acme is listed");
    assert_eq!(acme.denials_24h, 2, "the tenant list counts the last day's denials");
}

#[tokio::test]
async fn old_denials_are_pruned_after_the_retention_period() {
    use tollgate_core::store::traffic::{DenialList, prune};
    let w = world(0, 1).await;
    w.run(SettingsSet { retention_days: Some(7), ..Default::default() }).await;
    w.get("/v1/x").await;
    for _ in 0..100 {
        if !w.run(DenialList::default()).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = w.console.store();
    assert_eq!(
        prune(store, chrono::Utc::now() + chrono::TimeDelta::days(6)).await.unwrap(),
        0,
        "kept within the retention"
    );
    assert_eq!(prune(store, chrono::Utc::now() + chrono::TimeDelta::days(8)).await.unwrap(), 1, "removed after it");
    assert!(w.run(DenialList::default()).await.is_empty(), "gone");
}

#[tokio::test]
async fn a_lapsed_period_works_through_the_grace_then_answers_402() {
    use tollgate_core::store::plans::{BillingPeriod, PlanCreate};
    use tollgate_core::store::subscriptions::{Renew, SetStatus, SubscriptionStatus};
    use tollgate_core::store::tenants::TenantCreate;
    use tollgate_core::{Command, Ctx};
    let w = world(100, 1).await;
    // The gateway judges with the wall clock, so the clock is pinned once here and the
    // periods have a fixed length: a weekly plan, not a monthly one whose length (28-31
    // days) would move the period's end with today's date.
    w.run(PlanCreate {
        name: "Weekly".into(),
        billing_period: Some(BillingPeriod::Week),
        credits_per_period: Some(100),
        features: vec!["search".into()],
        grace_days: Some(3),
        ..Default::default()
    })
    .await;
    let now = chrono::Utc::now();
    let joined = |hours: i64| Ctx { actor: "test".into(), now: now - chrono::TimeDelta::hours(hours) };
    // Periods that ended 36 hours ago (inside the 3-day grace) and 10 days ago (past it).
    for (slug, hours) in [("in-grace", 7 * 24 + 36), ("lapsed", 17 * 24)] {
        let d = TenantCreate { name: slug.into(), plan: "weekly".into(), ..Default::default() }
            .run(&w.console, &joined(hours))
            .await
            .unwrap();
        assert_eq!(d.subscription.period_end, joined(hours).now + chrono::TimeDelta::weeks(1), "a week from joining");
    }
    let key = |slug: &str| tollgate_core::store::keys::KeyIssue { tenant: slug.into(), ..Default::default() };
    let in_grace = w.run(key("in-grace")).await.secret;
    let lapsed = w.run(key("lapsed")).await.secret;
    let call = |secret: String| {
        let (client, url) = (w.client.clone(), w.url.clone());
        async move { client.get(format!("{url}/v1/x")).bearer_auth(secret).send().await.unwrap() }
    };
    assert_eq!(call(in_grace.clone()).await.status(), 200, "ended 36 hours ago, inside the 3-day grace: still served");
    let r = call(lapsed.clone()).await;
    assert_eq!(r.status(), 402, "ended 10 days ago: past the grace");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "SUBSCRIPTION_PAST_DUE", "past due, evaluated with the current time and no restart");
    assert!(body["period_end"].is_string() && body["grace_until"].is_string(), "with the dates: {body}");
    let grace = body["grace_until"].as_str().unwrap();
    assert!(
        grace.len() == 20 && grace.ends_with('Z') && !grace.contains('.'),
        "to the second, though stored finer: {grace}"
    );
    // A person sees the same facts with labels in their language, not member names.
    for (lang, labels, raw) in [
        ("en", ["Grace period until", "Period ended", "Request ID", "Plan"], "request_id"),
        ("de", ["Kulanzfrist bis", "Zeitraum endete", "Anfrage-ID", "Tarif"], "grace_until"),
    ] {
        let page = w
            .client
            .get(format!("{}/v1/x", w.url))
            .bearer_auth(&lapsed)
            .header("accept", "text/html")
            .header("accept-language", lang)
            .send()
            .await
            .unwrap();
        let html = page.text().await.unwrap();
        for label in labels {
            assert!(html.contains(&format!("<th>{label}</th>")), "{lang}: labelled '{label}': {html}");
        }
        assert!(!html.contains(&format!("<th>{raw}</th>")), "{lang}: no raw member name as a label: {html}");
        assert!(html.contains(&format!("<td>{grace}</td>")), "{lang}: the date to the second: {html}");
    }
    w.run(Renew { tenant: "lapsed".into(), reason: None }).await;
    assert_eq!(call(lapsed).await.status(), 200, "renewal lets the next request through");

    w.run(SetStatus { tenant: "in-grace".into(), status: SubscriptionStatus::Canceled, reason: None }).await;
    let r = call(in_grace).await;
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "SUBSCRIPTION_CANCELED",
        "canceled answers 402 at once"
    );
}

#[tokio::test]
async fn an_imported_key_works_at_once() {
    use tollgate_core::store::import::{ImportFormat, TenantImport};
    let w = world(0, 1).await;
    let legacy = "sk_live_from_the_old_gateway_0001";
    let data = format!("slug,name,plan,credits,key\nmoved,Moved Inc,pro,10,{legacy}\n");
    w.run(TenantImport { format: ImportFormat::Csv, data, dry_run: false }).await;
    let r = w.client.get(format!("{}/v1/x", w.url)).bearer_auth(legacy).send().await.unwrap();
    assert_eq!(r.status(), 200, "the old key is accepted without a restart");
    assert_eq!(r.headers()["x-credits-remaining"], "9", "with the imported balance");
}
