//! Three `tollgate serve` processes on one PostgreSQL (Debian's, started in a temporary
//! directory): credits stay exact across them, console changes reach every node within a
//! second, a node killed under `strict` load loses no acknowledged charge, and a node
//! paused past its lease cannot overspend.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::pg_server::fresh_database;
use crate::process::{Server, json, upstream, upstream_after};

/// Three nodes on one fresh database, each with its own data directory.
struct Cluster {
    dirs: Vec<tempfile::TempDir>,
    nodes: Vec<Option<Server>>,
}

impl Cluster {
    fn start(url: &str) -> Self {
        Self::start_with(url, &["--lease-block", "20", "--lease-seconds", "3"])
    }

    /// Three nodes with `extra` arguments.
    fn start_with(url: &str, extra: &[&str]) -> Self {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let nodes = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let name = format!("n{}", i + 1);
                let args = [&["--database", url, "--node", &name][..], extra].concat();
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

/// How long until each of `gateways`, asked in turn, answers `want` (each within `limit`).
async fn until_each(
    client: &reqwest::Client,
    gateways: &[String],
    key: &str,
    want: u16,
    limit: Duration,
) -> Vec<Duration> {
    let mut waited = Vec::new();
    for gateway in gateways {
        waited.push(until(client, gateway, key, want, limit).await);
    }
    waited
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

    // One monitor for every node: node 1's event stream carries nodes 2 and 3's decisions.
    let token = std::fs::read_to_string(cluster.dirs[0].path().join("admin-token")).unwrap();
    let admin = cluster.nodes[0].as_ref().unwrap().url.clone();
    rt.block_on(async {
        let stream = client.get(format!("{admin}/api/events?kind=gateway")).bearer_auth(token.trim()).send();
        let mut stream = tokio::time::timeout(Duration::from_secs(10), stream).await.unwrap().unwrap();
        let mut ids = Vec::new();
        for gateway in &gateways[1..] {
            let response = client.get(format!("{gateway}/v1/x")).header("x-api-key", &key).send().await.unwrap();
            assert_eq!(response.status(), 402, "the balance is spent");
            ids.push(response.headers()["x-request-id"].to_str().unwrap().to_string());
        }
        // Earlier decisions may still be on their way: these two are looked for by id.
        let events = crate::server::sse_events(&mut stream, 1000, Duration::from_secs(2)).await;
        let seen: Vec<_> = ids
            .iter()
            .map(|id| events.iter().find(|e| e["request_id"] == id.as_str()).map(|e| e["node"].as_str().unwrap()))
            .collect();
        assert_eq!(seen, vec![Some("n2"), Some("n3")], "each arrives, marked with its node");
        let metrics = client.get(format!("{admin}/metrics")).bearer_auth(token.trim()).send().await.unwrap();
        let metrics = metrics.text().await.unwrap();
        let received = metrics
            .lines()
            .find_map(|l| l.strip_prefix("tollgate_relayed_events_total{outcome=\"received\"} "))
            .and_then(|n| n.trim().parse::<u64>().ok());
        assert!(received.is_some_and(|n| n >= 2), "node 1 counts what it received: {received:?}");
    });
    let nodes = cluster.json(0, &["cluster", "nodes"]);
    let up: Vec<_> = nodes.as_array().unwrap().iter().map(|n| (n["name"].as_str(), n["up"].as_bool())).collect();
    assert_eq!(up, vec![(Some("n1"), Some(true)), (Some("n2"), Some(true)), (Some("n3"), Some(true))], "{nodes}");
    assert!(nodes.as_array().unwrap().iter().all(|n| n["changes_behind"].as_i64() == Some(0)), "none behind: {nodes}");

    // A top-up on node 1: the next request on every node passes within a second.
    cluster.json(0, &["credits", "topup", "--tenant", "acme", "--amount", "30", "--idempotency-key", "more"]);
    let waited = rt.block_on(until_each(&client, &gateways[1..], &key, 200, Duration::from_secs(1)));
    eprintln!("after the top-up on node 1, nodes 2 and 3 served after {waited:?}");

    // Blocking the tenant on node 2 reaches nodes 1 and 3 through the change log.
    cluster.json(1, &["tenant", "block", "--tenant", "acme"]);
    let waited = rt.block_on(until_each(
        &client,
        &[gateways[0].clone(), gateways[2].clone()],
        &key,
        403,
        Duration::from_secs(1),
    ));
    eprintln!("after the block on node 2, nodes 1 and 3 refused after {waited:?}");
    cluster.json(1, &["tenant", "resume", "--tenant", "acme"]);
    rt.block_on(until(&client, &gateways[2], &key, 200, Duration::from_secs(1)));

    // The nodes' LISTEN connections killed: the next change still reaches them, from the log.
    let killed: i64 = rt.block_on(async {
        let store = tollgate_core::store::Store::connect(&url).await.unwrap();
        let killed = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()) AS terminated",
        )
        .fetch_one(store.postgres().unwrap())
        .await
        .unwrap();
        store.close().await;
        killed
    });
    assert!(killed >= 3, "every node's LISTEN connection was killed ({killed})");
    cluster.json(0, &["tenant", "suspend", "--tenant", "acme"]);
    let waited = rt.block_on(until_each(&client, &gateways[1..], &key, 402, Duration::from_secs(3)));
    eprintln!("with their LISTEN connections killed, nodes 2 and 3 applied a suspension after {waited:?}");

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

/// Credits node `node` charged, as the ledger holds them.
async fn charged_by(url: &str, node: &str) -> i64 {
    let store = tollgate_core::store::Store::connect(url).await.unwrap();
    let charged: i64 =
        sqlx::query_scalar("SELECT COALESCE(-SUM(amount), 0)::BIGINT FROM ledger WHERE kind = 'debit' AND actor = $1")
            .bind(format!("gateway:{node}"))
            .fetch_one(store.postgres().unwrap())
            .await
            .unwrap();
    store.close().await;
    charged
}

#[test]
fn a_node_killed_under_strict_load_loses_no_acknowledged_charge_and_the_sweeper_returns_its_lease() {
    let rt = runtime();
    let url = rt.block_on(fresh_database());
    let mut cluster = Cluster::start(&url);
    let key = tenant_with(&cluster, 100_000);
    cluster.json(0, &["settings", "set", "--durability", "strict"]);
    let gateways: Vec<String> = (0..3).map(|i| cluster.gateway(i)).collect();
    let client = reqwest::Client::new();
    rt.block_on(until(&client, &gateways[1], &key, 200, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(500)); // the setting reached every node

    // 32 clients on node 2; it is killed (SIGKILL) while they call.
    let acknowledged = Arc::new(AtomicI64::new(1)); // the call above
    let load: Vec<_> = (0..32)
        .map(|_| {
            let (client, gateway, key, acknowledged) =
                (client.clone(), gateways[1].clone(), key.clone(), acknowledged.clone());
            rt.spawn(async move {
                while call(&client, &gateway, &key).await == 200 {
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let killed = cluster.nodes[1].take().unwrap();
    killed.signal(libc::SIGKILL);
    for l in load {
        rt.block_on(l).unwrap();
    }
    drop(killed);
    let acknowledged = acknowledged.load(Ordering::Relaxed);
    assert!(acknowledged > 50, "node 2 served under load before it died ({acknowledged})");

    // Its lease expires (3 s) and a surviving node's sweeper (every 2 s) gives back the rest.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let report = rt.block_on(verify(&url));
        assert!(report.ok, "balance, open leases and ledger agree at every moment: {report:?}");
        let outstanding = rt.block_on(outstanding(&url, "n2"));
        if outstanding == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "node 2's lease was not swept: {outstanding} credits outstanding");
        std::thread::sleep(Duration::from_millis(200));
    }
    let recorded = rt.block_on(charged_by(&url, "n2"));
    assert!(recorded >= acknowledged, "every acknowledged strict call is in the ledger: {recorded} < {acknowledged}");
    eprintln!("node 2 acknowledged {acknowledged} strict calls before SIGKILL; the ledger holds {recorded}");
    let balance = cluster.json(2, &["tenant", "show", "--tenant", "acme"])["tenant"]["balance"].as_i64().unwrap();
    let others = rt.block_on(charged_by(&url, "n1")) + rt.block_on(charged_by(&url, "n3"));
    assert_eq!(
        balance,
        100_000 - others - recorded,
        "the unspent part of the dead node's lease is back in the balance"
    );
}

#[test]
fn a_node_paused_past_its_leases_expiry_cannot_overspend_when_resumed() {
    let rt = runtime();
    let url = rt.block_on(fresh_database());
    let cluster = Cluster::start(&url);
    let key = tenant_with(&cluster, 100);
    let gateways: Vec<String> = (0..3).map(|i| cluster.gateway(i)).collect();
    let client = reqwest::Client::new();
    // Node 3 takes a lease with its first call, records it, and is paused.
    rt.block_on(until(&client, &gateways[2], &key, 200, Duration::from_secs(5)));
    let held = rt.block_on(outstanding(&url, "n3"));
    assert!(held > 1, "node 3 holds a lease ({held} credits)");
    std::thread::sleep(Duration::from_millis(700)); // its usage flushed (every lease-TTL / 10)
    let paused = cluster.nodes[2].as_ref().unwrap();
    paused.signal(libc::SIGSTOP);
    // Past the lease's expiry (3 s) and a sweep (every 2 s): its credits are back.
    let deadline = Instant::now() + Duration::from_secs(15);
    while rt.block_on(outstanding(&url, "n3")) > 0 {
        assert!(Instant::now() < deadline, "the paused node's lease was not swept");
        std::thread::sleep(Duration::from_millis(200));
    }
    let served = rt.block_on(spend_all(&client, &gateways[..2], &key));
    paused.signal(libc::SIGCONT);
    let mut after = 0;
    rt.block_on(async {
        loop {
            match call(&client, &gateways[2], &key).await {
                200 => after += 1,
                402 => break,
                other => panic!("the resumed node answered {other}"),
            }
        }
    });
    assert_eq!((1 + served + after, after), (100, 0), "the 100 credits served 100 calls; the resumed node spent none");
    let report = rt.block_on(verify(&url));
    assert!(report.ok, "{report:?}");
}

/// What node `node`'s open leases still hold.
async fn outstanding(url: &str, node: &str) -> i64 {
    let store = tollgate_core::store::Store::connect(url).await.unwrap();
    let pool = store.postgres().unwrap();
    let held: i64 = sqlx::query_scalar(
        "SELECT COALESCE(SUM(granted - used), 0)::BIGINT FROM leases WHERE node = $1 AND closed_at IS NULL",
    )
    .bind(node)
    .fetch_one(pool)
    .await
    .unwrap();
    store.close().await;
    held
}

/// One wrk run per gateway in `targets`, all at once, for `seconds`, 16 connections each,
/// keys from `keys` rotated per request; the requests they made. A run with socket errors
/// or any answer but 200 is refused.
fn load(targets: &[String], keys: &std::path::Path, seconds: u64) -> u64 {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/wrk/keys.lua");
    let runs: Vec<_> = targets
        .iter()
        .map(|gateway| {
            std::process::Command::new("wrk")
                .args(["-t1", "-c16", &format!("-d{seconds}s"), "-s"])
                .arg(&script)
                .arg(gateway)
                .env("BENCH_KEYS", keys)
                .env("BENCH_DIR", script.parent().unwrap().parent().unwrap())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("wrk runs (make bench installs it)")
        })
        .collect();
    let mut total = 0;
    for run in runs {
        let out = run.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && !text.contains("Socket errors") && !text.contains("Non-2xx"),
            "a refused run:\n{text}"
        );
        let made = text
            .lines()
            .find_map(|l| l.trim().split_once(" requests in ").map(|(n, _)| n.trim().parse::<u64>().unwrap()));
        total += made.expect("wrk reports its requests");
    }
    total
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// `make bench`'s cluster section, through the real binary: three nodes on one PostgreSQL
/// under wrk, against one node on SQLite under the same load in the same run.
#[test]
#[ignore = "a benchmark: make bench runs it"]
fn bench_three_nodes() {
    const SECONDS: u64 = 10;
    const TENANTS: usize = 10;
    let rt = runtime();
    let upstream = upstream();
    let work = tempfile::tempdir().unwrap();
    let keys_file = work.path().join("keys.txt");
    // The same tenants, keys and route on whichever database `json` reaches.
    let seed = |json: &dyn Fn(&[&str]) -> Value| {
        json(&["plan", "create", "--name", "Pro", "--credits", "0"]);
        let mut keys = Vec::new();
        for t in 0..TENANTS {
            let slug = format!("t{t}");
            json(&["tenant", "create", "--name", &slug, "--plan", "pro"]);
            json(&["credits", "topup", "--tenant", &slug, "--amount", "1000000000", "--idempotency-key", &slug]);
            for _ in 0..10 {
                keys.push(json(&["key", "issue", "--tenant", &slug])["secret"].as_str().unwrap().to_string());
            }
        }
        json(&["route", "create", "--path", "/v1", "--upstream", &upstream, "--cost", "1"]);
        keys
    };

    // The reference: one node on SQLite, batched, all three wrk on it.
    let alone = tempfile::tempdir().unwrap();
    let single = Server::start_with(alone.path(), "warn", &[]);
    let keys = seed(&|args| json(alone.path(), args));
    std::fs::write(&keys_file, keys.join("\n")).unwrap();
    let single_requests = load(&vec![single.gateway.clone(); 3], &keys_file, SECONDS);
    single.stop();

    // Three nodes on one PostgreSQL.
    let url = rt.block_on(fresh_database());
    let cluster = Cluster::start_with(&url, &["--lease-block", "1000", "--lease-seconds", "30"]);
    let keys = seed(&|args| cluster.json(0, args));
    std::fs::write(&keys_file, keys.join("\n")).unwrap();
    let gateways: Vec<String> = (0..3).map(|i| cluster.gateway(i)).collect();
    let client = reqwest::Client::new();
    rt.block_on(async {
        for gateway in &gateways {
            until(&client, gateway, &keys[0], 200, Duration::from_secs(5)).await;
        }
    });
    let store = rt.block_on(tollgate_core::store::Store::connect(&url)).unwrap();
    let pool = store.postgres().unwrap().clone();
    let commits = || -> i64 {
        std::thread::sleep(Duration::from_millis(1500)); // the statistics collector's delay
        rt.block_on(
            sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
                .fetch_one(&pool),
        )
        .unwrap()
    };
    let leases = || -> i64 { rt.block_on(sqlx::query_scalar("SELECT COUNT(*) FROM leases").fetch_one(&pool)).unwrap() };
    // What three idle nodes cost (heartbeats, change-log backstops, sweeps, flushes).
    let idle_before = commits();
    let idle_started = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    let idle_after = commits();
    let idle_per_second = (idle_after - idle_before) as f64 / idle_started.elapsed().as_secs_f64();
    let (commits_before, leases_before) = (commits(), leases());
    let started = Instant::now();
    let cluster_requests = load(&gateways, &keys_file, SECONDS);
    let elapsed = started.elapsed().as_secs_f64().min(SECONDS as f64);
    let stranded: i64 = rt
        .block_on(
            sqlx::query_scalar("SELECT COALESCE(SUM(granted - used), 0)::BIGINT FROM leases WHERE closed_at IS NULL")
                .fetch_one(&pool),
        )
        .unwrap();
    let grants = leases() - leases_before;
    let transactions = commits() - commits_before;
    let window = started.elapsed().as_secs_f64();

    // A console change on node 1, until nodes 2 and 3 apply it: 20 blocks and 20 resumes.
    let mut delays = Vec::new();
    for _ in 0..20 {
        for (verb, status) in [("block", 403), ("resume", 200)] {
            cluster.json(0, &["tenant", verb, "--tenant", "t0"]);
            let committed = Instant::now();
            for gateway in &gateways[1..] {
                rt.block_on(until(&client, gateway, &keys[0], status, Duration::from_secs(2)));
                delays.push(committed.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    for node in cluster.nodes.into_iter().flatten() {
        node.stop();
    }
    let report = rt.block_on(verify(&url));
    assert!(report.ok, "after the run: {report:?}");

    let figures = serde_json::json!({
        "seconds": SECONDS,
        "wrk": "3 × wrk -t1 -c16, keys rotated per request, route cost 1",
        "single_node_sqlite_requests_per_second": single_requests as f64 / SECONDS as f64,
        "three_nodes_postgres_requests_per_second": cluster_requests as f64 / elapsed,
        "three_nodes_over_single_node": (cluster_requests as f64 / elapsed) / (single_requests as f64 / SECONDS as f64),
        "postgres_transactions": transactions,
        "postgres_transactions_per_1000_requests": transactions as f64 * 1000.0 / cluster_requests as f64,
        "postgres_transactions_per_second_three_idle_nodes": idle_per_second,
        "postgres_transactions_per_1000_requests_beyond_idle":
            (transactions as f64 - idle_per_second * window) * 1000.0 / cluster_requests as f64,
        "lease_grants_per_second_per_tenant": grants as f64 / elapsed / TENANTS as f64,
        "credits_in_open_leases_when_the_load_stopped": stranded,
        "change_to_every_node_ms_p50": percentile(&delays, 0.5),
        "change_to_every_node_ms_p99": percentile(&delays, 0.99),
    });
    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("cluster-nodes.json"), serde_json::to_vec_pretty(&figures).unwrap()).unwrap();
}

#[test]
fn a_client_that_hangs_up_before_the_upstream_answers_is_not_charged() {
    let rt = runtime();
    let url = rt.block_on(fresh_database());
    let cluster = Cluster::start(&url);
    // The slow route first: node 2 applies changes in commit order, so once the tenant's
    // key works there (below), the route is there too.
    let slow = upstream_after(Duration::from_secs(2));
    cluster.json(0, &["route", "create", "--path", "/slow", "--upstream", &slow, "--cost", "1"]);
    let key = tenant_with(&cluster, 10);
    let gateway = cluster.gateway(1);
    let client = reqwest::Client::new();
    rt.block_on(async {
        // Both routes reached node 2.
        until(&client, &gateway, &key, 200, Duration::from_secs(5)).await;
        for _ in 0..3 {
            let gone = client
                .get(format!("{gateway}/slow/x"))
                .header("x-api-key", &key)
                .timeout(Duration::from_millis(300))
                .send()
                .await;
            assert!(gone.is_err(), "the client gave up before the upstream answered: {:?}", gone.map(|r| r.status()));
        }
        tokio::time::sleep(Duration::from_millis(2500)).await; // the upstream answered meanwhile
        // The one call above cost 1; the three abandoned ones nothing: 9 more calls pass.
        let mut served = 0;
        while call(&client, &gateway, &key).await == 200 {
            served += 1;
        }
        assert_eq!(served, 9, "the abandoned calls' credits came back");
    });
    let report = rt.block_on(verify(&url));
    assert!(report.ok, "{report:?}");
}
