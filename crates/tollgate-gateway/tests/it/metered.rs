//! Metered routes: a call reserves its ceiling (or what its body's model and `max_tokens`
//! can cost), is charged what the upstream reports (a header, or OpenAI-style token usage,
//! streamed or not) once the answer has ended, never more than it reserved, and a stream
//! that breaks off is charged by the route's rule. The answer's bytes are not touched.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tollgate_core::Command;
use tollgate_core::console::verify::Verify;
use tollgate_core::domain::metering::{Metering, ModelPrice, OnCancel};
use tollgate_core::store::ledger::{EntryKind, LedgerList};
use tollgate_core::store::routes::{RouteCreate, RouteUpdate};
use tollgate_core::store::settings::{Durability, SettingsSet};

use crate::harness::{World, world};

/// One completion: a fixed text, its usage counted from the request (prompt tokens: the
/// words of the messages; completion tokens: `max_tokens`, or 5).
fn usage_of(request: &Value) -> (i64, i64) {
    let words = request["messages"]
        .as_array()
        .map(|m| m.iter().map(|m| m["content"].as_str().unwrap_or("").split_whitespace().count()).sum::<usize>())
        .unwrap_or(0);
    (words as i64, request["max_tokens"].as_i64().unwrap_or(5))
}

/// An OpenAI-shaped `/v1/chat/completions`: JSON, or Server-Sent Events with the usage in
/// the last chunk when `stream_options.include_usage` (as OpenAI streams it). `?cut=1`
/// breaks the stream after its usage chunk, `?hold=1` holds it after the first chunk,
/// `?over=N` reports N completion tokens whatever was asked.
async fn completions(
    Query(q): Query<std::collections::HashMap<String, String>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    // A client that accepts compression would get a body the gateway cannot read: stood in
    // for here by an answer without usage.
    let compressed = headers.get("accept-encoding").is_some_and(|v| v != "identity");
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (prompt, mut completion) = usage_of(&request);
    if let Some(over) = q.get("over") {
        completion = over.parse().unwrap();
    }
    let model = request["model"].as_str().unwrap_or("gpt-test").to_string();
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    if request["stream"] != json!(true) {
        let answer = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
            "usage": if compressed { Value::Null } else { usage },
        });
        return axum::Json(answer).into_response();
    }
    let chunk = |delta: Value, usage: Value| {
        let c = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model,
            "choices": if delta.is_null() { json!([]) } else { json!([{"index": 0, "delta": delta, "finish_reason": null}]) },
            "usage": usage});
        Bytes::from(format!("data: {c}\n\n"))
    };
    let mut events = vec![
        chunk(json!({"role": "assistant", "content": "Hello"}), Value::Null),
        chunk(json!({"content": " there"}), Value::Null),
    ];
    if request["stream_options"]["include_usage"] == json!(true) {
        events.push(chunk(Value::Null, usage));
    }
    let (cut, hold) = (q.contains_key("cut"), q.contains_key("hold"));
    if !cut {
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    }
    let first = events.remove(0);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) })
        .chain(futures_util::stream::once(async move {
            if hold {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Ok(Bytes::new())
        }))
        .chain(futures_util::stream::iter(events.into_iter().map(Ok)))
        .chain(futures_util::stream::iter(cut.then_some(())).then(|()| async {
            // Once what came before has left, so the client has the head and the usage.
            tokio::time::sleep(Duration::from_millis(200)).await;
            Err(std::io::Error::other("cut"))
        }));
    Response::builder().header(header::CONTENT_TYPE, "text/event-stream").body(Body::from_stream(stream)).unwrap()
}

/// Charges what `?charge=` says in `Tollgate-Charge`; `?empty=1` answers 204 without a body,
/// `?hold=1` holds the body after its first chunk.
async fn charged(Query(q): Query<std::collections::HashMap<String, String>>, _request: Request) -> Response {
    let mut response = if q.contains_key("empty") {
        axum::http::StatusCode::NO_CONTENT.into_response()
    } else if q.contains_key("hold") {
        let first = futures_util::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"part")) });
        let rest = futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Bytes::from_static(b" rest"))
        });
        Response::new(Body::from_stream(first.chain(rest)))
    } else {
        "charged".into_response()
    };
    if let Some(charge) = q.get("charge") {
        response.headers_mut().insert("tollgate-charge", charge.parse().unwrap());
    }
    response
}

