//! Denials as RFC 9457 problems: body, headers, HTML and language variants, and that a
//! denied request never reaches the upstream.

use tollgate_core::store::keys::KeyRevoke;
use tollgate_core::store::routes::RouteCreate;
use tollgate_core::store::settings::SettingsSet;
use tollgate_core::store::tenants::{TenantBlock, TenantSuspend};

use crate::harness::world;

#[tokio::test]
async fn insufficient_credits_is_a_complete_402_problem() {
    let w = world(0, 5).await;
    w.run(SettingsSet {
        billing_link_template: Some("https://pay.example.org/t/{tenant}".into()),
        ..Default::default()
    })
    .await;
    let r = w.get("/v1/search?q=x").await;
    assert_eq!(r.status(), 402, "no credits, payment required");
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/problem+json", "RFC 9457 media type");
    assert_eq!(h["cache-control"], "no-store", "problems are not cached");
    assert_eq!(h["link"], "<https://pay.example.org/t/acme>; rel=\"payment\"", "402 links to where to pay");
    assert_eq!(h["x-credits-remaining"], "0", "the balance is on every answer");
    let id = h["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["type"], "https://tollgate.example.com/problems/insufficient-credits",
        "type from the settings' base"
    );
    assert_eq!(body["title"], "Insufficient credits", "title");
    assert_eq!(body["status"], 402, "status repeated in the body");
    assert_eq!(
        body["detail"], "This call costs 5 credits and your balance is 0. Top up to continue.",
        "a human message with the facts"
    );
    assert_eq!(body["instance"], "/v1/search", "the path that was refused");
    assert_eq!(body["code"], "INSUFFICIENT_CREDITS", "the machine code");
    assert_eq!(body["request_id"], id.as_str(), "the same id as the header");
    assert_eq!(body["link"], "https://pay.example.org/t/acme", "the billing link");
    assert_eq!(
        (body["balance"].as_i64(), body["cost"].as_i64(), body["plan"].as_str()),
        (Some(0), Some(5), Some("pro")),
        "the facts"
    );
    assert_eq!(w.hits.count(), 0, "a denied request never reaches the upstream");
}

#[tokio::test]
async fn every_status_family_carries_its_headers() {
    let w = world(100, 1).await;
    let bare = w.client.get(format!("{}/v1/x", w.url)).send().await.unwrap();
    assert_eq!(bare.status(), 401, "no key");
    assert_eq!(bare.headers()["www-authenticate"], "Bearer realm=\"tollgate\"", "401 says how to authenticate");
    let body: serde_json::Value = bare.json().await.unwrap();
    assert_eq!(body["code"], "MISSING_API_KEY", "missing key code");
    assert!(body.get("link").is_none(), "an unknown caller gets no billing link");

    let wrong = w.client.get(format!("{}/v1/x", w.url)).header("x-api-key", "tg_live_nope").send().await.unwrap();
    assert_eq!(wrong.json::<serde_json::Value>().await.unwrap()["code"], "INVALID_API_KEY", "unknown key");

    let ok = w.client.get(format!("{}/v1/x", w.url)).header("x-api-key", &w.secret).send().await.unwrap();
    assert_eq!(ok.status(), 200, "X-API-Key works as well as Bearer");

    w.run(RouteCreate {
        path_prefix: "/admin".into(),
        upstream_url: format!("http://{}", w.upstream),
        required_scope: Some("admin".into()),
        ..Default::default()
    })
    .await;
    let scoped = w.get("/admin/users").await;
    assert_eq!(scoped.status(), 403, "a missing scope is forbidden whatever is paid");
    assert_eq!(scoped.json::<serde_json::Value>().await.unwrap()["required_scope"], "admin", "and names the scope");

    let none = w.get("/nowhere").await;
    assert_eq!(none.status(), 404, "no route");
    assert_eq!(none.json::<serde_json::Value>().await.unwrap()["code"], "ROUTE_NOT_FOUND", "with a problem body");
}

