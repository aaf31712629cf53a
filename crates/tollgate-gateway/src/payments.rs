//! Machine-payable 402s at the gateway. A 402 that a top-up would fix
//! (`INSUFFICIENT_CREDITS`) carries, beside its problem body and billing link, two
//! challenges software can pay: x402's `PAYMENT-REQUIRED` and the draft Payment scheme's
//! `WWW-Authenticate: Payment` (see `tollgate_core::domain::{x402, payment_auth}`). A retry
//! carrying `PAYMENT-SIGNATURE`, or a Payment credential in `Payment-Authorization` (or in
//! `Authorization` when the key travels in `X-API-Key`), is verified and settled through the
//! operator's facilitator, tops the tenant up once per payment, and the request then goes on
//! as any other; its answer carries `PAYMENT-RESPONSE` or `Payment-Receipt`.
//!
//! The console's side (was this payment taken already; credit it through the ledger) is
//! behind [`Payments`], implemented where the console is.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use tollgate_core::domain::payment_auth::{self, CredentialError};
use tollgate_core::domain::x402::{
    self, FacilitatorRequest, PaymentPayload, PaymentRequired, Requirements, Resource, Settled, Verified, X402Terms,
};

/// `PAYMENT-REQUIRED`, `PAYMENT-SIGNATURE`, `PAYMENT-RESPONSE` (x402 v2), and the draft
/// Payment scheme's `Payment-Authorization` and `Payment-Receipt`.
pub const PAYMENT_REQUIRED: HeaderName = HeaderName::from_static("payment-required");
pub const PAYMENT_SIGNATURE: HeaderName = HeaderName::from_static("payment-signature");
pub const PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("payment-response");
pub const PAYMENT_AUTHORIZATION: HeaderName = HeaderName::from_static("payment-authorization");
pub const PAYMENT_RECEIPT: HeaderName = HeaderName::from_static("payment-receipt");

/// A payment to credit: `credits` to `tenant`, once per `payment_id` (the console's own
/// description of a settled payment).
pub use tollgate_core::console::payments::Settled as Credit;

type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// The console's side of payments.
pub trait Payments: Send + Sync + 'static {
    /// Whether payment `payment_id` was taken already (a replay).
    fn taken<'a>(&'a self, payment_id: &'a str) -> Answer<'a, bool>;
    /// Credits a settled payment through the ledger (idempotent by its id) and records it.
    fn credit<'a>(&'a self, credit: Credit<'a>) -> Answer<'a, ()>;
}

/// How a payment came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    X402,
    Credential,
}

/// A payment a request carries.
pub enum Presented {
    X402(PaymentPayload),
    /// A Payment credential whose challenge was issued here, with the offer it was for.
    Credential(Requirements, PaymentPayload),
    /// A payment header that cannot be taken.
    Refused(Failure),
}

/// Why a payment was not taken; nothing was charged or credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub via: Via,
    /// What the client is told (the facilitator's reason, or ours).
    pub reason: String,
    /// The draft's problem type, for a Payment credential.
    pub problem_type: Option<&'static str>,
}

impl Failure {
    /// The task taking the payment stopped (the server is stopping).
    pub(crate) fn stopped() -> Self {
        Self::new(Via::X402, "the payment could not be taken now; retry later")
    }

    fn new(via: Via, reason: impl Into<String>) -> Self {
        let problem_type = (via == Via::Credential).then_some("https://paymentauth.org/problems/verification-failed");
        Self { via, reason: reason.into(), problem_type }
    }
}

/// A settled, credited payment.
pub struct Paid {
    pub via: Via,
    pub settled: Settled,
    pub at: DateTime<Utc>,
}

impl Paid {
    /// The header the client reads the settlement from.
    pub fn header(&self) -> (HeaderName, HeaderValue) {
        let value = match self.via {
            Via::X402 => x402::encode(&self.settled),
            Via::Credential => payment_auth::receipt(&self.settled.transaction, self.at),
        };
        let name = if self.via == Via::X402 { PAYMENT_RESPONSE } else { PAYMENT_RECEIPT };
        (name, HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("")))
    }
}

/// The payment `headers` carry, if any: `PAYMENT-SIGNATURE`, else a Payment credential in
/// `Payment-Authorization` or `Authorization`.
pub fn presented(headers: &HeaderMap, secret: &[u8], now: DateTime<Utc>) -> Option<Presented> {
    if let Some(value) = headers.get(PAYMENT_SIGNATURE) {
        return Some(match x402::decode_payment(value.as_bytes()) {
            Ok(payment) => Presented::X402(payment),
            Err(e) => Presented::Refused(Failure::new(Via::X402, e.to_string())),
        });
    }
    let credential = headers.get(PAYMENT_AUTHORIZATION).or_else(|| {
        headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .find(|v| v.as_bytes().get(..8).is_some_and(|s| s.eq_ignore_ascii_case(b"payment ")))
    })?;
    Some(match payment_auth::accept(credential.as_bytes(), secret, now) {
        Ok((_, request, payment)) => Presented::Credential(request.method_details.accepted, payment),
        Err(e) => {
            let problem_type = Some(e.problem_type());
            let reason = e.to_string();
            let _: &CredentialError = &e;
            Presented::Refused(Failure { via: Via::Credential, reason, problem_type })
        }
    })
}