async fn ai_upstream() -> SocketAddr {
    let app = Router::new().route("/v1/chat/completions", post(completions)).route("/charged", get(charged));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// 1 credit per prompt token, 2 per completion token.
fn prices() -> Vec<ModelPrice> {
    vec![ModelPrice { model: "gpt-test".into(), prompt_per_million: 1_000_000, completion_per_million: 2_000_000 }]
}

/// A world with `credits`, the AI upstream behind `/v1/chat/completions` (usage-metered, ceiling 1,000) and
/// `/charged` (header-metered, ceiling 50).
async fn metered_world(credits: i64) -> World {
    let w = world(credits, 1).await;
    let up = ai_upstream().await;
    w.run(SettingsSet { model_prices: Some(prices()), usage_flush_ms: Some(60_000), ..Default::default() }).await;
    w.run(RouteCreate {
        path_prefix: "/v1/chat/completions".into(),
        upstream_url: format!("http://{up}"),
        metering: Some(Metering::Usage),
        max_cost: Some(1000),
        ..Default::default()
    })
    .await;
    w.run(RouteCreate {
        path_prefix: "/charged".into(),
        upstream_url: format!("http://{up}"),
        metering: Some(Metering::Header),
        max_cost: Some(50),
        ..Default::default()
    })
    .await;
    w
}

async fn chat(w: &World, body: Value, query: &str) -> reqwest::Response {
    w.client
        .post(format!("{}/v1/chat/completions{query}", w.url))
        .bearer_auth(&w.secret)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The debits written (amount, calls), once usage is flushed.
async fn debits(w: &World) -> Vec<(i64, i64)> {
    w.settlement.flush().await.expect("usage written");
    let entries = w.run(LedgerList { tenant: "acme".into(), limit: Some(100), ..Default::default() }).await;
    entries.iter().filter(|e| e.kind == EntryKind::Debit).map(|e| (e.amount, e.requests)).collect()
}

/// Waits until the tenant's balance is `expected` (a charge settles as the body ends,
/// just after the client has read it).
async fn balance_reaches(w: &World, expected: i64) {
    for _ in 0..200 {
        if w.balance().await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(w.balance().await, expected, "balance");
}

fn ask(words: &str, max_tokens: i64) -> Value {
    json!({"model": "gpt-test", "max_tokens": max_tokens, "messages": [{"role": "user", "content": words}]})
}

#[tokio::test]
async fn a_json_answer_is_charged_its_priced_usage_and_arrives_unchanged() {
    let w = metered_world(10_000).await;
    let r = chat(&w, ask("one two three", 7), "").await;
    assert_eq!(r.status(), 200);
    let reserved = 10_000 - r.headers()["x-credits-remaining"].to_str().unwrap().parse::<i64>().unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["usage"]["prompt_tokens"], 3, "the upstream's answer, untouched");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello there");
    // Reserved: every body byte as a prompt token plus 7 completion tokens at 2.
    let bytes = serde_json::to_vec(&ask("one two three", 7)).unwrap().len() as i64;
    assert_eq!(reserved, bytes + 14, "the reservation covers the body and max_tokens");
    balance_reaches(&w, 10_000 - (3 + 14)).await;
    assert_eq!(debits(&w).await, vec![(-17, 1)], "3 prompt tokens × 1 + 7 completion tokens × 2");
    assert!(w.run(Verify {}).await.ok);
}

#[tokio::test]
async fn a_streamed_answer_is_charged_the_usage_of_its_last_chunk() {
    let w = metered_world(10_000).await;
    let mut body = ask("a b c d", 4);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = chat(&w, body, "").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    assert!(text.starts_with("data: {") && text.ends_with("data: [DONE]\n\n"), "the stream, untouched: {text}");
    balance_reaches(&w, 10_000 - (4 + 8)).await;
    assert_eq!(debits(&w).await, vec![(-12, 1)]);
    assert!(w.run(Verify {}).await.ok);
}

#[tokio::test]
async fn a_balance_below_the_reservation_is_refused_saying_what_was_needed() {
    let w = metered_world(100).await;
    let r = chat(&w, ask("one two three", 100), "").await;
    assert_eq!(r.status(), 402);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "INSUFFICIENT_CREDITS");
    assert!(problem["cost"].as_i64().unwrap() > 200, "the reservation is named: {problem}");
    assert_eq!(problem["balance"], 100);
    // A smaller max_tokens fits.
    assert_eq!(chat(&w, json!({"model": "gpt-test", "max_tokens": 1, "messages": []}), "").await.status(), 200);
    assert_eq!(w.hits.count(), 0, "the echo upstream saw nothing");
}

#[tokio::test]
async fn a_model_without_a_price_is_refused_before_it_costs_anything() {
    let w = metered_world(10_000).await;
    let mut body = ask("hi", 5);
    body["model"] = json!("gpt-unpriced");
    let r = chat(&w, body, "").await;
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.unwrap();
    assert_eq!((problem["code"].as_str(), problem["model"].as_str()), (Some("MODEL_NOT_PRICED"), Some("gpt-unpriced")));
    assert_eq!(w.balance().await, 10_000, "the reservation went back");
    // A dead key learns nothing about models or prices: 401 first.
    let r = w
        .client
        .post(format!("{}/v1/chat/completions", w.url))
        .bearer_auth("tg_live_nothing")
        .json(&ask("hi", 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn usage_beyond_the_reservation_is_charged_the_reservation_and_noted() {
    let w = metered_world(10_000).await;
    let mut events = w.hub.subscribe();
    let r = chat(&w, ask("x", 2), "?over=5000").await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    let bytes = serde_json::to_vec(&ask("x", 2)).unwrap().len() as i64;
    let reserved = bytes + 4;
    balance_reaches(&w, 10_000 - reserved).await;
    let event = loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.unwrap().unwrap();
        match &*event {
            tollgate_core::live::events::Event::Gateway(e) if e.route.as_deref() == Some("/v1/chat/completions") => {
                break e.clone();
            }
            _ => continue,
        }
    };
    assert_eq!(event.cost, reserved);
    let facts: Value = serde_json::from_str(event.facts.as_ref().unwrap().get()).unwrap();
    assert_eq!(facts, json!({"reported": 1 + 10_000, "reserved": reserved}), "the overrun is on the event");
    assert_eq!(debits(&w).await, vec![(-reserved, 1)]);
    assert!(w.run(Verify {}).await.ok);
}

#[tokio::test]
async fn a_header_reports_the_charge_and_the_client_never_sees_it() {
    let w = metered_world(1000).await;
    let r = w.get("/charged?charge=37").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("tollgate-charge").is_none(), "the charge header stays with the gateway");
    assert_eq!(r.text().await.unwrap(), "charged");
    balance_reaches(&w, 1000 - 37).await;
    assert_eq!(w.get("/charged?charge=999").await.text().await.unwrap(), "charged");
    balance_reaches(&w, 1000 - 37 - 50).await; // capped at max_cost
    assert_eq!(w.get("/charged").await.status(), 200, "no report");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(w.balance().await, 1000 - 87, "nothing reported, nothing charged");
    assert_eq!(debits(&w).await, vec![(-87, 2)], "calls charged nothing are not in the entry");
    assert!(w.run(Verify {}).await.ok);
}

#[tokio::test]
async fn a_broken_answer_is_charged_by_the_routes_rule_unless_its_usage_arrived() {
    let w = metered_world(10_000).await;
    let mut body = ask("a b", 3);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    // The stream broke after its usage: the answer was all there, charged whatever the rule.
    let r = chat(&w, body.clone(), "?cut=1").await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "the client sees the stream break");
    balance_reaches(&w, 10_000 - (2 + 6)).await;
    // A client that leaves before any usage arrived owes nothing.
    let mut r = chat(&w, body, "?hold=1").await;
    assert!(r.chunk().await.unwrap().unwrap().starts_with(b"data: "), "the first chunk arrived");
    drop(r);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.balance().await, 10_000 - 8);
    // A header route's charge is known from the head: `nothing` forgives a broken answer,
    // `reported` charges it.
    let mut r = w.get("/charged?charge=7&hold=1").await;
    assert_eq!(&r.chunk().await.unwrap().unwrap()[..], b"part");
    drop(r);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.balance().await, 10_000 - 8, "nothing: forgiven");
    w.run(RouteUpdate { id: 3, on_cancel: Some(OnCancel::Reported), ..Default::default() }).await;
    let mut r = w.get("/charged?charge=7&hold=1").await;
    assert_eq!(&r.chunk().await.unwrap().unwrap()[..], b"part");
    drop(r);
    balance_reaches(&w, 10_000 - 8 - 7).await;
    assert_eq!(debits(&w).await, vec![(-15, 2)]);
    assert!(w.run(Verify {}).await.ok);
}

