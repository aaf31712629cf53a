//! TLS on the admin API, so a console on another machine can manage this server: the
//! operator's certificate and key, or a self-signed pair `serve` makes in the data
//! directory on first start and keeps. Consoles pin the certificate's SHA-256 fingerprint
//! (`serve` prints it) on first connect. An admin API beyond loopback always speaks TLS:
//! it carries the bearer token that opens everything.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tollgate_gateway::cert_files::CertFiles;
use tollgate_gateway::pinned;

use crate::data_dir::DataDir;

/// When the admin API serves TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AdminTlsMode {
    /// The given certificate, else a self-signed one when listening beyond loopback, else
    /// plain HTTP on loopback.
    #[default]
    Auto,
    /// The given certificate, else a self-signed one, even on loopback.
    SelfSigned,
    /// Plain HTTP: refused beyond loopback.
    Off,
}

/// The admin API's TLS as the operator asked for it.
#[derive(Debug, Clone, Default)]
pub struct AdminTlsOptions {
    pub mode: AdminTlsMode,
    /// The certificate chain and key files (PEM).
    pub files: Option<(PathBuf, PathBuf)>,
}

/// The admin API's certificate, loaded.
pub struct AdminTls {
    pub certs: Arc<CertFiles>,
    /// SHA-256 of the certificate (`AB:CD:…`), what consoles pin.
    pub fingerprint: String,
    /// Where the certificate lives (the data directory's when self-signed).
    pub cert_file: PathBuf,
}

/// Loads (or makes) the admin API's certificate for a listener on `addr`; `None` for plain
/// HTTP, which is refused beyond loopback.
pub fn prepare(dir: &DataDir, addr: SocketAddr, options: &AdminTlsOptions) -> Result<Option<AdminTls>> {
    let (cert, key) = match (&options.files, options.mode) {
        (Some(_), AdminTlsMode::Off) => bail!("--admin-tls off and --admin-tls-cert contradict each other"),
        (Some((cert, key)), _) => (cert.clone(), key.clone()),
        (None, AdminTlsMode::Off) if !addr.ip().is_loopback() => bail!(
            "the admin API would listen on {addr}, beyond loopback, without TLS: its token would cross the network in clear. \
             Drop --admin-tls off (a self-signed certificate is made), give --admin-tls-cert and --admin-tls-key, \
             or listen on 127.0.0.1"
        ),
        (None, AdminTlsMode::Auto) if addr.ip().is_loopback() => return Ok(None),
        (None, AdminTlsMode::Off) => return Ok(None),
        (None, _) => self_signed(dir, addr)?,
    };
    let certs = CertFiles::open(&cert, &key).context("cannot serve the admin API over TLS")?;
    let fingerprint = fingerprint_of(&cert)?;
    Ok(Some(AdminTls { certs, fingerprint, cert_file: cert }))
}

/// The fingerprint of the first certificate in a PEM file.
pub fn fingerprint_of(cert: &Path) -> Result<String> {
    let der = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .next()
        .with_context(|| format!("{} holds no certificate", cert.display()))?
        .with_context(|| format!("{} is not PEM", cert.display()))?;
    Ok(pinned::fingerprint(&der))
}

/// The data directory's self-signed pair, made on first use (the key readable by its owner
/// only) and kept, so consoles that pinned it go on trusting this server.
fn self_signed(dir: &DataDir, addr: SocketAddr) -> Result<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.path().join("admin-tls-cert.pem"), dir.path().join("admin-tls-key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if let Ok(host) = fs::read_to_string("/proc/sys/kernel/hostname") {
        names.push(host.trim().to_string());
    }
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        names.push(addr.ip().to_string());
    }
    names.retain(|n| !n.is_empty());
    let made = rcgen::generate_simple_self_signed(names).context("cannot make the admin API's certificate")?;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&key)
        .with_context(|| format!("cannot write {}", key.display()))?;
    file.write_all(made.signing_key.serialize_pem().as_bytes())?;
    fs::write(&cert, made.cert.pem()).with_context(|| format!("cannot write {}", cert.display()))?;
    tracing::info!(cert = %cert.display(), "made a self-signed certificate for the admin API");
    Ok((cert, key))
}
