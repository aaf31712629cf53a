//! A private certificate authority an operator trusts for one route's upstream, given as
//! PEM. Checked when the route is saved, so a wrong file is refused with its reason then,
//! not found later as every call answering 502.

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::ConsoleError;

/// The largest bundle taken: a few certificates, not a whole trust store.
const MAX_PEM_BYTES: usize = 64 * 1024;

/// `pem` trimmed, when it starts with a certificate and every certificate in it can be a
/// trust anchor (other sections, such as a key pasted by mistake, are not used).
pub fn ca_bundle(field: &str, pem: &str) -> Result<String, ConsoleError> {
    let pem = pem.trim();
    if pem.len() > MAX_PEM_BYTES {
        return Err(ConsoleError::invalid(field, format!("is {} bytes; at most {MAX_PEM_BYTES} are taken", pem.len())));
    }
    if !pem.starts_with("-----BEGIN CERTIFICATE-----") {
        return Err(ConsoleError::invalid(
            field,
            "must be PEM certificates (-----BEGIN CERTIFICATE-----), the CA's certificate, not a key or a path",
        ));
    }
    let mut count = 0;
    for (i, der) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
        let der =
            der.map_err(|e| ConsoleError::invalid(field, format!("certificate {} is not valid PEM: {e}", i + 1)))?;
        webpki::anchor_from_trusted_cert(&der).map_err(|e| {
            ConsoleError::invalid(field, format!("certificate {} is not an X.509 certificate: {e}", i + 1))
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(ConsoleError::invalid(field, "holds no certificate"));
    }
    Ok(pem.to_string())
}
