//! The gateway's HTTP/1.1 client for upstreams, in clear or over TLS (`tls.rs`): a
//! keep-alive pool whose connections are driven by the request that uses them, inside that
//! request's task (as pingora does), speaking HTTP/1.1 itself ([`wire`], [`body`]).
//!
//! A request takes an idle connection (or opens one), writes its head in one write (and its
//! body, if any), reads the answer's head, and hands the connection to the answer's body,
//! which decodes it as the client reads; read to its end, the body gives the connection
//! back. No task, channel or lock stands between a request and its connection, and no
//! per-message structure but the answer's `HeaderMap`: with hyper's client, used here
//! before, the gateway spent 20.5 µs of CPU per allowed request against 17.1 with this
//! (`make bench`'s pinned run, the two builds in the same run; README "where the time goes").
//!
//! Each gateway thread keeps its own idle connections. A connection is registered with the
//! reactor of the thread that opened it: used from another thread, its readiness is seen by
//! the opener's reactor, which must wake the user across CPUs, for every read. With one
//! shared pool half of a two-thread gateway's requests went that way.
//!
//! An idle connection is polled by no one: one the upstream closed is noticed when it is
//! next taken (its socket reads as closed), and a request that finds it closed before any
//! answer came is sent again on another when that is safe: nothing of its body was taken
//! and its method is idempotent (RFC 9110 §9.2.2), as nginx does.

mod body;
mod wire;

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Context;

use bytes::{Buf, BytesMut};
use http::{Method, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tollgate_core::domain::per_thread::PerThread;

pub use self::body::PooledBody;
use self::wire::{AnswerHead, Parsed, Sending};
pub(crate) use self::wire::{agreed_length, hop_by_hop, itoa, list_elements};
use crate::forward::ClientBody;
use crate::tls::{self, Trust, TrustStores, UpstreamStream};

/// One keep-alive connection to an upstream, with what was read from it and not yet taken.
struct Conn {
    io: UpstreamStream,
    buf: BytesMut,
    /// The pool key: see [`Target::key`].
    key: Arc<str>,
}

/// Idle connections per thread and upstream, most recently used last.
pub struct Upstreams {
    idle: PerThread<Mutex<HashMap<Arc<str>, Vec<Conn>>>>,
    max_idle_per_upstream: usize,
    trust: TrustStores,
}

/// Why an upstream gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to {authority}: {source}")]
    Connect { authority: String, source: std::io::Error },
    #[error("TLS with {authority} failed: {source}")]
    Tls { authority: String, source: std::io::Error },
    #[error("the exchange with the upstream failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Malformed(#[from] wire::Malformed),
    #[error("the upstream closed the connection before answering")]
    Closed,
    #[error("reading the client's request body failed")]
    ClientBody,
    #[error("the request's body is not the length its head said")]
    BodyLength,
}

/// Where a request goes.
pub struct Target<'a> {
    /// `host:port` (the port defaults to 80, or 443 with TLS).
    pub authority: &'a str,
    /// How the upstream's certificate is verified, for `https://`.
    pub tls: Option<Trust>,
}

impl Target<'_> {
    /// Connections are shared by requests to the same authority verified the same way:
    /// `host:port` in clear, `https://host:port#trust` over TLS.
    fn key(&self) -> Cow<'_, str> {
        match &self.tls {
            None => Cow::Borrowed(self.authority),
            Some(trust) => Cow::Owned(format!("https://{}#{}", self.authority, trust.id)),
        }
    }
}

/// How an exchange failed.
enum Failure {
    /// Before any byte of an answer came: the connection may have been closed while idle.
    Unanswered(UpstreamError),
    /// Anything later, or anything on a connection not worth trying again.
    Failed(UpstreamError),
}

impl Upstreams {
    /// A pool keeping at most `max_idle_per_upstream` idle connections per upstream on each
    /// thread.
    pub fn new(max_idle_per_upstream: usize) -> Arc<Self> {
        Arc::new(Self { idle: PerThread::default(), max_idle_per_upstream, trust: TrustStores::default() })
    }

