//! The admin API over TLS, for consoles on other machines: `serve` makes a self-signed
//! certificate and prints its fingerprint (checked against openssl's), a console pins it on
//! first use and manages the server through it (commands and the live feed), a changed
//! certificate is refused, and plain HTTP beyond loopback is refused at start.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tollgate::admin_client::{AdminClient, ClientError};

use crate::process::{Server, binary, fails, json, upstream};

/// The fingerprint `serve` printed.
fn printed_fingerprint(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("Admin API certificate SHA-256 fingerprint: "))
        .unwrap_or_else(|| panic!("serve printed no fingerprint:\n{output}"))
        .trim()
        .to_string()
}

/// openssl's SHA-256 fingerprint of a PEM certificate.
fn openssl_fingerprint(cert: &std::path::Path) -> String {
    let out = Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(cert).output();
    let out = out.expect("openssl runs");
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().rsplit_once('=').map(|(_, fp)| fp.to_string()).unwrap_or(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_pins_the_admin_certificate_on_first_use_and_manages_the_server_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start_with(d, "info", &["--admin-tls", "self-signed"]);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let printed = printed_fingerprint(&server.output());
    assert_eq!(printed, openssl_fingerprint(&d.join("admin-tls-cert.pem")), "serve prints openssl's fingerprint");
    let token = std::fs::read_to_string(d.join("admin-token")).unwrap();

    // First use: no pin yet; the console learns the fingerprint and it is the printed one.
    let console = AdminClient::new(&server.url, &token, None, "test:remote".into()).unwrap();
    let plan = json!({"name": "Pro", "credits_per_period": 0, "features": []});
    console.call("plan.create", &plan).await.unwrap();
    assert_eq!(console.fingerprint_seen().as_deref(), Some(printed.as_str()));
    let pinned = AdminClient::new(&server.url, &token, Some(&printed.to_lowercase()), "test:remote".into()).unwrap();
    let tenant = pinned.call("tenant.create", &json!({"name": "acme", "plan": "pro"})).await.unwrap();
    assert_eq!(tenant["tenant"]["slug"], "acme");

    // This machine's CLI goes through the same TLS, pinning what serve.json says.
    let key = json(d, &["key", "issue", "--tenant", "acme"])["secret"].as_str().unwrap().to_string();
    json(d, &["route", "create", "--path", "/v1", "--upstream", &upstream(), "--cost", "1"]);

    // The live feed over TLS shows the customer's 402; a top-up lets the next request pass.
    let mut feed = pinned.events("status=402").await.unwrap();
    // `tollgate events tail` follows the same TLS stream, pinning serve.json's fingerprint.
    let tail = crate::server::Tail::start(d, &["--status", "402"]);
    tail.wait_until_following(Duration::from_secs(10));
    let gateway = format!("{}/v1/x", server.gateway);
    let client = reqwest::Client::new();
    let status = client.get(&gateway).header("x-api-key", &key).send().await.unwrap().status();
    assert_eq!(status, 402);
    let event = tokio::time::timeout(Duration::from_secs(10), feed.next()).await.expect("the 402 arrives");
    let event = event.expect("the stream is open").expect("no error");
    assert_eq!(event.event, "gateway");
    let event: serde_json::Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(event["status"], 402, "{event}");
    assert_eq!(event["tenant"], "acme", "{event}");
    let printed_line = tail.stdout.recv_timeout(Duration::from_secs(10)).expect("events tail prints the 402");
    assert!(printed_line.contains("402") && printed_line.contains("acme"), "{printed_line}");
    pinned.call("credits.topup", &json!({"tenant": "acme", "amount": 5, "idempotency_key": "remote-1"})).await.unwrap();
    let status = client.get(&gateway).header("x-api-key", &key).send().await.unwrap().status();
    assert_eq!(status, 200);

    // A wrong token is the server's own refusal; a different pin is refused before the
    // token is ever sent.
    let wrong = AdminClient::new(&server.url, "not-the-token", Some(&printed), "x".into()).unwrap();
    match wrong.call("tenant.list", &json!({})).await {
        Err(ClientError::Refused(body)) => assert_eq!(body.code, "UNAUTHORIZED"),
        other => panic!("a wrong token is refused by the server: {other:?}"),
    }
    let other = "00:".repeat(31) + "00";
    let mistrusted = AdminClient::new(&server.url, &token, Some(&other), "x".into()).unwrap();
    match mistrusted
        .call("credits.topup", &json!({"tenant": "acme", "amount": 1000, "idempotency_key": "remote-2"}))
        .await
    {
        Err(ClientError::CertificateChanged { pinned, presented }) => {
            assert_eq!(pinned, other);
            assert_eq!(presented, printed);
        }
        other => panic!("another certificate is refused: {other:?}"),
    }
    let balance = json(d, &["tenant", "show", "acme"]);
    assert_eq!(balance["tenant"]["balance"], 4, "nothing went through the mistrusted connection: {balance}");

    // A restart keeps the certificate, so pinned consoles go on trusting the server.
    let (status, _) = server.stop();
    assert!(status.success());
    let again = Server::start_with(d, "info", &["--admin-tls", "self-signed"]);
    assert_eq!(printed_fingerprint(&again.output()), printed);
    let pinned = AdminClient::new(&again.url, &token, Some(&printed), "test:remote".into()).unwrap();
    pinned.call("tenant.list", &json!({})).await.unwrap();
}

#[test]
fn an_admin_api_beyond_loopback_speaks_tls_or_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let refused =
        fails(d, &["serve", "--admin-listen", "0.0.0.0:0", "--gateway-listen", "127.0.0.1:0", "--admin-tls", "off"]);
    assert!(refused.contains("beyond loopback, without TLS"), "{refused}");
    assert!(!d.join("admin-tls-cert.pem").exists(), "a refused start makes nothing");

    // `auto` (the default) makes a certificate when listening beyond loopback.
    let mut child = binary()
        .arg("--data-dir")
        .arg(d)
        .args(["serve", "--admin-listen", "0.0.0.0:0", "--gateway-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        let done = line.starts_with("Admin API certificate SHA-256 fingerprint:");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.iter().any(|l| l.starts_with("Tollgate admin API listening on https://0.0.0.0:")), "{seen:?}");
    let printed = printed_fingerprint(&seen.join("\n"));
    assert_eq!(printed, openssl_fingerprint(&d.join("admin-tls-cert.pem")));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(d.join("admin-tls-key.pem")).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the key is its owner's only");
}
