//! The gateway on several threads (`cores.rs`), as `tollgate serve` runs it on a machine
//! with several CPUs: every request answered and charged once, the port not shareable with
//! another server, and a stop that waits for every thread's requests.

use std::sync::Arc;
use std::time::Duration;

use tollgate_gateway::Gateway;
use tollgate_gateway::cores::{reusable_listener, serve_on_threads};
use tollgate_gateway::listener::Limits;

use crate::harness::world_on_threads;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_over_two_threads_are_each_answered_and_charged_once() {
    let w = world_on_threads(1000, 1, 2).await;
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..40 {
        // A client of its own: its own connection, which the kernel gives to either thread.
        let (url, secret) = (w.url.clone(), w.secret.clone());
        clients.spawn(async move {
            let client = reqwest::Client::new();
            let mut statuses = Vec::new();
            for _ in 0..10 {
                let r = client.get(format!("{url}/v1/x")).bearer_auth(&secret).send().await.unwrap();
                statuses.push(r.status().as_u16());
            }
            statuses
        });
    }
    let mut served = 0;
    while let Some(statuses) = clients.join_next().await {
        served += statuses.unwrap().iter().filter(|s| **s == 200).count();
    }
    assert_eq!(served, 400, "every request served");
    assert_eq!(w.balance().await, 600, "each charged once");
    w.settlement.flush().await.unwrap();
    let charged: i64 = tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT -SUM(amount) FROM ledger WHERE kind = 'debit'"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(charged, 400, "the ledger has every charge");
}

#[tokio::test]
async fn a_second_server_cannot_take_the_gateways_port() {
    let w = world_on_threads(10, 1, 2).await;
    let addr = w.addr().parse().unwrap();
    let second = reusable_listener(addr).map(|_| ()).map_err(|e| e.kind());
    assert_eq!(second, Err(std::io::ErrorKind::AddrInUse), "refused, not silently sharing the port");
    assert_eq!(w.get("/v1/x").await.status(), 200, "the first server still answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_every_threads_requests_finish() {
    let w = world_on_threads(10, 1, 1).await;
    let gateway = Arc::new(Gateway::new(w.live.clone(), w.settlement.clone(), w.hub.clone(), w.traffic.clone()));
    let listener = reusable_listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = Limits { shutdown_grace: Duration::from_secs(10), ..Limits::gateway() };
    let server = tokio::spawn(serve_on_threads(listener, 2, gateway, limits, None, async move {
        let _ = stopped.await;
    }));
    // Requests the upstream answers after 3 s, on connections the threads share between them.
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (url, secret) = (url.clone(), w.secret.clone());
        slow.spawn(async move {
            reqwest::Client::new().get(format!("{url}/v1/slow")).bearer_auth(&secret).send().await.map(|r| r.status())
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // the requests are in flight
    stop.send(()).unwrap();
    server.await.unwrap();
    assert!(server_is_closed(&url).await, "once stopped, no thread accepts connections");
    while let Some(status) = slow.join_next().await {
        assert_eq!(status.unwrap().unwrap(), 200, "a request in flight when the stop came was served");
    }
    assert_eq!(w.balance().await, 6, "and charged");
}

async fn server_is_closed(url: &str) -> bool {
    tokio::net::TcpStream::connect(url.trim_start_matches("http://")).await.is_err()
}
