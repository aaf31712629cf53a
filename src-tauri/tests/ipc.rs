//! The desktop's IPC adapter on Tauri's mock runtime (no display), with the app's real
//! configuration and capabilities, over a real node: SQLite file, gateway, upstream.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::test::{MockRuntime, mock_builder};
use tauri::{App, Manager, WebviewWindow, WebviewWindowBuilder};
use tempfile::TempDir;
use tollgate::data_dir::DataDir;
use tollgate::node::{Node, NodeOptions};
use tollgate_core::console::command::COMMAND_NAMES;
use tollgate_core::live::event_filter::EventFilter;
use tollgate_desktop::{Desktop, feed, shell};

mod common;
use common::{get, invoke, upstream};

struct Shell {
    _dir: TempDir,
    db: std::path::PathBuf,
    app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    gateway: String,
}

fn shell() -> Shell {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::resolve(Some(dir.path().to_path_buf())).unwrap();
    let local = Some("127.0.0.1:0".parse().unwrap());
    let options = NodeOptions { admin_listen: local, gateway_listen: local, ui_dir: None, ..NodeOptions::default() };
    let node = tauri::async_runtime::block_on(Node::start(data.clone(), options)).unwrap();
    let gateway = node.gateway_url().to_string();
    let app = tollgate_desktop::with_commands(mock_builder())
        .manage(Desktop::new(node, Instant::now()))
        .build(shell::context())
        .expect("the app builds on the mock runtime");
    // The window as tauri.conf.json declares it (hidden until the dashboard paints).
    let config = app.config().app.windows.first().expect("tauri.conf.json declares the window").clone();
    assert_eq!(config.label, "main");
    let window = WebviewWindowBuilder::from_config(&app, &config).unwrap().build().unwrap();
    Shell { db: data.database(), _dir: dir, app, window, gateway }
}

impl Shell {
    fn console(&self, name: &str, input: Value) -> Result<Value, Value> {
        invoke(&self.window, "console", json!({ "name": name, "input": input }))
    }
}

fn seed(s: &Shell, credits: i64) -> String {
    s.console("plan.create", json!({ "name": "Basic", "credits_per_period": credits })).unwrap();
    s.console("tenant.create", json!({ "name": "acme", "plan": "basic" })).unwrap();
    let key = s.console("key.issue", json!({ "tenant": "acme" })).unwrap();
    s.console("route.create", json!({ "path_prefix": "/v1", "upstream_url": upstream(), "cost": 1 })).unwrap();
    key["secret"].as_str().unwrap().to_string()
}

#[test]
fn every_console_command_reaches_core_through_the_one_adapter() {
    let s = shell();
    for name in COMMAND_NAMES {
        // `{}` is valid input for the list commands and an input error for the others;
        // either way the answer comes from the command, not from a missing route.
        match s.console(name, json!({})) {
            Ok(_) => {}
            Err(e) => {
                assert_ne!(e["code"], "UNKNOWN_COMMAND", "{name} must reach core: {e}");
                assert!(
                    e["code"].is_string() && e["message"].is_string(),
                    "{name}: an error is {{code, message}}: {e}"
                );
            }
        }
    }
    let unknown = s.console("tenant.teleport", json!({})).unwrap_err();
    assert_eq!(unknown["code"], "UNKNOWN_COMMAND", "a name core does not know is refused by core: {unknown}");
}

#[test]
fn commands_round_trip_their_inputs_and_outputs() {
    let s = shell();
    let plan =
        s.console("plan.create", json!({ "name": "Pro", "credits_per_period": 500, "features": ["search"] })).unwrap();
    assert_eq!((plan["slug"].as_str(), plan["credits_per_period"].as_i64()), (Some("pro"), Some(500)));
    s.console("tenant.create", json!({ "name": "Acme Corp", "plan": "pro" })).unwrap();
    let key = s.console("key.issue", json!({ "tenant": "acme-corp", "name": "ci" })).unwrap();
    assert!(key["secret"].as_str().unwrap().starts_with("tg_live_"), "the secret crosses once: {key}");
    let topped =
        s.console("credits.topup", json!({ "tenant": "acme-corp", "amount": 250, "idempotency_key": "t1" })).unwrap();
    assert!(topped.is_object(), "{topped}");
    let again =
        s.console("credits.topup", json!({ "tenant": "acme-corp", "amount": 250, "idempotency_key": "t1" })).unwrap();
    assert!(again.is_object(), "a repeated idempotency key is not an error");
    let detail = s.console("tenant.show", json!({ "tenant": "acme-corp" })).unwrap();
    assert_eq!(detail["tenant"]["balance"], 750, "500 granted + one top-up of 250, not two: {detail}");
    let audit = s.console("audit.list", json!({})).unwrap();
    let actors: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["actor"].as_str()).collect();
    let me = format!("desktop:{}", tollgate::os_user::name().expect("the tests run as a named user"));
    assert!(
        !actors.is_empty() && actors.iter().all(|a| *a == me),
        "the window acts as 'desktop:<os user>': {actors:?}"
    );
    assert_eq!(s.console("verify", json!({})).unwrap()["ok"], true, "balance == sum(ledger)");
}

