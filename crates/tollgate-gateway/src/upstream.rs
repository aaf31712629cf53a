//! The gateway's HTTP/1.1 client for upstreams, in clear or over TLS (`tls.rs`): a
//! keep-alive pool whose connections are driven by the request that uses them, inside that
//! request's task (as pingora does).
//!
//! hyper's pooled client runs every connection in a task of its own and hands it each
//! request and answer through channels: two task switches and a pool checkout through
//! shared maps per request. Here a request takes an idle connection (or opens one), polls
//! it together with its answer, and the answer's body keeps polling it while the client
//! reads; once the body is read to its end the connection goes back to the pool. A body
//! dropped before its end drops the connection (its bytes are unread), as does any error.
//!
//! An idle connection is polled by no one: an upstream that closed it is noticed when it
//! is next taken, and a request that finds it closed before it was sent is sent again on
//! another (hyper hands back a request it did not send).

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::forward::ClientBody;
use crate::tls::{self, Trust, TrustStores, UpstreamStream};

type Conn = http1::Connection<TokioIo<UpstreamStream>, ClientBody>;

/// One keep-alive connection to an upstream.
struct Pooled {
    send: http1::SendRequest<ClientBody>,
    conn: Conn,
    /// The pool key: see [`Target::key`].
    key: Arc<str>,
}

/// Idle connections per upstream, most recently used last.
pub struct Upstreams {
    idle: Mutex<HashMap<Arc<str>, Vec<Pooled>>>,
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
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("the upstream closed the connection before answering")]
    Closed,
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

impl Upstreams {
    /// A pool keeping at most `max_idle_per_upstream` idle connections per upstream.
    pub fn new(max_idle_per_upstream: usize) -> Arc<Self> {
        Arc::new(Self { idle: Mutex::default(), max_idle_per_upstream, trust: TrustStores::default() })
    }

    /// How an `https://` upstream is verified: against `ca` (PEM), or the system's store.
    pub fn trust(&self, ca: Option<&str>) -> Trust {
        self.trust.trust(ca)
    }

    fn take_idle(&self, key: &str) -> Option<Pooled> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).get_mut(key)?.pop()
    }

    fn put_idle(&self, pooled: Pooled) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = match idle.get_mut(&*pooled.key) {
            Some(list) => list,
            None => idle.entry(pooled.key.clone()).or_default(),
        };
        if list.len() < self.max_idle_per_upstream {
            list.push(pooled);
        }
    }

    /// Idle connections held for `authority`, in clear or over TLS (for tests and the
    /// console).
    pub fn idle_count(&self, authority: &str) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let tls = format!("https://{authority}#");
        idle.iter().filter(|(key, _)| &***key == authority || key.starts_with(&tls)).map(|(_, list)| list.len()).sum()
    }

    async fn connect(&self, target: &Target<'_>, key: &str) -> Result<Pooled, UpstreamError> {
        let io = dial(target.authority, target.tls.as_ref()).await?;
        let (send, conn) = http1::handshake(TokioIo::new(io)).await?;
        Ok(Pooled { send, conn, key: key.into() })
    }

    /// An idle connection ready for a request, or a new one.
    async fn checkout(&self, target: &Target<'_>, key: &str) -> Result<Pooled, UpstreamError> {
        while let Some(mut pooled) = self.take_idle(key) {
            if ready(&mut pooled).await {
                return Ok(pooled);
            }
        }
        self.connect(target, key).await
    }

    /// Sends `request` (its URI in origin form, `Host` set) to `target` and returns the
    /// answer once its head has arrived; its body streams from the connection, which goes
    /// back to the pool when the body has been read to its end.
    pub async fn send(
        self: &Arc<Self>,
        target: Target<'_>,
        mut request: Request<ClientBody>,
    ) -> Result<Response<PooledBody>, UpstreamError> {
        // A connection found closed before the request was written is not the upstream's
        // answer: the request goes again on another (at most once per idle connection,
        // then on a new one).
        let key = target.key();
        loop {
            let mut pooled = self.checkout(&target, &key).await?;
            let answer = pooled.send.try_send_request(request);
            let mut answer = std::pin::pin!(answer);
            let mut conn_done = false;
            let result = poll_fn(|cx| {
                if !conn_done && pooled.conn.poll_without_shutdown(cx).is_ready() {
                    conn_done = true;
                }
                match answer.as_mut().poll(cx) {
                    Poll::Pending if conn_done => Poll::Ready(Err(None)),
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Ok(response)) => Poll::Ready(Ok(response)),
                    Poll::Ready(Err(e)) => Poll::Ready(Err(Some(e))),
                }
            })
            .await;
            match result {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = PooledBody { body, pooled: (!conn_done).then_some(pooled), pool: self.clone() };
                    return Ok(Response::from_parts(parts, body));
                }
                Err(Some(mut e)) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(e.into_error().into()),
                },
                Err(None) => return Err(UpstreamError::Closed),
            }
        }
    }
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

/// Polls an idle connection until it can take a request; false when it has closed.
async fn ready(pooled: &mut Pooled) -> bool {
    poll_fn(|cx| {
        if pooled.conn.poll_without_shutdown(cx).is_ready() {
            return Poll::Ready(false);
        }
        match pooled.send.poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(true),
            Poll::Ready(Err(_)) => Poll::Ready(false),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// An upstream answer's body. Reading it drives its connection; read to its end, it gives
/// the connection back to the pool.
pub struct PooledBody {
    body: Incoming,
    pooled: Option<Pooled>,
    pool: Arc<Upstreams>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some(pooled) = self.pooled.take()
            && !pooled.send.is_closed()
        {
            self.pool.put_idle(pooled);
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(pooled) = &mut this.pooled
            && pooled.conn.poll_without_shutdown(cx).is_ready()
        {
            // Closed (or failed): the body ends or fails on its own; nothing to pool.
            this.pooled = None;
        }
        let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
        match &frame {
            None => this.release(),
            Some(Err(_)) => this.pooled = None,
            Some(Ok(_)) if this.body.is_end_stream() => this.release(),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // An answer without a body (or whose body was read whole) leaves the connection
        // reusable; one dropped halfway leaves unread bytes on it.
        if hyper::body::Body::is_end_stream(&self.body) {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(host_port("127.0.0.1:9000", 80), ("127.0.0.1", 9000));
        assert_eq!(host_port("up", 80), ("up", 80), "port 80 by default");
        assert_eq!(host_port("up", 443), ("up", 443), "443 for TLS");
        assert_eq!(host_port("[::1]:8080", 80), ("::1", 8080), "IPv6");
        assert_eq!(host_port("[::1]", 80), ("::1", 80), "IPv6 without a port");
    }
}
