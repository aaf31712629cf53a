//! `GET /metrics` on a running node: real traffic through the gateway to a real upstream,
//! then a scrape over HTTP whose counters must be exactly what that traffic produced, and
//! which Prometheus's own `promtool check metrics` accepts.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use tollgate::data_dir::DataDir;
use tollgate::node::{Node, NodeOptions};
use tollgate_core::store::keys::KeyIssue;
use tollgate_core::store::plans::PlanCreate;
use tollgate_core::store::routes::RouteCreate;
use tollgate_core::store::settings::SettingsSet;
use tollgate_core::store::tenants::TenantCreate;
use tollgate_core::{Command as _, ConsoleError, Ctx};

/// Every sample of a scrape, by its name and labels as written.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line has a value: {l}"));
            (series.to_string(), value.parse().unwrap_or_else(|_| panic!("a number: {l}")))
        })
        .collect()
}

/// Runs `promtool check metrics` on `text`; panics with its findings when it objects.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian's `prometheus` package; `scripts/deps.sh --test` installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics objects:\n{}{}\n--- the scrape:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn issue(node: &Node, plan: PlanCreate, tenant: &str) -> String {
    let (console, ctx) = (node.console(), Ctx::now("test"));
    let slug = plan.name.to_lowercase();
    plan.run(console, &ctx).await.unwrap();
    TenantCreate { name: tenant.into(), plan: slug, ..Default::default() }.run(console, &ctx).await.unwrap();
    KeyIssue { tenant: tenant.into(), ..Default::default() }.run(console, &ctx).await.unwrap().secret
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_the_traffic_the_gateway_answered() {
    let dir = tempfile::tempdir().unwrap();
    let local = Some("127.0.0.1:0".parse().unwrap());
    let options =
        NodeOptions { admin_listen: local, gateway_listen: local, metrics_listen: local, ..Default::default() };
    let node = Node::start(DataDir::resolve(Some(dir.path().into())).unwrap(), options).await.unwrap();
    let pro = PlanCreate { name: "Pro".into(), credits_per_period: Some(10_000), ..Default::default() };
    let acme = issue(&node, pro, "acme").await;
    // One request a second, no burst: the second of two quick requests is refused (429).
    let slow = PlanCreate {
        name: "Slow".into(),
        credits_per_period: Some(10_000),
        rate_per_second: Some(1),
        burst: Some(0),
        ..Default::default()
    };
    let slowpoke = issue(&node, slow, "slowpoke").await;
    let (console, ctx) = (node.console(), Ctx::now("test"));
    let upstream = crate::process::upstream();
    let v1 =
        RouteCreate { path_prefix: "/v1".into(), upstream_url: upstream.clone(), cost: Some(2), ..Default::default() };
    v1.run(console, &ctx).await.unwrap();
    // Costs more than anyone has: 402 INSUFFICIENT_CREDITS.
    let pricey = RouteCreate {
        path_prefix: "/pricey".into(),
        upstream_url: upstream,
        cost: Some(1_000_000),
        ..Default::default()
    };
    pricey.run(console, &ctx).await.unwrap();

    let http = reqwest::Client::new();
    let gateway = node.gateway_url();
    let get = |path: &str, key: Option<&str>| {
        let request = http.get(format!("{gateway}{path}"));
        let request = match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        };
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(get("/v1/search", Some(&acme)).await);
    }
    for _ in 0..2 {
        statuses.push(get("/pricey/x", Some(&acme)).await);
    }
    statuses.push(get("/v1/search", None).await);
    statuses.push(get("/nowhere", Some(&acme)).await);
    for _ in 0..3 {
        statuses.push(get("/v1/search", Some(&slowpoke)).await);
    }
    assert_eq!(statuses, [200, 200, 200, 402, 402, 401, 404, 200, 429, 429], "the traffic the test means to send");

    let admin_metrics = format!("{}/metrics", node.admin_url());
    let refused = http.get(&admin_metrics).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the admin listener's /metrics needs the admin token");
    let wrong = http.get(&admin_metrics).bearer_auth("not-the-token").send().await.unwrap();
    assert_eq!(wrong.status(), 401, "and the right one");
    let scraped = http.get(&admin_metrics).bearer_auth(node.token()).send().await.unwrap();
    assert_eq!(scraped.status(), 200, "with the token, the admin listener serves /metrics");
    let content_type = scraped.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8", "the text exposition format");
    let text = scraped.text().await.unwrap();
    promtool_check(&text);
    let s = samples(&text);
    let at = |series: &str| *s.get(series).unwrap_or_else(|| panic!("the scrape has {series}:\n{text}"));
    let requests = |route: &str, status: u16, code: &str| {
        at(&format!("tollgate_gateway_requests_total{{route=\"{route}\",status=\"{status}\",code=\"{code}\"}}"))
    };
    assert_eq!(requests("/v1", 200, ""), 4.0, "three of acme's and one of slowpoke's were served");
    assert_eq!(requests("/v1", 401, "MISSING_API_KEY"), 1.0);
    assert_eq!(requests("/v1", 429, "RATE_LIMITED"), 2.0);
    assert_eq!(requests("/pricey", 402, "INSUFFICIENT_CREDITS"), 2.0);
    assert_eq!(requests("(none)", 404, "ROUTE_NOT_FOUND"), 1.0, "no route matched: the fixed label");
    let request_series = s.keys().filter(|k| k.starts_with("tollgate_gateway_requests_total{")).count();
    assert_eq!(request_series, 5, "no other series of requests:\n{text}");
    let total: f64 = s.iter().filter(|(k, _)| k.starts_with("tollgate_gateway_requests_total{")).map(|(_, v)| v).sum();
    assert_eq!(total, 10.0, "every request counted once");

    let count = |route: &str, outcome: &str| {
        at(&format!("tollgate_gateway_request_duration_seconds_count{{route=\"{route}\",outcome=\"{outcome}\"}}"))
    };
    assert_eq!(count("/v1", "served"), 4.0, "the histogram counts each served request");
    assert_eq!(count("/v1", "problem"), 3.0);
    assert_eq!(count("/pricey", "problem"), 2.0);
    assert_eq!(count("(none)", "problem"), 1.0);
    let inf = at("tollgate_gateway_request_duration_seconds_bucket{route=\"/v1\",outcome=\"served\",le=\"+Inf\"}");
    assert_eq!(inf, 4.0, "+Inf holds every observation");
    assert!(at("tollgate_gateway_request_duration_seconds_sum{route=\"/v1\",outcome=\"served\"}") > 0.0, "time passed");

    assert_eq!(at("tollgate_credits_charged_total{route=\"/v1\"}"), 8.0, "four served calls at 2 credits");
    assert_eq!(at("tollgate_credits_charged_total{route=\"/pricey\"}"), 0.0, "refusals cost nothing");
    assert_eq!(at("tollgate_tenants"), 2.0);
    assert_eq!(at("tollgate_api_keys"), 2.0);
    assert_eq!(at(&format!("tollgate_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))), 1.0);
    assert_eq!(at("tollgate_denial_samples_dropped_total"), 0.0);
    assert_eq!(at("tollgate_request_records_dropped_total"), 0.0);
    assert_eq!(at("tollgate_queue_capacity{queue=\"denial_samples\"}"), 2000.0, "the traffic log's sample buffer");
    assert!(s.contains_key("tollgate_queue_depth{queue=\"settlement\"}"), "the settlement queue's depth:\n{text}");
    assert!(s.contains_key("tollgate_settlement_commit_duration_seconds_count{durability=\"batched\"}"), "{text}");

    // The separate address serves the same, without a token.
    let separate = node.metrics_url().to_string();
    assert_ne!(separate, admin_metrics, "--metrics-listen gets its own address");
    let open = http.get(&separate).send().await.unwrap();
    assert_eq!(open.status(), 200, "the metrics address needs no token");
    let text = open.text().await.unwrap();
    promtool_check(&text);
    assert_eq!(samples(&text)["tollgate_credits_charged_total{route=\"/v1\"}"], 8.0, "the same counters");

    // The writer's commits are timed: the batched charges reach the ledger within a flush
    // interval (2 s by default).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let now = samples(&http.get(&separate).send().await.unwrap().text().await.unwrap());
        if now["tollgate_settlement_commit_duration_seconds_count{durability=\"batched\"}"] >= 1.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the flush that wrote the charges is in the histogram");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_address_in_use_or_not_an_address_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let local = Some("127.0.0.1:0".parse().unwrap());
    let options =
        NodeOptions { admin_listen: local, gateway_listen: local, metrics_listen: Some(addr), ..Default::default() };
    let Err(e) = Node::start(DataDir::resolve(Some(dir.path().into())).unwrap(), options).await else {
        panic!("a metrics port in use must stop the start");
    };
    let e = format!("{e:#}");
    assert!(e.contains(&addr.to_string()) && e.contains("metrics"), "the error names the address and what for: {e}");

    let options = NodeOptions { admin_listen: local, gateway_listen: local, ..Default::default() };
    let node = Node::start(DataDir::resolve(Some(dir.path().into())).unwrap(), options).await.unwrap();
    assert_eq!(node.metrics_url(), format!("{}/metrics", node.admin_url()), "without an address: the admin API's");
    let (console, ctx) = (node.console(), Ctx::now("test"));
    let bad = SettingsSet { metrics_listen: Some("port 9464".into()), ..Default::default() };
    match bad.run(console, &ctx).await {
        Err(ConsoleError::Invalid { field, message }) => {
            assert_eq!(field, "metrics_listen", "the field is named");
            assert!(message.contains("port 9464"), "and the value: {message}");
        }
        other => panic!("an unparsable metrics_listen is refused: {other:?}"),
    }
    let set = SettingsSet { metrics_listen: Some("127.0.0.1:9464".into()), ..Default::default() };
    let report = set.run(console, &ctx).await.unwrap();
    assert_eq!(report.settings.metrics_listen, "127.0.0.1:9464");
    let listening = report.listening.expect("a running server says where it listens");
    assert_eq!(listening.metrics_url, node.metrics_url(), "the address applies at the next start");
    assert_eq!(listening.metrics_listen, None);
    let off = SettingsSet { metrics_listen: Some(String::new()), ..Default::default() };
    assert_eq!(off.run(console, &ctx).await.unwrap().settings.metrics_listen, "", "empty turns it off again");
    node.stop().await.unwrap();

    let out = crate::process::fails(dir.path(), &["serve", "--metrics-listen", "localhost:nine"]);
    assert!(out.contains("--metrics-listen") && out.contains("localhost:nine"), "clap names the flag and value: {out}");
}
