//! The one accept loop every listener of the process uses (the gateway and the admin API),
//! hardened against clients that connect and then do nothing useful.
//!
//! - **Header-read timeout.** A connection must deliver each complete request head within
//!   [`Limits::header_read_timeout`] (hyper's HTTP/1 timer). hyper starts that clock when
//!   it begins waiting for a head, before any byte arrives: from accept for the first
//!   request, and from the end of the previous exchange for the next one on a keep-alive
//!   connection. So the same limit is the keep-alive idle timeout: a connection idling
//!   between requests is closed after it (tested, so a hyper upgrade that changed this
//!   would be noticed).
//! - **Connection cap.** At most [`Limits::max_connections`] connections are served at
//!   once. At the cap the loop stops calling `accept`: further connections wait in the
//!   kernel's listen backlog (and beyond it, the client's SYN retries) until a slot frees.
//!   They are not accepted-and-closed, so a burst of legitimate clients is delayed, not
//!   refused. The default cap follows the open-file limit so the process never runs out
//!   of descriptors for its database, its upstream connections and its other listener.
//! - **Accept errors back off.** A failing `accept` (out of descriptors, out of memory)
//!   sleeps 5 ms, doubling up to 1 s, until one succeeds; it is logged once when the
//!   episode starts and once when it ends, not per call. Errors that concern one
//!   connection only (reset or aborted before accept) are skipped at once.
//! - **Graceful shutdown.** When `shutdown` resolves, the loop stops accepting, idle
//!   connections close, and requests in flight get [`Limits::shutdown_grace`] to finish.
//! - **Plain HTTP/1.1 without hyper.** A listener whose service takes a [`ServedBody`]
//!   that can be empty (the gateway's) serves plain connections through [`crate::http1`]
//!   until a request comes that is not plain (a body, an upgrade, HTTP/1.0, a malformed
//!   head), then hands the connection to hyper. The promises above hold on both paths.
//! - **TLS.** With a server configuration, each connection's TLS handshake runs in its own
//!   task within the header-read timeout, then HTTP/2 or HTTP/1.1 as ALPN chose. An HTTP/2
//!   connection has no header-read clock of its own; hyper pings it every 20 s and closes
//!   it when the pings go unanswered.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::{Body as HttpBody, Incoming};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::http1;
use crate::request_body::RequestBody;

/// Descriptors kept out of the connection budget: the database, log files, the
/// listeners, the runtime's own.
const RESERVED_FDS: u64 = 128;

/// How a listener treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Time allowed for each complete request head, and so also the keep-alive idle
    /// timeout (see the module documentation). Default 10 s.
    pub header_read_timeout: Duration,
    /// Connections served at once; beyond, they wait in the listen backlog.
    pub max_connections: usize,
    /// After shutdown, how long requests in flight may still take; then they are ended
    /// (nothing charged, their credits given back). Default 10 s.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// The gateway's defaults: a third of the open-file limit left after a reserve of
    /// 128, between 32 and 16,384 (each proxied connection may hold an upstream
    /// connection as well, and the admin API needs some): 298 under a limit of 1,024.
    pub fn gateway() -> Self {
        let budget = open_file_limit().unwrap_or(1024).saturating_sub(RESERVED_FDS);
        Self::with_cap(usize::try_from((budget / 3).clamp(32, 16_384)).unwrap_or(16_384))
    }

    /// The admin API's defaults: a twelfth of the same budget, between 16 and 256 (it
    /// serves one operator's dashboard and CLI): 74 under a limit of 1,024.
    pub fn admin() -> Self {
        let budget = open_file_limit().unwrap_or(1024).saturating_sub(RESERVED_FDS);
        Self::with_cap(usize::try_from((budget / 12).clamp(16, 256)).unwrap_or(256))
    }

    fn with_cap(max_connections: usize) -> Self {
        Self { header_read_timeout: Duration::from_secs(10), max_connections, shutdown_grace: Duration::from_secs(10) }
    }
}

/// The soft limit on open files (`RLIMIT_NOFILE`), when the platform has one.
#[allow(clippy::unnecessary_cast, reason = "rlim_t is u64 on Linux and macOS, not on every platform")]
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the struct we own and reads nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            return Some(limit.rlim_cur as u64);
        }
    }
    None
}

/// Raises the soft open-file limit to the hard limit, for a process that serves many
/// connections; call it at start, before the listeners size their caps. Returns the
/// soft limit before and after.
#[allow(clippy::unnecessary_cast, reason = "rlim_t is u64 on Linux and macOS, not on every platform")]
pub fn raise_open_file_limit() -> io::Result<(u64, u64)> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit/setrlimit read and write only the struct we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let before = limit.rlim_cur as u64;
        // macOS refuses a soft limit above OPEN_MAX (10,240) whatever the hard limit says:
        // try the hard limit, then that.
        for wanted in [limit.rlim_max, limit.rlim_max.min(10_240)] {
            if wanted <= limit.rlim_cur {
                continue;
            }
            let raised = libc::rlimit { rlim_cur: wanted, rlim_max: limit.rlim_max };
            // SAFETY: as above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                return Ok((before, wanted as u64));
            }
        }
        if limit.rlim_cur < limit.rlim_max {
            return Err(io::Error::last_os_error());
        }
        Ok((before, before))
    }
    #[cfg(not(unix))]
    Err(io::Error::new(io::ErrorKind::Unsupported, "no open-file limit on this platform"))
}

