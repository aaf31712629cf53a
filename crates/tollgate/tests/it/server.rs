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

    let second = fails(d, &["serve", "--admin-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0"]);
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

impl crate::process::Server {
    /// Kills the process with SIGKILL: no flush, no cleanup.
    pub fn kill_hard(self) {
        self.signal(libc::SIGKILL);
    }
}

/// Runs requests against the gateway from 8 clients until `stop_after` were served, then
/// kills the server mid-load; returns the request ids of every 2xx the clients saw.
fn load_then_kill(server: crate::process::Server, secret: &str, stop_after: usize) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let served = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let url = format!("{}/v1/work", server.gateway);
    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap();
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (client, url, secret, served) = (client.clone(), url.clone(), secret.to_string(), served.clone());
                tokio::spawn(async move {
                    for _ in 0..1000 {
                        let Ok(r) = client.get(&url).bearer_auth(&secret).send().await else { return };
                        if r.status().is_success() {
                            let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
                            served.lock().unwrap().push(id);
                        }
                    }
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while served.lock().unwrap().len() < stop_after {
            assert!(std::time::Instant::now() < deadline, "the load never reached {stop_after} served requests");
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        server.kill_hard();
        for w in workers {
            let _ = w.await;
        }
    });
    served.lock().unwrap().clone()
}

/// How many requests acme's debit entries cover (usage is written summed per tenant).
fn charged_requests(d: &std::path::Path) -> i64 {
    let mut charged = 0;
    let mut before: Option<i64> = None;
    loop {
        let mut args = vec!["ledger", "list", "--tenant", "acme", "--limit", "1000"];
        let cursor = before.map(|b| b.to_string());
        if let Some(c) = &cursor {
            args.extend(["--before-id", c.as_str()]);
        }
        let page = json(d, &args);
        let entries = page.as_array().unwrap();
        if entries.is_empty() {
            break;
        }
        for e in entries.iter().filter(|e| e["kind"] == "debit") {
            charged += e["requests"].as_i64().unwrap();
        }
        before = entries.last().and_then(|e| e["id"].as_i64());
    }
    charged
}

/// A server with one tenant, its key and a route, writing usage every `flush_ms`;
/// `one_cpu` pins it to a single CPU.
fn seeded_server(
    d: &std::path::Path,
    durability: &str,
    flush_ms: &str,
    one_cpu: bool,
) -> (crate::process::Server, String) {
    let upstream = crate::process::upstream();
    json(d, &["settings", "set", "--durability", durability, "--usage-flush-ms", flush_ms]);
    json(d, &["plan", "create", "--name", "Pro", "--credits", "1000000"]);
    json(d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let key = json(d, &["key", "issue", "--tenant", "acme"]);
    json(d, &["route", "create", "--path", "/v1", "--upstream", &upstream, "--cost", "3"]);
    let server = if one_cpu { Server::start_on_one_cpu(d, "warn") } else { Server::start(d, "warn") };
    (server, key["secret"].as_str().unwrap().to_string())
}

#[test]
fn sigkill_under_load_leaves_a_ledger_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Batched usage is written every 20 ms here: what a crash can lose is that window.
    let (server, secret) = seeded_server(d, "batched", "20", false);
    let served = load_then_kill(server, &secret, 300);
    assert!(served.len() >= 300, "the load ran ({} served)", served.len());
    let report = json(d, &["verify"]);
    assert_eq!(report["ok"], true, "after SIGKILL the ledger still balances: {report}");
    let charged = charged_requests(d);
    assert!(charged <= served.len() as i64, "nothing charged that was not served");
    let missing = served.len() - charged as usize;
    // Batched promises a crash loses only the charges of its last moments (one flush
    // interval and one commit): a writer that never committed would miss them all.
    let bound = 150.max(served.len() / 5);
    assert!(missing <= bound, "{missing} of {} acknowledged charges lost (at most {bound})", served.len());
    let tenant = json(d, &["tenant", "show", "--tenant", "acme"]);
    let balance = tenant["tenant"]["balance"].as_i64().unwrap();
    assert_eq!(balance, 1_000_000 - 3 * charged, "the balance is exactly what the ledger charged");
}