#[test]
fn errors_cross_as_code_and_message_with_the_field() {
    let s = shell();
    let e = s.console("plan.create", json!({ "name": "Pro", "price_minor": -1 })).unwrap_err();
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("INVALID_INPUT"), Some("price_minor")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("price_minor"), "the message names the field: {e}");
    let e = s.console("plan.create", json!({ "name": 5 })).unwrap_err();
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("INVALID_INPUT"), Some("name")), "mistyped: {e}");
    let e = s.console("credits.topup", json!({ "tenant": "ghost", "amount": 5, "idempotency_key": "k" })).unwrap_err();
    assert_eq!(e["code"], "NOT_FOUND", "{e}");
    let e = invoke(&s.window, "subscribe", json!({ "filter": { "status": "abc" }, "channel": "__CHANNEL__:1" }))
        .unwrap_err();
    assert_eq!((e["code"].as_str(), e["field"].as_str()), (Some("INVALID_INPUT"), Some("status")), "{e}");
    assert_eq!(s.console("plan.list", json!({})).unwrap(), json!([]), "nothing was stored");
}

#[test]
fn the_demo_loads_once_then_says_why_not() {
    let s = shell();
    let report = invoke(&s.window, "load_demo", json!({})).unwrap();
    assert_eq!((report["tenants"].as_i64(), report["routes"].as_i64()), (Some(4), Some(2)), "{report}");
    let e = invoke(&s.window, "load_demo", json!({})).unwrap_err();
    assert_eq!(e["code"], "NOT_EMPTY", "{e}");
}

#[test]
fn capabilities_grant_the_dashboard_window_only_its_own_commands() {
    let s = shell();
    let e =
        invoke(&s.window, "plugin:event|listen", json!({ "event": "x", "target": { "kind": "Any" }, "handler": 1 }))
            .unwrap_err();
    assert!(e.to_string().contains("not allowed"), "the event API is not granted: {e}");
    let other = WebviewWindowBuilder::new(&s.app, "other", Default::default()).build().unwrap();
    let e = invoke(&other, "console", json!({ "name": "plan.list", "input": {} })).unwrap_err();
    assert!(e.to_string().contains("not allowed"), "another window gets nothing: {e}");
    let ok = invoke(&s.window, "console", json!({ "name": "plan.list", "input": {} }));
    assert!(ok.is_ok(), "while the dashboard's window may: {ok:?}");
}

