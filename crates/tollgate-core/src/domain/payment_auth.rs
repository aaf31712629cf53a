//! The "Payment" HTTP authentication scheme (draft-ryan-httpauth-payment-01): a 402 carries
//! `WWW-Authenticate: Payment id=…, realm=…, method=…, intent=…, request=…, expires=…`, the
//! client answers with a credential echoing that challenge plus its proof, and a paid answer
//! carries `Payment-Receipt`. Tollgate's method is `x402`: the challenge's `request` carries
//! an x402 offer in `methodDetails` and the credential's `payload` is the x402 payment
//! payload, settled through the same facilitator as `PAYMENT-SIGNATURE`.
//!
//! The challenge `id` is bound statelessly, as the draft recommends (§5.1.2.1.1):
//! `base64url(HMAC-SHA256(secret, realm|method|intent|request|expires|digest|opaque))`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::domain::x402::{PaymentPayload, Requirements, Resource, VERSION};

/// The method name Tollgate's challenges use.
pub const METHOD: &str = "x402";
/// The only intent: pay once for a top-up.
pub const INTENT: &str = "charge";
/// The realm of every challenge (the same as the `Bearer` one).
pub const REALM: &str = "tollgate";

/// The challenge as the credential echoes it (`request` as the base64url text received).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Echo {
    pub id: String,
    pub realm: String,
    pub method: String,
    pub intent: String,
    pub request: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opaque: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A credential: the echoed challenge and the proof.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Credential {
    pub challenge: Echo,
    pub payload: Value,
    #[serde(default)]
    pub source: Option<String>,
}

/// What the `request` of Tollgate's challenge says: an amount of the asset to the payee, and
/// the x402 offer it corresponds to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeRequest {
    pub amount: String,
    pub currency: String,
    pub recipient: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub method_details: MethodDetails,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodDetails {
    pub x402_version: u32,
    pub resource: Resource,
    pub accepted: Requirements,
}

/// Why a credential is refused; each maps to the draft's problem type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the Payment credential is not base64url JSON with a challenge and a payload: {0}")]
    Malformed(String),
    #[error("the challenge was not issued here, or was altered")]
    InvalidChallenge,
    #[error("the challenge expired at {0}")]
    Expired(String),
    #[error("method '{0}' is not accepted here (only x402)")]
    MethodUnsupported(String),
}

impl CredentialError {
    /// The draft's problem type for this failure.
    pub fn problem_type(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "https://paymentauth.org/problems/malformed-credential",
            Self::InvalidChallenge => "https://paymentauth.org/problems/invalid-challenge",
            Self::Expired(_) => "https://paymentauth.org/problems/payment-expired",
            Self::MethodUnsupported(_) => "https://paymentauth.org/problems/method-unsupported",
        }
    }
}

/// The bound `id` of a challenge with these parameters.
fn bind(secret: &[u8], realm: &str, method: &str, intent: &str, request: &str, expires: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    // Seven slots; digest and opaque are never sent by Tollgate, so they are empty.
    let input = [realm, method, intent, request, expires, "", ""].join("|");
    mac.update(input.as_bytes());
    mac
}

/// The `WWW-Authenticate` value of a challenge to pay `request` before `expires`.
pub fn challenge(secret: &[u8], request: &ChargeRequest, expires: DateTime<Utc>, description: &str) -> String {
    let canonical = canonical(serde_json::to_value(request).expect("a charge request serializes")).to_string();
    let request_b64 = URL_SAFE_NO_PAD.encode(canonical);
    let expires = expires.to_rfc3339_opts(SecondsFormat::Secs, true);
    let id =
        URL_SAFE_NO_PAD.encode(bind(secret, REALM, METHOD, INTENT, &request_b64, &expires).finalize().into_bytes());
    let description = description.replace(['"', '\\'], "'");
    format!(
        "Payment id=\"{id}\", realm=\"{REALM}\", method=\"{METHOD}\", intent=\"{INTENT}\", request=\"{request_b64}\", description=\"{description}\", expires=\"{expires}\""
    )
}

