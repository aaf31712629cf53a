//! A running gateway with its console, a real upstream, and shorthands for requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::any;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tollgate_core::live::Live;
use tollgate_core::live::events::Hub;
use tollgate_core::live::settlement::Settlement;
use tollgate_core::store::Store;
use tollgate_core::store::request_log::RequestLog;
use tollgate_core::store::traffic::{TrafficLimits, TrafficLog};
use tollgate_core::{Command, Console, Ctx};
use tollgate_gateway::Gateway;
use tollgate_gateway::listener::Limits;

/// The upstream counts what reached it, so tests can prove a denial never got there.
#[derive(Clone, Default)]
pub struct Hits(Arc<AtomicUsize>);

impl Hits {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

async fn echo(hits: Hits, request: Request) -> impl IntoResponse {
    hits.0.fetch_add(1, Ordering::SeqCst);
    let headers: serde_json::Map<String, Value> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap_or("").to_string())))
        .collect();
    axum::Json(json!({
        "method": request.method().as_str(),
        "path": request.uri().path(),
        "query": request.uri().query(),
        "headers": headers,
    }))
}

pub async fn upstream(hits: Hits) -> SocketAddr {
    let app = Router::new()
        .route("/v1/fail", any(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom at 10.0.0.7") }))
        .route(
            "/v1/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route("/v1/teapot", any(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }))
        .fallback(any(move |request: Request| echo(hits.clone(), request)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A gateway over a fresh database, seeded with plan `pro`, tenant `acme` and a key.
pub struct World {
    _dir: Option<TempDir>,
    /// The database file.
    pub db: std::path::PathBuf,
    pub console: Console,
    pub hub: Hub,
    pub settlement: Settlement,
    pub live: Arc<Live>,
    pub traffic: TrafficLog,
    /// The request log, [`RING_ENTRIES`] long.
    pub requests: RequestLog,
    pub url: String,
    pub upstream: SocketAddr,
    pub hits: Hits,
    pub secret: String,
    pub client: reqwest::Client,
}

impl World {
    pub async fn run<C: Command>(&self, command: C) -> C::Output {
        command.run(&self.console, &Ctx::now("test")).await.expect("console command succeeds")
    }

    /// Credits charged durably: the ledger's debits and the strict journal's rows no entry
    /// has taken yet (a tenant's newest `journal_through` says how far it was folded), read
    /// in one statement (a fold moves credits from one to the other).
    pub async fn durable_charges(&self) -> i64 {
        tollgate_core::on!(&mut self.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
            "SELECT (SELECT COALESCE(-SUM(amount), 0) FROM ledger WHERE kind = 'debit')
                  + (SELECT COALESCE(SUM(j.credits), 0) FROM usage_journal j
                     WHERE j.id > COALESCE((SELECT l.journal_through FROM ledger l
                                            WHERE l.tenant_id = j.tenant_id AND l.journal_through IS NOT NULL
                                            ORDER BY l.id DESC LIMIT 1), 0))"
        )
        .fetch_one(c)
        .await)
        .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.url)).bearer_auth(&self.secret).send().await.unwrap()
    }

    pub async fn balance(&self) -> i64 {
        self.live.tenant(1).expect("acme is live").balance
    }

    /// The gateway's `host:port`.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Sends `request` as raw bytes on a new connection and returns everything the
    /// gateway sends back until it closes (the request should say `Connection: close`).
    pub async fn raw(&self, request: &[u8]) -> String {
        raw(self.addr(), request).await
    }
}

/// Writes `request` on a new connection to `addr` and reads until the server closes it
/// (at most 10 s).
pub async fn raw(addr: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server did not close within 10 s; got so far: {}", String::from_utf8_lossy(&out));
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 response.
pub fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a response: {response:?}"))
}

/// The body of a raw response (after the blank line), parsed as JSON.
pub fn json_of(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"))
}

/// The world with `credits` credits and a `/v1` route of `cost` to the upstream.
pub async fn world(credits: i64, cost: i64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tollgate.db");
    world_in(Some(dir), db, credits, cost, Limits::gateway()).await
}

/// [`world`] with the gateway listening within `limits`.
pub async fn world_with(credits: i64, cost: i64, limits: Limits) -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tollgate.db");
    world_in(Some(dir), db, credits, cost, limits).await
}

/// Requests a world's request log keeps.
pub const RING_ENTRIES: u64 = 64;

/// [`world`] with its traffic log within `traffic`.
pub async fn world_with_traffic(credits: i64, cost: i64, traffic: TrafficLimits) -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tollgate.db");
    world_within(Some(dir), db, credits, cost, Limits::gateway(), traffic).await
}

/// [`world`] whose request log keeps `ring` requests (so a test's own records outlast the
/// requests of tests running beside it).
pub async fn world_with_ring(credits: i64, cost: i64, ring: u64) -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tollgate.db");
    let running = Running { ring, threads: 1 };
    world_ringed(Some(dir), db, credits, cost, Limits::gateway(), TrafficLimits::default(), running).await
}

