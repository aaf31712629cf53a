//! Machine-payable 402s end to end: a real `tollgate serve`, `tollgate echo` as the API, the
//! x402 test kit's facilitator (real EIP-712 signature checks, one settlement per nonce) and
//! the official x402 client (`@x402/core` parsing, `@x402/fetch` paying with a local test
//! wallet), plus `mppx` for the draft Payment scheme (`crates/tollgate/tests/clients/x402`,
//! installed by `scripts/deps.sh --test`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine;
use serde_json::Value;

use crate::process::{Server, binary, json as cli_json, run};

/// The test kit's directory, with its modules installed.
fn kit() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/x402");
    assert!(dir.join("node_modules/@x402/fetch").exists(), "run scripts/deps.sh --test (npm ci in {})", dir.display());
    dir
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a long-running program and returns the URL its first line names.
fn started(mut cmd: Command) -> (String, Killed) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().expect("a URL on its first line").to_string();
    (url, Killed(child))
}

/// Runs `node SCRIPT ARGS…` in the kit and parses its one JSON line.
fn node(script: &str, args: &[&str]) -> Value {
    let out = Command::new("node").current_dir(kit()).arg(script).args(args).output().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{script} printed nothing: {}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script}: {e}: {stdout}"))
}

fn ok(dir: &Path, args: &[&str]) {
    let out = run(dir, args);
    assert!(out.status.success(), "`tollgate {}`: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// Base Sepolia USDC: an asset the official client pays by default (test wallet, local
/// facilitator: no chain is touched).
const USDC: &str = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
const PAY_TO: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

struct World {
    dir: tempfile::TempDir,
    server: Server,
    facilitator: String,
    /// The API behind the gateway (`tollgate echo`).
    upstream: String,
    key: String,
    _processes: Vec<Killed>,
}

impl World {
    fn url(&self) -> String {
        format!("{}/v1/search?q=paid", self.server.gateway)
    }

    fn auth(&self) -> String {
        format!("Authorization: Bearer {}", self.key)
    }

    fn balance(&self) -> i64 {
        cli_json(self.dir.path(), &["tenant", "show", "acme"])["tenant"]["balance"].as_i64().unwrap()
    }

    fn topups(&self) -> Vec<Value> {
        let entries = cli_json(self.dir.path(), &["ledger", "list", "acme"]);
        entries.as_array().unwrap().iter().filter(|e| e["kind"] == "topup").cloned().collect()
    }
}

fn world() -> World {
    let kit = kit();
    let (facilitator, f) = started({
        let mut c = Command::new("node");
        c.current_dir(&kit).arg("facilitator.mjs").env("PORT", "0");
        c
    });
    let (upstream, e) = started({
        let mut c = binary();
        c.args(["echo", "--listen", "127.0.0.1:0"]);
        c
    });
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["plan", "create", "--name", "Free", "--credits", "0"]);
    ok(d, &["tenant", "create", "--name", "Acme", "--plan", "free"]);
    let key = cli_json(d, &["key", "issue", "acme"])["secret"].as_str().unwrap().to_string();
    ok(d, &["route", "create", "--path", "/v1/search", "--upstream", &upstream, "--cost", "5"]);
    ok(
        d,
        &[
            "settings",
            "set",
            "--x402-network",
            "eip155:84532",
            "--x402-asset",
            USDC,
            "--x402-asset-name",
            "USDC",
            "--x402-asset-version",
            "2",
            "--x402-pay-to",
            PAY_TO,
            "--x402-facilitator-url",
            &facilitator,
            "--x402-top-ups",
            "1000,10000",
            "--payment-challenge-secret",
            "tollgate-test-secret-0123456789abcdef",
        ],
    );
    let server = Server::start(d, "warn");
    World { dir, server, facilitator, upstream, key, _processes: vec![f, e] }
}

#[test]
fn the_official_x402_client_reads_the_challenge_and_pays_a_top_up_once() {
    let w = world();
    let auth = w.auth();
    // @x402/core's own parsing, as @x402/fetch reads a 402.
    let parsed = node("pay.mjs", &[&w.url(), "--parse-only", "--header", &auth]);
    assert_eq!(parsed["status"], 402, "{parsed}");
    assert_eq!(parsed["schemaErrors"], Value::Null, "{parsed}");
    let accepts = &parsed["paymentRequired"]["accepts"];
    assert_eq!(accepts[0]["amount"], "1000", "the smallest top-up covering the call first: {parsed}");
    assert_eq!(accepts[1]["amount"], "10000");
    assert_eq!(parsed["selected"]["payTo"], PAY_TO);
    assert!(parsed["paymentRequired"]["resource"]["url"].as_str().unwrap().ends_with("/v1/search?q=paid"));

    // @x402/fetch pays with the test wallet and retries: served, topped up once.
    let paid = node("pay.mjs", &[&w.url(), "--header", &auth]);
    assert_eq!(paid["status"], 200, "{paid}");
    assert_eq!(paid["requests"], 2, "one 402, one paid retry");
    assert_eq!(paid["paymentResponse"]["success"], true, "{paid}");
    let transaction = paid["paymentResponse"]["transaction"].as_str().unwrap().to_string();
    let echoed: Value = serde_json::from_str(paid["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["path"], "/v1/search?q=paid", "the API answered");
    assert_eq!(w.balance(), 1000 - 5, "1,000 credits bought, one call of 5 spent");
    let topups = w.topups();
    assert_eq!(topups.len(), 1, "{topups:?}");
    assert_eq!(topups[0]["amount"], 1000);
    assert!(topups[0]["reason"].as_str().unwrap().contains(&transaction), "the ledger names the payment: {topups:?}");
    assert_eq!(topups[0]["actor"], "x402");
    let events = cli_json(w.dir.path(), &["payment", "events"]);
    assert_eq!(events[0]["provider"], "x402", "{events}");
    assert_eq!(events[0]["tenant"], "acme");

    // The same PAYMENT-SIGNATURE again: refused, nothing settled or credited twice.
    let signature = base64::engine::general_purpose::STANDARD.encode(paid["paymentPayload"].to_string());
    let replay = reqwest::blocking::Client::new()
        .get(w.url())
        .bearer_auth(&w.key)
        .header("PAYMENT-SIGNATURE", signature)
        .send()
        .unwrap();
    assert_eq!(replay.status(), 402);
    assert!(replay.headers().contains_key("payment-required"), "a failed payment gets a fresh challenge");
    let problem: Value = replay.json().unwrap();
    assert_eq!(problem["code"], "PAYMENT_FAILED", "{problem}");
    assert!(problem["payment_error"].as_str().unwrap().contains("already used"), "{problem}");
    assert_eq!(w.topups().len(), 1, "credited once");
    assert_eq!(w.balance(), 995);
    let settled: Value = reqwest::blocking::get(format!("{}/settlements", w.facilitator)).unwrap().json().unwrap();
    assert_eq!(settled["settlements"].as_array().unwrap().len(), 1, "settled once: {settled}");
    assert!(cli_json(w.dir.path(), &["verify"])["ok"].as_bool().unwrap());
}

#[test]
fn a_payment_the_facilitator_refuses_is_a_402_with_its_reason_and_changes_nothing() {
    let w = world();
    let control = format!("{}/control", w.facilitator);
    let refused = reqwest::blocking::Client::new()
        .post(control)
        .json(&serde_json::json!({"settleFailure": "insufficient_funds"}))
        .send()
        .unwrap();
    assert!(refused.status().is_success());
    let paid = node("pay.mjs", &[&w.url(), "--header", &w.auth()]);
    assert_eq!(paid["status"], 402, "{paid}");
    let body: Value = serde_json::from_str(paid["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["code"], "PAYMENT_FAILED");
    assert!(body["payment_error"].as_str().unwrap().contains("insufficient_funds"), "{body}");
    assert_eq!(w.balance(), 0, "nothing credited");
    assert!(w.topups().is_empty());
    // A dead key's payment is not even looked at: 401 first.
    let dead = node("pay.mjs", &[&w.url(), "--header", "Authorization: Bearer tg_live_nothing"]);
    assert_eq!(dead["status"], 401, "{dead}");
}

#[test]
fn a_payment_credential_pays_a_top_up_once_through_the_draft_scheme() {
    let w = world();
    ok(w.dir.path(), &["route", "create", "--path", "/v1/big", "--upstream", &w.upstream, "--cost", "2000"]);
    let auth = w.auth();
    // mppx's own parser finds the Payment challenge beside the problem body.
    let parsed = node("payment-auth.mjs", &[&w.url(), "--parse-only", "--header", &auth]);
    assert_eq!(parsed["status"], 402, "{parsed}");
    let challenge = &parsed["challenge"];
    assert_eq!(
        (challenge["method"].as_str(), challenge["intent"].as_str()),
        (Some("x402"), Some("charge")),
        "{parsed}"
    );
    assert_eq!(challenge["realm"], "tollgate");
    assert_eq!(challenge["request"]["amount"], "1000", "{parsed}");
    assert_eq!(challenge["request"]["recipient"], PAY_TO);
    assert_eq!(parsed["problem"]["code"], "INSUFFICIENT_CREDITS", "the same 402 is a problem for people: {parsed}");

    // Paid with the credential in Payment-Authorization (the key is in Authorization), then
    // the very same credential once more.
    let paid = node("payment-auth.mjs", &[&w.url(), "--header", &auth, "--replay"]);
    assert_eq!(paid["status"], 200, "{paid}");
    assert_eq!(paid["receipt"]["status"], "success", "{paid}");
    assert_eq!(paid["receipt"]["method"], "x402");
    assert!(paid["receipt"]["reference"].as_str().unwrap().starts_with("0x"));
    assert_eq!(paid["replay"]["status"], 402, "{paid}");
    assert_eq!(paid["replay"]["problem"]["type"], "https://paymentauth.org/problems/invalid-challenge", "{paid}");
    assert_eq!(paid["replay"]["receipt"], Value::Null, "no receipt on an error");
    assert_eq!(w.balance(), 1000 - 5);
    assert_eq!(w.topups().len(), 1, "credited once");

    // With the key in X-API-Key, the credential may travel in Authorization.
    let big = format!("{}/v1/big", w.server.gateway);
    let key = format!("X-API-Key: {}", w.key);
    let paid = node("payment-auth.mjs", &[&big, "--header", &key, "--credential-header", "authorization"]);
    assert_eq!(paid["status"], 200, "{paid}");
    assert_eq!(w.balance(), 995 + 10_000 - 2000, "the smallest top-up covering 1,005 short: 10,000");
    assert!(cli_json(w.dir.path(), &["verify"])["ok"].as_bool().unwrap());
}

#[test]
fn a_call_without_a_key_pays_for_itself_on_a_pay_per_call_route() {
    let w = world();
    let create =
        ["route", "create", "--path", "/v1/agents", "--upstream", &w.upstream, "--cost", "5", "--pay-per-call", "acme"];
    let id = cli_json(w.dir.path(), &create)["id"].to_string();
    let url = format!("{}/v1/agents/run", w.server.gateway);
    // Told how to pay exactly one call, and nothing about the account behind it.
    let plain = reqwest::blocking::get(&url).unwrap();
    assert_eq!(plain.status(), 402);
    assert!(plain.headers().get("x-credits-remaining").is_none());
    let problem: Value = plain.json().unwrap();
    assert_eq!(problem["code"], "PAYMENT_REQUIRED", "{problem}");
    assert_eq!(problem["cost"], 5);
    for hidden in ["tenant", "balance", "link", "plan"] {
        assert!(problem.get(hidden).is_none(), "a stranger learns no {hidden}: {problem}");
    }
    let parsed = node("pay.mjs", &[&url, "--parse-only"]);
    let accepts = parsed["paymentRequired"]["accepts"].as_array().unwrap().clone();
    assert_eq!(accepts.len(), 1, "{parsed}");
    assert_eq!(accepts[0]["amount"], "5", "exactly the call");

    // The official client pays it: served, the named account credited and charged once.
    let paid = node("pay.mjs", &[&url]);
    assert_eq!(paid["status"], 200, "{paid}");
    assert_eq!(paid["paymentResponse"]["success"], true);
    assert_eq!(w.balance(), 0, "5 credited, 5 charged");
    let topups = w.topups();
    assert_eq!((topups.len(), topups[0]["amount"].as_i64()), (1, Some(5)), "{topups:?}");
    // Still no account for anyone else: a call without a key on another route is 401.
    assert_eq!(reqwest::blocking::get(w.url()).unwrap().status(), 401);
    // An account that could not serve the call takes no payment for it: 401, nothing offered
    // (a plan without the route's feature here; a suspended account likewise).
    ok(w.dir.path(), &["route", "update", "--id", &id, "--feature", "gold"]);
    let refused = reqwest::blocking::get(&url).unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("payment-required").is_none());
    ok(w.dir.path(), &["route", "update", "--id", &id, "--feature", ""]);
    ok(w.dir.path(), &["tenant", "suspend", "acme"]);
    let refused = reqwest::blocking::get(&url).unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("payment-required").is_none());
    assert!(cli_json(w.dir.path(), &["verify"])["ok"].as_bool().unwrap());
}
