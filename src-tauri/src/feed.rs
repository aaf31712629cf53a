//! The live feed to the webview: hub events in batches over one IPC channel. A batch per
//! short tick instead of a message per event keeps the webview's work flat at a thousand
//! denials a second; a viewer that falls behind is told how many it missed and goes on.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tollgate_core::event_filter::EventMatcher;
use tollgate_core::events::Event;

/// How long events gather before a batch leaves: far under the monitor's one-second
/// promise, long enough to coalesce bursts.
pub const TICK: Duration = Duration::from_millis(40);

/// The most events in one batch, so one message stays small.
pub const MAX_BATCH: usize = 1000;

/// One message on the channel.
#[derive(Debug, Default, Serialize)]
pub struct Batch {
    /// Matching events, oldest first.
    pub events: Vec<Arc<Event>>,
    /// Events this viewer lost since the last batch because it fell behind.
    pub missed: u64,
}

/// Forwards matching events to `send` until it returns false (the webview went away),
/// the hub closes, or the task is aborted.
pub async fn forward(mut events: broadcast::Receiver<Arc<Event>>, matcher: EventMatcher, send: impl Fn(Batch) -> bool) {
    loop {
        let mut batch = Batch::default();
        match events.recv().await {
            Ok(event) => {
                if matcher.matches(&event) {
                    batch.events.push(event);
                }
            }
            Err(RecvError::Lagged(n)) => batch.missed += n,
            Err(RecvError::Closed) => return,
        }
        tokio::time::sleep(TICK).await;
        while batch.events.len() < MAX_BATCH {
            match events.try_recv() {
                Ok(event) if matcher.matches(&event) => batch.events.push(event),
                Ok(_) => {}
                Err(TryRecvError::Lagged(n)) => batch.missed += n,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => {
                    send(batch);
                    return;
                }
            }
        }
        if (!batch.events.is_empty() || batch.missed > 0) && !send(batch) {
            return;
        }
    }
}
