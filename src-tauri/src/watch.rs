//! Watches the gateway and storage while the app runs, window open or not: feeds core's
//! alert rules, keeps the tray current (the denial count, or that storage is failing), and
//! shows the notifications they decide on.

use std::time::Duration;

use chrono::Utc;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;
use tollgate_core::live::alerts::{AlertRules, Alerts};
use tollgate_core::live::events::Event;
use tollgate_core::store::health::StorageStatus;

use crate::{Desktop, tray};

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

/// Starts the watcher on the app's runtime.
pub fn spawn<R: Runtime>(app: AppHandle<R>) {
    let desktop = app.state::<Desktop>();
    let mut events = desktop.console().hub().subscribe();
    // The health's own channel rather than the hub's storage events: it always holds the
    // latest status, so a watcher that fell behind on a burst of traffic cannot miss one.
    let mut storage = desktop.console().store().health().subscribe();
    let mut rules = AlertRules::from(&*desktop.settings());
    tauri::async_runtime::spawn(async move {
        let mut alerts = Alerts::new();
        let mut tick = tokio::time::interval(TICK);
        let mut shown = None;
        let mut failing = false;
        let mut storage_open = true;
        // Storage may already fail when the app starts: that counts as starting to fail.
        storage.mark_changed();
        loop {
            tokio::select! {
                received = events.recv() => match received {
                    Ok(event) => {
                        if let Event::Gateway(decision) = &*event {
                            alerts.observe(decision, rules);
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
                    if let Some(notice) = storage_notice(failing, &status) {
                        notify(&app, &notice);
                    }
                    failing = status.failing;
                    let count = alerts.denials_last_minute(Utc::now());
                    tray::show(&app, count, failing);
                    shown = Some((count, failing));
                },
                _ = tick.tick() => {
                    let now = Utc::now();
                    rules = AlertRules::from(&*app.state::<Desktop>().settings());
                    let count = alerts.denials_last_minute(now);
                    if shown != Some((count, failing)) {
                        tray::show(&app, count, failing);
                        shown = Some((count, failing));
                    }
                    for alert in alerts.due(now, rules) {
                        notify(&app, &Notice { title: alert.title, body: alert.body });
                    }
                }
            }
        }
    });
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
