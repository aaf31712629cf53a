//! Watches the node the console manages while the app runs, window open or not: this
//! app's own node, or the remote server in use (through its event stream, reopened after a
//! drop). Feeds core's alert rules, keeps the tray current (the denial count, or that
//! storage is failing), and shows the notifications they decide on.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tollgate::admin_client::AdminClient;
use tollgate_core::Console;
use tollgate_core::domain::gateway_event::GatewayEvent;
use tollgate_core::live::alerts::{AlertRules, Alerts};
use tollgate_core::live::events::Event;
use tollgate_core::store::health::StorageStatus;
use tollgate_core::store::settings::SettingsReport;

use crate::{Desktop, feed, ipc, tray};
/// How often the tray count and pending alerts are looked at.
const TICK: Duration = Duration::from_secs(1);

/// A notification's headline and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// What to tell the operator when the storage status changes from `was_failing` to `now`:
/// once when it starts failing, once when it recovers, nothing in between (a new error
/// text while it keeps failing is for the dashboard, not another notification).
pub fn storage_notice(was_failing: bool, now: &StorageStatus) -> Option<Notice> {
    match (was_failing, now.failing) {
        (false, true) => Some(Notice {
            title: "Tollgate: storage is failing".to_string(),
            body: format!(
                "The database refuses writes ({}). Console changes are refused; strict requests answer 503; batched charges are kept in memory and written when storage is back.",
                now.error.as_deref().unwrap_or("no error text")
            ),
        }),
        (true, false) => Some(Notice {
            title: "Tollgate: storage is back".to_string(),
            body: "The database accepts writes again; the charges held in memory are written to the ledger."
                .to_string(),
        }),
        _ => None,
    }
}

impl Default for Watcher {
    fn default() -> Self {
        Self::new()
    }
}

/// What the watcher learns from the node it watches.
#[derive(Debug)]
pub enum Seen {
    /// A gateway decision, as the hub shares it (an [`Event::Gateway`]; others are ignored).
    Gateway(Arc<Event>),
    Storage(StorageStatus),
    /// A remote server's alert thresholds (from its settings): when its stream opens, and
    /// whenever its settings change.
    Rules(AlertRules),
}

/// What the watcher decided so far: fed what it sees, asked on every tick what to show.
#[derive(Debug)]
pub struct Watcher {
    alerts: Alerts,
    failing: bool,
    /// What the tray shows: the denials of the last minute, and whether storage fails.
    shown: Option<(usize, bool)>,
}

impl Watcher {
    /// A watcher that has seen nothing, its spike alert armed.
    pub fn new() -> Self {
        Self { alerts: Alerts::new(), failing: false, shown: None }
    }

    /// Takes one thing seen; the notice to show at once when storage started or stopped failing.
    pub fn see(&mut self, seen: &Seen, rules: AlertRules) -> Option<Notice> {
        match seen {
            Seen::Gateway(event) => {
                if let Event::Gateway(decision) = &**event {
                    self.alerts.observe(decision, rules);
                }
                None
            }
            Seen::Storage(status) => {
                let notice = storage_notice(self.failing, status);
                self.failing = status.failing;
                notice
            }
            Seen::Rules(_) => None,
        }
    }

    /// What the tray should show at `now`, when that is not what it shows.
    pub fn tray(&mut self, now: DateTime<Utc>) -> Option<(usize, bool)> {
        let now = (self.alerts.denials_last_minute(now), self.failing);
        (self.shown != Some(now)).then(|| {
            self.shown = Some(now);
            now
        })
    }

    /// The alerts due at `now` (at most one a minute per kind).
    pub fn due(&mut self, now: DateTime<Utc>, rules: AlertRules) -> Vec<Notice> {
        self.alerts.due(now, rules).into_iter().map(|a| Notice { title: a.title, body: a.body }).collect()
    }
}

/// How many things seen may wait for the watcher; gateway events beyond are dropped (they
/// only feed counts), a storage change never is.
const QUEUE: usize = 1024;

