//! The console: the store plus the event hub, i.e. everything a command needs to run.

use std::path::Path;

use crate::audit::AuditEntry;
use crate::events::{Event, Hub};
use crate::store::{OpenError, Store};

/// What every console command runs against; cheap to clone and share between adapters.
#[derive(Clone, Debug)]
pub struct Console {
    store: Store,
    hub: Hub,
}

impl Console {
    /// A console over an open store and a hub.
    pub fn new(store: Store, hub: Hub) -> Self {
        Self { store, hub }
    }

    /// Opens the database at `path` with a fresh hub.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        Ok(Self::new(Store::open(path).await?, Hub::default()))
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The event hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Announces a committed console action to every viewer.
    pub(crate) fn announce(&self, entry: AuditEntry) {
        self.hub.publish(Event::Console(entry));
    }
}
