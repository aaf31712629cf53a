//! The listener's own HTTP/1.1 path over a real socket: pipelined requests answered in
//! order (also when the client closed its side after sending them), the connection handed
//! to hyper (bytes read included) at the first request that is not plain, `HEAD`, HTTP/1.0
//! and malformed heads, and a shutdown that closes idle connections at once and busy and
//! brand-new ones after their answer.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tollgate_gateway::listener::Limits;

use crate::harness::{World, status_of, stoppable_gateway, world};

/// One answer read off `stream` (`buf` keeps what came after it): its head, and its body
/// (none for a `HEAD`), framed by `Content-Length` or chunked.
async fn answer(stream: &mut TcpStream, buf: &mut Vec<u8>, head_request: bool) -> (String, Vec<u8>) {
    let mut chunk = [0u8; 8192];
    let mut more = async |stream: &mut TcpStream, buf: &mut Vec<u8>| {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "closed before the whole answer: {}", String::from_utf8_lossy(buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        more(stream, buf).await;
    };
    let head = String::from_utf8(buf.drain(..end).collect()).unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
    };
    if head_request {
        return (head.clone(), Vec::new());
    }
    let mut body = Vec::new();
    if let Some(length) = header("content-length") {
        let length: usize = length.parse().unwrap();
        while buf.len() < length {
            more(stream, buf).await;
        }
        body.extend(buf.drain(..length));
    } else {
        assert_eq!(header("transfer-encoding"), Some("chunked"), "framed: {head}");
        loop {
            let line = loop {
                if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
                    break at;
                }
                more(stream, buf).await;
            };
            let size = usize::from_str_radix(std::str::from_utf8(&buf[..line]).unwrap(), 16).unwrap();
            while buf.len() < line + 2 + size + 2 {
                more(stream, buf).await;
            }
            body.extend_from_slice(&buf[line + 2..line + 2 + size]);
            buf.drain(..line + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    }
    (head, body)
}

fn path_of(body: &[u8]) -> String {
    let echoed: Value = serde_json::from_slice(body).unwrap();
    echoed["path"].as_str().unwrap().to_string()
}

/// Reads until `stream` closes; what came.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(got)
}