#[test]
fn in_strict_mode_every_2xx_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Pinned: the single-threaded runtime must keep strict's promise too. Usage is folded
    // into the ledger once a minute: every strict charge is still in the journal when the
    // process is killed, so only the restart's fold can put them in the ledger.
    let (server, secret) = seeded_server(d, "strict", "60000", true);
    let served = load_then_kill(server, &secret, 200);
    let journal = |d: &std::path::Path| -> i64 {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let store = tollgate_core::store::Store::open(&d.join("tollgate.db")).await.unwrap();
            let mut conn = store.reader().await.unwrap();
            tollgate_core::on!(&mut conn, |c| sqlx::query_scalar("SELECT COUNT(*) FROM usage_journal")
                .fetch_one(c)
                .await)
            .unwrap()
        })
    };
    assert!(journal(d) > 0, "the kill left strict usage in the journal");
    assert_eq!(charged_requests(d), 0, "and none of it in the ledger yet");
    // Restarted after the kill: it folds the journal, and verifies.
    let server = Server::start(d, "warn");
    assert_eq!(journal(d), 0, "the restart folded the journal before serving");
    assert_eq!(json(d, &["verify"])["ok"], true, "the ledger balances");
    let charged = charged_requests(d);
    assert!(charged >= served.len() as i64, "every 2xx is covered by committed usage ({charged} < {})", served.len());
    // Each 2xx has its own record of its charge: its record in the request log (written
    // before the answer left, so a SIGKILL keeps it) names the committed entry.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let missing: Vec<&String> = rt.block_on(async {
        let store = tollgate_core::store::Store::open(&d.join("tollgate.db")).await.unwrap();
        let log = tollgate_core::store::request_log::RequestLog::reader(&d.join("requests.log")).unwrap();
        assert!(log.is_some(), "the request log is there");
        let mut conn = store.reader().await.unwrap();
        let mut missing = Vec::new();
        for id in &served {
            match tollgate_core::store::charges::charged_request(&mut conn, log.as_ref(), id).await.unwrap() {
                Some(c) => assert_eq!((c.tenant.as_str(), c.amount), ("acme", 3), "{id}: whose and how much"),
                None => missing.push(id),
            }
        }
        missing
    });
    assert!(missing.is_empty(), "every 2xx has its charge on record ({} of {} missing)", missing.len(), served.len());
    let shown = json(d, &["charge", "show", "--request-id", &served[0]]);
    assert_eq!(
        (shown["tenant"].as_str(), shown["amount"].as_i64()),
        (Some("acme"), Some(3)),
        "the CLI finds it: {shown}"
    );
    let (exit, output) = server.stop();
    assert!(exit.success(), "a clean stop: {output}");
}

/// Reads SSE `data:` payloads from a response until `want` arrived or `limit` passed.
pub(crate) async fn sse_events(
    response: &mut reqwest::Response,
    want: usize,
    limit: std::time::Duration,
) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    while events.len() < want {
        let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                events.push(serde_json::from_str(data).unwrap());
            }
        }
    }
    events
}

