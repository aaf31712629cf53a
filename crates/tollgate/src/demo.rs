//! `tollgate serve --demo`: a fresh data directory seeded with plans, tenants, keys and
//! routes, a demo upstream on loopback, and a gentle mix of traffic, so a newcomer sees
//! the live monitor move at once (served calls, 401, 402 for credits, plan, subscription
//! and standing, and 429).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{TimeDelta, Utc};
use tokio::net::TcpListener;
use tollgate_core::keys::KeyIssue;
use tollgate_core::plans::{BillingPeriod, PlanCreate};
use tollgate_core::routes::RouteCreate;
use tollgate_core::tenants::{TenantCreate, TenantList, TenantSuspend};
use tollgate_core::{Command, Console, Ctx};

/// The demo tenants' keys, by tenant slug.
#[derive(Debug, Clone)]
pub struct DemoKeys(pub Vec<(&'static str, String)>);

impl DemoKeys {
    fn of(&self, tenant: &str) -> &str {
        self.0.iter().find(|(t, _)| *t == tenant).map_or("", |(_, k)| k.as_str())
    }
}

/// Starts the demo upstream: every path answers a small JSON document.
pub async fn upstream() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("cannot start the demo upstream")?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(|uri: axum::http::Uri| async move {
        axum::Json(serde_json::json!({ "demo": true, "path": uri.path(), "results": ["alpha", "beta", "gamma"] }))
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn run<C: Command>(console: &Console, ctx: &Ctx, command: C) -> Result<C::Output> {
    let name = C::NAME;
    command.run(console, ctx).await.with_context(|| format!("demo seed: {name}"))
}

/// Seeds a fresh data directory; refuses one that already has tenants.
pub async fn seed(console: &Console, upstream: &str) -> Result<DemoKeys> {
    let ctx = Ctx::now("demo");
    if !run(console, &ctx, TenantList::default()).await?.is_empty() {
        bail!(
            "--demo seeds a fresh data directory, and this one already has tenants; pass --data-dir with an empty directory"
        );
    }
    let plan = |name: &str, price, credits, features: &[&str], rate| PlanCreate {
        name: name.into(),
        price_minor: Some(price),
        billing_period: Some(BillingPeriod::Month),
        credits_per_period: Some(credits),
        features: features.iter().map(|f| f.to_string()).collect(),
        rate_per_second: Some(rate),
        burst: Some(rate),
        grace_days: Some(3),
        ..Default::default()
    };
    run(console, &ctx, plan("Starter", 900, 20, &["search"], 2)).await?;
    run(console, &ctx, plan("Pro", 4900, 100_000, &["search", "export"], 50)).await?;
    let tenants = [("acme", "pro", 0), ("globex", "starter", 0), ("initech", "starter", 40), ("hooli", "starter", 0)];
    let mut keys = Vec::new();
    for (slug, plan, joined_days_ago) in tenants {
        let joined = Ctx { actor: "demo".into(), now: Utc::now() - TimeDelta::days(joined_days_ago) };
        let input = TenantCreate {
            name: slug.into(),
            plan: plan.into(),
            contact_email: Some(format!("billing@{slug}.example")),
            ..Default::default()
        };
        run(console, &joined, input).await?;
        let key = run(console, &ctx, KeyIssue { tenant: slug.into(), name: Some("demo".into()), ..Default::default() })
            .await?;
        keys.push((slug, key.secret));
    }
    run(console, &ctx, TenantSuspend { tenant: "hooli".into(), reason: Some("card declined (demo)".into()) }).await?;
    for (path, cost, feature) in [("/v1/search", 1, "search"), ("/v1/export", 5, "export")] {
        let route = RouteCreate {
            path_prefix: path.into(),
            upstream_url: upstream.into(),
            cost: Some(cost),
            required_feature: Some(feature.into()),
            ..Default::default()
        };
        run(console, &ctx, route).await?;
    }
    Ok(DemoKeys(keys))
}

/// Sends the demo traffic to the gateway until `stopping` turns true, about 8 calls a second.
pub async fn drive(gateway: String, keys: DemoKeys, mut stopping: tokio::sync::watch::Receiver<bool>) {
    let client = reqwest::Client::new();
    // (tenant or "" for no key, path, how many at once)
    let script: [(&str, &str, usize); 8] = [
        ("acme", "/v1/search?q=tollgate", 1),
        ("acme", "/v1/export", 1),
        ("globex", "/v1/search?q=credits", 1), // served until its 20 credits run out, then 402
        ("globex", "/v1/export", 1),           // 402: not in the Starter plan
        ("initech", "/v1/search", 1),          // 402: its period ended and the grace is over
        ("", "/v1/search", 1),                 // 401: no key
        ("hooli", "/v1/search", 1),            // 402: suspended for non-payment
        ("globex", "/v1/search?q=burst", 4),   // 429: faster than the Starter plan's 2/s
    ];
    let mut step = 0usize;
    loop {
        let (tenant, path, n) = script[step % script.len()];
        for _ in 0..n {
            let mut request = client.get(format!("{gateway}{path}"));
            if !tenant.is_empty() {
                request = request.bearer_auth(keys.of(tenant));
            }
            let _ = request.send().await;
        }
        step += 1;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(125)) => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
    }
}
