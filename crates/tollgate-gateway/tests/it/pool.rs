//! The upstream connection pool (`upstream.rs`): connections are kept and reused, one an
//! upstream closed is never an error for the next request, and one whose answer was not
//! read to its end is never reused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_core::store::routes::RouteCreate;

use crate::harness::{World, raw, status_of, world};

/// A hand-written HTTP/1.1 upstream that counts the connections it accepted. Paths:
/// `/p/empty` 204, `/p/chunked` a chunked body, `/p/close` answers and then closes the
/// connection without saying so, `/p/half` sends half its body and stops, `/p/continue` a
/// 100 before its answer, `/p/trailers` chunks with an extension and a trailer,
/// `/p/until-close` a body framed by closing, `/p/say-close` `Connection: close` (and the
/// connection kept open all the same), `/p/conflict` two lengths, `/p/early` a 413
/// without reading the request's body; anything else `hello` with a length.
async fn counting_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream));
        }
    });
    (format!("http://{addr}"), accepted)
}

async fn serve(mut stream: TcpStream) {
    let mut buf = Vec::new();
    loop {
        // One request head at a time (the gateway sends no body here).
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let answer: &[u8] = match path.as_str() {
            "/p/empty" => b"HTTP/1.1 204 No Content\r\n\r\n",
            "/p/continue" => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            "/p/trailers" => {
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Sum: 1\r\n\r\n"
            }
            "/p/until-close" => b"HTTP/1.1 200 OK\r\nX-Framing: none\r\n\r\nhello",
            "/p/say-close" => b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
            "/p/conflict" => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            "/p/lengths" => b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello",
            "/p/early" | "/p/early-open" => b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n\r\ntoo long",
            "/p/chunked" => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
            "/p/half" => b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
            _ if head.starts_with("HEAD ") => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        };
        if stream.write_all(answer).await.is_err() {
            return;
        }
        match path.as_str() {
            // Closed with the request's body unread, as a server refusing it does.
            "/p/close" | "/p/until-close" | "/p/early" => return,
            // Refused, and the connection held open with the request's body unread.
            "/p/early-open" => {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                return;
            }
            // The rest never comes: the connection stays open with the answer unfinished.
            "/p/half" => {
                let _ = stream.read(&mut [0u8; 1]).await;
                return;
            }
            _ => {}
        }
    }
}

/// A world with route `/p` to the counting upstream, at cost 1.
async fn pooled_world() -> (World, Arc<AtomicUsize>) {
    let w = world(1000, 1).await;
    let (upstream, accepted) = counting_upstream().await;
    w.run(RouteCreate { path_prefix: "/p".into(), upstream_url: upstream, cost: Some(1), ..Default::default() }).await;
    (w, accepted)
}

