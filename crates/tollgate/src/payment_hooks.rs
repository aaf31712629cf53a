//! The console's side of the gateway's webhooks: a Stripe delivery is verified, applied and
//! recorded by `tollgate_core::store::payments`; this turns the outcome into the answer Stripe
//! reads (2xx: done, do not send again; 4xx: refused; 5xx: send again later).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use serde_json::json;
use tollgate_core::console::payments;
use tollgate_core::store::payments::{PaymentOutcome, ReceiveError};
use tollgate_core::{Console, ConsoleError};
use tollgate_gateway::payments::{Credit, Payments};
use tollgate_gateway::webhooks::{WebhookAnswer, Webhooks};

/// Webhooks applied to `console`.
pub struct PaymentHooks(pub Console);

impl Webhooks for PaymentHooks {
    fn stripe_enabled(&self) -> bool {
        self.0.live().is_none_or(|live| !live.settings().stripe_webhook_secret.is_empty())
    }

    fn stripe<'a>(
        &'a self,
        signature: Option<&'a str>,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = WebhookAnswer> + Send + 'a>> {
        Box::pin(async move {
            let (status, json) = match payments::receive_stripe(&self.0, signature, &body).await {
                Ok(receipt) => {
                    // Not done (no tenant yet, a refused command, not due): a non-2xx makes
                    // Stripe deliver it again, for up to three days, while the operator fixes it.
                    let done = matches!(receipt.event.outcome, PaymentOutcome::Applied | PaymentOutcome::Ignored);
                    let body = json!({ "received": true, "replayed": receipt.replayed, "event": receipt.event });
                    (if done { 200 } else { 409 }, body)
                }
                Err(e) => {
                    let (status, code) = match &e {
                        ReceiveError::Off => (404, "ENDPOINT_OFF"),
                        ReceiveError::Signature(_) => (400, "BAD_SIGNATURE"),
                        ReceiveError::Payload(_) => (400, "BAD_PAYLOAD"),
                        ReceiveError::Console(ConsoleError::StorageUnavailable(_)) => (503, "STORAGE_UNAVAILABLE"),
                        ReceiveError::Console(_) => (500, "INTERNAL"),
                    };
                    if status >= 500 {
                        tracing::error!(error = %e, "a Stripe event could not be taken; Stripe will send it again");
                    } else {
                        tracing::warn!(error = %e, "a Stripe webhook delivery was refused");
                    }
                    let detail = if status >= 500 { "try again later".to_string() } else { e.to_string() };
                    (status, json!({ "code": code, "detail": detail }))
                }
            };
            WebhookAnswer { status, json: json.to_string() }
        })
    }
}

impl Payments for PaymentHooks {
    fn taken<'a>(&'a self, payment_id: &'a str) -> Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>> {
        Box::pin(async move { payments::taken(&self.0, payment_id).await.map_err(|e| e.to_string()) })
    }

    fn credit<'a>(&'a self, credit: Credit<'a>) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move { payments::credit_settled(&self.0, credit).await.map_err(|e| e.to_string()) })
    }
}