/// `tollgate events tail` as a process; its lines arrive on a channel, so every read has a
/// deadline, and it is killed when dropped (also when an assertion fails).
pub(crate) struct Tail {
    child: std::process::Child,
    pub(crate) stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Tail {
    pub(crate) fn start(d: &std::path::Path, args: &[&str]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["--data-dir", d.to_str().unwrap(), "events", "tail"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        fn lines(stream: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in std::io::BufRead::lines(std::io::BufReader::new(stream)).map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
            rx
        }
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Self { child, stdout, stderr }
    }

    /// Waits until the tail says it is subscribed.
    pub(crate) fn wait_until_following(&self, limit: std::time::Duration) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.starts_with("Following ") => return,
                Ok(_) => continue,
                Err(e) => panic!("events tail did not subscribe within {limit:?}: {e}"),
            }
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn denials_stream_live_within_a_second_and_filters_hold() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let upstream = crate::process::upstream();
    json(d, &["plan", "create", "--name", "Free"]);
    json(d, &["tenant", "create", "--name", "acme", "--plan", "free"]);
    let secret = json(d, &["key", "issue", "--tenant", "acme"])["secret"].as_str().unwrap().to_string();
    json(d, &["route", "create", "--path", "/v1", "--upstream", &upstream]);
    let server = Server::start(d, "warn");
    let token = std::fs::read_to_string(d.join("admin-token")).unwrap();
    let tail = Tail::start(d, &["--status", "402"]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        // The server subscribes a stream before it answers, so a stream whose headers
        // arrived sees every later event.
        let open = |query: &'static str| {
            let request = client.get(format!("{}/api/events?{query}", server.url)).bearer_auth(token.trim()).send();
            async move { tokio::time::timeout(Duration::from_secs(10), request).await.expect("the stream opens").unwrap() }
        };
        let mut all = open("kind=gateway").await;
        let mut only_402 = open("status=402").await;
        tail.wait_until_following(Duration::from_secs(10));
        let gateway = format!("{}/v1/search", server.gateway);
        let sent = std::time::Instant::now();
        assert_eq!(client.get(&gateway).send().await.unwrap().status(), 401, "no key");
        assert_eq!(client.get(&gateway).bearer_auth(&secret).send().await.unwrap().status(), 402, "no credits");
        let events = sse_events(&mut all, 2, Duration::from_secs(1)).await;
        assert_eq!(events.len(), 2, "both decisions arrive within a second of being made");
        assert!(sent.elapsed() < Duration::from_secs(1), "and well within it: {:?}", sent.elapsed());
        assert_eq!((events[0]["status"].as_u64(), events[1]["status"].as_u64()), (Some(401), Some(402)), "in order");
        assert_eq!(events[1]["code"], "INSUFFICIENT_CREDITS", "with the code");
        assert_eq!(
            (events[1]["tenant"].as_str(), events[1]["facts"]["cost"].as_i64()),
            (Some("acme"), Some(1)),
            "and the facts"
        );
        let filtered = sse_events(&mut only_402, 2, Duration::from_millis(700)).await;
        assert_eq!(filtered.len(), 1, "the filtered stream carries only what matches");
        assert_eq!(filtered[0]["status"], 402, "the 402");
    });
    let line = tail.stdout.recv_timeout(Duration::from_secs(5)).expect("events tail prints the 402 within 5 s");
    drop(tail);
    assert!(
        line.contains("402 INSUFFICIENT_CREDITS  acme") && line.contains("GET /v1/search"),
        "events tail prints it: {line}"
    );
    assert!(!line.contains(" 401 "), "and honours --status");
    server.stop();
}

