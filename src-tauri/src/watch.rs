//! Watches the gateway while the app runs, window open or not: feeds core's alert rules,
//! keeps the tray's count current, and shows the notifications they decide on.

use std::time::Duration;

use chrono::Utc;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio::sync::broadcast::error::RecvError;
use tollgate_core::alerts::{Alert, AlertRules, Alerts};
use tollgate_core::events::Event;

use crate::{Desktop, tray};

/// How often the tray count and pending alerts are looked at.
const TICK: Duration = Duration::from_secs(1);

/// Starts the watcher on the app's runtime.
pub fn spawn<R: Runtime>(app: AppHandle<R>) {
    let desktop = app.state::<Desktop>();
    let mut events = desktop.console().hub().subscribe();
    let mut rules = AlertRules::from(&*desktop.settings());
    tauri::async_runtime::spawn(async move {
        let mut alerts = Alerts::new();
        let mut tick = tokio::time::interval(TICK);
        let mut shown = None;
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
                _ = tick.tick() => {
                    let now = Utc::now();
                    rules = AlertRules::from(&*app.state::<Desktop>().settings());
                    let count = alerts.denials_last_minute(now);
                    if shown != Some(count) {
                        tray::show_count(&app, count);
                        shown = Some(count);
                    }
                    for alert in alerts.due(now, rules) {
                        notify(&app, &alert);
                    }
                }
            }
        }
    });
}

fn notify<R: Runtime>(app: &AppHandle<R>, alert: &Alert) {
    tracing::info!(title = %alert.title, body = %alert.body, "notification");
    if let Err(e) = app.notification().builder().title(&alert.title).body(&alert.body).show() {
        // No notification daemon (a bare X server): the log line above is all there is.
        tracing::debug!(error = %e, "the notification could not be shown");
    }
}
