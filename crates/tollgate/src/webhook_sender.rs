//! The worker behind webhooks out (`tollgate_core::store::webhooks`): every half second it turns
//! new console changes (from the audit log) and, only while an endpoint wants them, the
//! gateway's decisions (balances, denial spikes) into deliveries, then sends what is due,
//! signed, and records each attempt. It runs beside the gateway and never in its way: the
//! gateway's events reach it through the hub, which drops rather than waits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollgate_core::Console;
use tollgate_core::live::Live;
use tollgate_core::live::alerts::AlertRules;
use tollgate_core::live::events::{Event, Hub};
use tollgate_core::live::webhook_watch::GatewayWatch;
use tollgate_core::store::webhooks::{self, Backoff, Due, GATEWAY_TYPES};
use tollgate_gateway::outbound::Outbound;

const TICK: Duration = Duration::from_millis(500);
/// A receiver gets this long to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries sent per tick, at most.
const BATCH: i64 = 16;

/// The backoff: [`Backoff::standard`], or every retry after `TOLLGATE_WEBHOOK_RETRY_MS`
/// milliseconds (for tests, which cannot wait five seconds and more).
fn backoff() -> Backoff {
    let standard = Backoff::standard();
    match std::env::var("TOLLGATE_WEBHOOK_RETRY_MS").ok().and_then(|ms| ms.parse::<i64>().ok()) {
        Some(ms) => Backoff(vec![TimeDelta::milliseconds(ms); standard.0.len()]),
        None => standard,
    }
}

/// Starts the worker; it ends when `stopped` turns true.
pub fn spawn(console: Console, hub: Hub, live: Arc<Live>, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (outbound, backoff) = (Arc::new(Outbound::new()), backoff());
        let mut watch = GatewayWatch::new();
        let mut gateway = None;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            if let Err(e) = round(&console, &hub, &live, &outbound, &backoff, &mut watch, &mut gateway).await {
                tracing::warn!(error = %e, "webhooks: a round failed; the next one tries again");
            }
        }
    })
}

type Gateway = Option<tokio::sync::broadcast::Receiver<Arc<Event>>>;

async fn round(
    console: &Console,
    hub: &Hub,
    live: &Live,
    outbound: &Arc<Outbound>,
    backoff: &Backoff,
    watch: &mut GatewayWatch,
    gateway: &mut Gateway,
) -> anyhow::Result<()> {
    let store = console.store();
    let wanted = webhooks::wanted(&mut store.reader().await?).await?;
    if wanted.is_empty() {
        *gateway = None;
        return Ok(());
    }
    let now = Utc::now();
    let mut tx = store.begin().await?;
    webhooks::collect_changes(&mut tx, now).await?;
    // The gateway's decisions only while someone wants them: subscribing makes the gateway
    // publish every request.
    let wants_gateway = wanted.iter().any(|t| GATEWAY_TYPES.contains(&t.as_str()));
    match (wants_gateway, gateway.is_some()) {
        (true, false) => *gateway = Some(hub.subscribe()),
        (false, true) => *gateway = None,
        _ => {}
    }
    if let Some(rx) = gateway {
        let rules = AlertRules::from(&*live.settings());
        let mut events = Vec::new();
        loop {
            match rx.try_recv() {
                Ok(event) => {
                    // Another node's decisions (relayed for viewers) are its own to watch.
                    if let Event::Gateway(g) = &*event
                        && g.node.is_none()
                    {
                        events.extend(watch.observe(g, rules));
                    }
                }
                Err(TryRecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "webhooks: gateway events missed (the hub ran ahead); balance events may be late"
                    );
                }
                Err(_) => break,
            }
        }
        events.extend(watch.due(now, rules));
        for (kind, data) in events {
            webhooks::enqueue(&mut tx, kind, data, now).await?;
        }
    }
    tx.commit().await?;
    let due = webhooks::due(&mut store.reader().await?, now, BATCH).await?;
    let sent = due.into_iter().map(|d| {
        let outbound = outbound.clone();
        async move {
            let started = Instant::now();
            let answer = deliver(&outbound, &d).await;
            (d, answer, started.elapsed())
        }
    });
    for (d, answer, took) in futures_util::future::join_all(sent).await {
        let (status, error) = match answer {
            Ok(status) if (200..300).contains(&status) => (Some(status), None),
            Ok(status) => (Some(status), Some(format!("the endpoint answered {status}"))),
            Err(e) => (None, Some(e)),
        };
        let mut tx = store.begin().await?;
        let ms = i64::try_from(took.as_millis()).unwrap_or(i64::MAX);
        let outcome = webhooks::record(&mut tx, &d.delivery, Utc::now(), status, error.as_deref(), ms, backoff).await?;
        tx.commit().await?;
        if outcome == webhooks::DeliveryStatus::Failed {
            tracing::warn!(url = d.url, event = d.delivery.event_type, "webhook delivery failed after every retry");
        }
    }
    Ok(())
}

/// One signed POST (Standard Webhooks headers).
async fn deliver(outbound: &Outbound, d: &Due) -> Result<u16, String> {
    let timestamp = Utc::now().timestamp();
    let body = d.delivery.payload.to_string();
    let signature = webhooks::sign(&d.secret, &d.delivery.message_id, timestamp, &body);
    let headers = [
        ("webhook-id", d.delivery.message_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    outbound.post(&d.url, &headers, body, TIMEOUT).await
}
