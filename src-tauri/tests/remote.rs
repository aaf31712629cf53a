//! The desktop console managing another Tollgate server over TLS, on Tauri's mock runtime:
//! a second node (its own data directory, self-signed admin certificate) stands in for a
//! remote `tollgate serve`. The connection is added through IPC (its fingerprint pinned on
//! first use), every console command and the live feed then go to that server, the feed
//! reopens by itself after the server restarts and says how long it was down, and a changed
//! certificate is refused; and the watcher behind the tray and the notifications follows the
//! remote server's denials and thresholds. The real keyring is `keyring.rs`'s.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::test::mock_builder;
use tauri::{Manager, WebviewWindowBuilder};
use tollgate::admin_client::AdminClient;
use tollgate::admin_tls::{AdminTlsMode, AdminTlsOptions};
use tollgate::data_dir::DataDir;
use tollgate::node::{Node, NodeOptions};
use tollgate_core::live::events::Event;
use tollgate_desktop::connections::MemorySecrets;
use tollgate_desktop::watch::{self, Seen, Watcher};
use tollgate_desktop::{Desktop, feed, shell};

mod common;
use common::{get, invoke, upstream};

/// A node with its admin API over TLS (self-signed), on `admin` (port 0: any).
fn server(dir: &std::path::Path, admin: &str) -> Node {
    let options = NodeOptions {
        admin_listen: Some(admin.parse().unwrap()),
        gateway_listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_tls: AdminTlsOptions { mode: AdminTlsMode::SelfSigned, files: None },
        ..NodeOptions::default()
    };
    tauri::async_runtime::block_on(Node::start(DataDir::resolve(Some(dir.to_path_buf())).unwrap(), options)).unwrap()
}

