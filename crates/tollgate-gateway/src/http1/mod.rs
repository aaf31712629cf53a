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
