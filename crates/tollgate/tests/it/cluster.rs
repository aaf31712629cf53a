//! Three `tollgate serve` processes on one PostgreSQL (Debian's, started in a temporary
//! directory): credits stay exact across them, console changes reach every node within a
//! second, a node killed under `strict` load loses no acknowledged charge, and a node
//! paused past its lease cannot overspend.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::pg_server::fresh_database;
use crate::process::{Server, json, upstream};

/// Three nodes on one fresh database, each with its own data directory.
struct Cluster {
    dirs: Vec<tempfile::TempDir>,
    nodes: Vec<Option<Server>>,
}

impl Cluster {
    fn start(url: &str) -> Self {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let nodes = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let name = format!("n{}", i + 1);
                let args = ["--database", url, "--node", &name, "--lease-block", "20", "--lease-seconds", "3"];
                Some(Server::start_with(d.path(), "warn", &args))
            })
            .collect();
        Self { dirs, nodes }
    }

    /// Runs a CLI command through node `i`'s admin API.
    fn json(&self, i: usize, args: &[&str]) -> Value {
        json(self.dirs[i].path(), args)
    }

    fn gateway(&self, i: usize) -> String {
        self.nodes[i].as_ref().expect("node runs").gateway.clone()
    }
}

/// Sets up, through node 1: a plan granting nothing, tenant `acme` with `credits`, a key,
/// and a route costing 1 credit. Returns the key once every node serves the route.
fn tenant_with(cluster: &Cluster, credits: i64) -> String {
    cluster.json(0, &["plan", "create", "--name", "Pro", "--credits", "0"]);
    cluster.json(0, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let amount = credits.to_string();
    cluster.json(0, &["credits", "topup", "--tenant", "acme", "--amount", &amount, "--idempotency-key", "first"]);
    let key = cluster.json(0, &["key", "issue", "--tenant", "acme"])["secret"].as_str().unwrap().to_string();
    cluster.json(0, &["route", "create", "--path", "/v1", "--upstream", &upstream(), "--cost", "1"]);
    key
}

/// Status of `GET /v1/x` with `key` on `gateway`.
async fn call(client: &reqwest::Client, gateway: &str, key: &str) -> u16 {
    match client.get(format!("{gateway}/v1/x")).header("x-api-key", key).send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// How long until `gateway` answers `want` (at most `limit`).
async fn until(client: &reqwest::Client, gateway: &str, key: &str, want: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = call(client, gateway, key).await;
        if got == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{gateway} still answers {got}, not {want}, after {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// 64 clients, spread over `gateways`, calling until each gets a 402; the 200s they got.
async fn spend_all(client: &reqwest::Client, gateways: &[String], key: &str) -> i64 {
    let served = Arc::new(AtomicI64::new(0));
    let clients: Vec<_> = (0..64)
        .map(|c| {
            let (client, gateway, key, served) =
                (client.clone(), gateways[c % gateways.len()].clone(), key.to_string(), served.clone());
            tokio::spawn(async move {
                loop {
                    match call(&client, &gateway, &key).await {
                        200 => served.fetch_add(1, Ordering::Relaxed),
                        402 => return,
                        other => panic!("{gateway} answered {other}"),
                    };
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    served.load(Ordering::Relaxed)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap()
}

#[test]
fn three_nodes_spend_exactly_the_balance_and_every_console_change_reaches_every_node_within_a_second() {
    let rt = runtime();
    let url = rt.block_on(fresh_database());
    let cluster = Cluster::start(&url);
    let key = tenant_with(&cluster, 1000);
    let gateways: Vec<String> = (0..3).map(|i| cluster.gateway(i)).collect();
    let client = reqwest::Client::new();
    rt.block_on(async {
        for gateway in &gateways {
            until(&client, gateway, &key, 200, Duration::from_secs(5)).await; // the route reached it
        }
    });
    let served_before = 3; // one call per node above
    let served = rt.block_on(spend_all(&client, &gateways, &key));
    assert_eq!(served + served_before, 1000, "64 clients over three nodes spend exactly the 1,000 credits");
    let out = crate::process::run(cluster.dirs[1].path(), &["verify", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "balance, leases and ledger agree, as node 2 checks: {report}");
    let ledger = cluster.json(2, &["ledger", "list", "--tenant", "acme", "--limit", "1000"]);
    let charged: i64 =
        ledger.as_array().unwrap().iter().filter(|e| e["kind"] == "debit").map(|e| e["amount"].as_i64().unwrap()).sum();
    assert_eq!(charged, -1000, "the ledger holds every charge, whichever node served it");

    // A top-up on node 1: the next request on every node passes within a second.
    cluster.json(0, &["credits", "topup", "--tenant", "acme", "--amount", "30", "--idempotency-key", "more"]);
    let waited = rt.block_on(async {
        let mut waited = Vec::new();
        for gateway in &gateways[1..] {
            waited.push(until(&client, gateway, &key, 200, Duration::from_secs(1)).await);
        }
        waited
    });
    eprintln!("after the top-up on node 1, nodes 2 and 3 served after {waited:?}");

    // Blocking the tenant on node 2 reaches nodes 1 and 3 through the change log.
    cluster.json(1, &["tenant", "block", "--tenant", "acme"]);
    let waited = rt.block_on(async {
        let mut waited = Vec::new();
        for gateway in [&gateways[0], &gateways[2]] {
            waited.push(until(&client, gateway, &key, 403, Duration::from_secs(1)).await);
        }
        waited
    });
    eprintln!("after the block on node 2, nodes 1 and 3 refused after {waited:?}");
    cluster.json(1, &["tenant", "resume", "--tenant", "acme"]);
    rt.block_on(until(&client, &gateways[2], &key, 200, Duration::from_secs(1)));

    for node in cluster.nodes.into_iter().flatten() {
        let (status, output) = node.stop();
        assert!(status.success(), "a node stops cleanly, giving its leases back: {output}");
    }
    let report = rt.block_on(verify(&url));
    assert!(report.ok && report.leases_off.is_empty(), "after every node stopped: {report:?}");
}

/// `verify` on the database itself, no node running.
async fn verify(url: &str) -> tollgate_core::console::verify::VerifyReport {
    let store = tollgate_core::store::Store::connect(url).await.unwrap();
    let console = tollgate_core::Console::new(store, tollgate_core::live::events::Hub::default());
    let ctx = tollgate_core::Ctx { actor: "test".into(), now: chrono::Utc::now() };
    tollgate_core::Command::run(tollgate_core::console::verify::Verify {}, &console, &ctx).await.unwrap()
}