#[test]
fn the_live_feed_batches_matching_gateway_events_into_a_channel() {
    let s = shell();
    let key = seed(&s, 1);
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let channel: Channel<feed::Batch> = Channel::new(move |body| {
        if let InvokeResponseBody::Json(text) = body {
            sink.lock().unwrap().push(serde_json::from_str(&text).unwrap());
        }
        Ok(())
    });
    let desktop = s.app.state::<Desktop>();
    let matcher = EventFilter { status: Some("402".into()), ..Default::default() }.matcher().unwrap();
    let events = desktop.console().hub().subscribe();
    let task = tauri::async_runtime::spawn(feed::forward(events, matcher, move |b| channel.send(b).is_ok()));
    let url = format!("{}/v1/search", s.gateway);
    assert_eq!(get(&url, Some(&key)), 200, "the one credit pays for one call");
    assert_eq!(get(&url, Some(&key)), 402, "then the credits are exhausted");
    assert_eq!(get(&url, None), 401, "no key");
    let deadline = Instant::now() + Duration::from_secs(5);
    let events = loop {
        let events: Vec<Value> =
            received.lock().unwrap().iter().flat_map(|b| b["events"].as_array().unwrap().clone()).collect();
        if !events.is_empty() || Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(feed::TICK * 3);
    let all: Vec<Value> =
        received.lock().unwrap().iter().flat_map(|b| b["events"].as_array().unwrap().clone()).collect();
    assert_eq!(events.len(), 1, "only the 402 passes the filter: {all:?}");
    assert_eq!(all.len(), 1, "and nothing else came later: {all:?}");
    let e = &all[0];
    assert_eq!(
        (e["type"].as_str(), e["status"].as_u64(), e["code"].as_str()),
        (Some("gateway"), Some(402), Some("INSUFFICIENT_CREDITS"))
    );
    assert_eq!(e["tenant"], "acme");
    task.abort();
}

#[test]
fn a_viewer_that_falls_behind_is_told_how_many_it_missed() {
    let s = shell();
    let desktop = s.app.state::<Desktop>();
    let hub = desktop.console().hub().clone();
    let events = hub.subscribe();
    for i in 0..5000u64 {
        hub.publish(tollgate_core::live::events::Event::Gateway(tollgate_core::live::events::GatewayEvent {
            at: chrono::Utc::now(),
            request_id: format!("r{i}"),
            tenant: None,
            key_prefix: None,
            route: None,
            method: "GET".into(),
            path: "/".into(),
            status: 401,
            code: Some("MISSING_API_KEY".into()),
            cost: 0,
            balance: None,
            latency_us: 1,
            facts: None,
            node: None,
        }));
    }
    let batches: Arc<Mutex<Vec<feed::Batch>>> = Arc::default();
    let sink = batches.clone();
    let matcher = EventFilter::default().matcher().unwrap();
    let task = tauri::async_runtime::spawn(feed::forward(events, matcher, move |b| {
        sink.lock().unwrap().push(b);
        true
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    let total = |b: &Vec<feed::Batch>| b.iter().map(|b| b.missed as usize + b.events.len()).sum::<usize>();
    while total(&batches.lock().unwrap()) < 5000 && Instant::now() < deadline {
        std::thread::sleep(feed::TICK);
    }
    task.abort();
    let batches = batches.lock().unwrap();
    let missed: u64 = batches.iter().map(|b| b.missed).sum();
    let got: usize = batches.iter().map(|b| b.events.len()).sum();
    assert_eq!(missed, 5000 - 4096, "the hub keeps 4,096; the rest are counted, not lost silently");
    assert_eq!(got, 4096, "and the viewer goes on with what is left");
    assert!(batches.iter().all(|b| b.events.len() <= feed::MAX_BATCH), "batches stay small");
}

#[test]
fn quitting_writes_every_charge_and_releases_the_data_dir() {
    let s = shell();
    let key = seed(&s, 100);
    let url = format!("{}/v1/search", s.gateway);
    for _ in 0..25 {
        assert_eq!(get(&url, Some(&key)), 200);
    }
    let desktop = s.app.state::<Desktop>();
    tauri::async_runtime::block_on(desktop.stop()).unwrap();
    assert!(tauri::async_runtime::block_on(desktop.stop()).is_ok(), "a second stop does nothing");
    let reopened = tauri::async_runtime::block_on(async {
        let console = tollgate_core::Console::open(&s.db).await.unwrap();
        let ctx = tollgate_core::Ctx::now("test");
        let detail =
            tollgate_core::console::command::dispatch_json(&console, &ctx, "tenant.show", json!({ "tenant": "acme" }))
                .await
                .unwrap();
        let verify = tollgate_core::console::command::dispatch_json(&console, &ctx, "verify", json!({})).await.unwrap();
        (detail, verify)
    });
    assert_eq!(reopened.0["tenant"]["balance"], 75, "all 25 charges are in the database after quitting");
    assert_eq!(reopened.1["ok"], true, "balance == sum(ledger)");
    let dir = DataDir::resolve(Some(s.db.parent().unwrap().to_path_buf())).unwrap();
    assert!(dir.try_lock().unwrap().is_some(), "the lock is released for the next owner");
    assert!(dir.read_endpoint().is_none(), "and the CLI no longer finds a running app");
}

#[test]
fn feeds_end_on_unsubscribe_and_by_themselves_when_the_page_is_gone() {
    let s = shell();
    let desktop = s.app.state::<Desktop>();
    let id =
        invoke(&s.window, "subscribe", json!({ "filter": { "status": "402" }, "channel": "__CHANNEL__:7" })).unwrap();
    assert_eq!(desktop.feed_count(), 1, "a subscription runs a feed");
    assert_eq!(invoke(&s.window, "unsubscribe", json!({ "id": id })).unwrap(), true);
    assert_eq!(desktop.feed_count(), 0, "and unsubscribe ends it");
    assert_eq!(invoke(&s.window, "unsubscribe", json!({ "id": id })).unwrap(), false, "once");

    // A page that is gone refuses the batch: the feed ends and forgets itself.
    let matcher = EventFilter::default().matcher().unwrap();
    desktop.start_feed(feed::forward(desktop.console().hub().subscribe(), matcher, |_| false));
    assert_eq!(desktop.feed_count(), 1);
    assert!(get(&format!("{}/nowhere", s.gateway), None) >= 400, "a denial: an event for the feed to send");
    let deadline = Instant::now() + Duration::from_secs(5);
    while desktop.feed_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(feed::TICK);
    }
    assert_eq!(desktop.feed_count(), 0, "the dead feed is gone from the map");
}