/// Waits up to 10 s for `found` over the batches received so far.
fn wait_for(batches: &Arc<Mutex<Vec<Value>>>, what: &str, found: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !found(&batches.lock().unwrap()) {
        assert!(Instant::now() < deadline, "{what}: {:?}", batches.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_console_manages_a_remote_server_over_tls_and_its_feed_survives_a_restart() {
    let local_dir = tempfile::tempdir().unwrap();
    let remote_dir = tempfile::tempdir().unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let local = NodeOptions { admin_listen: Some(any), gateway_listen: Some(any), ..NodeOptions::default() };
    let local =
        tauri::async_runtime::block_on(Node::start(DataDir::resolve(Some(local_dir.path().into())).unwrap(), local))
            .unwrap();
    let remote = server(remote_dir.path(), "127.0.0.1:0");
    let (remote_url, fingerprint) = (remote.admin_url().to_string(), remote.admin_fingerprint().unwrap().to_string());
    let remote_admin = remote_url.trim_start_matches("https://").to_string();
    let token = std::fs::read_to_string(remote_dir.path().join("admin-token")).unwrap();

    let file = local_dir.path().join("connections.json");
    let desktop = Desktop::with_secrets(local, Instant::now(), Some(file.clone()), Arc::new(MemorySecrets::default()));
    let app = tollgate_desktop::with_commands(mock_builder()).manage(desktop).build(shell::context()).unwrap();
    let config = app.config().app.windows.first().unwrap().clone();
    let window = WebviewWindowBuilder::from_config(&app, &config).unwrap().build().unwrap();
    let console = |name: &str, input: Value| invoke(&window, "console", json!({ "name": name, "input": input }));

    // A bad token is refused by the server and nothing is kept.
    let e =
        invoke(&window, "connection_add", json!({ "name": "prod", "url": remote_url, "token": "wrong" })).unwrap_err();
    assert_eq!(e["code"], "UNAUTHORIZED", "{e}");
    let e = invoke(&window, "connection_add", json!({ "name": "prod", "url": "http://10.1.2.3:8401", "token": "t" }))
        .unwrap_err();
    assert_eq!(e["field"], "url", "plain HTTP to another machine is refused: {e}");
    assert_eq!(invoke(&window, "connections", json!({})).unwrap()["connections"], json!([]));

    let added =
        invoke(&window, "connection_add", json!({ "name": "prod", "url": remote_url, "token": token })).unwrap();
    assert_eq!(added["fingerprint"], fingerprint.as_str(), "the certificate is pinned on first connect");
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains(&fingerprint) && !saved.contains(token.trim()), "the file keeps no token: {saved}");
    let id = added["id"].as_str().unwrap().to_string();
    invoke(&window, "connection_use", json!({ "id": id })).unwrap();

    let e = invoke(&window, "load_demo", json!({})).unwrap_err();
    assert_eq!(e["code"], "REMOTE_CONNECTION", "the demo would seed the local node behind a remote view: {e}");

    // Every command now runs on the remote server.
    console("plan.create", json!({ "name": "Pro", "features": ["api"] })).unwrap();
    console("tenant.create", json!({ "name": "acme", "plan": "pro" })).unwrap();
    let key = console("key.issue", json!({ "tenant": "acme" })).unwrap()["secret"].as_str().unwrap().to_string();
    console(
        "route.create",
        json!({ "path_prefix": "/v1", "upstream_url": upstream(), "cost": 1, "required_feature": "api" }),
    )
    .unwrap();
    let remote_gateway = format!("{}/v1/x", remote.gateway_url());
    assert_eq!(get(&remote_gateway, Some(&key)), 402, "the remote tenant has no credits");
    let local_tenants = app.state::<Desktop>().console().clone();
    let here = tauri::async_runtime::block_on(tollgate_core::console::command::dispatch_json(
        &local_tenants,
        &tollgate_core::Ctx::now("test"),
        "tenant.list",
        json!({}),
    ))
    .unwrap();
    assert_eq!(here, json!([]), "nothing was created on the local node");

    // The live feed comes from the remote server.
    let batches: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = batches.clone();
    let channel: Channel<feed::Batch> = Channel::new(move |body| {
        if let InvokeResponseBody::Json(text) = body {
            sink.lock().unwrap().push(serde_json::from_str(&text).unwrap());
        }
        Ok(())
    });
    let desktop = app.state::<Desktop>();
    let client = desktop.connections().active_client(|| "test".into()).unwrap().unwrap();
    let forward = tauri::async_runtime::spawn(feed::forward_remote(client, "status=402".into(), move |b| {
        channel.send(b).is_ok()
    }));
    let events = |batches: &[Value]| -> Vec<Value> {
        batches.iter().flat_map(|b| b["events"].as_array().cloned().unwrap_or_default()).collect()
    };
    wait_for(&batches, "the stream opens", |b| b.iter().any(|b| b["connected"] == true));
    assert_eq!(get(&remote_gateway, Some(&key)), 402);
    wait_for(&batches, "the 402 arrives", |b| !events(b).is_empty());
    let denial = events(&batches.lock().unwrap())[0].clone();
    assert_eq!((denial["status"].as_u64(), denial["tenant"].as_str()), (Some(402), Some("acme")), "{denial}");
    console("credits.topup", json!({ "tenant": "acme", "amount": 3, "idempotency_key": "desk-1" })).unwrap();
    assert_eq!(get(&remote_gateway, Some(&key)), 200, "the top-up through the console lets the next request pass");

    // The server restarts (same address, same certificate): the feed says it was down and
    // for how long, and carries on by itself.
    tauri::async_runtime::block_on(remote.stop()).unwrap();
    wait_for(&batches, "the drop is reported", |b| b.iter().any(|b| b["connected"] == false));
    std::thread::sleep(Duration::from_millis(300));
    let remote = server(remote_dir.path(), &remote_admin);
    wait_for(&batches, "the gap is reported", |b| b.iter().any(|b| b["gap"].is_object()));
    let gap = batches.lock().unwrap().iter().find(|b| b["gap"].is_object()).unwrap()["gap"].clone();
    assert!(gap["offline_ms"].as_u64().unwrap() >= 300, "{gap}");
    assert!(
        gap["reason"].as_str().unwrap().contains("closed") || gap["reason"].as_str().unwrap().contains("broke"),
        "{gap}"
    );
    let remote_gateway = format!("{}/v1/x", remote.gateway_url());
    for _ in 0..4 {
        get(&remote_gateway, Some(&key));
    }
    wait_for(&batches, "events after the restart arrive", |b| events(b).len() >= 2);
    forward.abort();
    tauri::async_runtime::block_on(remote.stop()).unwrap();

    // The server gets another certificate: the pinned connection refuses it, says so, and
    // sends nothing (the balance does not move).
    std::fs::remove_file(remote_dir.path().join("admin-tls-cert.pem")).unwrap();
    std::fs::remove_file(remote_dir.path().join("admin-tls-key.pem")).unwrap();
    let rekeyed = server(remote_dir.path(), &remote_admin);
    let e =
        console("credits.topup", json!({ "tenant": "acme", "amount": 1000, "idempotency_key": "desk-2" })).unwrap_err();
    assert_eq!(e["code"], "CERTIFICATE_CHANGED", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains(&fingerprint) && message.contains(rekeyed.admin_fingerprint().unwrap()), "{message}");

    // Back to the local node; the remote connection can be removed.
    invoke(&window, "connection_use", json!({ "id": null })).unwrap();
    assert_eq!(console("tenant.list", json!({})).unwrap(), json!([]));
    invoke(&window, "connection_remove", json!({ "id": id })).unwrap();
    assert_eq!(invoke(&window, "connections", json!({})).unwrap()["connections"], json!([]));
    tauri::async_runtime::block_on(rekeyed.stop()).unwrap();
}

/// The next thing the watcher's source sends, within 10 s.
fn next_seen(seen: &mut tokio::sync::mpsc::Receiver<Seen>) -> Seen {
    let next =
        tauri::async_runtime::block_on(async { tokio::time::timeout(Duration::from_secs(10), seen.recv()).await });
    next.expect("the remote source sent nothing within 10 s").expect("the remote source ended")
}

#[test]
fn the_tray_and_the_notifications_follow_a_remote_servers_denials_and_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let remote = server(dir.path(), "127.0.0.1:0");
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let client =
        AdminClient::new(remote.admin_url(), token.trim(), remote.admin_fingerprint(), "desktop:test".into()).unwrap();
    let client = Arc::new(client);
    let set = |spike: i64| {
        let input = json!({ "denial_spike_per_minute": spike });
        tauri::async_runtime::block_on(client.call("settings.set", &input)).unwrap();
    };
    // The server's own thresholds, not this app's: a spike at 5 denials a minute.
    set(5);
    let (tx, mut seen) = tokio::sync::mpsc::channel(1024);
    let source = tauri::async_runtime::spawn(watch::remote(client.clone(), tx));
    let rules = match next_seen(&mut seen) {
        Seen::Rules(rules) => rules,
        other => panic!("the thresholds come first, not {other:?}"),
    };
    assert_eq!(rules.spike_per_minute, 5);
    let mut watcher = Watcher::new();
    match next_seen(&mut seen) {
        Seen::Storage(status) => assert!(!status.failing, "{status:?}"),
        other => panic!("then the storage status, not {other:?}"),
    }
    assert_eq!(watcher.tray(chrono::Utc::now()), Some((0, false)), "the tray starts at nothing");

    let url = format!("{}/v1/anything", remote.gateway_url());
    for _ in 0..8 {
        let status = get(&url, None);
        assert!((400..500).contains(&status), "a request without a key is refused, got {status}");
    }
    let mut denials = 0;
    while denials < 8 {
        match next_seen(&mut seen) {
            Seen::Gateway(event) => {
                let Event::Gateway(decision) = &*event else { panic!("not a gateway decision: {event:?}") };
                assert!((400..500).contains(&decision.status), "{decision:?}");
                assert_eq!(watcher.see(&Seen::Gateway(event.clone()), rules), None);
                denials += 1;
            }
            other => panic!("only the denials were expected, got {other:?}"),
        }
    }
    let now = chrono::Utc::now();
    assert_eq!(watcher.tray(now), Some((8, false)), "the tray counts the remote server's denials");
    assert_eq!(watcher.tray(now), None, "and is not redrawn while nothing changes");
    let due = watcher.due(now, rules);
    assert_eq!(due.len(), 1, "one spike alert: {due:?}");
    assert_eq!(due[0].title, "Denials are spiking");
    assert!(due[0].body.starts_with("5 denials within a minute"), "{}", due[0].body);

    // A threshold changed on the server reaches the watcher without a reconnect.
    set(50);
    loop {
        if let Seen::Rules(rules) = next_seen(&mut seen) {
            assert_eq!(rules.spike_per_minute, 50);
            break;
        }
    }
    source.abort();
    tauri::async_runtime::block_on(remote.stop()).unwrap();
}