#[tokio::test]
async fn standing_changes_apply_to_the_next_request() {
    let w = world(100, 1).await;
    assert_eq!(w.get("/v1/x").await.status(), 200, "in good standing");
    w.run(TenantSuspend { tenant: "acme".into(), reason: None }).await;
    let r = w.get("/v1/x").await;
    assert_eq!(r.status(), 402, "suspended for non-payment");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "ACCOUNT_SUSPENDED_NONPAYMENT", "code");
    w.run(TenantBlock { tenant: "acme".into(), reason: None }).await;
    let r = w.get("/v1/x").await;
    assert_eq!(r.status(), 403, "blocked outranks everything but authentication");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "TENANT_BLOCKED", "code");
    let prefix: String = w.secret.chars().take(16).collect();
    w.run(KeyRevoke { key: prefix, reason: None }).await;
    let r = w.get("/v1/x").await;
    assert_eq!(r.status(), 401, "a revoked key is 401 even for a blocked tenant");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "API_KEY_REVOKED", "code");
}

#[tokio::test]
async fn browsers_get_a_page_and_german_speakers_german() {
    let w = world(0, 2).await;
    let page = w
        .client
        .get(format!("{}/v1/x", w.url))
        .bearer_auth(&w.secret)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 402, "same status for a browser");
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "an HTML page");
    let html = page.text().await.unwrap();
    assert!(html.contains("Insufficient credits") && html.contains("INSUFFICIENT_CREDITS"), "with the title and code");
    assert!(html.contains("href=\"https://billing.example.com/acme\""), "and a button to pay: {html}");

    let de = w
        .client
        .get(format!("{}/v1/x", w.url))
        .bearer_auth(&w.secret)
        .header("accept-language", "de-DE,de;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(de.headers()["content-language"], "de", "German chosen");
    let body: serde_json::Value = de.json().await.unwrap();
    assert_eq!(body["title"], "Guthaben reicht nicht aus", "a German title");
    assert_eq!(body["code"], "INSUFFICIENT_CREDITS", "codes stay the same in every language");

    let fr = w
        .client
        .get(format!("{}/v1/x", w.url))
        .bearer_auth(&w.secret)
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    assert_eq!(
        fr.json::<serde_json::Value>().await.unwrap()["title"],
        "Insufficient credits",
        "unsupported languages get English"
    );
}

#[tokio::test]
async fn nothing_internal_leaks_into_a_problem() {
    let w = world(100, 1).await;
    w.run(SettingsSet { upstream_timeout_ms: Some(300), ..Default::default() }).await;
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    w.run(RouteCreate { path_prefix: "/dead".into(), upstream_url: format!("http://{dead}"), ..Default::default() })
        .await;
    for path in ["/dead/x", "/v1/slow"] {
        let r = w.get(path).await;
        let text = r.text().await.unwrap();
        assert!(
            !text.contains("127.0.0.1") && !text.contains(&dead.port().to_string()),
            "no upstream address in {path}: {text}"
        );
        assert!(!text.to_lowercase().contains("sql") && !text.contains("reqwest"), "no internals in {path}: {text}");
    }
}

/// Every byte of an answer a browser or a program gets, headers and body, as text.
pub(crate) async fn everything(w: &crate::harness::World, secret: &str, accept: &str) -> (u16, String, String) {
    let r = w.client.get(format!("{}/v1/x", w.url)).bearer_auth(secret).header("accept", accept).send().await.unwrap();
    let status = r.status().as_u16();
    let headers: String = r.headers().iter().map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap())).collect();
    (status, headers, r.text().await.unwrap())
}

