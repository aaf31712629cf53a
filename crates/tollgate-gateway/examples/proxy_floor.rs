//! The floor of a proxy hop on tokio, for benchmarks: what forwarding alone costs without
//! hyper and without any of the gateway's work. Not a gateway and not a product: each client
//! connection gets its own upstream connection, requests must have no body, answers must
//! carry a `Content-Length`, and the bytes go through as they came (no header rewritten).
//!
//! `cargo run --release -p tollgate-gateway --example proxy_floor -- 127.0.0.1:9002 127.0.0.1:9000 [raw|hyper]`
//!
//! `raw` (the default) reads and parses with `httparse` and writes the bytes on; `hyper`
//! does the same hop with hyper's HTTP/1 server and client (the machinery Tollgate's
//! gateway runs on; the client connection in a task of its own, as hyper's examples do).
//! bench/gateway.sh runs them as the `floor` and `floor_hyper` targets beside nginx
//! `proxy_pass`: what a purpose-built HTTP/1.1 path on tokio could reach (the README's
//! "where the time goes"), and what hyper's machinery alone costs.

use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9002".into());
    let upstream = std::env::args().nth(2).unwrap_or_else(|| "127.0.0.1:9000".into());
    let hyper = match std::env::args().nth(3).as_deref() {
        None | Some("raw") => false,
        Some("hyper") => true,
        Some(other) => panic!("unknown mode {other}: raw or hyper"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let listener = TcpListener::bind(&listen).await.expect("bind");
        println!("proxy floor listening on http://{}", listener.local_addr().expect("addr"));
        loop {
            let Ok((client, _)) = listener.accept().await else { continue };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let _ = if hyper { serve_hyper(client, upstream).await } else { serve(client, &upstream).await };
            });
        }
    });
}

/// Requests from `client` in turn, each to the same upstream connection and its answer back.
async fn serve(mut client: TcpStream, upstream: &str) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let mut up: Option<TcpStream> = None;
    let (mut request, mut answer) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
    loop {
        let head = match read_head(&mut client, &mut request, false).await? {
            Some((head, _)) => head,
            None => return Ok(()),
        };
        let conn = match &mut up {
            Some(conn) => conn,
            None => {
                let conn = TcpStream::connect(upstream).await?;
                conn.set_nodelay(true)?;
                up.insert(conn)
            }
        };
        conn.write_all(&request[..head]).await?;
        request.drain(..head);
        let Some((head, length)) = read_head(conn, &mut answer, true).await? else { return Ok(()) };
        let end = head + length;
        while answer.len() < end {
            if conn.read_buf(&mut answer).await? == 0 {
                return Ok(());
            }
        }
        client.write_all(&answer[..end]).await?;
        answer.drain(..end);
    }
}

/// The same hop through hyper: its server for the client, its client for the upstream.
async fn serve_hyper(client: TcpStream, upstream: String) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    // One upstream connection per client connection; hyper's HTTP/1 server asks for one
    // answer at a time, so the lock is never contended.
    let sender: std::sync::Arc<tokio::sync::Mutex<Option<SendRequest<Incoming>>>> = std::sync::Arc::default();
    let upstream: std::sync::Arc<str> = upstream.into();
    let service = service_fn(move |request: Request<Incoming>| {
        let (sender, upstream) = (sender.clone(), upstream.clone());
        async move {
            let mut sender = sender.lock().await;
            if sender.is_none() {
                let conn = TcpStream::connect(&*upstream).await?;
                conn.set_nodelay(true)?;
                let (send, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(conn)).await.map_err(std::io::Error::other)?;
                tokio::spawn(connection);
                *sender = Some(send);
            }
            let send = sender.as_mut().expect("connected above");
            send.ready().await.map_err(std::io::Error::other)?;
            let answer: Response<Incoming> = send.send_request(request).await.map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(answer)
        }
    });
    hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(client), service)
        .await
        .map_err(std::io::Error::other)
}

/// Reads from `stream` into `buf` until it holds a whole message head; the head's length and
/// (for a response) its `Content-Length`. `None` when the stream ends first.
async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    response: bool,
) -> std::io::Result<Option<(usize, usize)>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let parsed = if response {
            let mut r = httparse::Response::new(&mut headers);
            match r.parse(buf) {
                Ok(httparse::Status::Complete(n)) => Ok(Some((n, content_length(r.headers)))),
                Ok(httparse::Status::Partial) => Ok(None),
                Err(e) => Err(e),
            }
        } else {
            match httparse::Request::new(&mut headers).parse(buf) {
                Ok(httparse::Status::Complete(n)) => Ok(Some((n, 0))),
                Ok(httparse::Status::Partial) => Ok(None),
                Err(e) => Err(e),
            }
        };
        match parsed {
            Ok(Some(done)) => return Ok(Some(done)),
            Ok(None) => {}
            Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

fn content_length(headers: &[httparse::Header<'_>]) -> usize {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .unwrap_or(0)
}