/// The same world with its database at `db` (on a filesystem a test controls).
pub async fn world_in(dir: Option<TempDir>, db: std::path::PathBuf, credits: i64, cost: i64, limits: Limits) -> World {
    world_within(dir, db, credits, cost, limits, TrafficLimits::default()).await
}

async fn world_within(
    dir: Option<TempDir>,
    db: std::path::PathBuf,
    credits: i64,
    cost: i64,
    limits: Limits,
    traffic: TrafficLimits,
) -> World {
    world_ringed(dir, db, credits, cost, limits, traffic, Running { ring: RING_ENTRIES, threads: 1 }).await
}

/// [`world`] whose gateway runs on `threads` threads of its own (`cores.rs`), as `tollgate
/// serve` runs it.
pub async fn world_on_threads(credits: i64, cost: i64, threads: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tollgate.db");
    let running = Running { ring: RING_ENTRIES, threads };
    world_ringed(Some(dir), db, credits, cost, Limits::gateway(), TrafficLimits::default(), running).await
}

/// How the gateway runs: requests its request log keeps, and threads serving it.
struct Running {
    ring: u64,
    threads: usize,
}

async fn world_ringed(
    dir: Option<TempDir>,
    db: std::path::PathBuf,
    credits: i64,
    cost: i64,
    limits: Limits,
    traffic: TrafficLimits,
    Running { ring, threads }: Running,
) -> World {
    use tollgate_core::store::keys::KeyIssue;
    use tollgate_core::store::plans::PlanCreate;
    use tollgate_core::store::routes::RouteCreate;
    use tollgate_core::store::tenants::TenantCreate;

    let store = Store::open(&db).await.unwrap();
    let live = Arc::new(Live::load(&store).await.unwrap());
    let hub = Hub::default();
    let (traffic, _log) = TrafficLog::spawn_with(store.clone(), traffic);
    let (requests, _ring) = RequestLog::open(&db.with_file_name("requests.log"), ring).unwrap();
    let console = Console::new(store.clone(), hub.clone())
        .with_live(live.clone())
        .with_traffic(traffic.clone())
        .with_request_log(requests.clone());
    let (settlement, _writer) = Settlement::spawn_with(store.clone(), Some(live.clone()));
    let gateway = Arc::new(
        Gateway::new(live.clone(), settlement.clone(), hub.clone(), traffic.clone()).with_request_log(requests.clone()),
    );
    let listener = tollgate_gateway::cores::reusable_listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tollgate_gateway::cores::serve_on_threads(
        listener,
        threads,
        gateway,
        limits,
        None,
        std::future::pending(),
    ));
    let hits = Hits::default();
    let upstream = upstream(hits.clone()).await;
    let mut w = World {
        _dir: dir,
        db,
        console,
        hub,
        settlement,
        live,
        traffic,
        requests,
        url,
        upstream,
        hits,
        secret: String::new(),
        client: reqwest::Client::new(),
    };
    w.run(PlanCreate {
        name: "Pro".into(),
        credits_per_period: Some(credits),
        features: vec!["search".into()],
        grace_days: Some(3),
        ..Default::default()
    })
    .await;
    w.run(TenantCreate { name: "acme".into(), plan: "pro".into(), ..Default::default() }).await;
    w.secret =
        w.run(KeyIssue { tenant: "acme".into(), scopes: vec!["read".into()], ..Default::default() }).await.secret;
    w.run(RouteCreate {
        path_prefix: "/v1".into(),
        upstream_url: format!("http://{upstream}"),
        cost: Some(cost),
        ..Default::default()
    })
    .await;
    w
}

/// A second gateway over `w`'s state on a port of its own, within `limits`, serving until
/// the returned sender fires: its address, that sender, and the task that returns once it
/// has shut down (for tests of the shutdown).
pub async fn stoppable_gateway(
    w: &World,
    limits: Limits,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (traffic, _log) = TrafficLog::spawn(w.console.store().clone());
    let gateway = Arc::new(Gateway::new(w.live.clone(), w.settlement.clone(), w.hub.clone(), traffic));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tollgate_gateway::serve_with(listener, gateway, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}