#[tokio::test]
async fn an_answer_that_ends_without_reporting_is_charged_by_the_route_kind() {
    let w = metered_world(10_000).await;
    // A stream without `include_usage` reports no usage: its reservation is charged.
    let mut body = ask("a b", 3);
    body["stream"] = json!(true);
    let r = chat(&w, body.clone(), "").await;
    let reserved = 10_000 - r.headers()["x-credits-remaining"].to_str().unwrap().parse::<i64>().unwrap();
    assert!(r.text().await.unwrap().ends_with("[DONE]\n\n"));
    balance_reaches(&w, 10_000 - reserved).await;
    // An empty answer (204) is never read, yet it ended: its header's charge stands.
    let r = w.get("/charged?charge=4&empty=1").await;
    assert_eq!(r.status(), 204);
    balance_reaches(&w, 10_000 - reserved - 4).await;
    assert!(w.run(Verify {}).await.ok);
}

#[tokio::test]
async fn usage_is_read_from_uncompressed_answers() {
    let w = metered_world(10_000).await;
    let upstream_saw = w
        .client
        .post(format!("{}/v1/chat/completions", w.url))
        .bearer_auth(&w.secret)
        .header("accept-encoding", "gzip, br")
        .json(&ask("one", 1))
        .send()
        .await
        .unwrap();
    assert_eq!(upstream_saw.status(), 200);
    upstream_saw.bytes().await.unwrap();
    balance_reaches(&w, 10_000 - (1 + 2)).await;
}

