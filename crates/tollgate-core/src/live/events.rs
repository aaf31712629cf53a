//! The in-process event hub: every console action (and, later, every gateway decision)
//! is published here once; the desktop window and the SSE stream subscribe.
//!
//! A `broadcast` channel never blocks the publisher: a subscriber that falls behind loses
//! the oldest events and is told how many (`RecvError::Lagged`).

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

pub use crate::domain::gateway_event::GatewayEvent;
use crate::store::audit::AuditEntry;
use crate::store::health::StorageStatus;

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