    /// This thread's idle connections.
    fn pool(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Vec<Conn>>> {
        self.idle.mine().lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How an `https://` upstream is verified: against `ca` (PEM), or the system's store.
    pub fn trust(&self, ca: Option<&str>) -> Trust {
        self.trust.trust(ca)
    }

    fn take_idle(&self, key: &str) -> Option<Conn> {
        self.pool().get_mut(key)?.pop()
    }

    fn put_idle(&self, conn: Conn) {
        let mut idle = self.pool();
        let list = match idle.get_mut(&*conn.key) {
            Some(list) => list,
            None => idle.entry(conn.key.clone()).or_default(),
        };
        if list.len() < self.max_idle_per_upstream {
            list.push(conn);
        }
    }

    /// Idle connections held for `authority`, in clear or over TLS (for tests and the
    /// console).
    pub fn idle_count(&self, authority: &str) -> usize {
        let tls = format!("https://{authority}#");
        let count = |idle: &HashMap<Arc<str>, Vec<Conn>>| -> usize {
            idle.iter()
                .filter(|(key, _)| &***key == authority || key.starts_with(&tls))
                .map(|(_, list)| list.len())
                .sum()
        };
        self.idle.all().map(|pool| count(&pool.lock().unwrap_or_else(|p| p.into_inner()))).sum()
    }

    /// An idle connection still open, or a new one; and whether it was idle.
    async fn checkout(&self, target: &Target<'_>, key: &str) -> Result<(Conn, bool), UpstreamError> {
        while let Some(mut conn) = self.take_idle(key) {
            if still_open(&mut conn.io) {
                return Ok((conn, true));
            }
        }
        Ok((self.connect(target, key).await?, false))
    }

    /// A new connection.
    async fn connect(&self, target: &Target<'_>, key: &str) -> Result<Conn, UpstreamError> {
        let io = dial(target.authority, target.tls.as_ref()).await?;
        Ok(Conn { io, buf: BytesMut::with_capacity(8 * 1024), key: key.into() })
    }

    /// Sends `request` to `target` and returns the answer once its head has arrived; its
    /// body streams from the connection, which goes back to the pool when the body has been
    /// read to its end.
    pub async fn send(
        self: &Arc<Self>,
        target: Target<'_>,
        request: Outgoing,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        let key = target.key();
        let Outgoing { mut head, sending, to_head, idempotent, mut body } = request;
        wire::end_head(&mut head, sending);
        // Sent again only when nothing of it can have been taken but its head.
        let again = sending.head_only() && idempotent;
        // Once a request found an idle connection closed, it goes on a new one: sent twice at
        // most (RFC 9110 §9.2.2: a retry is not retried).
        let mut fresh = false;
        loop {
            let (mut conn, was_idle) =
                if fresh { (self.connect(&target, &key).await?, false) } else { self.checkout(&target, &key).await? };
            match exchange(&mut conn, &head, sending, &mut body, to_head).await {
                Ok(answer) => {
                    let body = PooledBody::new(conn, answer.framing, answer.reusable, self.clone());
                    let mut response = Response::new(body);
                    *response.status_mut() = answer.status;
                    *response.headers_mut() = answer.headers;
                    return Ok(response);
                }
                Err(Failure::Unanswered(_)) if was_idle && again => fresh = true,
                Err(Failure::Unanswered(e) | Failure::Failed(e)) => return Err(e),
            }
        }
    }
}

/// A request for an upstream, its head written as it is built: the request line, then each
/// header [`add`](Self::add)ed, then (when sent) the body's framing.
pub struct Outgoing {
    head: Vec<u8>,
    sending: Sending,
    to_head: bool,
    idempotent: bool,
    body: ClientBody,
}

impl Outgoing {
    /// `method` on `base` + `path_and_query` (origin form), carrying `body`.
    pub fn new(method: &Method, base: &str, path_and_query: &str, body: ClientBody) -> Self {
        let sending =
            Sending::of(method, hyper::body::Body::is_end_stream(&body), hyper::body::Body::size_hint(&body).exact());
        let mut head = Vec::with_capacity(512);
        wire::request_line(&mut head, method, base, path_and_query);
        Self { head, sending, to_head: method == Method::HEAD, idempotent: method.is_idempotent(), body }
    }

    /// Adds a header line. `name` must be a valid header name and `value`'s parts together a
    /// valid value (no CR, LF or NUL: [`header_safe`]); the body's framing headers are the
    /// client's own business and are written by [`Upstreams::send`].
    pub fn add(&mut self, name: &str, value: &[&[u8]]) {
        debug_assert!(value.iter().all(|v| header_safe(v)), "{name}: {value:?}");
        wire::header_line(&mut self.head, name, value);
    }
}

/// True for bytes that may stand in a header value (no CR, LF or NUL).
pub fn header_safe(value: &[u8]) -> bool {
    !value.iter().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// One request and the head of its answer on `conn`; the answer says whether the
/// connection may carry another request after it.
async fn exchange(
    conn: &mut Conn,
    head: &[u8],
    sending: Sending,
    body: &mut ClientBody,
    to_head: bool,
) -> Result<AnswerHead, Failure> {
    let Conn { io, buf, .. } = conn;
    io.write_all(head).await.map_err(|e| Failure::Unanswered(e.into()))?;
    io.flush().await.map_err(|e| Failure::Unanswered(e.into()))?;
    if sending.head_only() {
        return read_answer(io, buf, to_head).await;
    }
    // The answer is read while the body is sent: an upstream that answers before it has
    // read the whole body (a 413) is heard at once, whether or not it closes, and the rest
    // of the body is not sent. The connection is then not used again.
    let (mut reader, mut writer) = tokio::io::split(io);
    let mut send = std::pin::pin!(send_body(&mut writer, body, sending));
    let mut answer = std::pin::pin!(read_answer(&mut reader, buf, to_head));
    let mut sent = None;
    let answer = loop {
        tokio::select! {
            result = &mut send, if sent.is_none() => match result {
                // The client's side broke, or its body is not the length it said: nothing
                // more to wait for.
                Err(e @ (UpstreamError::ClientBody | UpstreamError::BodyLength)) => return Err(Failure::Failed(e)),
                // Sent whole, or the upstream stopped taking it: its answer may still come.
                result => sent = Some(result.is_ok()),
            },
            answer = &mut answer => break answer,
        }
    };
    let answer = answer.map_err(|f| match f {
        Failure::Unanswered(e) | Failure::Failed(e) => Failure::Failed(e),
    })?;
    Ok(AnswerHead { reusable: answer.reusable && sent == Some(true), ..answer })
}

/// Reads the head of the final answer (interim 1xx answers skipped) into `buf`.
/// `Unanswered` when the connection ended or failed before any byte of an answer came.
async fn read_answer<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    to_head: bool,
) -> Result<AnswerHead, Failure> {
    let mut answered = false;
    loop {
        match wire::answer_head(buf, to_head).map_err(|e| Failure::Failed(e.into()))? {
            Parsed::Final(len, answer) => {
                buf.advance(len);
                return Ok(answer);
            }
            Parsed::Interim(len) => buf.advance(len),
            Parsed::Partial => {
                buf.reserve(8 * 1024);
                match io.read_buf(buf).await {
                    Ok(0) if !answered && buf.is_empty() => return Err(Failure::Unanswered(UpstreamError::Closed)),
                    Ok(0) => return Err(Failure::Failed(UpstreamError::Closed)),
                    Ok(_) => answered = true,
                    Err(e) if !answered => return Err(Failure::Unanswered(e.into())),
                    Err(e) => return Err(Failure::Failed(e.into())),
                }
            }
        }
    }
}

/// Writes the client's body on to the upstream as it arrives, in chunks when its length is
/// not known, each part flushed as it goes (over TLS, written bytes otherwise wait in the
/// session while the client is slow). `ClientBody` when the client's side broke,
/// `BodyLength` when the body is not the length the head said (nothing past that length is
/// written: it would be read upstream as another request).
async fn send_body<W: AsyncWrite + Unpin>(
    io: &mut W,
    body: &mut ClientBody,
    sending: Sending,
) -> Result<(), UpstreamError> {
    let mut left = match sending {
        Sending::Length(n) => Some(n),
        Sending::Nothing | Sending::Chunked => None,
    };
    while let Some(frame) = poll_fn(|cx| hyper::body::Body::poll_frame(Pin::new(&mut *body), cx)).await {
        let Ok(data) = frame.map_err(|_| UpstreamError::ClientBody)?.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        match &mut left {
            Some(left) => {
                *left = left.checked_sub(data.len() as u64).ok_or(UpstreamError::BodyLength)?;
                io.write_all(&data).await?;
            }
            None => {
                let size = format!("{:x}\r\n", data.len());
                write_all(io, &mut [IoSlice::new(size.as_bytes()), IoSlice::new(&data), IoSlice::new(b"\r\n")]).await?;
            }
        }
        io.flush().await?;
    }
    match left {
        Some(0) => {}
        Some(_) => return Err(UpstreamError::BodyLength),
        None => io.write_all(b"0\r\n\r\n").await?,
    }
    io.flush().await?;
    Ok(())
}

/// Writes every byte of `parts`, in as few writes as the stream takes.
async fn write_all<W: AsyncWrite + Unpin>(io: &mut W, mut parts: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !parts.is_empty() {
        let n = io.write_vectored(parts).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut parts, n);
    }
    Ok(())
}

/// Whether an idle connection can take a request: not closed by the upstream and with
/// nothing unasked-for waiting on it. In clear, asks the socket only when it has something
/// to say (the runtime saw it readable), so a healthy connection costs no system call here;
/// a close the runtime has not seen yet is found by the request (and a request without a
/// body and with an idempotent method is sent again, see [`Upstreams::send`]).
fn still_open(io: &mut UpstreamStream) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    // Over TLS the session may hold bytes the socket no longer shows: always ask it.
    if let UpstreamStream::Plain(tcp) = io
        && tcp.poll_read_ready(&mut cx).is_pending()
    {
        return true;
    }
    let mut probe = [0u8; 1];
    let mut read = ReadBuf::new(&mut probe);
    // Pending: nothing there after all. Anything else (end of stream, bytes, an error) ends it.
    Pin::new(io).poll_read(&mut cx, &mut read).is_pending()
}

