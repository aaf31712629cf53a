//! Stripe's webhook signature (`Stripe-Signature: t=…,v1=…[,v1=…]`): an HMAC-SHA256 of
//! `"{t}.{payload}"` with the endpoint's signing secret, hex-encoded. Several `v1` values
//! appear while a secret is being rolled; any one matching is enough. The timestamp must
//! be within the tolerance of now, so a captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's own libraries default to five minutes.
pub const TOLERANCE_S: i64 = 300;

/// Why a signature is refused (the webhook answers 400 and changes nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("the Stripe-Signature header has no timestamp (t=) or no v1 signature")]
    Malformed,
    /// (The distance is kept for the log and tests, not told to the caller.)
    #[error("the signature's timestamp is too far from now (at most {TOLERANCE_S} s is accepted)")]
    OutsideTolerance(i64),
    #[error("no v1 signature matches the payload with the configured signing secret")]
    NoMatch,
}

/// Checks `header` against `payload` and `secret` (the `whsec_…` text, used as is) at
/// `now` (Unix seconds).
pub fn verify(header: Option<&str>, payload: &[u8], secret: &str, now: i64) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", hex)) => signatures.extend(decode_hex(hex)),
            _ => {}
        }
    }
    let Some(t) = timestamp.filter(|_| !signatures.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    // abs_diff: a timestamp of i64::MIN must not overflow.
    if now.abs_diff(t) > TOLERANCE_S.unsigned_abs() {
        return Err(SignatureError::OutsideTolerance(now.saturating_sub(t)));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    // Constant-time comparison, once per candidate.
    if signatures.iter().any(|s| mac.clone().verify_slice(s).is_ok()) { Ok(()) } else { Err(SignatureError::NoMatch) }
}

/// Lower- or upper-case hex; `None` for anything else (such a signature matches nothing).
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The header Stripe would send for `payload` at `t` (tests, and the console's self-check).
pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(payload);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn a_signed_payload_passes_and_any_change_fails() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_000);
        assert_eq!(verify(Some(&header), body, SECRET, 1_000), Ok(()));
        assert_eq!(verify(Some(&header), br#"{"id":"evt_2"}"#, SECRET, 1_000), Err(SignatureError::NoMatch));
        assert_eq!(verify(Some(&header), body, "whsec_other", 1_000), Err(SignatureError::NoMatch));
    }

    #[test]
    fn any_of_several_v1_signatures_may_match_while_a_secret_rolls() {
        let body = b"{}";
        let good = sign(body, SECRET, 50);
        let v1 = good.split_once(",v1=").unwrap().1;
        let header = format!("t=50,v1={},v0=abc,v1={v1}", "00".repeat(32));
        assert_eq!(verify(Some(&header), body, SECRET, 60), Ok(()));
    }

    #[test]
    fn old_or_future_timestamps_and_broken_headers_are_refused() {
        let body = b"{}";
        let header = sign(body, SECRET, 1_000);
        assert_eq!(verify(Some(&header), body, SECRET, 1_301), Err(SignatureError::OutsideTolerance(301)));
        assert_eq!(verify(Some(&header), body, SECRET, 699), Err(SignatureError::OutsideTolerance(-301)));
        assert_eq!(verify(Some(&header), body, SECRET, 1_300), Ok(()), "the edge of the window is in");
        assert_eq!(verify(None, body, SECRET, 1_000), Err(SignatureError::Missing));
        assert_eq!(verify(Some("v1=abcd"), body, SECRET, 1_000), Err(SignatureError::Malformed));
        assert_eq!(verify(Some("t=1000"), body, SECRET, 1_000), Err(SignatureError::Malformed));
        assert_eq!(verify(Some("t=1000,v1=zz"), body, SECRET, 1_000), Err(SignatureError::Malformed));
        let far = format!("t={},v1=00", i64::MIN);
        assert!(matches!(verify(Some(&far), body, SECRET, 1_000), Err(SignatureError::OutsideTolerance(_))));
    }
}
