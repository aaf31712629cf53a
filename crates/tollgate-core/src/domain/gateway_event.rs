//! One gateway decision as viewers, the traffic tables and webhooks see it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One gateway decision, allowed or denied, as the live monitor shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GatewayEvent {
    pub at: DateTime<Utc>,
    pub request_id: String,
    /// Tenant slug, once the key is known.
    pub tenant: Option<String>,
    pub key_prefix: Option<String>,
    /// The matched route's path prefix.
    pub route: Option<String>,
    pub method: String,
    pub path: String,
    /// The status the client got.
    pub status: u16,
    /// The denial code (absent when the request was served).
    pub code: Option<String>,
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