/// No tenant slug, balance, plan or billing link, in any header or anywhere in the body.
pub(crate) fn assert_nothing_about_the_account(what: &str, headers: &str, body: &str) {
    let headers = headers.to_lowercase();
    for leak in ["acme", "4321", "pay.example.org", "x-credits-remaining", "\nlink:", "ratelimit-policy"] {
        assert!(!headers.contains(leak), "{what}: '{leak}' in the headers:\n{headers}");
    }
    for leak in
        ["acme", "4321", "pay.example.org", "pro\"", ">pro<", "\"tenant\"", ">tenant<", "plan", "balance", "href"]
    {
        assert!(!body.contains(leak), "{what}: '{leak}' in the body:\n{body}");
    }
    if let Ok(serde_json::Value::Object(members)) = serde_json::from_str::<serde_json::Value>(body) {
        let names: Vec<&str> = members.keys().map(String::as_str).collect();
        let expected = ["type", "title", "status", "detail", "instance", "code", "request_id"];
        let extra: Vec<&&str> = names.iter().filter(|n| !expected.contains(n) && **n != "expires_at").collect();
        assert!(extra.is_empty(), "{what}: only the problem's own members, not {extra:?}");
    }
}

#[tokio::test]
async fn refused_keys_and_blocked_tenants_learn_nothing_about_the_account() {
    use tollgate_core::store::keys::KeyIssue;
    use tollgate_core::store::tenants::TenantResume;
    use tollgate_core::{Command, Ctx};

    let w = world(4321, 1).await;
    w.run(SettingsSet {
        billing_link_template: Some("https://pay.example.org/t/{tenant}".into()),
        ..Default::default()
    })
    .await;
    let mut events = w.console.hub().subscribe();
    let last_month = Ctx { actor: "test".into(), now: chrono::Utc::now() - chrono::TimeDelta::days(30) };
    let expired = KeyIssue {
        tenant: "acme".into(),
        expires_at: Some(last_month.now + chrono::TimeDelta::days(1)),
        ..Default::default()
    }
    .run(&w.console, &last_month)
    .await
    .unwrap()
    .secret;
    let revoked = w.run(KeyIssue { tenant: "acme".into(), ..Default::default() }).await.secret;
    w.run(KeyRevoke { key: revoked.chars().take(16).collect(), reason: None }).await;

    let mut cases = Vec::new();
    for accept in ["application/json", "text/html"] {
        cases.push(("revoked", &revoked, accept, 401, "API_KEY_REVOKED"));
        cases.push(("expired", &expired, accept, 401, "API_KEY_EXPIRED"));
    }
    for (what, secret, accept, status, code) in cases {
        let (got, headers, body) = everything(&w, secret, accept).await;
        assert_eq!(got, status, "{what} key, {accept}: {body}");
        assert!(body.contains(code), "{what} key, {accept}: the code is said: {body}");
        assert_nothing_about_the_account(&format!("{what} key, {accept}"), &headers, &body);
    }

    w.run(TenantBlock { tenant: "acme".into(), reason: None }).await;
    for accept in ["application/json", "text/html"] {
        let (got, headers, body) = everything(&w, &w.secret, accept).await;
        assert_eq!(got, 403, "blocked, {accept}: {body}");
        assert!(body.contains("TENANT_BLOCKED"), "blocked, {accept}: {body}");
        assert_nothing_about_the_account(&format!("blocked, {accept}"), &headers, &body);
    }

    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let tollgate_core::live::events::Event::Gateway(e) = &*event {
            seen.push((e.code.clone(), e.tenant.clone()));
        }
    }
    for code in ["API_KEY_REVOKED", "API_KEY_EXPIRED", "TENANT_BLOCKED"] {
        assert!(
            seen.iter().any(|(c, t)| c.as_deref() == Some(code) && t.as_deref() == Some("acme")),
            "the operator's event for {code} still names the tenant: {seen:?}"
        );
    }

    w.run(TenantResume { tenant: "acme".into(), reason: None }).await;
    let r = w.get("/v1/x").await;
    assert_eq!(r.headers()["x-credits-remaining"], "4320", "a good key still sees its balance");
}
