//! The live feed to the webview: hub events in batches over one IPC channel. A batch per
//! short tick instead of a message per event keeps the webview's work flat at a thousand
//! denials a second; a viewer that falls behind is told how many it missed and goes on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use tollgate::admin_client::AdminClient;

use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tollgate_core::live::event_filter::EventMatcher;
use tollgate_core::live::events::Event;

/// How long events gather before a batch leaves: far under the monitor's one-second
/// promise, long enough to coalesce bursts.
pub const TICK: Duration = Duration::from_millis(40);

/// The most events in one batch, so one message stays small.
pub const MAX_BATCH: usize = 1000;

/// One message on the channel.
#[derive(Debug, Default, Serialize)]
pub struct Batch {
    /// Matching events, oldest first.
    pub events: Vec<FeedEvent>,
    /// Events this viewer lost since the last batch because it fell behind.
    pub missed: u64,
    /// A remote server's stream is open again (`true`) or broke and is being reopened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// A remote server's stream was down: when, and why. Events of that time never came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<Gap>,
}

/// An event of this app's node, or a remote server's as it sent it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FeedEvent {
    Local(Arc<Event>),
    Remote(Box<RawValue>),
}

/// Time a remote feed was down.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub offline_ms: u64,
    /// Why it broke, e.g. "cannot reach the admin API at …: connection refused".
    pub reason: String,
}

/// First wait before reopening a remote stream; doubles up to [`MAX_RETRY`].
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(250);
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(5);

/// Forwards a remote server's events (`query`: the filter as URL parameters) to `send`,
/// reopening the stream by itself after a drop, and saying for how long it was down.
pub async fn forward_remote(client: Arc<AdminClient>, query: String, send: impl Fn(Batch) -> bool) {
    let mut down: Option<(Instant, DateTime<Utc>, String)> = None;
    let mut retry = FIRST_RETRY;
    loop {
        let reason = match client.events(&query).await {
            Ok(mut stream) => {
                retry = FIRST_RETRY;
                let gap = down.take().map(|(since, from, reason)| Gap {
                    from,
                    to: Utc::now(),
                    offline_ms: u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                    reason,
                });
                if !send(Batch { connected: Some(true), gap, ..Batch::default() }) {
                    return;
                }
                loop {
                    match stream.next().await {
                        Some(Ok(message)) => {
                            let mut batch = Batch::default();
                            if message.event == "dropped" {
                                let missed: serde_json::Value = serde_json::from_str(&message.data).unwrap_or_default();
                                batch.missed = missed["missed"].as_u64().unwrap_or(0);
                            } else if let Ok(raw) = RawValue::from_string(message.data) {
                                batch.events.push(FeedEvent::Remote(raw));
                            }
                            if !send(batch) {
                                return;
                            }
                        }
                        Some(Err(e)) => break format!("the stream broke: {e}"),
                        None => break "the server closed the stream".to_string(),
                    }
                }
            }
            Err(e) => e.to_string(),
        };
        if down.is_none() {
            down = Some((Instant::now(), Utc::now(), reason));
            if !send(Batch { connected: Some(false), ..Batch::default() }) {
                return;
            }
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(MAX_RETRY);
    }
}

/// Forwards matching events to `send` until it returns false (the webview went away),
/// the hub closes, or the task is aborted.
pub async fn forward(mut events: broadcast::Receiver<Arc<Event>>, matcher: EventMatcher, send: impl Fn(Batch) -> bool) {
    loop {
        let mut batch = Batch::default();
        match events.recv().await {
            Ok(event) => {
                if matcher.matches(&event) {
                    batch.events.push(FeedEvent::Local(event));
                }
            }
            Err(RecvError::Lagged(n)) => batch.missed += n,
            Err(RecvError::Closed) => return,
        }
        tokio::time::sleep(TICK).await;
        while batch.events.len() < MAX_BATCH {
            match events.try_recv() {
                Ok(event) if matcher.matches(&event) => batch.events.push(FeedEvent::Local(event)),
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
