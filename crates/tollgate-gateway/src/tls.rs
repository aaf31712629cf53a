//! TLS to `https://` upstreams: rustls, verifying every certificate against the system's
//! trust store, or against the private CA a route names instead. There is no switch that
//! turns verification off.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Private CAs kept at once; routes hold a handful, so more means the table churned.
const MAX_PRIVATE: usize = 64;

/// How to verify one upstream: its client configuration, and a number that tells apart
/// connections verified differently (part of the pool's key).
#[derive(Clone)]
pub struct Trust {
    pub id: u64,
    config: Arc<ClientConfig>,
}

/// Client configurations: the system's trust store, built once when first needed, and one
/// per private CA, found by its PEM text.
#[derive(Default)]
pub struct TrustStores {
    system: OnceLock<Trust>,
    private: Mutex<HashMap<Box<str>, Trust>>,
    next_id: AtomicU64,
}

impl TrustStores {
    /// The trust for a route: its private CA (`ca`, PEM) or else the system's store.
    pub fn trust(&self, ca: Option<&str>) -> Trust {
        let Some(pem) = ca else {
            return self.system.get_or_init(|| self.make(system_roots())).clone();
        };
        let mut private = self.private.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(trust) = private.get(pem) {
            return trust.clone();
        }
        if private.len() >= MAX_PRIVATE {
            private.clear();
        }
        let trust = self.make(pem_roots(pem));
        private.insert(pem.into(), trust.clone());
        trust
    }

    fn make(&self, roots: RootCertStore) -> Trust {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        // The pool speaks HTTP/1.1 to upstreams.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Trust { id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1, config: Arc::new(config) }
    }
}

impl Trust {
    /// A trust of its own, never in the pool (a pinned admin connection, [`crate::pinned`]).
    pub fn with_config(config: ClientConfig) -> Self {
        Trust { id: 0, config: Arc::new(config) }
    }
}

/// The system's trust store (`/etc/ssl/certs` on Debian, or `SSL_CERT_FILE`/`SSL_CERT_DIR`).
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!("reading the system's trust store: {e}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!("the system's trust store holds no certificate: every https:// upstream will be refused");
    }
    tracing::debug!(added, ignored, "system trust store loaded");
    roots
}

/// A route's private CA; routes check it when saved (`tollgate_core::domain::pem`).
fn pem_roots(pem: &str) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(CertificateDer::pem_slice_iter(pem.as_bytes()).flatten());
    if ignored > 0 {
        tracing::warn!(ignored, "a route's upstream CA holds certificates that cannot be trust anchors");
    }
    roots
}

/// The TLS handshake with an upstream over `tcp`, for `host` (its SNI and the name its
/// certificate must hold: a DNS name or an IP address).
pub async fn handshake(trust: &Trust, host: &str, tcp: TcpStream) -> io::Result<UpstreamStream> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{host:?} is not a TLS server name")))?;
    let stream = TlsConnector::from(trust.config.clone()).connect(name, tcp).await?;
    Ok(UpstreamStream::Tls(Box::new(stream)))
}

/// A connection to an upstream, in clear or in TLS.
pub enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for UpstreamStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
