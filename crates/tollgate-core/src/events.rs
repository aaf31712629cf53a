//! The in-process event hub: every console action (and, later, every gateway decision)
//! is published here once; the desktop window and the SSE stream subscribe.
//!
//! A `broadcast` channel never blocks the publisher: a subscriber that falls behind loses
//! the oldest events and is told how many (`RecvError::Lagged`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::audit::AuditEntry;
use crate::health::StorageStatus;

/// Something that happened, as viewers see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A console command changed something; the payload is its audit entry.
    Console(AuditEntry),
    /// The gateway answered a request.
    Gateway(GatewayEvent),
    /// Storage began or stopped failing: viewers show it loudly until it recovers.
    Storage(StorageStatus),
}

impl Event {
    /// `gateway`, `console` or `storage`: the SSE event name and the filter's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Gateway(_) => "gateway",
            Event::Console(_) => "console",
            Event::Storage(_) => "storage",
        }
    }
}

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
}

/// Fan-out of [`Event`]s; cheap to clone.
#[derive(Clone, Debug)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Hub {
    /// A hub that keeps up to `capacity` events for slow subscribers before they lag.
    pub fn new(capacity: usize) -> Self {
        Self { tx: broadcast::channel(capacity).0 }
    }

    /// Publishes without waiting; having no subscribers is fine.
    pub fn publish(&self, event: Event) {
        self.publish_shared(Arc::new(event));
    }

    /// Publishes an event that others (the traffic log) also hold, without copying it.
    pub fn publish_shared(&self, event: Arc<Event>) {
        let _ = self.tx.send(event);
    }

    /// Whether anyone is subscribed, so a publisher can skip building what nobody reads.
    pub fn is_watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// A new stream of events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(4096)
    }
}