#[tokio::test]
async fn strict_metered_charges_are_committed_before_the_body_ends() {
    let w = metered_world(10_000).await;
    w.run(SettingsSet { durability: Some(Durability::Strict), ..Default::default() }).await;
    let r = chat(&w, ask("one two", 3), "").await;
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap();
    // Committed by the time the body ended: durable without a flush (in the strict
    // journal, or already folded into the ledger)...
    assert_eq!(w.durable_charges().await, 2 + 6);
    // ...and a flush folds it into one usage entry.
    w.settlement.flush().await.unwrap();
    let entries = w.run(LedgerList { tenant: "acme".into(), limit: Some(10), ..Default::default() }).await;
    let debit: Vec<_> = entries.iter().filter(|e| e.kind == EntryKind::Debit).map(|e| e.amount).collect();
    assert_eq!(debit, vec![-(2 + 6)]);
    assert!(w.run(Verify {}).await.ok);
}

#[tokio::test]
async fn metered_routes_need_a_ceiling_and_a_header_name() {
    let w = world(0, 1).await;
    let bad = RouteCreate {
        path_prefix: "/m".into(),
        upstream_url: "http://127.0.0.1:9".into(),
        metering: Some(Metering::Usage),
        ..Default::default()
    };
    let e = bad.clone().run(&w.console, &tollgate_core::Ctx::now("test")).await.unwrap_err();
    assert!(e.to_string().contains("max_cost"), "{e}");
    let bad_header = RouteCreate {
        metering: Some(Metering::Header),
        max_cost: Some(5),
        charge_header: Some("not a header".into()),
        ..bad
    };
    let e = bad_header.run(&w.console, &tollgate_core::Ctx::now("test")).await.unwrap_err();
    assert!(e.to_string().contains("charge_header"), "{e}");
    let routes = w.run(tollgate_core::store::routes::RouteList {}).await;
    assert_eq!(routes.0.len(), 1, "nothing was created");
}
