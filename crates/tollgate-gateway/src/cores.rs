//! The gateway on one thread per CPU, as nginx runs one worker per CPU: each thread has
//! its own single-threaded runtime and its own listening socket on the same port
//! (`SO_REUSEPORT`), and the kernel spreads new connections over them. A connection, its
//! requests and its upstream connections then stay on one thread: no work stealing, no
//! wake-ups across threads. What the threads share (the live state, the settlement sums,
//! the logs) is behind the same locks as before.
//!
//! The first socket is bound by [`reusable_listener`], which first makes sure nobody listens
//! on the port: with `SO_REUSEPORT` alone a second server of the same user could bind the
//! same port and silently take half the connections.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};

use crate::Gateway;
use crate::listener::Limits;

/// Listen backlog, as `TcpListener::bind` uses.
const BACKLOG: u32 = 1024;

/// A listener on `addr` that other threads of this process may join (see the module
/// documentation); refuses a port another socket already listens on. Call it inside a
/// runtime.
pub fn reusable_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    if addr.port() != 0 {
        // A plain bind fails when anyone (reuse-port or not) holds the port.
        drop(std::net::TcpListener::bind(addr)?);
    }
    join(addr)
}

/// Another socket on the port of a [`reusable_listener`].
fn join(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// How many gateway threads to run: one per CPU this process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Serves `gateway` on `threads` threads until `shutdown` resolves (see the module
/// documentation), each within its share of `limits.max_connections`, over TLS when `tls`
/// is given; `listener` must come from [`reusable_listener`]. With one thread (or a
/// listener others cannot join) it is [`crate::serve_tls`] on the caller's runtime. Returns once every thread has
/// stopped (each lets its requests finish within the shutdown grace).
pub async fn serve_on_threads(
    listener: TcpListener,
    threads: usize,
    gateway: Arc<Gateway>,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    let addr = match listener.local_addr() {
        Ok(addr) if threads > 1 => addr,
        _ => return crate::serve_tls(listener, gateway, limits, tls, shutdown).await,
    };
    let first = match listener.into_std() {
        Ok(first) => first,
        Err(e) => {
            tracing::error!(error = %e, "cannot hand the gateway's listener to its threads");
            return;
        }
    };
    let share = Limits { max_connections: limits.max_connections.div_ceil(threads).max(1), ..limits };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut done = Vec::with_capacity(threads);
    let mut first = Some(first);
    for index in 0..threads {
        let (finished, wait) = tokio::sync::oneshot::channel::<()>();
        let (gateway, mut stopped, first, tls) = (gateway.clone(), stopped.clone(), first.take(), tls.clone());
        let spawned = std::thread::Builder::new().name(format!("gateway-{index}")).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => return tracing::error!(error = %e, thread = index, "cannot start a gateway thread's runtime"),
            };
            runtime.block_on(async move {
                let listener = match first {
                    Some(first) => TcpListener::from_std(first),
                    None => join(addr),
                };
                match listener {
                    Ok(listener) => {
                        let until = async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        };
                        crate::serve_tls(listener, gateway, share, tls, until).await;
                    }
                    Err(e) => tracing::warn!(error = %e, thread = index, %addr, "a gateway thread cannot listen; the others serve"),
                }
            });
            drop(finished);
        });
        match spawned {
            Ok(_) => done.push(wait),
            Err(e) => tracing::error!(error = %e, thread = index, "cannot start a gateway thread"),
        }
    }
    shutdown.await;
    let _ = stop.send(true);
    for wait in done {
        let _ = wait.await; // the sender is dropped when its thread ends
    }
}
