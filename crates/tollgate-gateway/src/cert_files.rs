//! The listener's own certificate and key, read from PEM files and read again when they
//! change (or on SIGHUP), as certbot and similar tools replace them. A handshake takes
//! whichever pair is current when it starts, so connections already open are untouched; a
//! replacement that does not load (half-written, a key that is not the certificate's) is
//! logged and the pair in use stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate or key file cannot be used; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CertError(String);

/// A certificate chain and its key, from files.
#[derive(Debug)]
pub struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' modification times when last loaded.
    loaded: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The chain in `cert` and the private key in `key`, checked to belong together.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, CertError> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| CertError(format!("cannot read {}: {e}", path.display())));
    let (cert_pem, key_pem) = (read(cert)?, read(key)?);
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError(format!("{} is not PEM certificates: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(CertError(format!("{} holds no certificate (-----BEGIN CERTIFICATE-----)", cert.display())));
    }
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| CertError(format!("{} holds no private key in PEM: {e}", key.display())))?;
    CertifiedKey::from_der(chain, private, &provider())
        .map_err(|e| CertError(format!("{} and {} do not make a usable pair: {e}", cert.display(), key.display())))
}

impl CertFiles {
    /// Loads the pair; an error names the file and what is wrong with it.
    pub fn open(cert: &Path, key: &Path) -> Result<Arc<Self>, CertError> {
        let stamps = (modified(cert), modified(key));
        let current = load(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(Arc::new(current)),
            loaded: Mutex::new(stamps),
        }))
    }

    /// Reads the files again and, when they load, serves them from the next handshake on.
    pub fn reload(&self) -> Result<(), CertError> {
        let stamps = (modified(&self.cert), modified(&self.key));
        let fresh = load(&self.cert, &self.key);
        // Remembered even when they fail, so a broken file is reported once, not every poll.
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = stamps;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh?);
        tracing::info!(cert = %self.cert.display(), "gateway certificate reloaded");
        Ok(())
    }

    /// [`Self::reload`] when either file's modification time moved since the last load.
    pub fn reload_if_changed(&self) -> Result<bool, CertError> {
        let now = (modified(&self.cert), modified(&self.key));
        if *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) == now {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// A server configuration offering HTTP/2 and HTTP/1.1 by ALPN with this pair.
    pub fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}
