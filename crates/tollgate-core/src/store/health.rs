//! Whether storage accepts writes: every write reports here, the gateway refuses `strict`
//! requests while it fails, and viewers (dashboard, tray, log) are told the moment it
//! changes. `storage.status` reads it.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa::ToSchema;

pub use crate::error::is_storage_failure;

/// Whether the database accepts writes, as the dashboard, the tray and the log show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StorageStatus {
    /// True from the first failed write until a write succeeds again.
    pub failing: bool,
    /// When the current failure began.
    pub since: Option<DateTime<Utc>>,
    /// The database's own words for the last failure (e.g. `database or disk is full`).
    pub error: Option<String>,
}

/// Tracks write failures; every write reports here, so the gateway can refuse `strict`
/// requests at once and viewers learn of a failure the moment it happens.
#[derive(Debug)]
pub struct Health {
    failing: AtomicBool,
    status: watch::Sender<StorageStatus>,
}

impl Default for Health {
    fn default() -> Self {
        Self { failing: AtomicBool::new(false), status: watch::channel(StorageStatus::default()).0 }
    }
}

impl Health {
    /// True while writes fail (cheap: one atomic load, checked per strict request).
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// The current status.
    pub fn status(&self) -> StorageStatus {
        self.status.borrow().clone()
    }

    /// Changes of status, for whoever announces them.
    pub fn subscribe(&self) -> watch::Receiver<StorageStatus> {
        self.status.subscribe()
    }

    pub(crate) fn failed(&self, e: &sqlx::Error) {
        let message = e.to_string();
        self.failing.store(true, Ordering::Release);
        self.status.send_if_modified(|s| {
            let first = !s.failing;
            if first {
                tracing::error!(error = %message, "STORAGE IS FAILING: the database refuses writes; console changes are refused, strict requests answer 503, batched charges wait in memory");
                s.failing = true;
                s.since = Some(Utc::now());
            }
            let changed = first || s.error.as_deref() != Some(message.as_str());
            s.error = Some(message);
            changed
        });
    }

    pub(crate) fn succeeded(&self) {
        if self.failing.swap(false, Ordering::AcqRel) {
            tracing::warn!("storage recovered: the database accepts writes again");
            self.status.send_replace(StorageStatus::default());
        }
    }
}

/// `storage.status`: whether the database accepts writes right now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct StorageShow {}