async fn get_text(w: &World, path: &str) -> (u16, String) {
    let r = w.client.get(format!("{}{path}", w.url)).bearer_auth(&w.secret).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn one_connection_carries_every_request_in_turn() {
    let (w, accepted) = pooled_world().await;
    for round in 0..10 {
        assert_eq!(get_text(&w, "/p/x").await, (200, "hello".into()), "round {round}: a body with a length");
        assert_eq!(get_text(&w, "/p/empty").await, (204, String::new()), "round {round}: no body");
        assert_eq!(get_text(&w, "/p/chunked").await, (200, "hello".into()), "round {round}: a chunked body");
        let head = w.client.head(format!("{}/p/x", w.url)).bearer_auth(&w.secret).send().await.unwrap();
        assert_eq!(head.status(), 200, "round {round}: HEAD");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "40 requests one after another, one upstream connection");
    assert_eq!(w.balance().await, 1000 - 40, "each one charged once");
}

#[tokio::test]
async fn a_connection_the_upstream_closed_costs_no_request() {
    let (w, accepted) = pooled_world().await;
    for round in 0..10 {
        // The upstream closes each connection after answering, without a `Connection:
        // close`: the pool holds a dead connection when the next request comes.
        assert_eq!(get_text(&w, "/p/close").await, (200, "hello".into()), "round {round}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 10, "a new connection for each, none reused dead");
}

#[tokio::test]
async fn a_connection_whose_answer_was_not_read_whole_is_not_reused() {
    let (w, accepted) = pooled_world().await;
    assert_eq!(get_text(&w, "/p/x").await, (200, "hello".into()), "a first connection, back in the pool");
    // The client takes the head of a half-sent answer and hangs up.
    let mut client = TcpStream::connect(w.addr()).await.unwrap();
    let request = format!("GET /p/half HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n", w.secret);
    client.write_all(request.as_bytes()).await.unwrap();
    let mut head = vec![0u8; 1024];
    let n = client.read(&mut head).await.unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&head[..n])), 200, "the head arrived");
    drop(client);
    // The next requests must not read the rest of that answer as theirs.
    for round in 0..5 {
        let r = raw(
            w.addr(),
            format!("GET /p/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\r\n", w.secret)
                .as_bytes(),
        )
        .await;
        assert_eq!(status_of(&r), 200, "round {round}: {r}");
        assert!(r.ends_with("\r\n\r\nhello"), "round {round}: its own body: {r}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "the half-read connection was dropped, the first one reused");
}

#[tokio::test]
async fn answers_framed_every_way_reach_the_client_whole() {
    let (w, accepted) = pooled_world().await;
    assert_eq!(get_text(&w, "/p/continue").await, (200, "hello".into()), "an interim 100 is skipped");
    assert_eq!(get_text(&w, "/p/trailers").await, (200, "hello".into()), "extensions and trailers dropped");
    let r = w.client.get(format!("{}/p/lengths", w.url)).bearer_auth(&w.secret).send().await.unwrap();
    let lengths: Vec<_> = r.headers().get_all("content-length").iter().cloned().collect();
    assert_eq!(lengths, ["5"], "one length stated three times goes on once");
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "hello".into()));
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "all on one connection");
    let r = w.client.get(format!("{}/p/until-close", w.url)).bearer_auth(&w.secret).send().await.unwrap();
    assert_eq!(r.headers().get("x-framing").unwrap(), "none");
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "hello".into()), "read until the upstream closed");
    assert_eq!(get_text(&w, "/p/x").await, (200, "hello".into()));
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "a body framed by closing leaves no connection to reuse");
    // The upstream said it closes: its word is taken, even though it has not closed yet.
    assert_eq!(get_text(&w, "/p/say-close").await, (200, "hello".into()));
    assert_eq!(get_text(&w, "/p/x").await, (200, "hello".into()));
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "an answer with `Connection: close` ends its connection");
    assert_eq!(w.balance().await, 1000 - 7, "each charged once");
}

#[tokio::test]
async fn an_answer_the_gateway_cannot_read_is_a_502_and_costs_nothing() {
    let (w, _) = pooled_world().await;
    let (status, body) = get_text(&w, "/p/conflict").await;
    assert_eq!(status, 502, "two lengths are not guessed between: {body}");
    assert!(body.contains("UPSTREAM_UNAVAILABLE"), "{body}");
    assert_eq!(w.balance().await, 1000, "nothing charged");
    assert_eq!(get_text(&w, "/p/x").await, (200, "hello".into()), "the next request is served");
}

#[tokio::test]
async fn an_upstream_that_answers_before_reading_the_body_is_heard() {
    let (w, accepted) = pooled_world().await;
    // Large enough that the upstream's refusal (and its close) comes while the body is sent.
    let body = vec![b'x'; 4 << 20];
    let r = w.client.post(format!("{}/p/early", w.url)).bearer_auth(&w.secret).body(body).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (413, "too long".into()), "its answer, not a 502");
    assert_eq!(get_text(&w, "/p/x").await, (200, "hello".into()));
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "the refusing connection is not reused");
    // Refused and held open: the upstream reads no more, so the body could never be sent
    // whole; the answer is heard all the same, not waited for until the upstream timeout.
    let body = vec![b'x'; 16 << 20];
    let r = w.client.post(format!("{}/p/early-open", w.url)).bearer_auth(&w.secret).body(body).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (413, "too long".into()), "its answer, not a 504");
    assert_eq!(get_text(&w, "/p/x").await, (200, "hello".into()));
    // The refusal came on the pooled connection of `/p/x`; the next request needs a new one.
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "a connection whose body was cut short is not reused");
}
