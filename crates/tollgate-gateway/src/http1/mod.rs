//! The listener's own HTTP/1.1 path, for plain (not TLS) connections. Plain requests, the
//! bulk of an API's traffic (no body, HTTP/1.1, see [`head`]), are read into one buffer
//! per connection, parsed in place, handed to the service, and their answers written with
//! one `write` each, without hyper's per-connection dispatcher and per-message structures
//! (a bare proxy hop through hyper costs about 3 µs a request more than one without: the
//! README's "where the time goes"). The first request that is not plain hands the
//! connection, and every byte read from it, to hyper for good.
//!
//! The listener's promises hold as with hyper: each head must be complete within the
//! header-read timeout, which is so also the keep-alive idle timeout; a client that closes
//! its connection while its request is served has that request dropped (its credits go
//! back, unless pipelined requests wait behind it: then, as with hyper, the client's end is
//! noticed only once they are served); on shutdown an idle connection closes at once and a
//! busy or brand-new one after its (first) answer, which says `Connection: close`.

mod answer;
mod head;
mod rewind;

use std::pin::pin;
use std::time::Duration;

use bytes::BytesMut;
use http::{Method, Request, Response};
use hyper::body::Body;
use hyper::service::Service;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use self::head::Head;
pub use self::rewind::Rewind;

/// Read at a time.
const READ_SIZE: usize = 8 << 10;
/// A head not complete within this many bytes goes to hyper, which reads on (to about
/// 400 KB, then 431) with a header-read clock of its own: such a head may take up to twice
/// the timeout.
const MAX_HEAD: usize = 64 << 10;

/// Reads what `stream` has into `buf`; false when the client closed it or it failed.
async fn read_more(stream: &mut TcpStream, buf: &mut BytesMut) -> bool {
    buf.reserve(READ_SIZE); // never a full buffer: reading into one would look like the end
    matches!(stream.read_buf(buf).await, Ok(n) if n > 0)
}

/// How a connection's own service ended.
pub enum Ended {
    /// The connection is closed (or about to be, dropped).
    Closed,
    /// A request that is not plain: the connection is hyper's from here, bytes read included.
    HandOver(Rewind),
}

/// Serves `stream` with `service` until it closes, times out, `stop` changes, or a request
/// that is not plain comes; `empty` makes the body of the requests served here.
pub async fn serve<S, RB, B>(
    mut stream: TcpStream,
    service: &S,
    empty: fn() -> RB,
    header_read_timeout: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Ended
where
    S: Service<Request<RB>, Response = Response<B>>,
    B: Body,
{
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    let mut out = Vec::with_capacity(READ_SIZE);
    // One timer for the connection, moved only when it fires early: a request waits from
    // `waiting` and is due `header_read_timeout` later (no timer entry moved per request).
    let mut waiting = Instant::now();
    // Shutdown closes an idle connection only once it has had an answer: a new one's first
    // request, arriving just after, is still served (with `Connection: close`), as hyper does.
    let mut served = false;
    let timer = tokio::time::sleep_until(waiting + header_read_timeout);
    let mut timer = pin!(timer);
    loop {
        let (request, close) = loop {
            if !buf.is_empty() {
                match head::parse(&mut buf, empty) {
                    Head::Plain { request, close } => break (request, close),
                    Head::Partial if buf.len() < MAX_HEAD => {}
                    Head::Partial | Head::Other => return Ended::HandOver(Rewind::new(buf.freeze(), stream)),
                }
            }
            tokio::select! {
                biased;
                more = read_more(&mut stream, &mut buf) => if !more {
                    return Ended::Closed;
                },
                () = &mut timer => {
                    let due = waiting + header_read_timeout;
                    if Instant::now() >= due {
                        return Ended::Closed;
                    }
                    timer.as_mut().reset(due); // it was set for an earlier wait
                }
                _ = stop.changed(), if served && buf.is_empty() => return Ended::Closed,
            }
        };
        let head = request.method() == Method::HEAD;
        let mut call = pin!(service.call(request));
        let answered = loop {
            // Only while nothing pipelined waits, as hyper: a client that sent its requests
            // and closed its side still gets the answers before them.
            if !buf.is_empty() {
                break call.as_mut().await;
            }
            tokio::select! {
                biased;
                answered = call.as_mut() => break answered,
                // Watching the connection while the request is served: a client that
                // leaves has its request dropped.
                more = read_more(&mut stream, &mut buf) => if !more {
                    return Ended::Closed;
                },
            }
        };
        let Ok(response) = answered else { return Ended::Closed };
        let stopping = stop.has_changed().unwrap_or(true);
        if !answer::write(&mut stream, &mut buf, &mut out, response, head, close || stopping).await {
            let _ = stream.shutdown().await;
            return Ended::Closed;
        }
        // Large buffers (a large answer, a burst of pipelined requests) are not kept idle.
        if out.capacity() > 4 * READ_SIZE {
            out = Vec::with_capacity(READ_SIZE);
        }
        if buf.is_empty() && buf.capacity() > 4 * READ_SIZE {
            buf = BytesMut::with_capacity(READ_SIZE);
        }
        served = true;
        waiting = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use bytes::Bytes;
    use http_body_util::Full;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    use super::*;
    use crate::request_body::RequestBody;

    /// This path itself, without the listener (whose tests pass on hyper alone too): plain
    /// requests answered here, the first that is not plain handed over with its bytes.
    #[tokio::test]
    async fn plain_requests_are_answered_here_and_the_first_other_is_handed_over_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let post = "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi";
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let requests = format!("GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n{post}");
            stream.write_all(requests.as_bytes()).await.unwrap();
            let mut got = Vec::new();
            // Two answers: the GET's with its body, then the HEAD's head alone.
            while !(String::from_utf8_lossy(&got).matches("HTTP/1.1 ").count() == 2 && got.ends_with(b"\r\n\r\n")) {
                let mut chunk = [0u8; 1024];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&chunk[..n]);
            }
            String::from_utf8(got).unwrap()
        });
        let (stream, _) = listener.accept().await.unwrap();
        let service = hyper::service::service_fn(|request: Request<RequestBody>| async move {
            let body = format!("{} {}", request.method(), request.uri().path());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
        });
        let (_tx, mut stop) = watch::channel(false);
        let ended = serve(stream, &service, || RequestBody::Empty, Duration::from_secs(5), &mut stop).await;
        let Ended::HandOver(mut rest) = ended else { panic!("the POST is hyper's") };
        let mut handed = vec![0u8; post.len()];
        rest.read_exact(&mut handed).await.unwrap();
        assert_eq!(handed, post.as_bytes(), "handed over whole, nothing read past it lost");
        let answers = client.await.unwrap();
        let (first, second) = answers.split_once("GET /a").expect("the GET answered here");
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n") && first.contains("content-length: 6\r\n"), "{first}");
        assert!(second.starts_with("HTTP/1.1 200 OK\r\n") && second.contains("content-length: 7\r\n"), "{second}");
        assert!(second.ends_with("\r\n\r\n"), "the HEAD's head and no body: {second:?}");
    }
}
