//! Clients that hold connections without finishing a request, and floods of requests
//! without a key: the listener closes the first within its timeout, stays within its
//! connection cap, and limits the second per address while paying traffic goes on.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate_gateway::listener::Limits;

use crate::harness::{world, world_with};

const TIMEOUT: Duration = Duration::from_millis(400);

fn limits(max_connections: usize) -> Limits {
    Limits { header_read_timeout: TIMEOUT, max_connections, shutdown_grace: Duration::from_secs(1) }
}

/// Reads until the server closes `stream` (EOF or reset), at most `bound`; returns when.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> Option<Instant> {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return Instant::now(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

#[tokio::test]
async fn a_partial_header_is_cut_off_within_the_timeout() {
    let w = world_with(100, 1, limits(64)).await;
    let mut stream = TcpStream::connect(w.addr()).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    let closed = closed_within(&mut stream, Duration::from_secs(5)).await;
    let closed = closed.expect("a connection that never finishes its headers is closed");
    let after = closed - started;
    assert!(after >= TIMEOUT - Duration::from_millis(50), "not before the timeout: {after:?}");
    assert!(after < TIMEOUT * 4, "soon after the timeout: {after:?}");

    let mut silent = TcpStream::connect(w.addr()).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)).await.is_some(),
        "a connection that sends nothing is closed too"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_idling_after_its_answer_is_closed() {
    let w = world_with(100, 1, limits(64)).await;
    let mut stream = TcpStream::connect(w.addr()).await.unwrap();
    let request = format!("GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n", w.secret);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = tokio::time::timeout(Duration::from_secs(5), async {
        // The echo answers with a Content-Length; read until the whole body is in.
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed before answering");
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_string))
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .expect("a Content-Length");
                if body.len() >= length {
                    return Instant::now();
                }
            }
        }
    })
    .await
    .expect("answered");
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"), "served: {}", String::from_utf8_lossy(&got));
    let closed =
        closed_within(&mut stream, Duration::from_secs(5)).await.expect("an idle kept-alive connection is closed");
    let idle = closed - answered;
    assert!(idle < TIMEOUT * 4, "within the idle timeout: {idle:?}");
}

#[tokio::test]
async fn at_the_cap_stalled_connections_wait_their_turn_and_a_fresh_request_is_served() {
    const CAP: usize = 4;
    let w = world_with(100, 1, limits(CAP)).await;
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..3 * CAP {
        let mut s = TcpStream::connect(w.addr()).await.unwrap();
        s.write_all(b"GET /v1/x HTTP/1.1\r\n").await.unwrap();
        stalled.push(s);
    }
    // The fresh client queues behind them in the backlog, and is served once they go.
    let fresh = tokio::spawn({
        let (client, url, secret) = (w.client.clone(), w.url.clone(), w.secret.clone());
        async move {
            let r = client.get(format!("{url}/v1/x")).bearer_auth(secret).timeout(Duration::from_secs(20)).send().await;
            (r.map(|r| r.status().as_u16()), Instant::now())
        }
    });
    let mut closes = Vec::new();
    for s in &mut stalled {
        closes.push(closed_within(s, Duration::from_secs(15)).await.expect("every stalled connection is closed"));
    }
    let early = closes.iter().filter(|c| **c - started < TIMEOUT * 3 / 2).count();
    assert!(early <= CAP, "only the {CAP} accepted connections time out in the first round, not {early}");
    let (status, served_at) = fresh.await.unwrap();
    assert_eq!(status.ok(), Some(200), "the fresh request is served");
    assert!(served_at - started < Duration::from_secs(15), "in bounded time");
}

#[tokio::test]
async fn a_keyless_flood_gets_429_while_a_paying_key_is_served() {
    let w = world(1_000, 1).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    // The default allows 101 at once, then 50/s: a loop well above 50/s meets the limit.
    let deadline = Instant::now() + Duration::from_secs(20);
    while statuses.len() < 2_000 && Instant::now() < deadline {
        let path = if statuses.len() % 2 == 0 { "/v1/x" } else { "/nowhere" };
        let r = w.client.get(format!("{}{path}", w.url)).header("x-api-key", "tg_live_guess").send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("a flood of keyless requests is limited");
    assert!(statuses[..101].iter().all(|s| *s == 401 || *s == 404), "the burst of 101 is answered as usual");
    let h = limited.headers().clone();
    assert_eq!(h["content-type"], "application/problem+json", "an RFC 9457 problem");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "with Retry-After");
    assert_eq!(h["ratelimit-policy"], "\"keyless\";q=50;w=1;burst=100", "and the policy");
    let body: serde_json::Value = limited.json().await.unwrap();
    assert_eq!((body["status"].as_u64(), body["code"].as_str()), (Some(429), Some("RATE_LIMITED")), "{body}");

    for n in 0..20 {
        let r = w.get("/v1/x").await;
        assert_eq!(r.status(), 200, "paying request {n} is served from the same address");
    }
    assert_eq!(w.hits.count(), 20, "none of the keyless requests reached the upstream");
}
