//! `tollgate serve --demo`: a fresh data directory seeded with plans, tenants, keys and
//! routes, a demo upstream on loopback, and a gentle mix of traffic, so a newcomer sees
//! the live monitor move at once (served calls, 401, 402 for credits, plan, subscription
//! and standing, and 429).

use std::time::Duration;

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::TimeDelta;
use tokio::net::TcpListener;
use tollgate_core::store::keys::KeyIssue;
use tollgate_core::store::plans::{BillingPeriod, PlanCreate, PlanList};
use tollgate_core::store::routes::{RouteCreate, RouteList};
use tollgate_core::store::tenants::{TenantCreate, TenantList, TenantSuspend};
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
async fn upstream() -> Result<String> {
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

/// What loading the demo created, for the dashboard.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoReport {
    pub tenants: usize,
    pub keys: usize,
    pub routes: usize,
}

/// Why the demo did not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Demo data would mix with the operator's own.
    #[error("the demo seeds an empty console, and this one already has tenants or plans")]
    NotEmpty,
    /// The demo's traffic speaks plain HTTP; it checks nothing of a gateway serving HTTPS.
    #[error("the demo's traffic speaks plain HTTP and this gateway serves HTTPS; run the demo without a certificate")]
    GatewayHttps,
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl DemoError {
    /// The error as the dashboard gets it, over HTTP or IPC. A failure's details go to
    /// the log, not to the page.
    pub fn body(&self) -> tollgate_core::ErrorBody {
        let (code, message) = match self {
            DemoError::NotEmpty => ("NOT_EMPTY", self.to_string()),
            DemoError::GatewayHttps => ("GATEWAY_HTTPS", self.to_string()),
            DemoError::Failed(e) => {
                tracing::error!(error = %e, "the demo did not start");
                ("DEMO_FAILED", "the demo could not start; see the log".to_string())
            }
        };
        tollgate_core::ErrorBody { code: code.into(), message, field: None }
    }
}

/// Starts the demo on a running server: from `serve --demo` or the dashboard's
/// "Load demo data". Cheap to clone; at most one start runs at a time.
#[derive(Clone)]
pub struct DemoLauncher {
    gateway_url: String,
    stopping: tokio::sync::watch::Receiver<bool>,
    once: Arc<tokio::sync::Mutex<()>>,
}

impl DemoLauncher {
    /// A launcher whose traffic goes to `gateway_url` until `stopping` turns true.
    pub fn new(gateway_url: String, stopping: tokio::sync::watch::Receiver<bool>) -> Self {
        Self { gateway_url, stopping, once: Arc::default() }
    }

    /// Starts the demo upstream, seeds the console and starts the traffic.
    pub async fn launch(&self, console: &Console) -> Result<(DemoReport, DemoKeys, String), DemoError> {
        let _one_at_a_time = self.once.lock().await;
        if self.gateway_url.starts_with("https://") {
            return Err(DemoError::GatewayHttps);
        }
        let ctx = Ctx::now("demo");
        let tenants = run(console, &ctx, TenantList::default()).await?;
        let plans = run(console, &ctx, PlanList { include_archived: true }).await?;
        if !tenants.is_empty() || !plans.is_empty() {
            return Err(DemoError::NotEmpty);
        }
        let upstream = upstream().await?;
        let keys = seed(console, &upstream).await?;
        let routes = run(console, &ctx, RouteList {}).await?.len();
        let report = DemoReport { tenants: keys.0.len(), keys: keys.0.len(), routes };
        tokio::spawn(drive(self.gateway_url.clone(), keys.clone(), self.stopping.clone()));
        Ok((report, keys, upstream))
    }
}

/// Seeds plans, tenants, keys and routes pointing at `upstream` into an empty console.
async fn seed(console: &Console, upstream: &str) -> Result<DemoKeys> {
    let ctx = Ctx::now("demo");
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
        let joined = Ctx { actor: "demo".into(), now: ctx.now - TimeDelta::days(joined_days_ago) };
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
async fn drive(gateway: String, keys: DemoKeys, mut stopping: tokio::sync::watch::Receiver<bool>) {
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
