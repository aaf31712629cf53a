//! `tollgate serve` as a process: ownership of the data directory, the CLI going through
//! its admin API, the token, and a clean stop on SIGTERM.

use std::os::unix::fs::PermissionsExt;

use crate::process::{Server, data_files, fails, json};

#[test]
fn serve_owns_the_data_dir_and_the_cli_goes_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d, "info");

    let mode = std::fs::metadata(d.join("admin-token")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the admin token is readable by its owner only");

    // The server holds the lock, so these can only succeed through its admin API.
    json(d, &["plan", "create", "--name", "Pro", "--credits", "10"]);
    json(d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let topup = json(d, &["credits", "topup", "--tenant", "acme", "--amount", "5000", "--idempotency-key", "X"]);
    assert_eq!(topup["balance"], 5010, "the top-up went through the server");
    let audit = json(d, &["audit", "list", "--limit", "1"]);
    assert!(audit[0]["actor"].as_str().unwrap().starts_with("cli:"), "the server records the CLI as the actor");
    let refused = fails(d, &["credits", "topup", "--tenant", "ghost", "--amount", "1", "--idempotency-key", "Y"]);
    assert!(refused.contains("tenant 'ghost' not found"), "errors come back from the server intact: {refused}");

    let second = fails(d, &["serve", "--admin-listen", "127.0.0.1:0"]);
    assert!(
        second.contains("another tollgate process owns the data directory"),
        "a second server is refused: {second}"
    );

    let (status, output) = server.stop();
    assert!(status.success(), "SIGTERM stops the server cleanly: {output}");
    assert!(output.contains("stopped cleanly"), "and it says so: {output}");
    assert!(!d.join("serve.json").exists(), "the endpoint file is removed on stop");
    let after = json(d, &["verify"]);
    assert_eq!(after["ok"], true, "the ledger balances after the stop");
}

#[test]
fn the_admin_api_refuses_missing_tokens_and_foreign_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), "warn");
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("{}/api/plan.list", server.url);
        let none = client.post(&url).json(&serde_json::json!({})).send().await.unwrap();
        assert_eq!(none.status(), 401, "no token: 401");
        let wrong = client.post(&url).bearer_auth("nope").json(&serde_json::json!({})).send().await.unwrap();
        assert_eq!(wrong.status(), 401, "wrong token: 401");
        let foreign = client
            .post(&url)
            .bearer_auth(&token)
            .header("host", "attacker.example")
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status(), 403, "foreign Host: 403");
        let good = client.post(&url).bearer_auth(&token).json(&serde_json::json!({})).send().await.unwrap();
        assert_eq!(good.status(), 200, "the right token and host: 200");
    });
    server.stop();
}

#[test]
fn a_key_secret_never_reaches_the_logs_or_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d, "trace");
    json(d, &["plan", "create", "--name", "Pro"]);
    json(d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let issued = json(d, &["key", "issue", "--tenant", "acme"]);
    let secret = issued["secret"].as_str().unwrap().to_string();
    let rotated = json(d, &["key", "rotate", "--key", &secret]);
    let second = rotated["issued"]["secret"].as_str().unwrap().to_string();
    let (status, logs) = server.stop();
    assert!(status.success(), "clean stop");
    assert!(logs.len() > 200, "trace logging produced output to search ({} bytes)", logs.len());
    for s in [&secret, &second] {
        assert!(!logs.contains(s.as_str()), "a key secret appeared in the server's logs");
        for file in data_files(d) {
            let bytes = std::fs::read(&file).unwrap();
            let found = bytes.windows(s.len()).any(|w| w == s.as_bytes());
            assert!(!found, "a key secret appeared in {}", file.display());
        }
    }
}
