//! One gateway decision as viewers, the traffic tables and webhooks see it.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// Made for every request: its names are shared with the live state (`Arc<str>`) and its
// method and code are constants for the standard ones, so making one allocates only its id
// and path.
/// One gateway decision, allowed or denied, as the live monitor shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GatewayEvent {
    pub at: DateTime<Utc>,
    pub request_id: String,
    /// Tenant slug, once the key is known.
    #[schema(value_type = Option<String>)]
    pub tenant: Option<Arc<str>>,
    #[schema(value_type = Option<String>)]
    pub key_prefix: Option<Arc<str>>,
    /// The matched route's path prefix.
    #[schema(value_type = Option<String>)]
    pub route: Option<Arc<str>>,
    #[schema(value_type = String)]
    pub method: Cow<'static, str>,
    #[schema(value_type = String)]
    pub path: Arc<str>,
    /// The status the client got.
    pub status: u16,
    /// The denial code (absent when the request was served).
    #[schema(value_type = Option<String>)]
    pub code: Option<Cow<'static, str>>,
    /// Credits charged (0 for denials and upstream failures).
    pub cost: i64,
    /// The tenant's spendable balance after this request.
    pub balance: Option<i64>,
    /// Time spent in the gateway and the upstream, in microseconds.
    pub latency_us: u64,
    /// The facts of a denial (balance, cost, plan, required feature, …), as the JSON
    /// object the client got (kept serialized: it is written out twice, never read).
    #[schema(value_type = Option<Object>)]
    pub facts: Option<Box<serde_json::value::RawValue>>,
    /// The node that answered, when several share one database and this event came from
    /// another one (absent for this node's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// A request method's name, without allocating for the standard ones.
pub fn method_name(method: &str) -> Cow<'static, str> {
    const STANDARD: [&str; 9] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"];
    match STANDARD.iter().find(|m| **m == method) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(method.to_owned()),
    }
}
