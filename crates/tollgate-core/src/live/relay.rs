//! One monitor for every node: a node on a shared PostgreSQL relays its own gateway
//! decisions to the others (batched, at most a few notifications a tick; what does not fit
//! is dropped and counted, as a viewer may lose events and a ledger never does), and
//! hands theirs, marked with their node, to its own viewers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::watch;

use crate::domain::gateway_event::GatewayEvent;
use crate::live::events::{Event, Hub};
use crate::store::Store;
use crate::store::node_events::{self, NodeEvents, PAYLOAD_MAX};

/// How often a node sends what it decided.
const TICK: Duration = Duration::from_millis(100);
/// Notifications a node sends per tick at most (about 20 events each).
const BATCHES_PER_TICK: usize = 5;

/// Events relayed and dropped, for the node's metrics and logs.
#[derive(Debug, Default)]
pub struct RelayCounts {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub received: AtomicU64,
}

#[derive(Deserialize)]
struct Batch {
    node: String,
    events: Vec<GatewayEvent>,
}

/// Packs `events` into payloads of at most [`PAYLOAD_MAX`] bytes, at most
/// [`BATCHES_PER_TICK`] of them; returns them and how many events did not fit. Events are
/// serialized only while there is room: under a flood most are dropped unread.
pub fn pack<E: serde::Serialize>(node: &str, events: &[E]) -> (Vec<String>, usize) {
    let head = format!("{{\"node\":{},\"events\":[", serde_json::Value::from(node));
    let mut payloads = Vec::new();
    let mut current = head.clone();
    let mut in_current = 0;
    let mut packed = 0;
    for event in events {
        let Ok(event) = serde_json::to_string(event) else { continue };
        if head.len() + event.len() + 2 > PAYLOAD_MAX {
            continue; // one event larger than a notification: dropped
        }
        if current.len() + event.len() + 2 > PAYLOAD_MAX {
            current.push_str("]}");
            payloads.push(std::mem::replace(&mut current, head.clone()));
            in_current = 0;
            if payloads.len() == BATCHES_PER_TICK {
                break;
            }
        }
        if in_current > 0 {
            current.push(',');
        }
        current.push_str(&event);
        in_current += 1;
        packed += 1;
    }
    // Reaching the last payload ends the loop with `current` empty, so what is left fits.
    if in_current > 0 {
        current.push_str("]}");
        payloads.push(current);
    }
    (payloads, events.len() - packed)
}

/// A node's relay: its viewers' hub, the shared database, its name, its counts.
#[derive(Debug, Clone)]
pub struct Relay {
    pub hub: Hub,
    pub store: Store,
    pub node: String,
    pub counts: Arc<RelayCounts>,
}

impl Relay {
    /// Sends this node's gateway decisions to the others every [`TICK`] until `stopped`.
    pub async fn send_own(self, mut stopped: watch::Receiver<bool>) {
        let Self { hub, store, node, counts } = self;
        let Some(pool) = store.postgres().cloned() else { return };
        let mut rx = hub.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            let mut own = Vec::new();
            loop {
                match rx.try_recv() {
                    Ok(event) => {
                        if let Event::Gateway(g) = &*event
                            && g.node.is_none()
                        {
                            own.push(event);
                        }
                    }
                    Err(TryRecvError::Lagged(missed)) => {
                        counts.dropped.fetch_add(missed, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
            let gateway = own.iter().filter_map(|e| match &**e {
                Event::Gateway(g) => Some(g),
                _ => None,
            });
            let own: Vec<&GatewayEvent> = gateway.collect();
            let (payloads, dropped) = pack(&node, &own);
            counts.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
            for payload in payloads {
                if let Err(e) = node_events::send(&pool, &payload).await {
                    tracing::debug!(error = %e, "cannot relay gateway events to the other nodes");
                    break;
                }
            }
            counts.sent.fetch_add((own.len() - dropped) as u64, Ordering::Relaxed);
        }
    }

    /// Hands the other nodes' gateway decisions to this node's viewers until `stopped`.
    pub async fn receive_others(self, mut stopped: watch::Receiver<bool>) {
        let Self { hub, store, node, counts } = self;
        let Some(pool) = store.postgres().cloned() else { return };
        let mut listener = loop {
            match NodeEvents::listen(&pool).await {
                Ok(listener) => break listener,
                Err(e) => tracing::warn!(error = %e, "cannot listen for the other nodes' events; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        };
        loop {
            let payload = tokio::select! {
                payload = listener.next() => payload,
                _ = stopped.wait_for(|s| *s) => return,
            };
            let Ok(payload) = payload else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let Ok(batch) = serde_json::from_str::<Batch>(&payload) else { continue };
            if batch.node == node {
                continue;
            }
            for mut event in batch.events {
                event.node = Some(batch.node.clone());
                counts.received.fetch_add(1, Ordering::Relaxed);
                hub.publish(Event::Gateway(event));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_under_a_notification_and_what_does_not_fit_is_counted() {
        let event = format!("{{\"x\":\"{}\"}}", "a".repeat(390));
        let events = vec![event; 400];
        let (payloads, dropped) = pack("n1", &events);
        assert_eq!(payloads.len(), BATCHES_PER_TICK, "at most a few notifications a tick");
        assert!(payloads.iter().all(|p| p.len() <= PAYLOAD_MAX), "each under PostgreSQL's limit");
        let sent: usize = payloads
            .iter()
            .map(|p| serde_json::from_str::<serde_json::Value>(p).unwrap()["events"].as_array().unwrap().len())
            .sum();
        assert_eq!(sent + dropped, 400, "every event is sent or counted as dropped");
        let (few, none) = pack("n1", &events[..3]);
        assert_eq!((few.len(), none), (1, 0));
    }
}