/// `value` in the JSON Canonicalization Scheme (RFC 8785) the draft asks for, as far as
/// these values need it: members sorted by name at every level (serde_json writes no
/// whitespace, and these hold only strings and integers). Clients that decode and re-encode
/// the request then echo the very text that was bound.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(String, Value)> = map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            Value::Object(members.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// The request of one of Tollgate's challenges for the x402 offer `accepted`.
pub fn charge_request(accepted: Requirements, resource: Resource, description: &str) -> ChargeRequest {
    ChargeRequest {
        amount: accepted.amount.clone(),
        currency: accepted.asset.clone(),
        recipient: accepted.pay_to.clone(),
        description: Some(description.to_string()),
        method_details: MethodDetails { x402_version: VERSION, resource, accepted },
    }
}

/// Reads a credential (`Payment <base64url>`) and checks that its challenge was issued here,
/// unaltered and unexpired at `now`; returns its charge request and its x402 payment.
pub fn accept(
    header: &[u8],
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<(Credential, ChargeRequest, PaymentPayload), CredentialError> {
    let malformed = |why: &str| CredentialError::Malformed(why.to_string());
    let text = std::str::from_utf8(header).map_err(|_| malformed("not text"))?.trim();
    let (scheme, token) = text.split_once(' ').ok_or_else(|| malformed("no `Payment <credential>`"))?;
    if !scheme.eq_ignore_ascii_case("payment") {
        return Err(malformed("the scheme is not Payment"));
    }
    let bytes = URL_SAFE_NO_PAD.decode(token.trim().trim_end_matches('=')).map_err(|_| malformed("not base64url"))?;
    let credential: Credential =
        serde_json::from_slice(&bytes).map_err(|e| CredentialError::Malformed(e.to_string()))?;
    let c = &credential.challenge;
    if c.method != METHOD {
        return Err(CredentialError::MethodUnsupported(c.method.clone()));
    }
    let id = URL_SAFE_NO_PAD.decode(&c.id).map_err(|_| CredentialError::InvalidChallenge)?;
    let expires = c.expires.as_deref().unwrap_or("");
    let bound = bind(secret, &c.realm, &c.method, &c.intent, &c.request, expires);
    let altered =
        c.digest.as_deref().is_some_and(|d| !d.is_empty()) || c.opaque.as_deref().is_some_and(|o| !o.is_empty());
    if altered || bound.verify_slice(&id).is_err() || c.realm != REALM || c.intent != INTENT {
        return Err(CredentialError::InvalidChallenge);
    }
    let until = DateTime::parse_from_rfc3339(expires).map_err(|_| CredentialError::InvalidChallenge)?;
    if until <= now {
        return Err(CredentialError::Expired(expires.to_string()));
    }
    let request_json = URL_SAFE_NO_PAD.decode(&c.request).map_err(|_| CredentialError::InvalidChallenge)?;
    let request: ChargeRequest =
        serde_json::from_slice(&request_json).map_err(|_| CredentialError::InvalidChallenge)?;
    let payment: PaymentPayload =
        serde_json::from_value(credential.payload.clone()).map_err(|e| CredentialError::Malformed(e.to_string()))?;
    Ok((credential, request, payment))
}

/// The `Payment-Receipt` value for a payment settled as `reference` at `at`.
pub fn receipt(reference: &str, at: DateTime<Utc>) -> String {
    let json = serde_json::json!({
        "method": METHOD,
        "reference": reference,
        "status": "success",
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    URL_SAFE_NO_PAD.encode(json.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::x402::X402Terms;

    const SECRET: &[u8] = b"tollgate-test-secret-0123456789abcdef";

    fn offer() -> (Requirements, Resource) {
        let terms = X402Terms {
            network: "eip155:84532".into(),
            asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e".into(),
            asset_name: "USDC".into(),
            asset_version: "2".into(),
            pay_to: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC".into(),
            credits_per_unit: 1,
            top_ups: vec![1000],
            max_timeout_seconds: 60,
        };
        (terms.offer(1000), Resource { url: "http://127.0.0.1/v1/x".into(), description: None, mime_type: None })
    }

    /// The credential a client builds from `header`'s challenge.
    fn credential_for(header: &str, payload: Value) -> String {
        let param = |name: &str| {
            let start = header.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            header[start..start + header[start..].find('"').unwrap()].to_string()
        };
        let json = serde_json::json!({
            "challenge": {"id": param("id"), "realm": param("realm"), "method": param("method"),
                "intent": param("intent"), "request": param("request"), "expires": param("expires")},
            "payload": payload,
        });
        format!("Payment {}", URL_SAFE_NO_PAD.encode(json.to_string()))
    }

    fn x402_payload(accepted: &Requirements) -> Value {
        serde_json::json!({"x402Version": 2, "accepted": accepted, "payload": {"authorization": {"from": "0xa", "nonce": "0x1"}, "signature": "0x"}})
    }

    #[test]
    fn a_challenge_issued_here_is_accepted_until_it_expires_and_an_altered_one_never() {
        let now = Utc::now();
        let (accepted, resource) = offer();
        let header = challenge(
            SECRET,
            &charge_request(accepted.clone(), resource, "top-up"),
            now + chrono::TimeDelta::seconds(60),
            "Top up \"1000\" credits",
        );
        assert!(header.starts_with("Payment id=\""), "{header}");
        assert!(header.contains("method=\"x402\"") && header.contains("intent=\"charge\""));
        let credential = credential_for(&header, x402_payload(&accepted));
        let (_, request, payment) = accept(credential.as_bytes(), SECRET, now).expect("accepted");
        assert_eq!(request.method_details.accepted, accepted);
        assert_eq!(payment.accepted, accepted);

        assert_eq!(
            accept(credential.as_bytes(), b"another secret of some length", now).unwrap_err(),
            CredentialError::InvalidChallenge
        );
        let later = now + chrono::TimeDelta::seconds(61);
        assert!(matches!(accept(credential.as_bytes(), SECRET, later), Err(CredentialError::Expired(_))));
        // A cheaper amount in the echoed request breaks the binding.
        let cheaper = URL_SAFE_NO_PAD.encode(
            serde_json::to_string(&charge_request(
                Requirements { amount: "1".into(), ..accepted.clone() },
                offer().1,
                "top-up",
            ))
            .unwrap(),
        );
        let tampered = {
            let start = header.find("request=\"").unwrap() + 9;
            let end = start + header[start..].find('"').unwrap();
            format!("{}{cheaper}{}", &header[..start], &header[end..])
        };
        let forged = credential_for(&tampered, x402_payload(&accepted));
        assert_eq!(accept(forged.as_bytes(), SECRET, now).unwrap_err(), CredentialError::InvalidChallenge);
        assert!(matches!(accept(b"Payment %%%", SECRET, now), Err(CredentialError::Malformed(_))));
        assert!(matches!(accept(b"Bearer abc", SECRET, now), Err(CredentialError::Malformed(_))));
    }

    #[test]
    fn the_draft_binding_vector_is_reproduced() {
        // From the notes' worked example (mppx, pympp and Python's hmac agree on it), with
        // digest and opaque slots empty as Tollgate sends them: the same seven-slot input.
        let mac = bind(
            b"gateway-test-secret",
            "api.example.com",
            "example",
            "charge",
            "eyJhbW91bnQiOiIxMDAwIiwiY3VycmVuY3kiOiJ1c2QiLCJyZWNpcGllbnQiOiJhY2N0XzEyMyJ9",
            "2025-01-15T12:05:00Z",
        );
        assert_eq!(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()), "-OLfQX8rMP1EULMgzKRgRQ4T7ppd9JKRTw6wmhdmKio");
    }

    #[test]
    fn the_bound_request_is_canonical_json() {
        let (accepted, resource) = offer();
        let header = challenge(SECRET, &charge_request(accepted, resource, "top-up"), Utc::now(), "d");
        let start = header.find("request=\"").unwrap() + 9;
        let request = &header[start..start + header[start..].find('"').unwrap()];
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(request).unwrap()).unwrap();
        assert!(text.starts_with(r#"{"amount":"1000","currency":"0x036C"#), "{text}");
        assert!(
            text.contains(r#""methodDetails":{"accepted":{"amount":"1000","asset":"#),
            "sorted at every level: {text}"
        );
    }

    #[test]
    fn a_receipt_is_base64url_json() {
        let at = DateTime::parse_from_rfc3339("2026-12-03T12:01:07Z").unwrap().with_timezone(&Utc);
        let decoded = URL_SAFE_NO_PAD.decode(receipt("0xabc", at)).unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            r#"{"method":"x402","reference":"0xabc","status":"success","timestamp":"2026-12-03T12:01:07Z"}"#
        );
    }
}
