//! TLS to another Tollgate's admin API, trusted by its certificate's SHA-256 fingerprint
//! rather than by a CA: `serve` makes itself a certificate on first start and prints its
//! fingerprint, and a console pins what it saw on first connect (trust on first use). A
//! server whose certificate no longer matches is refused, whatever its names or issuer.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::tls::Trust;

/// `AB:CD:…`: the SHA-256 of a certificate's DER bytes, as `openssl x509 -fingerprint
/// -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// The same fingerprint however it was typed: upper case, colons, no spaces.
pub fn normalize(fingerprint: &str) -> String {
    let hex: String = fingerprint.chars().filter(|c| c.is_ascii_hexdigit()).map(|c| c.to_ascii_uppercase()).collect();
    hex.as_bytes().chunks(2).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(":")
}

/// Verifies a server by the fingerprint of its certificate: `expected`, or any on first use
/// (then [`seen`](Self::seen) tells which to pin). The handshake's signature is still
/// checked, so the server must hold the certificate's key.
#[derive(Debug)]
pub struct Pinned {
    expected: Option<String>,
    seen: Mutex<Option<String>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Pinned {
    pub fn new(expected: Option<&str>) -> Arc<Self> {
        Arc::new(Self {
            expected: expected.map(normalize),
            seen: Mutex::default(),
            algorithms: provider().signature_verification_algorithms,
        })
    }

    /// The fingerprint of the certificate the last handshake presented.
    pub fn seen(&self) -> Option<String> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn expected(&self) -> Option<&str> {
        self.expected.as_deref()
    }

    /// A connection trust for [`crate::upstream::dial`] that verifies with this pin.
    pub fn trust(self: &Arc<Self>) -> Trust {
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(self.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Trust::with_config(config)
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The message a refused handshake carries, so callers can tell it from other failures.
pub const CHANGED: &str = "the server's certificate changed";

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = fingerprint(end_entity);
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen.clone());
        match &self.expected {
            Some(expected) if *expected != seen => {
                Err(rustls::Error::General(format!("{CHANGED}: pinned {expected}, presented {seen}")))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_typed_many_ways_and_read_one_way() {
        let fp = fingerprint(b"certificate");
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert_eq!(normalize(&fp.to_lowercase().replace(':', "")), fp);
        assert_eq!(normalize(&format!(" {} ", fp.replace(':', " "))), fp);
    }
}
