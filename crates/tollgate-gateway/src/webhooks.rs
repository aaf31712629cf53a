//! Webhooks the gateway's listener takes for the console: it is the address that faces the
//! internet (the admin API stays on loopback), so a payment provider reaches it. The
//! console's side (verifying, applying, recording) is behind [`Webhooks`], implemented
//! where the console is; here is only the path, the size limit and the answer.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};

use crate::Body;
use crate::request_body::RequestBody;

/// Stripe's endpoint URL is the gateway's address with this path.
pub const STRIPE_PATH: &str = "/_tollgate/stripe";

/// Larger events than Stripe sends are refused unread.
const MAX_BODY: usize = 256 * 1024;

/// A body must arrive within this (a client trickling bytes would hold a connection).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An answer to a webhook delivery: its status and JSON body.
pub struct WebhookAnswer {
    pub status: u16,
    pub json: String,
}

/// The console's side of the webhooks.
pub trait Webhooks: Send + Sync + 'static {
    /// Whether the Stripe endpoint is on: when it is off, a delivery is refused unread.
    fn stripe_enabled(&self) -> bool;

    /// One Stripe delivery: its `Stripe-Signature` header and its body, as received.
    fn stripe<'a>(
        &'a self,
        signature: Option<&'a str>,
        body: Bytes,
    ) -> Pin<Box<dyn Future<Output = WebhookAnswer> + Send + 'a>>;
}

/// Whether `request` is a webhook delivery rather than API traffic.
pub fn is_webhook(request: &Request<RequestBody>) -> bool {
    request.method() == http::Method::POST && request.uri().path() == STRIPE_PATH
}

/// Reads the delivery (at most [`MAX_BODY`] bytes) and hands it to `hooks`.
pub async fn take(hooks: &dyn Webhooks, request: Request<RequestBody>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let answer = if !hooks.stripe_enabled() {
        WebhookAnswer { status: 404, json: r#"{"code":"ENDPOINT_OFF","detail":"the Stripe endpoint is off"}"#.into() }
    } else {
        match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
            Err(_) => WebhookAnswer {
                status: 408,
                json: r#"{"code":"BODY_TIMEOUT","detail":"the body did not arrive within 10 s"}"#.into(),
            },
            Ok(Err(_)) => WebhookAnswer {
                status: 413,
                json: format!(
                    r#"{{"code":"PAYLOAD_TOO_LARGE","detail":"a webhook body is at most {MAX_BODY} bytes"}}"#
                ),
            },
            Ok(Ok(body)) => {
                let signature = parts.headers.get("stripe-signature").and_then(|v| v.to_str().ok());
                hooks.stripe(signature, body.to_bytes()).await
            }
        }
    };
    let body = Full::new(Bytes::from(answer.json)).map_err(|never| match never {}).boxed();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