/// A connection to `authority` (`host[:port]`), in TLS verified by `tls` when given: the
/// pool's new connections and the node's own POSTs (`outbound.rs`) open them alike.
pub async fn dial(authority: &str, tls: Option<&Trust>) -> Result<UpstreamStream, UpstreamError> {
    let (host, port) = host_port(authority, if tls.is_some() { 443 } else { 80 });
    let failed = |source| UpstreamError::Connect { authority: authority.to_string(), source };
    let stream = TcpStream::connect((host, port)).await.map_err(failed)?;
    stream.set_nodelay(true).map_err(failed)?;
    match tls {
        None => Ok(UpstreamStream::Plain(stream)),
        Some(trust) => tls::handshake(trust, host, stream)
            .await
            .map_err(|source| UpstreamError::Tls { authority: authority.to_string(), source }),
    }
}

/// `host:port` as a host and a port (`default` when none is given); an IPv6 host loses
/// its brackets.
fn host_port(authority: &str, default: u16) -> (&str, u16) {
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, port.parse().unwrap_or(0))
        }
        _ => (authority, default),
    };
    (host.trim_start_matches('[').trim_end_matches(']'), port)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt;

    use super::*;
    use crate::forward::{ClientBody, Inbound};
    use crate::request_body::RequestBody;

    /// An upstream on 127.0.0.1 that answers every request on every connection with `ok`,
    /// and counts the connections it accepted.
    fn upstream() -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (addr, accepted) = (listener.local_addr().unwrap().to_string(), Arc::new(AtomicUsize::new(0)));
        let counted = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if line == "\r\n"
                            && stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err()
                        {
                            return;
                        }
                        line.clear();
                    }
                });
            }
        });
        (addr, accepted)
    }

    /// `calls` GETs through `upstreams`, one after the other, on a new thread whose pool is not
    /// `apart_from`'s (as a gateway thread: its own runtime), each body read to the end (the
    /// connection then goes back to the pool); the pool's slot.
    fn gets_on_a_thread(upstreams: &Arc<Upstreams>, authority: &str, calls: usize, apart_from: Option<usize>) -> usize {
        std::thread::scope(|s| {
            s.spawn(|| {
                // Other tests' threads take numbers too: one that shares the slot tries again.
                if Some(upstreams.idle.slot()) == apart_from {
                    return None;
                }
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async {
                    for _ in 0..calls {
                        let (body, _) = ClientBody::new(Inbound::from(RequestBody::Empty));
                        let mut out = Outgoing::new(&Method::GET, "", "/", body);
                        out.add("host", &[authority.as_bytes()]);
                        let answer = upstreams.send(Target { authority, tls: None }, out).await.unwrap();
                        assert_eq!(answer.into_body().collect().await.unwrap().to_bytes(), "ok");
                    }
                });
                Some(upstreams.idle.slot())
            })
            .join()
            .unwrap()
        })
        .unwrap_or_else(|| gets_on_a_thread(upstreams, authority, calls, apart_from))
    }

    #[test]
    fn a_connection_is_used_again_only_by_the_thread_that_opened_it() {
        let (authority, accepted) = upstream();
        let upstreams = Upstreams::new(8);
        let first = gets_on_a_thread(&upstreams, &authority, 2, None);
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "the same thread takes its idle connection again");
        gets_on_a_thread(&upstreams, &authority, 1, Some(first));
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "another thread opens its own");
        assert_eq!(upstreams.idle_count(&authority), 2, "each idle in the pool of its thread");
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(host_port("127.0.0.1:9000", 80), ("127.0.0.1", 9000));
        assert_eq!(host_port("up", 80), ("up", 80), "port 80 by default");
        assert_eq!(host_port("up", 443), ("up", 443), "443 for TLS");
        assert_eq!(host_port("[::1]:8080", 80), ("::1", 8080), "IPv6");
        assert_eq!(host_port("[::1]", 80), ("::1", 80), "IPv6 without a port");
    }
}