/// Sends what this app's node shows into `tx` until the watcher goes away.
pub async fn local(console: Console, tx: mpsc::Sender<Seen>) {
    let mut events = console.hub().subscribe();
    // The health's own channel rather than the hub's storage events: it always holds the
    // latest status, so a watcher that fell behind on a burst of traffic cannot miss one.
    let mut storage = console.store().health().subscribe();
    // Storage may already fail when the app starts: that counts as starting to fail.
    storage.mark_changed();
    let mut storage_open = true;
    loop {
        tokio::select! {
            received = events.recv() => match received {
                Ok(event) => {
                    if matches!(&*event, Event::Gateway(_))
                        && let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Seen::Gateway(event))
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => tracing::debug!(missed, "the alert watcher fell behind"),
                Err(RecvError::Closed) => return,
            },
            changed = storage.changed(), if storage_open => {
                if changed.is_err() {
                    storage_open = false;
                    continue;
                }
                let status = storage.borrow_and_update().clone();
                if tx.send(Seen::Storage(status)).await.is_err() {
                    return;
                }
            },
        }
    }
}

/// Sends what the remote server behind `client` shows into `tx` until the watcher goes
/// away: its alert thresholds and storage status first, then its gateway decisions and
/// storage changes, reopening the stream after a drop (as the window's feed does).
pub async fn remote(client: Arc<AdminClient>, tx: mpsc::Sender<Seen>) {
    let mut retry = feed::FIRST_RETRY;
    loop {
        if let Ok(mut stream) = client.events("").await {
            retry = feed::FIRST_RETRY;
            if !send_rules(&client, &tx).await {
                return;
            }
            // Storage already failing when the stream opens counts as starting to fail.
            let status = client.call("storage.status", &json!({})).await.ok();
            if let Some(status) = status.and_then(|s| serde_json::from_value::<StorageStatus>(s).ok())
                && tx.send(Seen::Storage(status)).await.is_err()
            {
                return;
            }
            while let Some(Ok(message)) = stream.next().await {
                let Ok(kind) = serde_json::from_str::<Kind>(&message.data) else { continue };
                let seen = match kind.kind.as_str() {
                    "gateway" => serde_json::from_str::<GatewayEvent>(&message.data)
                        .ok()
                        .map(|decision| Seen::Gateway(Arc::new(Event::Gateway(decision)))),
                    "storage" => serde_json::from_str(&message.data).ok().map(Seen::Storage),
                    "console" if kind.target.as_deref() == Some("settings") => {
                        if !send_rules(&client, &tx).await {
                            return;
                        }
                        None
                    }
                    _ => None,
                };
                let sent = match seen {
                    Some(seen @ Seen::Gateway(_)) => {
                        !matches!(tx.try_send(seen), Err(mpsc::error::TrySendError::Closed(_)))
                    }
                    Some(seen) => tx.send(seen).await.is_ok(),
                    None => true,
                };
                if !sent {
                    return;
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(feed::MAX_RETRY);
    }
}

/// What a remote event is, read before the event itself.
#[derive(serde::Deserialize)]
struct Kind {
    #[serde(rename = "type")]
    kind: String,
    /// A console action's target (`settings` when the thresholds may have changed).
    target: Option<String>,
}

/// Reads the remote server's thresholds into `tx`; false once the watcher is gone.
async fn send_rules(client: &AdminClient, tx: &mpsc::Sender<Seen>) -> bool {
    match client.call("settings.get", &json!({})).await.map(serde_json::from_value::<SettingsReport>) {
        Ok(Ok(report)) => tx.send(Seen::Rules(AlertRules::from(&report.settings))).await.is_ok(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the remote server's settings are not what this app reads");
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the remote server's settings");
            true
        }
    }
}

/// Starts the watcher on the app's runtime. It follows the connection in use (looked at on
/// every tick): switching servers starts over (counts, storage state, thresholds) on the new one.
pub fn spawn<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        let mut source = Source::default();
        let mut rules = AlertRules::from(&*app.state::<Desktop>().settings());
        loop {
            tokio::select! {
                received = source.seen.recv(), if source.open => match received {
                    Some(Seen::Rules(remote)) => {
                        source.rules = Some(remote);
                        rules = remote;
                    }
                    Some(received) => {
                        if let Some(notice) = source.watcher.see(&received, rules) {
                            notify(&app, &notice);
                        }
                        if let (Seen::Storage(_), Some((count, failing))) = (&received, source.watcher.tray(Utc::now())) {
                            tray::show(&app, count, failing);
                        }
                    }
                    // The source ended (the app is stopping): the tick goes on alone.
                    None => source.open = false,
                },
                _ = tick.tick() => {
                    let desktop = app.state::<Desktop>();
                    source.follow(&desktop);
                    rules = source.rules.unwrap_or_else(|| AlertRules::from(&*desktop.settings()));
                    let now = Utc::now();
                    if let Some((count, failing)) = source.watcher.tray(now) {
                        tray::show(&app, count, failing);
                    }
                    for notice in source.watcher.due(now, rules) {
                        notify(&app, &notice);
                    }
                }
            }
        }
    });
}