fn get(w: &World, path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n{extra}\r\n", w.secret)
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_and_a_body_hands_the_connection_to_hyper() {
    let w = world(100, 1).await;
    let mut stream = TcpStream::connect(w.addr()).await.unwrap();
    // Four requests in one write: two plain, one with a body (hyper's from there on, the
    // bytes already read included), one more that asks for the end.
    let post = format!(
        "POST /v1/c HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Length: 5\r\n\r\nhello",
        w.secret
    );
    let all = [get(&w, "/v1/a", ""), get(&w, "/v1/b?x=1", ""), post, get(&w, "/v1/d", "Connection: close\r\n")];
    stream.write_all(all.concat().as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut paths = Vec::new();
    for _ in 0..4 {
        let (head, body) = answer(&mut stream, &mut buf, false).await;
        assert_eq!(status_of(&head), 200, "{head}");
        assert!(head.to_ascii_lowercase().contains("\r\ndate: "), "dated: {head}");
        paths.push(path_of(&body));
    }
    assert_eq!(paths, ["/v1/a", "/v1/b", "/v1/c", "/v1/d"], "in order, each once");
    assert_eq!(until_closed(&mut stream, Duration::from_secs(5)).await.as_deref(), Some(&b""[..]), "then closed");
    assert_eq!(w.hits.count(), 4);
    assert_eq!(w.balance().await, 96, "four calls, four credits");
}

#[tokio::test]
async fn head_http_1_0_and_malformed_heads_are_answered_as_hyper_would() {
    let w = world(100, 1).await;
    // HEAD: the head with its length, no body, and the connection goes on.
    let mut stream = TcpStream::connect(w.addr()).await.unwrap();
    let head = get(&w, "/v1/h", "").replacen("GET", "HEAD", 1);
    stream.write_all(format!("{head}{}", get(&w, "/v1/after", "")).as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let (answered, body) = answer(&mut stream, &mut buf, true).await;
    assert_eq!(status_of(&answered), 200);
    assert!(answered.to_ascii_lowercase().contains("content-length: "), "{answered}");
    assert!(body.is_empty());
    let (_, body) = answer(&mut stream, &mut buf, false).await;
    assert_eq!(path_of(&body), "/v1/after", "no body of the HEAD's was sent before it");

    // HTTP/1.0: answered, then closed.
    let old = get(&w, "/v1/old", "").replace("HTTP/1.1", "HTTP/1.0");
    let answered = w.raw(old.as_bytes()).await;
    assert_eq!(status_of(&answered), 200, "{answered}");
    assert!(answered.contains("/v1/old"));

    // A malformed header line and a head too large: hyper's 400 and 431.
    let answered = w.raw(b"GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n").await;
    assert_eq!(status_of(&answered), 400, "{answered}");
    let long = format!("GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: {}\r\n\r\n", "a".repeat(600_000));
    let answered = w.raw(long.as_bytes()).await;
    assert_eq!(status_of(&answered), 431, "{answered}");
    assert_eq!(w.hits.count(), 3, "the HEAD, the request after it and the HTTP/1.0 one; no malformed head");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_shutdown_idle_connections_close_and_a_busy_one_closes_after_its_answer() {
    let w = world(100, 1).await;
    // Long enough that neither the idle timeout nor the grace can be what closes them.
    let limits = Limits {
        header_read_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(30),
        ..Limits::gateway()
    };
    let (addr, stop, server) = stoppable_gateway(&w, limits).await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(get(&w, "/v1/first", "").as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    assert_eq!(status_of(&answer(&mut idle, &mut buf, false).await.0), 200);
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(get(&w, "/v1/slow", "").as_bytes()).await.unwrap();
    // Accepted, its first request not sent yet when the shutdown comes.
    let mut fresh = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // the slow one is at the upstream
    let asked = Instant::now();
    stop.send(()).unwrap();
    assert_eq!(
        until_closed(&mut idle, Duration::from_secs(2)).await.as_deref(),
        Some(&b""[..]),
        "the idle connection is closed at once, with nothing sent"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    fresh.write_all(get(&w, "/v1/late", "").as_bytes()).await.unwrap();
    let (head, body) = answer(&mut fresh, &mut Vec::new(), false).await;
    assert_eq!(status_of(&head), 200, "a new connection's first request is still served: {head}");
    assert_eq!(path_of(&body), "/v1/late");
    assert!(head.to_ascii_lowercase().contains("\r\nconnection: close"), "and told the connection ends: {head}");
    assert!(until_closed(&mut fresh, Duration::from_secs(2)).await.is_some(), "then closed");
    let (head, body) = answer(&mut busy, &mut Vec::new(), false).await;
    assert_eq!(status_of(&head), 200, "the busy one is answered");
    assert_eq!(body, b"late");
    assert!(head.to_ascii_lowercase().contains("\r\nconnection: close"), "and told the connection ends: {head}");
    assert!(until_closed(&mut busy, Duration::from_secs(2)).await.is_some(), "then closed");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("serve returns once both are closed").unwrap();
    assert!(asked.elapsed() < Duration::from_secs(10), "well within the grace");
}

#[tokio::test]
async fn the_idle_timeout_counts_from_the_last_answer_not_from_the_connection() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let limits = Limits { header_read_timeout: TIMEOUT, shutdown_grace: Duration::from_secs(1), ..Limits::gateway() };
    let w = crate::harness::world_with(100, 1, limits).await;
    let mut stream = TcpStream::connect(w.addr()).await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // Four timeouts' worth of requests, each well within the timeout of the one before.
    while started.elapsed() < TIMEOUT * 4 {
        stream.write_all(get(&w, "/v1/steady", "").as_bytes()).await.unwrap();
        assert_eq!(status_of(&answer(&mut stream, &mut buf, false).await.0), 200, "still served");
        tokio::time::sleep(TIMEOUT / 3).await;
    }
    let answered = Instant::now();
    assert!(until_closed(&mut stream, Duration::from_secs(5)).await.is_some(), "then idle, and closed");
    let idle = answered.elapsed();
    assert!(idle >= TIMEOUT - TIMEOUT / 3 - Duration::from_millis(50), "not before its own timeout: {idle:?}");
}

#[tokio::test]
async fn a_client_that_sends_its_requests_and_closes_its_side_gets_the_first_answer() {
    let w = world(100, 1).await;
    let mut stream = TcpStream::connect(w.addr()).await.unwrap();
    stream.write_all([get(&w, "/v1/a", ""), get(&w, "/v1/b", "")].concat().as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap(); // `printf '…' | nc`: nothing more will come
    let (head, body) = answer(&mut stream, &mut Vec::new(), false).await;
    assert_eq!(status_of(&head), 200, "{head}");
    assert_eq!(path_of(&body), "/v1/a", "the request with another behind it is answered, as hyper did");
    assert!(until_closed(&mut stream, Duration::from_secs(5)).await.is_some(), "and the connection ends");
}