/// True for accept errors about one connection (it went away before we took it); the
/// next accept may well succeed.
fn concerns_one_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
    )
}

/// A run of failing accepts: logged when it starts and when it ends.
struct Episode {
    started: Instant,
    failures: u64,
    delay: Duration,
}

const FIRST_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1);

/// A request body type a listener's services take: hyper's, or one that can also be empty
/// (then plain requests are served by [`crate::http1`]).
pub trait ServedBody: From<Incoming> + Send + 'static {
    /// Makes an empty body, for a type that has one.
    const EMPTY: Option<fn() -> Self>;
}

impl ServedBody for Incoming {
    const EMPTY: Option<fn() -> Self> = None;
}

impl ServedBody for RequestBody {
    const EMPTY: Option<fn() -> Self> = Some(|| RequestBody::Empty);
}

/// hyper's view of `service`: its requests' bodies made `RB`.
fn for_hyper<S, RB, B>(
    service: S,
) -> impl Service<Request<Incoming>, Response = Response<B>, Error = S::Error, Future = S::Future> + Clone
where
    S: Service<Request<RB>, Response = Response<B>> + Clone,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    RB: ServedBody,
    B: HttpBody,
{
    hyper::service::service_fn(move |request: Request<Incoming>| service.call(request.map(RB::from)))
}

/// Serves HTTP/1 on `listener` until `shutdown` resolves (or, with `tls`, HTTPS with
/// HTTP/2 and HTTP/1.1): one service per connection from `make_service(peer)`, within
/// `limits`. `name` labels the log lines.
pub async fn serve<RB, F, S, B, D>(
    name: &'static str,
    listener: TcpListener,
    limits: Limits,
    tls: Option<Arc<ServerConfig>>,
    make_service: F,
    shutdown: D,
) where
    D: Future<Output = ()>,
    F: Fn(SocketAddr) -> S,
    S: Service<Request<RB>, Response = Response<B>> + Clone + Send + Sync + 'static,
    RB: ServedBody,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    B: HttpBody + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Tells the connections served without hyper to end (hyper's are told by `graceful`).
    let (stop, _) = tokio::sync::watch::channel(false);
    // Every connection's task, so the ones still running when the grace ends are ended
    // here (their requests' reservations go back) rather than left to finish after the
    // ledger writer has stopped.
    let mut connections = tokio::task::JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut episode: Option<Episode> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    // 32 streams a connection, not hyper's 200: the connection cap was sized for about one
    // upstream connection per client connection.
    h2.timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(32);
    let tls = tls.map(TlsAcceptor::from);
    loop {
        // At the cap, wait for a slot before accepting: new connections queue in the
        // kernel's backlog meanwhile.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                if let Some(e) = episode.take() {
                    tracing::warn!(
                        listener = name,
                        failures = e.failures,
                        seconds = e.started.elapsed().as_secs_f64(),
                        "accepting connections again"
                    );
                }
                accepted
            }
            Err(e) if concerns_one_connection(&e) => continue,
            Err(e) => {
                let episode = episode.get_or_insert_with(|| {
                    tracing::warn!(listener = name, error = %e, "cannot accept connections; backing off until it works again");
                    Episode { started: Instant::now(), failures: 0, delay: FIRST_DELAY }
                });
                episode.failures += 1;
                let delay = episode.delay;
                episode.delay = (delay * 2).min(MAX_DELAY);
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        match &tls {
            None => match RB::EMPTY {
                Some(empty) => {
                    let (service, h1, watcher) = (make_service(peer), builder.clone(), graceful.watcher());
                    let (mut stop, timeout) = (stop.subscribe(), limits.header_read_timeout);
                    connections.spawn(async move {
                        let _slot = slot;
                        if let http1::Ended::HandOver(io) =
                            http1::serve(stream, &service, empty, timeout, &mut stop).await
                        {
                            let _ = watcher.watch(h1.serve_connection(TokioIo::new(io), for_hyper(service))).await;
                        }
                    });
                }
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), for_hyper(make_service(peer)));
                    let connection = graceful.watch(connection);
                    connections.spawn(async move {
                        let _ = connection.await;
                        drop(slot);
                    });
                }
            },
            Some(acceptor) => {
                let (acceptor, service, watcher) =
                    (acceptor.clone(), for_hyper(make_service(peer)), graceful.watcher());
                let (h1, h2) = (builder.clone(), h2.clone());
                let timeout = limits.header_read_timeout;
                connections.spawn(async move {
                    let _slot = slot;
                    let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            return tracing::debug!(listener = name, %peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => return tracing::debug!(listener = name, %peer, "TLS handshake timed out"),
                    };
                    let negotiated_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    let io = TokioIo::new(stream);
                    if negotiated_h2 {
                        let _ = watcher.watch(h2.serve_connection(io, service)).await;
                    } else {
                        let _ = watcher.watch(h1.serve_connection(io, service)).await;
                    }
                });
            }
        }
        while connections.try_join_next().is_some() {} // forget the finished ones
    }
    drop(listener);
    let _ = stop.send(true);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {}
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
