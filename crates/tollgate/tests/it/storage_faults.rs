//! `tollgate serve` on a filesystem that fills up and frees again: the operator is told,
//! console writes are refused, served charges wait in memory, and nothing acknowledged is
//! lost; a stop that cannot write says so and fails.

use std::time::{Duration, Instant};

use crate::process::{Server, json, upstream};
use crate::small_disk::SmallDisk;

/// A server on `disk` with tenant acme (1,000,000 credits), its key and a /v1 route of cost 2.
fn seeded(disk: &SmallDisk) -> (std::path::PathBuf, Server, String) {
    let d = disk.path().join("data");
    let up = upstream();
    // Usage written every 20 ms, so the ledger writer meets the full disk too.
    json(&d, &["settings", "set", "--usage-flush-ms", "20"]);
    json(&d, &["plan", "create", "--name", "Pro", "--credits", "1000000"]);
    json(&d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let key = json(&d, &["key", "issue", "--tenant", "acme"]);
    json(&d, &["route", "create", "--path", "/v1", "--upstream", &up, "--cost", "2"]);
    let server = Server::start(&d, "info");
    (d, server, key["secret"].as_str().unwrap().to_string())
}

/// Sends requests until the server says storage fails; returns the request ids it served.
fn serve_until_storage_fails(server: &Server, secret: &str) -> Vec<String> {
    let client = reqwest::blocking::Client::new();
    let mut served = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.output.lock().unwrap().contains("STORAGE IS FAILING") {
        assert!(Instant::now() < deadline, "the full disk was never reported");
        let r = client.get(format!("{}/v1/x", server.gateway)).bearer_auth(secret).send().unwrap();
        assert_eq!(r.status(), 200, "batched keeps serving from memory");
        served.push(r.headers()["x-request-id"].to_str().unwrap().to_string());
    }
    served
}

fn admin_post(
    server: &Server,
    d: &std::path::Path,
    command: &str,
    body: serde_json::Value,
) -> reqwest::blocking::Response {
    let token = std::fs::read_to_string(d.join("admin-token")).unwrap();
    reqwest::blocking::Client::new()
        .post(format!("{}/api/{command}", server.url))
        .bearer_auth(token.trim())
        .json(&body)
        .send()
        .unwrap()
}

#[test]
fn a_full_disk_loses_nothing_acknowledged_and_the_operator_is_told() {
    let Some(disk) = SmallDisk::mount(6) else { return };
    let (d, server, secret) = seeded(&disk);
    disk.fill();
    let mut served = serve_until_storage_fails(&server, &secret);
    let r = admin_post(
        &server,
        &d,
        "credits.topup",
        serde_json::json!({"tenant": "acme", "amount": 5000, "idempotency_key": "during"}),
    );
    assert_eq!(r.status(), 503, "a top-up is refused while storage fails");
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["code"], "STORAGE_UNAVAILABLE", "with a clear code: {body}");
    let status: serde_json::Value = admin_post(&server, &d, "storage.status", serde_json::json!({})).json().unwrap();
    assert_eq!(status["failing"], true, "storage.status says so: {status}");
    // More traffic while full: served, charged in memory, written later.
    let client = reqwest::blocking::Client::new();
    for _ in 0..50 {
        let r = client.get(format!("{}/v1/x", server.gateway)).bearer_auth(&secret).send().unwrap();
        assert_eq!(r.status(), 200);
        served.push(r.headers()["x-request-id"].to_str().unwrap().to_string());
    }
    disk.free();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: serde_json::Value =
            admin_post(&server, &d, "storage.status", serde_json::json!({})).json().unwrap();
        if status["failing"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "storage never recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = admin_post(
        &server,
        &d,
        "credits.topup",
        serde_json::json!({"tenant": "acme", "amount": 5000, "idempotency_key": "after"}),
    );
    assert_eq!(r.status(), 200, "a top-up works once the disk has room");
    let (exit, output) = server.stop();
    assert!(exit.success(), "a clean stop once everything is written: {output}");
    let said = output.matches("cannot write usage to the ledger").count();
    assert!((1..=2).contains(&said), "the outage is logged once, not once per charge ({said} lines): {output}");
    let charged: i64 = json(&d, &["ledger", "list", "--tenant", "acme", "--limit", "1000"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "debit")
        .map(|e| e["requests"].as_i64().unwrap())
        .sum();
    assert!(served.len() < 1000, "the page held every debit");
    assert_eq!(charged, served.len() as i64, "every served request is in the ledger");
    let tenant = json(&d, &["tenant", "show", "--tenant", "acme"]);
    assert_eq!(tenant["tenant"]["balance"], 1_000_000 - 2 * served.len() as i64 + 5000, "and the top-up, once");
    assert_eq!(json(&d, &["verify"])["ok"], true, "verify passes");
}

#[test]
fn a_stop_that_cannot_write_every_charge_fails_and_says_what_is_missing() {
    let Some(disk) = SmallDisk::mount(6) else { return };
    let (_d, server, secret) = seeded(&disk);
    disk.fill();
    serve_until_storage_fails(&server, &secret);
    let (exit, output) = server.stop();
    assert!(!exit.success(), "the stop fails: {output}");
    assert!(output.contains("charges missing from the ledger"), "and says so: {output}");
    assert!(output.contains("tenant acme owes"), "naming what each tenant owes: {output}");
    disk.free();
}