/// Takes `presented` for `tenant` on `terms`: refuses a replay and an offer this gateway did
/// not make, verifies and settles through the facilitator, and credits the tenant.
pub async fn take(
    payments: &dyn Payments,
    client: &crate::outbound::Outbound,
    terms: &X402Terms,
    facilitator: &str,
    tenant: &str,
    presented: Presented,
    short: i64,
) -> Result<Paid, Failure> {
    let (via, offered, payment) = match presented {
        Presented::Refused(failure) => return Err(failure),
        Presented::X402(payment) => (Via::X402, None, payment),
        Presented::Credential(offered, payment) => (Via::Credential, Some(offered), payment),
    };
    let fail = |reason: &str| Failure::new(via, reason);
    // The offer the payment is for: one this gateway makes, and for a credential the very
    // one its (bound) challenge named.
    let requirements = terms
        .matching(&payment.accepted, short)
        .ok_or_else(|| fail("the payment is not for an offer this gateway makes"))?;
    if offered.as_ref().is_some_and(|o| terms.matching(o, short).as_ref() != Some(&requirements)) {
        return Err(fail("the payment is not for the offer of its challenge"));
    }
    let id = payment.id().ok_or_else(|| fail("the payment carries no EIP-3009 authorization (from, nonce)"))?;
    match payments.taken(&id).await {
        Ok(true) => {
            let mut failure = fail("this payment was already used; nothing was charged or credited again");
            if via == Via::Credential {
                failure.problem_type = Some("https://paymentauth.org/problems/invalid-challenge");
            }
            return Err(failure);
        }
        Ok(false) => {}
        Err(e) => return Err(fail(&format!("payments cannot be recorded right now ({e}); retry later"))),
    }
    let request = FacilitatorRequest {
        x402_version: x402::VERSION,
        payment_payload: &payment,
        payment_requirements: &requirements,
    };
    let base = facilitator.trim_end_matches('/');
    let verified: Verified = post(client, &format!("{base}/verify"), &request).await.map_err(|e| fail(&e))?;
    if !verified.is_valid {
        let reason = verified.invalid_reason.or(verified.invalid_message).unwrap_or_else(|| "invalid payment".into());
        return Err(fail(&reason));
    }
    let settled: Settled = post(client, &format!("{base}/settle"), &request).await.map_err(|e| fail(&e))?;
    if !settled.success {
        let reason = settled
            .error_reason
            .clone()
            .or(settled.error_message.clone())
            .unwrap_or_else(|| "settlement failed".into());
        return Err(fail(&reason));
    }
    let units: i64 = requirements.amount.parse().unwrap_or(0);
    let credit = Credit {
        tenant,
        payment_id: &id,
        credits: terms.credits_for(units),
        transaction: &settled.transaction,
        payer: settled.payer.as_deref().or(payment.payer()),
        via: if via == Via::X402 { "x402" } else { "payment" },
    };
    if let Err(e) = payments.credit(credit).await {
        // Settled but not credited: logged loudly with everything needed to credit it by hand.
        tracing::error!(error = %e, payment = id, transaction = settled.transaction, tenant, "a settled payment could not be credited");
        return Err(fail(
            "the payment was settled but could not be credited yet; contact the API provider with its transaction",
        ));
    }
    Ok(Paid { via, settled, at: Utc::now() })
}

/// POSTs `body` as JSON to the facilitator and reads its JSON answer (10 s at most).
async fn post<T: serde::de::DeserializeOwned>(
    client: &crate::outbound::Outbound,
    url: &str,
    body: &FacilitatorRequest<'_>,
) -> Result<T, String> {
    let json = serde_json::to_string(body).expect("facilitator requests serialize");
    let (status, answer) = client.post_for_answer(url, json, Duration::from_secs(10)).await.map_err(|e| {
        tracing::warn!(error = %e, url, "the x402 facilitator is unreachable");
        "the payment facilitator is unreachable; retry later".to_string()
    })?;
    serde_json::from_slice::<T>(&answer).map_err(|e| {
        tracing::warn!(error = %e, status, url, "the x402 facilitator's answer is not what x402 specifies");
        "the payment facilitator answered something unexpected; retry later".to_string()
    })
}

/// The challenges of a 402 that `short` more credits would fix, for `resource`: x402's
/// header, and one Payment challenge (for the first offer) bound with `secret`. `exact`:
/// offer exactly `short` (one call paid for itself), not the configured top-ups.
pub fn challenges(
    terms: &X402Terms,
    secret: &[u8],
    resource: Resource,
    short: i64,
    error: Option<&str>,
    exact: bool,
    now: DateTime<Utc>,
) -> Vec<(HeaderName, HeaderValue)> {
    let accepts = if exact { vec![terms.offer(short)] } else { terms.offers(short) };
    let first = accepts.first().cloned();
    let required = PaymentRequired {
        x402_version: x402::VERSION,
        error: error.map(str::to_string),
        resource: resource.clone(),
        accepts,
    };
    let mut headers = Vec::with_capacity(2);
    if let Ok(value) = HeaderValue::from_str(&x402::encode(&required)) {
        headers.push((PAYMENT_REQUIRED, value));
    }
    if let Some(offer) = first {
        let credits = terms.credits_for(offer.amount.parse().unwrap_or(0));
        let description = format!("Top up {credits} credits");
        let request = payment_auth::charge_request(offer, resource, &description);
        let expires = now + chrono::TimeDelta::seconds(i64::try_from(terms.max_timeout_seconds).unwrap_or(60));
        if let Ok(value) = HeaderValue::from_str(&payment_auth::challenge(secret, &request, expires, &description)) {
            headers.push((header::WWW_AUTHENTICATE, value));
        }
    }
    headers
}
