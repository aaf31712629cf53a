//! Address rules: per tenant and per route, allow and deny lists of CIDR blocks, answered
//! 403 `IP_NOT_ALLOWED`; `X-Forwarded-For` believed only from trusted proxies. Requests
//! here come from 127.0.0.1; a trusted 127.0.0.1 plays the load balancer.

use serde_json::Value;
use tollgate_core::store::routes::RouteCreate;
use tollgate_core::store::settings::SettingsSet;
use tollgate_core::store::tenants::TenantUpdate;

use crate::harness::{World, world};
use crate::problems::{assert_nothing_about_the_account, everything};

fn list(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| (*s).to_string()).collect())
}

async fn tenant_rules(w: &World, allow: &[&str], deny: &[&str]) {
    w.run(TenantUpdate { tenant: "acme".into(), ip_allow: list(allow), ip_deny: list(deny), ..Default::default() })
        .await;
}

/// Status and code of a GET of `path` with the key, sent with `X-Forwarded-For: xff` when given.
async fn call(w: &World, path: &str, xff: Option<&str>) -> (u16, Value) {
    let mut request = w.client.get(format!("{}{path}", w.url)).bearer_auth(&w.secret);
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_refused_address_gets_403_ip_not_allowed_is_not_charged_and_learns_nothing() {
    let w = world(4321, 1).await;
    w.run(SettingsSet {
        billing_link_template: Some("https://pay.example.org/t/{tenant}".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(call(&w, "/v1/x", None).await.0, 200, "no rules: served");
    tenant_rules(&w, &[], &["127.0.0.1"]).await;
    let balance = w.balance().await;
    for accept in ["application/json", "text/html"] {
        let (status, headers, body) = everything(&w, &w.secret, accept).await;
        assert_eq!(status, 403, "{accept}: {body}");
        assert!(body.contains("IP_NOT_ALLOWED"), "{accept}: the code is said: {body}");
        assert_nothing_about_the_account(&format!("refused address, {accept}"), &headers, &body);
    }
    let r = w.client.get(format!("{}/v1/x", w.url)).bearer_auth(&w.secret).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/problem+json", "a problem");
    assert!(r.headers().contains_key("x-request-id"), "with its request id");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 403);
    assert_eq!(problem["title"], "Address not allowed");
    assert_eq!(problem["instance"], "/v1/x");
    assert!(problem["type"].as_str().unwrap().ends_with("ip-not-allowed"), "{problem}");
    assert!(problem["request_id"].as_str().unwrap().starts_with("req_"), "{problem}");
    let de = w.client.get(format!("{}/v1/x", w.url)).bearer_auth(&w.secret).header("accept-language", "de").send();
    assert_eq!(de.await.unwrap().json::<Value>().await.unwrap()["title"], "Adresse nicht zugelassen", "in German");

    assert_eq!(w.hits.count(), 1, "only the first request reached the upstream");
    assert_eq!(w.balance().await, balance, "nothing charged");

    // Who you are comes first: without a key it is still 401.
    let r = w.client.get(format!("{}/v1/x", w.url)).send().await.unwrap();
    assert_eq!(r.status(), 401, "401 before 403");
}

#[tokio::test]
async fn a_refused_address_never_learns_the_payment_state() {
    let w = world(0, 5).await;
    assert_eq!(call(&w, "/v1/x", None).await.1["code"], "INSUFFICIENT_CREDITS", "broke");
    tenant_rules(&w, &["10.0.0.0/8"], &[]).await;
    let (status, problem) = call(&w, "/v1/x", None).await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("IP_NOT_ALLOWED")), "403 before 402: {problem}");
    assert!(problem.get("balance").is_none() && problem.get("link").is_none(), "{problem}");
}

#[tokio::test]
async fn tenant_and_route_rules_both_apply_and_deny_wins() {
    let w = world(100, 1).await;
    let upstream = format!("http://{}", w.upstream);
    let office = w
        .run(RouteCreate {
            path_prefix: "/office".into(),
            upstream_url: upstream,
            ip_allow: vec!["10.0.0.0/8".into(), "2001:db8::/32".into()],
            ..Default::default()
        })
        .await;
    assert_eq!(office.ip_allow.iter().map(ToString::to_string).collect::<Vec<_>>(), ["10.0.0.0/8", "2001:db8::/32"]);
    assert_eq!(call(&w, "/office/x", None).await.1["code"], "IP_NOT_ALLOWED", "outside the route's allow list");
    assert_eq!(call(&w, "/v1/x", None).await.0, 200, "another route has no rules");

    tenant_rules(&w, &["127.0.0.0/8"], &[]).await;
    assert_eq!(call(&w, "/v1/x", None).await.0, 200, "inside the tenant's allow list");
    assert_eq!(call(&w, "/office/x", None).await.0, 403, "the route's rule still applies");

    tenant_rules(&w, &["127.0.0.0/8"], &["127.0.0.1"]).await;
    assert_eq!(call(&w, "/v1/x", None).await.1["code"], "IP_NOT_ALLOWED", "deny wins over allow");

    tenant_rules(&w, &[], &[]).await;
    assert_eq!(call(&w, "/v1/x", None).await.0, 200, "empty lists clear the rules");
    assert_eq!(w.hits.count(), 3, "refusals never reached the upstream");
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
    let w = world(100, 1).await;
    tenant_rules(&w, &["10.0.0.0/8"], &["10.6.6.0/24"]).await;

    // 127.0.0.1 is not a trusted proxy: what it says about the client is not believed.
    let (status, _) = call(&w, "/v1/x", Some("10.1.2.3")).await;
    assert_eq!(status, 403, "X-Forwarded-For from an untrusted peer is ignored");

    let report = w.run(SettingsSet { trusted_proxies: list(&["127.0.0.1/32"]), ..Default::default() }).await;
    assert_eq!(report.settings.trusted_proxies.len(), 1);
    let (status, echo) = call(&w, "/v1/x", Some("10.1.2.3")).await;
    assert_eq!(status, 200, "behind a trusted proxy, the client is the address it forwarded for");
    assert_eq!(echo["headers"]["x-forwarded-for"], "10.1.2.3, 127.0.0.1", "the peer is appended upstream");

    // Read from the right: a client cannot put an allowed address in front of its own.
    assert_eq!(call(&w, "/v1/x", Some("10.1.2.3, 203.0.113.9")).await.0, 403, "the rightmost untrusted entry");
    assert_eq!(call(&w, "/v1/x", Some("10.1.2.3")).await.0, 200);
    assert_eq!(call(&w, "/v1/x", Some("10.6.6.6")).await.1["code"], "IP_NOT_ALLOWED", "denied behind the proxy");
    // A malformed entry stops the walk at the last trusted hop (127.0.0.1, not allowed).
    assert_eq!(call(&w, "/v1/x", Some("10.1.2.3, not-an-address")).await.0, 403, "garbage is not believed");
    // Several headers read as one list, in order.
    let r = w
        .client
        .get(format!("{}/v1/x", w.url))
        .bearer_auth(&w.secret)
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the last header's entry is the nearest hop");

    w.run(SettingsSet { trusted_proxies: list(&[""]), ..Default::default() }).await;
    assert_eq!(call(&w, "/v1/x", Some("10.1.2.3")).await.0, 403, "an empty list trusts no one again");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_keyless_limit_counts_each_client_apart() {
    let w = world(100, 1).await;
    w.run(SettingsSet { trusted_proxies: list(&["127.0.0.1"]), ..Default::default() }).await;
    let keyless = |xff: &'static str| w.client.get(format!("{}/nowhere", w.url)).header("x-forwarded-for", xff).send();
    let mut limited = false;
    for _ in 0..150 {
        if keyless("203.0.113.1").await.unwrap().status() == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "one client past its keyless burst is limited");
    assert_eq!(keyless("203.0.113.2").await.unwrap().status(), 404, "another client behind the same proxy is not");
}
