//! The admin router, called in-process with real requests over a real SQLite file.

use std::collections::BTreeSet;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tempfile::TempDir;
use tollgate::admin::{self, AdminState};
use tollgate_core::Console;
use tollgate_core::console::command::COMMAND_NAMES;
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789-0123456789-abcdef";
const HOST: &str = "127.0.0.1:8401";

struct Api {
    _dir: TempDir,
    router: axum::Router,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::open(&dir.path().join("tollgate.db")).await.unwrap();
    let router = admin::router(AdminState::new(console, TOKEN, HOST.parse().unwrap()));
    Api { _dir: dir, router }
}

impl Api {
    async fn send(&self, request: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), 10 << 20).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body, headers)
    }

    async fn call(&self, command: &str, input: Value) -> (StatusCode, Value) {
        let request = Request::post(format!("/api/{command}"))
            .header(header::HOST, HOST)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-tollgate-actor", "console:alice")
            .body(Body::from(input.to_string()))
            .unwrap();
        let (status, body, _) = self.send(request).await;
        (status, body)
    }
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401() {
    let api = api().await;
    let bare = Request::post("/api/plan.list").header(header::HOST, HOST).body(Body::from("{}")).unwrap();
    let (status, body, headers) = api.send(bare).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token, no entry");
    assert_eq!(body["code"], "UNAUTHORIZED", "the error is {{code, message}}");
    assert!(headers.contains_key(header::WWW_AUTHENTICATE), "401 says how to authenticate");
    let wrong = Request::post("/api/plan.list")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}x"))
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(api.send(wrong).await.0, StatusCode::UNAUTHORIZED, "a wrong token is refused");
}

#[tokio::test]
async fn a_foreign_host_or_origin_is_403_even_with_the_token() {
    let api = api().await;
    for (host, origin) in [("evil.example:8401", None), (HOST, Some("http://evil.example")), ("127.0.0.1:9999", None)] {
        let mut request = Request::post("/api/plan.list")
            .header(header::HOST, host)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        if let Some(o) = origin {
            request = request.header(header::ORIGIN, o);
        }
        let (status, body, _) = api.send(request.body(Body::from("{}")).unwrap()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "Host {host} / Origin {origin:?} must be refused");
        assert_eq!(body["code"], "FORBIDDEN_HOST", "with a code that says why");
    }
    let ok = Request::post("/api/plan.list")
        .header(header::HOST, "localhost:8401")
        .header(header::ORIGIN, "http://localhost:8401")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(api.send(ok).await.0, StatusCode::OK, "localhost with its own origin is fine");
}

