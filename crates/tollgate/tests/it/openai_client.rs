//! A route metered by token usage, with OpenAI's official Python client library as the
//! customer and `tollgate echo`'s OpenAI-shaped stand-in as the upstream: the client reads
//! its answers (whole and streamed) unchanged, the ledger holds exactly the priced usage,
//! a request whose reservation the balance cannot cover is a 402 the client library
//! raises with its problem body, and `verify` passes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::process::{Server, binary, json as cli_json, run};

/// The venv `scripts/deps.sh --test` installs the client library into.
fn python() -> std::path::PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/pyclients/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/deps.sh --test (it installs openai from PyPI)",
        python.display()
    );
    python
}

/// `tollgate echo` on a free port; returns its base URL and the process.
fn echo() -> (String, std::process::Child) {
    let mut child = binary()
        .args(["echo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("echo starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().expect("echo prints its URL").to_string();
    (url, child)
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ok(dir: &Path, args: &[&str]) {
    let out = run(dir, args);
    assert!(out.status.success(), "`tollgate {}`: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_openai_client_library_pays_exactly_its_priced_usage() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    let (upstream, echo) = echo();
    let _echo = Killed(echo);
    ok(dir.path(), &["plan", "create", "--name", "Pro", "--credits", "1000"]);
    ok(dir.path(), &["tenant", "create", "--name", "Acme", "--plan", "pro"]);
    let key = cli_json(dir.path(), &["key", "issue", "acme"])["secret"].as_str().unwrap().to_string();
    ok(dir.path(), &["plan", "create", "--name", "Free", "--credits", "0"]);
    ok(dir.path(), &["tenant", "create", "--name", "Broke", "--plan", "free"]);
    let broke = cli_json(dir.path(), &["key", "issue", "broke"])["secret"].as_str().unwrap().to_string();
    // 1 credit per prompt token, 2 per completion token; a call may cost at most 900 (what
    // a call without `max_tokens` reserves).
    ok(dir.path(), &["settings", "set", "--model-price", "echo-small=1000000:2000000", "--usage-flush-ms", "100"]);
    ok(
        dir.path(),
        &["route", "create", "--path", "/v1/chat", "--upstream", &upstream, "--metering", "usage", "--max-cost", "900"],
    );
    let server = Server::start(dir.path(), "warn");

    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/openai_chat.py"))
        .arg(format!("{}/v1", server.gateway))
        .arg(&key)
        .arg(&broke)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let calls: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // "count these five words": 4 prompt tokens (words); the echo answers "echo: count …".
    assert_eq!(
        calls[0],
        json!({"call": "whole", "content": "echo: count these five",
        "usage": {"prompt_tokens": 4, "completion_tokens": 4}})
    );
    assert_eq!(
        calls[1],
        json!({"call": "stream", "content": "echo: count these five words",
        "usage": {"prompt_tokens": 4, "completion_tokens": 5}}),
        "the stream arrived whole, usage included"
    );
    assert_eq!(calls[2]["status"], 402, "{}", calls[2]);
    assert_eq!(calls[2]["body"]["code"], "INSUFFICIENT_CREDITS");
    // What 10 completion tokens and every byte of the body as a prompt token can cost.
    let asked = calls[2]["body"]["cost"].as_i64().unwrap();
    assert!((20 + 50..900).contains(&asked), "the reservation priced from the request: {}", calls[2]);
    assert_eq!(calls[2]["body"]["balance"], 0);

    // 4×1 + 4×2 = 12, then 4×1 + 5×2 = 14.
    let deadline = Instant::now() + Duration::from_secs(10);
    let debits = loop {
        let entries = cli_json(dir.path(), &["ledger", "list", "acme"]);
        let debits: i64 = entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "debit")
            .map(|e| e["amount"].as_i64().unwrap())
            .sum();
        if debits == -26 || Instant::now() > deadline {
            break debits;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(debits, -26, "the ledger holds exactly the priced usage");
    let tenant = cli_json(dir.path(), &["tenant", "show", "acme"]);
    assert_eq!(tenant["tenant"]["balance"], 1000 - 26);
    assert!(cli_json(dir.path(), &["verify"])["ok"].as_bool().unwrap(), "balance == sum(ledger)");
    server.stop();
}
