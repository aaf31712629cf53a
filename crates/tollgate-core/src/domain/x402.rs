//! x402 v2 (coinbase/x402, `specs/x402-specification-v2.md`): the machine-payable layer of a
//! 402. A 402 that a top-up would fix carries `PAYMENT-REQUIRED` (standard base64 of the
//! JSON [`PaymentRequired`]); the client retries with `PAYMENT-SIGNATURE` (a
//! [`PaymentPayload`]), which is verified and settled through the operator's facilitator and
//! tops the tenant up; the answer carries `PAYMENT-RESPONSE` (the facilitator's settle
//! answer). Here are the wire types and the rules, with no I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The x402 protocol version spoken.
pub const VERSION: u32 = 2;

/// How the operator is paid: one asset on one network, to one address, through one
/// facilitator; `network` empty means x402 is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X402Terms {
    /// CAIP-2, e.g. `eip155:8453` (Base) or `eip155:84532` (Base Sepolia).
    pub network: String,
    /// The EIP-3009 token contract, e.g. USDC.
    pub asset: String,
    /// The token's EIP-712 domain name and version (`USD Coin`/`2` for USDC on Base).
    pub asset_name: String,
    pub asset_version: String,
    /// Where the payments go.
    pub pay_to: String,
    /// Credits one atomic unit of the asset buys.
    pub credits_per_unit: i64,
    /// The top-ups offered, in credits, smallest first.
    pub top_ups: Vec<i64>,
    /// How long a signed payment stays valid.
    pub max_timeout_seconds: u64,
}

/// What a resource is, for the client's wallet to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// One way to pay (an `accepts` entry): `amount` atomic units of `asset` to `payTo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirements {
    pub scheme: String,
    pub network: String,
    /// Atomic units, as a decimal string.
    pub amount: String,
    pub asset: String,
    pub pay_to: String,
    pub max_timeout_seconds: u64,
    #[serde(default)]
    pub extra: Value,
}

/// The `PAYMENT-REQUIRED` header's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    pub x402_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub resource: Resource,
    pub accepts: Vec<Requirements>,
}

/// The `PAYMENT-SIGNATURE` header's JSON: the offer the client took and its signed proof
/// (kept as sent: it goes to the facilitator unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    pub x402_version: u32,
    pub accepted: Requirements,
    pub payload: Value,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

impl PaymentPayload {
    /// What identifies this payment for good: the payer and the authorization's nonce
    /// (EIP-3009 lets a nonce be used once per payer and token), on its network.
    pub fn id(&self) -> Option<String> {
        let authorization = self.payload.get("authorization")?;
        let from = authorization.get("from")?.as_str()?.to_ascii_lowercase();
        // One nonce, one id, however it is written (`0x1` is `0x00…01` on chain).
        let nonce = authorization.get("nonce")?.as_str()?.to_ascii_lowercase();
        let digits = nonce.strip_prefix("0x").unwrap_or(&nonce).trim_start_matches('0');
        if digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(format!("x402:{}:{from}:0x{digits:0>64}", self.accepted.network))
    }

    /// The payer's address, when the proof names one.
    pub fn payer(&self) -> Option<&str> {
        self.payload.get("authorization")?.get("from")?.as_str()
    }
}

/// The facilitator's answer to `/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    pub is_valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
}

/// The facilitator's answer to `/settle`: also what `PAYMENT-RESPONSE` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settled {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default)]
    pub transaction: String,
    #[serde(default)]
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

/// What the facilitator is sent, for `/verify` and `/settle` alike.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FacilitatorRequest<'a> {
    pub x402_version: u32,
    pub payment_payload: &'a PaymentPayload,
    pub payment_requirements: &'a Requirements,
}

impl X402Terms {
    /// The atomic units that buy at least `credits` credits.
    pub fn units_for(&self, credits: i64) -> i64 {
        let per = self.credits_per_unit.max(1);
        credits.max(0).saturating_add(per - 1) / per
    }

    /// The credits `units` atomic units buy.
    pub fn credits_for(&self, units: i64) -> i64 {
        units.saturating_mul(self.credits_per_unit.max(1))
    }

    /// The offer for a top-up of `credits`.
    pub fn offer(&self, credits: i64) -> Requirements {
        Requirements {
            scheme: "exact".into(),
            network: self.network.clone(),
            amount: self.units_for(credits).to_string(),
            asset: self.asset.clone(),
            pay_to: self.pay_to.clone(),
            max_timeout_seconds: self.max_timeout_seconds,
            extra: serde_json::json!({ "name": self.asset_name, "version": self.asset_version }),
        }
    }

    /// The offers for a call that is `short` credits short: the smallest configured top-up
    /// that covers it first (clients pay the first offer they can), then the larger ones;
    /// exactly the shortfall when no configured top-up covers it.
    pub fn offers(&self, short: i64) -> Vec<Requirements> {
        let mut sizes: Vec<i64> = self.top_ups.iter().copied().filter(|c| *c >= short && *c > 0).collect();
        sizes.sort_unstable();
        sizes.dedup();
        if sizes.is_empty() {
            sizes.push(short.max(1));
        }
        sizes.into_iter().map(|c| self.offer(c)).collect()
    }