#[tokio::test]
async fn one_command_per_group_works_over_http() {
    let api = api().await;
    let (s, plan) =
        api.call("plan.create", json!({"name": "Pro", "credits_per_period": 100, "features": ["search"]})).await;
    assert_eq!((s, plan["slug"].as_str()), (StatusCode::OK, Some("pro")), "plan.create");
    let (s, t) = api.call("tenant.create", json!({"name": "Acme", "plan": "pro"})).await;
    assert_eq!((s, t["tenant"]["balance"].as_i64()), (StatusCode::OK, Some(100)), "tenant.create grants credits");
    api.call("plan.create", json!({"name": "Max"})).await;
    let (s, sub) = api.call("subscription.change-plan", json!({"tenant": "acme", "plan": "max"})).await;
    assert_eq!((s, sub["plan"].as_str()), (StatusCode::OK, Some("max")), "subscription.change-plan");
    let (s, key) = api.call("key.issue", json!({"tenant": "acme", "scopes": ["read"]})).await;
    assert!(
        s.is_success() && key["secret"].as_str().unwrap().starts_with("tg_live_"),
        "key.issue returns the secret once"
    );
    let (s, m) = api.call("credits.topup", json!({"tenant": "acme", "amount": 5000, "idempotency_key": "i-1"})).await;
    assert_eq!((s, m["balance"].as_i64()), (StatusCode::OK, Some(5100)), "credits.topup");
    let (s, r) = api
        .call("route.create", json!({"path_prefix": "/v1", "upstream_url": "http://127.0.0.1:9000", "cost": 2}))
        .await;
    assert_eq!((s, r["cost"].as_i64()), (StatusCode::OK, Some(2)), "route.create");
    let (s, l) = api.call("ledger.list", json!({"tenant": "acme"})).await;
    assert_eq!((s, l.as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "ledger.list is a plain array");
    let (s, st) = api.call("settings.set", json!({"retention_days": 7})).await;
    assert_eq!((s, st["retention_days"].as_i64()), (StatusCode::OK, Some(7)), "settings.set");
    let (s, v) = api.call("verify", json!({})).await;
    assert_eq!((s, v["ok"].as_bool()), (StatusCode::OK, Some(true)), "verify");
    let (s, audit) = api.call("audit.list", json!({"limit": 1})).await;
    assert_eq!(s, StatusCode::OK, "audit.list");
    assert_eq!(audit[0]["actor"], "console:alice", "the actor header is recorded");
}

#[tokio::test]
async fn errors_map_to_status_codes_with_field_names() {
    let api = api().await;
    let (s, e) = api.call("plan.create", json!({"name": "Pro", "price_minor": -5})).await;
    assert_eq!(
        (s, e["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("price_minor")),
        "invalid input is 422 naming the field"
    );
    let (s, e) = api.call("plan.create", json!({"name": 5})).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")), "a mistyped field is named");
    let (s, e) = api.call("credits.topup", json!({"tenant": "ghost", "amount": 5, "idempotency_key": "k"})).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::NOT_FOUND, Some("NOT_FOUND")), "unknown tenant is 404");
    api.call("plan.create", json!({"name": "Pro"})).await;
    let (s, e) = api.call("plan.create", json!({"name": "Pro"})).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("SLUG_TAKEN")), "duplicate slug is 409");
    let bad_json = Request::post("/api/plan.create")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(api.send(bad_json).await.0, StatusCode::UNPROCESSABLE_ENTITY, "malformed JSON is an input error");
}