/// The node being watched, and what the watcher made of it so far.
struct Source {
    /// The connection watched (`Some(None)`: this app's node); `None` before the first tick.
    watching: Option<Option<String>>,
    task: Option<tauri::async_runtime::JoinHandle<()>>,
    seen: mpsc::Receiver<Seen>,
    open: bool,
    watcher: Watcher,
    /// A remote server's thresholds; `None` for this app's node (its settings are read).
    rules: Option<AlertRules>,
}

impl Default for Source {
    fn default() -> Self {
        let (_, seen) = mpsc::channel(1);
        Self { watching: None, task: None, seen, open: false, watcher: Watcher::new(), rules: None }
    }
}

impl Source {
    /// Starts watching the connection in use, unless it is already the one watched.
    fn follow(&mut self, desktop: &Desktop) {
        let active = desktop.connections().list().active;
        if self.watching.as_ref() == Some(&active) {
            return;
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        let (tx, seen) = mpsc::channel(QUEUE);
        let task = match desktop.connections().active_client(ipc::actor) {
            Ok(None) => Some(tauri::async_runtime::spawn(local(desktop.console().clone(), tx))),
            Ok(Some(client)) => Some(tauri::async_runtime::spawn(remote(client, tx))),
            Err(e) => {
                tracing::warn!(error = %e.message, "cannot watch the server in use");
                None
            }
        };
        *self = Self { watching: Some(active), open: task.is_some(), task, seen, watcher: Watcher::new(), rules: None };
    }
}

fn notify<R: Runtime>(app: &AppHandle<R>, notice: &Notice) {
    tracing::info!(title = %notice.title, body = %notice.body, "notification");
    if let Err(e) = app.notification().builder().title(&notice.title).body(&notice.body).show() {
        // No notification daemon (a bare X server): the log line above is all there is.
        tracing::debug!(error = %e, "the notification could not be shown");
    }
}

#[cfg(test)]
mod tests {
    use tollgate_core::store::health::StorageStatus;

    use super::storage_notice;

    fn failing(error: &str) -> StorageStatus {
        StorageStatus { failing: true, since: Some(chrono::Utc::now()), error: Some(error.to_string()) }
    }

    #[test]
    fn storage_notifies_once_when_it_starts_failing_and_once_when_it_recovers() {
        let start =
            storage_notice(false, &failing("database or disk is full")).expect("a notice when it starts failing");
        assert_eq!(start.title, "Tollgate: storage is failing");
        assert!(start.body.contains("database or disk is full"), "{}", start.body);
        assert!(start.body.contains("strict requests answer 503"), "{}", start.body);
        assert!(start.body.contains("kept in memory"), "{}", start.body);

        // Still failing, even with other words from the database: no second notification.
        assert_eq!(storage_notice(true, &failing("disk I/O error")), None);

        let back = storage_notice(true, &StorageStatus::default()).expect("a notice when it recovers");
        assert_eq!(back.title, "Tollgate: storage is back");

        // Healthy and staying healthy: nothing.
        assert_eq!(storage_notice(false, &StorageStatus::default()), None);
    }
}