    /// The offer `accepted` took, if it is one this gateway makes: every field equal but
    /// `extra`, and ours a part of its (as the reference server matches), with an amount
    /// that buys at least `short` credits (any top-up: 1; one call paid for itself: its cost).
    pub fn matching(&self, accepted: &Requirements, short: i64) -> Option<Requirements> {
        let units: i64 = accepted.amount.parse().ok().filter(|u| *u > 0)?;
        let credits = self.credits_for(units);
        let ours = self.offer(credits);
        let same = ours.scheme == accepted.scheme
            && ours.network == accepted.network
            && ours.asset.eq_ignore_ascii_case(&accepted.asset)
            && ours.pay_to.eq_ignore_ascii_case(&accepted.pay_to)
            && ours.amount == accepted.amount
            && ours.max_timeout_seconds == accepted.max_timeout_seconds
            && extra_within(&ours.extra, &accepted.extra);
        let size_ok = credits >= short.max(1);
        (same && size_ok).then_some(Requirements {
            asset: accepted.asset.clone(),
            pay_to: accepted.pay_to.clone(),
            ..ours
        })
    }
}

/// Whether every member of `ours` is in `theirs` with the same value.
fn extra_within(ours: &Value, theirs: &Value) -> bool {
    match (ours.as_object(), theirs.as_object()) {
        (Some(ours), Some(theirs)) => ours.iter().all(|(k, v)| theirs.get(k) == Some(v)),
        (None, _) => true,
        (Some(ours), None) => ours.is_empty(),
    }
}

/// A header value: standard base64 of the JSON, padded (what the reference client reads).
pub fn encode<T: Serialize>(value: &T) -> String {
    STANDARD.encode(serde_json::to_vec(value).expect("x402 values serialize"))
}

/// Why a `PAYMENT-SIGNATURE` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("PAYMENT-SIGNATURE is not base64")]
    Base64,
    #[error("PAYMENT-SIGNATURE is not an x402 payment payload: {0}")]
    Json(String),
    #[error("PAYMENT-SIGNATURE is x402 version {0}; this gateway speaks version 2")]
    Version(u32),
}

/// Reads a `PAYMENT-SIGNATURE` header (standard or URL-safe base64, padded or not).
pub fn decode_payment(header: &[u8]) -> Result<PaymentPayload, DecodeError> {
    let text = header.trim_ascii();
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim_ascii_end().strip_suffix(b"=").unwrap_or(text))
        })
        .map_err(|_| DecodeError::Base64)?;
    let payload: PaymentPayload = serde_json::from_slice(&bytes).map_err(|e| DecodeError::Json(e.to_string()))?;
    if payload.x402_version != VERSION {
        return Err(DecodeError::Version(payload.x402_version));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> X402Terms {
        X402Terms {
            network: "eip155:84532".into(),
            asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e".into(),
            asset_name: "USDC".into(),
            asset_version: "2".into(),
            pay_to: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC".into(),
            credits_per_unit: 1,
            top_ups: vec![10_000, 1_000],
            max_timeout_seconds: 60,
        }
    }

    #[test]
    fn the_smallest_top_up_that_covers_the_call_comes_first() {
        let amounts = |short| terms().offers(short).into_iter().map(|o| o.amount).collect::<Vec<_>>();
        assert_eq!(amounts(5), ["1000", "10000"]);
        assert_eq!(amounts(5_000), ["10000"]);
        assert_eq!(amounts(50_000), ["50000"], "none covers it: exactly the shortfall");
        let with_rate = X402Terms { credits_per_unit: 3, ..terms() };
        assert_eq!(with_rate.offer(1_000).amount, "334", "units that buy at least the credits");
        assert_eq!(with_rate.credits_for(334), 1_002);
        let huge = Requirements { amount: i64::MAX.to_string(), ..with_rate.offer(1) };
        assert_eq!(with_rate.matching(&huge, 1), None, "no overflow, no match");
    }

    #[test]
    fn only_our_own_offers_are_taken() {
        let t = terms();
        let offer = t.offer(1_000);
        let mut accepted = offer.clone();
        accepted.extra = serde_json::json!({"name": "USDC", "version": "2", "more": 1});
        assert_eq!(t.matching(&accepted, 5).map(|r| r.amount), Some("1000".into()), "extra may hold more");
        accepted.pay_to = accepted.pay_to.to_lowercase();
        assert!(t.matching(&accepted, 5).is_some(), "addresses in any case");
        let elsewhere = Requirements { pay_to: "0x0000000000000000000000000000000000000001".into(), ..offer.clone() };
        assert_eq!(t.matching(&elsewhere, 5), None, "paid to someone else");
        let tiny = Requirements { amount: "1".into(), ..offer.clone() };
        assert_eq!(t.matching(&tiny, 5), None, "less than the call needs and no offered size");
        let other_asset = Requirements { asset: "0xdead".into(), ..offer };
        assert_eq!(t.matching(&other_asset, 5), None);
    }

    #[test]
    fn headers_round_trip_and_bad_ones_name_the_problem() {
        let payload = PaymentPayload {
            x402_version: 2,
            accepted: terms().offer(1_000),
            payload: serde_json::json!({"authorization": {"from": "0xAbC", "nonce": "0x01"}, "signature": "0x"}),
            rest: serde_json::Map::new(),
        };
        let header = encode(&payload);
        let read = decode_payment(header.as_bytes()).unwrap();
        assert_eq!(read, payload);
        let zeros = "0".repeat(63);
        assert_eq!(read.id(), Some(format!("x402:eip155:84532:0xabc:0x{zeros}1")), "the nonce in one form");
        assert_eq!(decode_payment(b"%%%"), Err(DecodeError::Base64));
        assert!(matches!(decode_payment(STANDARD.encode(b"{}").as_bytes()), Err(DecodeError::Json(_))));
        let v1 = STANDARD.encode(serde_json::to_vec(&PaymentPayload { x402_version: 1, ..payload }).unwrap());
        assert_eq!(decode_payment(v1.as_bytes()), Err(DecodeError::Version(1)));
    }
}