#[tokio::test]
async fn ip_rules_over_http_name_the_field_and_the_bad_entry() {
    let api = api().await;
    api.call("plan.create", json!({"name": "Pro"})).await;
    let (s, t) = api
        .call("tenant.create", json!({"name": "Acme", "plan": "pro", "ip_deny": ["10.0.0.5", "2001:db8::/32"]}))
        .await;
    assert_eq!((s, &t["tenant"]["ip_deny"]), (StatusCode::OK, &json!(["10.0.0.5/32", "2001:db8::/32"])), "{t}");
    let (s, e) = api.call("tenant.update", json!({"tenant": "acme", "ip_allow": ["10.0.0.0/8", "10.1.1.1/8"]})).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("ip_allow")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("'10.1.1.1/8'"), "the bad entry is named: {e}");
    let (_, shown) = api.call("tenant.show", json!({"tenant": "acme"})).await;
    assert_eq!(shown["tenant"]["ip_allow"], json!([]), "the refused update changed nothing");
    let (s, r) = api
        .call(
            "route.create",
            json!({"path_prefix": "/v1", "upstream_url": "http://127.0.0.1:9", "ip_allow": ["::ffff:10.0.0.0/104"]}),
        )
        .await;
    assert_eq!((s, &r["ip_allow"]), (StatusCode::OK, &json!(["10.0.0.0/8"])), "an IPv4-mapped block is the IPv4 block");
    let (s, e) = api.call("settings.set", json!({"trusted_proxies": ["300.0.0.1"]})).await;
    assert_eq!((s, e["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("trusted_proxies")), "{e}");
}

#[tokio::test]
async fn every_command_has_a_route() {
    let api = api().await;
    for name in COMMAND_NAMES {
        let (status, body) = api.call(name, json!({})).await;
        assert_ne!(body["message"], "no such admin route", "{name} must have an admin route (got {status})");
        assert!(body.get("code").is_none() || body["code"] != "UNKNOWN_COMMAND", "{name} is known");
    }
}

fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.insert(r.trim_start_matches("#/components/schemas/").to_string());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_covers_every_command_and_resolves() {
    let api = api().await;
    let request = Request::get("/api/openapi.json").header(header::HOST, HOST).body(Body::empty()).unwrap();
    let (status, doc, _) = api.send(request).await;
    assert_eq!(status, StatusCode::OK, "the document is public (it holds no secrets)");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "an OpenAPI 3 document");
    for name in COMMAND_NAMES {
        assert!(doc["paths"][format!("/api/{name}")]["post"].is_object(), "{name} is documented");
    }
    let mut used = BTreeSet::new();
    refs(&doc, &mut used);
    let schemas = doc["components"]["schemas"].as_object().expect("components");
    let missing: Vec<_> = used.iter().filter(|r| !schemas.contains_key(*r)).collect();
    assert!(missing.is_empty(), "every $ref resolves; missing {missing:?}");
    assert!(schemas.contains_key("TenantDetail") && schemas.contains_key("Plan"), "output types are described");
}

#[tokio::test]
async fn a_slow_event_viewer_is_dropped_with_the_count_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let console = Console::open(&dir.path().join("tollgate.db")).await.unwrap();
    let router = admin::router(AdminState::new(console.clone(), TOKEN, HOST.parse().unwrap()));
    let request = Request::get("/api/events?kind=gateway")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the stream opens");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream", "as Server-Sent Events");
    // The viewer reads nothing while 5,000 events pass (the hub keeps 4,096).
    for i in 0..5000 {
        console.hub().publish(tollgate_core::live::events::Event::Gateway(sample_event(i)));
    }
    let text = String::from_utf8(to_bytes(response.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(
        text.starts_with("event: dropped\ndata: {\"missed\":904}"),
        "told how many it missed, then closed: {}",
        &text[..80.min(text.len())]
    );
}

#[tokio::test]
async fn event_filters_are_checked() {
    let api = api().await;
    let request = Request::get("/api/events?status=abc")
        .header(header::HOST, HOST)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = api.send(request).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a bad filter is refused");
    assert!(body["message"].as_str().unwrap().contains("'abc'"), "naming the value: {body}");
    let bare = Request::get("/api/events").header(header::HOST, HOST).body(Body::empty()).unwrap();
    assert_eq!(api.send(bare).await.0, StatusCode::UNAUTHORIZED, "the stream needs the token");
}

fn sample_event(i: u64) -> tollgate_core::live::events::GatewayEvent {
    tollgate_core::live::events::GatewayEvent {
        at: chrono::Utc::now(),
        request_id: format!("req_{i}"),
        tenant: Some("acme".into()),
        key_prefix: None,
        route: Some("/v1".into()),
        method: "GET".into(),
        path: "/v1/x".into(),
        status: 402,
        code: Some("INSUFFICIENT_CREDITS".into()),
        cost: 0,
        balance: Some(0),
        latency_us: 10,
        facts: None,
        node: None,
    }
}

#[tokio::test]
async fn the_dashboard_is_served_without_a_token_with_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let ui = dir.path().join("ui");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(ui.join("index.html"), "<!doctype html><title>Tollgate</title>").unwrap();
    std::fs::write(ui.join("assets/app-1234.js"), "console.log(1)").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside").unwrap();
    let console = Console::open(&dir.path().join("tollgate.db")).await.unwrap();
    let state = AdminState::new(console, TOKEN, HOST.parse().unwrap()).with_dashboard(admin::Dashboard::at(ui));
    let router = admin::router(state);
    let get = |path: &str| {
        let request = Request::get(path).header(header::HOST, HOST).body(Body::empty()).unwrap();
        router.clone().oneshot(request)
    };
    let page = get("/").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the page needs no token");
    assert_eq!(page.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8", "as HTML");
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "strict CSP: {csp}");
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache", "the page is always fresh");
    let body = to_bytes(page.into_body(), 1 << 20).await.unwrap();
    assert!(body.starts_with(b"<!doctype html>"), "index.html for /");
    let asset = get("/assets/app-1234.js").await.unwrap();
    assert_eq!(asset.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8", "scripts typed");
    assert!(asset.headers()[header::CACHE_CONTROL].to_str().unwrap().contains("immutable"), "hashed assets cache");
    assert_eq!(get("/../secret.txt").await.unwrap().status(), StatusCode::NOT_FOUND, "nothing outside the UI");
    assert_eq!(get("/assets/%2e%2e/%2e%2e/secret.txt").await.unwrap().status(), StatusCode::NOT_FOUND, "encoded too");
    let wrong_host = Request::get("/").header(header::HOST, "evil.example:8401").body(Body::empty()).unwrap();
    assert_eq!(router.clone().oneshot(wrong_host).await.unwrap().status(), StatusCode::FORBIDDEN, "Host checked");
    let api_miss = get("/api/nothing").await.unwrap();
    assert_eq!(api_miss.status(), StatusCode::NOT_FOUND, "unknown API routes stay JSON 404s");
    assert_eq!(api_miss.headers()[header::CONTENT_TYPE], "application/json", "as JSON");
}

#[tokio::test]
async fn every_error_answer_is_json_with_a_code() {
    let api = api().await;
    let authed = |request: axum::http::request::Builder| {
        request.header(header::HOST, HOST).header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
    };
    let json_error = |status: StatusCode, body: &Value, headers: &axum::http::HeaderMap, code: &str| {
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{status} is JSON");
        assert_eq!(body["code"], code, "{status} has a code: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "and a message: {body}");
    };

    // Over the small limit the other commands keep.
    let big = json!({"name": "x".repeat(3 << 20)}).to_string();
    let request = authed(Request::post("/api/plan.create")).body(Body::from(big)).unwrap();
    let (status, body, headers) = api.send(request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "3 MiB to plan.create is too large");
    json_error(status, &body, &headers, "PAYLOAD_TOO_LARGE");
    assert!(body["message"].as_str().unwrap().contains("2 MiB"), "naming the limit: {body}");

    let request = authed(Request::get("/api/plan.list")).body(Body::empty()).unwrap();
    let (status, body, headers) = api.send(request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "commands are POST");
    json_error(status, &body, &headers, "METHOD_NOT_ALLOWED");
    assert!(headers.contains_key(header::ALLOW), "the Allow header stays");

    let request = authed(Request::post("/api/nothing.here")).body(Body::from("{}")).unwrap();
    let (status, body, headers) = api.send(request).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no such command");
    json_error(status, &body, &headers, "NOT_FOUND");

    let request = authed(Request::post("/api/plan.create")).body(Body::from("[1,")).unwrap();
    let (status, body, headers) = api.send(request).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "broken JSON");
    json_error(status, &body, &headers, "INVALID_INPUT");

    let request = authed(Request::get("/api/events?status=abc")).body(Body::empty()).unwrap();
    let (status, body, headers) = api.send(request).await;
    json_error(status, &body, &headers, "INVALID_INPUT");
}

#[tokio::test]
async fn tenant_import_takes_a_large_file() {
    let api = api().await;
    api.call("plan.create", json!({"name": "Pro"})).await;
    // About 4 MB: over the 2 MiB of the other commands, well under import's 64 MiB.
    let key = "k".repeat(3900);
    let data: String = std::iter::once("slug,name,plan,key\n".to_string())
        .chain((0..1000).map(|i| format!("t{i},Tenant {i},pro,sk_{i}_{key}\n")))
        .collect();
    assert!(data.len() > 3_900_000, "{} bytes", data.len());
    let (status, report) = api.call("tenant.import", json!({"format": "csv", "data": data})).await;
    assert_eq!(status, StatusCode::OK, "the import is accepted: {report}");
    assert_eq!((report["tenants"].as_i64(), report["keys"].as_i64()), (Some(1000), Some(1000)), "all of it");
}

/// The OpenAPI document's schema of `name`.
fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

#[tokio::test]
async fn the_openapi_document_states_what_each_input_accepts_and_the_server_agrees() {
    let api = api().await;
    let request = Request::get("/api/openapi.json").header(header::HOST, HOST).body(Body::empty()).unwrap();
    let (_, doc, _) = api.send(request).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let input = item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap();
        let input = schema(&doc, input.rsplit('/').next().unwrap());
        assert_eq!(input["additionalProperties"], false, "{path} refuses unknown fields, and says so");
    }
    let slug = &schema(&doc, "PlanCreate")["properties"]["slug"];
    assert_eq!(
        (slug["pattern"].as_str(), slug["maxLength"].as_u64()),
        (Some("^[a-z0-9][a-z0-9-]*$"), Some(63)),
        "{slug}"
    );
    assert_eq!(schema(&doc, "Durability")["enum"], json!(["batched", "strict"]), "enums are listed");
    assert_eq!(schema(&doc, "Refund")["required"], json!(["tenant", "amount", "idempotency_key", "request_id"]));

    api.call("plan.create", json!({"name": "Pro"})).await;
    api.call("tenant.create", json!({"name": "Acme", "plan": "pro"})).await;
    // Each bound the document states, probed at the bound and one past it.
    let mut n = 0;
    let mut base = |command: &str| -> Value {
        n += 1;
        match command {
            "credits.topup" => json!({"tenant": "acme", "amount": 1, "idempotency_key": format!("k{n}")}),
            "plan.create" => json!({"name": format!("Plan {n}")}),
            "tenant.create" => json!({"name": format!("Tenant {n}"), "plan": "pro"}),
            _ => json!({}),
        }
    };
    let probes: &[(&str, &str, &str)] = &[
        ("credits.topup", "TopUp", "amount"),
        ("plan.create", "PlanCreate", "price_minor"),
        ("plan.create", "PlanCreate", "credits_per_period"),
        ("plan.create", "PlanCreate", "rate_per_second"),
        ("plan.create", "PlanCreate", "burst"),
        ("plan.create", "PlanCreate", "period_quota"),
        ("plan.create", "PlanCreate", "grace_days"),
        ("plan.create", "PlanCreate", "name"),
        ("plan.create", "PlanCreate", "slug"),
        ("tenant.create", "TenantCreate", "trial_days"),
        ("settings.set", "SettingsSet", "retention_days"),
        ("settings.set", "SettingsSet", "upstream_timeout_ms"),
        ("settings.set", "SettingsSet", "low_balance_threshold"),
        ("settings.set", "SettingsSet", "denial_spike_per_minute"),
        ("audit.list", "AuditList", "limit"),
    ];
    for (command, input, field) in probes {
        let rules = &schema(&doc, input)["properties"][field];
        let mut cases: Vec<(Value, bool)> = Vec::new();
        if let Some(min) = rules["minimum"].as_i64() {
            cases.extend([(json!(min), true), (json!(min - 1), false)]);
        }
        if let Some(max) = rules["maximum"].as_i64() {
            cases.extend([(json!(max), true), (json!(max + 1), false)]);
        }
        if let Some(max) = rules["maxLength"].as_u64() {
            let text = |len: u64| "a".repeat(usize::try_from(len).unwrap());
            cases.extend([(json!(text(max)), true), (json!(text(max + 1)), false)]);
        }
        assert!(!cases.is_empty(), "{input}.{field} states its bounds: {rules}");
        for (value, accepted) in cases {
            let mut body = base(command);
            body[field] = value.clone();
            let (status, answer) = api.call(command, body).await;
            if accepted {
                // Not an input error (a duplicate slug may still be a conflict).
                assert!(
                    status == StatusCode::OK || status == StatusCode::CONFLICT,
                    "{command} takes {field} = {value} (the schema allows it): {status} {answer}"
                );
            } else {
                assert_eq!(
                    (status, answer["field"].as_str()),
                    (StatusCode::UNPROCESSABLE_ENTITY, Some(*field)),
                    "{command} refuses {field} = {value} (the schema forbids it): {answer}"
                );
            }
        }
    }
}