#[test]
fn the_demo_seeds_a_fresh_dir_and_makes_every_kind_of_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start_with(d, "warn", &["--demo"]);
    let wanted = [
        "MISSING_API_KEY",
        "FEATURE_NOT_IN_PLAN",
        "SUBSCRIPTION_PAST_DUE",
        "ACCOUNT_SUSPENDED_NONPAYMENT",
        "RATE_LIMITED",
        "INSUFFICIENT_CREDITS",
    ];
    let mut seen = std::collections::BTreeSet::new();
    // Usage counts are written every few seconds (traffic.rs, COUNTS_EVERY): wait for them too.
    let served = || -> i64 {
        json(d, &["usage", "list"]).as_array().unwrap().iter().map(|u| u["requests"].as_i64().unwrap()).sum()
    };
    for _ in 0..60 {
        for denial in json(d, &["denial", "list", "--limit", "1000"]).as_array().unwrap() {
            seen.insert(denial["code"].as_str().unwrap().to_string());
        }
        if wanted.iter().all(|w| seen.contains(*w)) && served() > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let missing: Vec<_> = wanted.iter().filter(|w| !seen.contains(**w)).collect();
    assert!(missing.is_empty(), "the demo shows every kind of denial; missing {missing:?}, saw {seen:?}");
    assert!(served() > 0, "and served traffic");
    let (status, printed) = server.stop();
    assert!(status.success(), "the demo stops cleanly");
    assert!(
        printed.contains("Loaded 4 keys and 4 tenants (seeded by --demo)"),
        "what it loaded, once seeded:\n{printed}"
    );
    assert!(!printed.contains("Loaded 0 keys"), "not the empty directory before seeding:\n{printed}");
    assert_eq!(json(d, &["verify"])["ok"], true, "its ledger balances");
    let again = fails(d, &["serve", "--demo", "--admin-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0"]);
    assert!(again.contains("fresh data directory"), "a second --demo on the same data refuses to seed twice: {again}");
}

#[test]
fn the_dashboard_url_carries_the_token_and_load_demo_seeds_an_empty_console_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ui = tempfile::tempdir().unwrap();
    std::fs::write(ui.path().join("index.html"), "<!doctype html><title>Tollgate</title>").unwrap();
    let ui_dir = ui.path().to_str().unwrap();
    let server = Server::start_with(d, "warn", &["--ui-dir", ui_dir]);
    let token = std::fs::read_to_string(d.join("admin-token")).unwrap();
    let url = format!("{}/#token={}", server.url, token.trim());
    assert_eq!(json(d, &["dashboard-url"])["url"], url, "one URL to open, token in the fragment");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let page = client.get(&server.url).send().await.unwrap();
        assert_eq!(page.status(), 200, "the dashboard is served");
        let demo = |token: &str| client.post(format!("{}/api/demo", server.url)).bearer_auth(token).send();
        assert_eq!(demo("wrong").await.unwrap().status(), 401, "loading the demo needs the token");
        let loaded = demo(token.trim()).await.unwrap();
        assert_eq!(loaded.status(), 200, "the demo loads into an empty console");
        let report: serde_json::Value = loaded.json().await.unwrap();
        assert_eq!((report["tenants"].as_i64(), report["routes"].as_i64()), (Some(4), Some(2)), "{report}");
        let again = demo(token.trim()).await.unwrap();
        assert_eq!(again.status(), 409, "never twice, never over real data");
        assert_eq!(again.json::<serde_json::Value>().await.unwrap()["code"], "NOT_EMPTY", "with a code");
    });
    let mut denied = false;
    for _ in 0..40 {
        if !json(d, &["denial", "list", "--limit", "10"]).as_array().unwrap().is_empty() {
            denied = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(denied, "the demo traffic runs through the gateway");
    let (status, _) = server.stop();
    assert!(status.success(), "stops cleanly with the demo running");
}

#[test]
fn a_large_import_goes_through_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::start(d, "warn");
    json(d, &["plan", "create", "--name", "Pro"]);
    let key = "k".repeat(3900);
    let data: String = std::iter::once("slug,name,plan,key\n".to_string())
        .chain((0..1000).map(|i| format!("t{i},Tenant {i},pro,sk_{i}_{key}\n")))
        .collect();
    assert!(data.len() > 3_900_000, "a 3.9 MB file ({} bytes)", data.len());
    let file = d.join("tenants.csv");
    std::fs::write(&file, data).unwrap();
    let report = json(d, &["import", file.to_str().unwrap()]);
    assert_eq!((report["tenants"].as_i64(), report["keys"].as_i64()), (Some(1000), Some(1000)), "imported: {report}");
    server.stop();
}
