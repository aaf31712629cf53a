//! The console: the store plus the event hub, i.e. everything a command needs to run.

pub mod audit;
pub mod charges;
pub mod cluster;
pub mod command;
pub mod commit;
pub mod credits;
pub mod explain;
pub mod health;
pub mod import;
pub mod keys;
pub mod ledger;
pub mod overview;
pub mod payments;
pub mod plans;
pub mod request_show;
pub mod routes;
pub mod settings;
mod stripe;
pub mod subscriptions;
pub mod tenants;
pub mod traffic;
pub mod traffic_history;
pub mod verify;
pub mod webhooks;

use std::path::Path;
use std::sync::Arc;

use crate::live::Live;
use crate::live::events::{Event, Hub};
use crate::store::audit::AuditEntry;
use crate::store::ledger::Balances;
use crate::store::request_log::RequestLog;
use crate::store::settings::Listening;
use crate::store::traffic::TrafficLog;
use crate::store::{OpenError, Store, Write};

/// What every console command runs against; cheap to clone and share between adapters.
#[derive(Clone, Debug)]
pub struct Console {
    store: Store,
    hub: Hub,
    live: Option<Arc<Live>>,
    traffic: Option<TrafficLog>,
    request_log: Option<RequestLog>,
    listening: Option<Listening>,
}

impl Console {
    /// A console over an open store and a hub.
    pub fn new(store: Store, hub: Hub) -> Self {
        Self { store, hub, live: None, traffic: None, request_log: None, listening: None }
    }

    /// Opens the database at `path` with a fresh hub.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        Ok(Self::new(Store::open(path).await?, Hub::default()))
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The same console, keeping `live` (the gateway's state) in step with every command.
    pub fn with_live(mut self, live: Arc<Live>) -> Self {
        self.live = Some(live);
        self
    }

    /// The gateway's live state, when a gateway runs in this process.
    pub fn live(&self) -> Option<&Arc<Live>> {
        self.live.as_ref()
    }

    /// The gateway's balances, for a ledger posting to move with it.
    pub(crate) fn balances(&self) -> Option<Arc<dyn Balances>> {
        self.live.clone().map(|live| live as Arc<dyn Balances>)
    }

    /// The same console, reporting what `traffic` (the gateway's traffic log) kept and dropped,
    /// and counting what it holds unwritten in `traffic.history`.
    pub fn with_traffic(mut self, traffic: TrafficLog) -> Self {
        self.traffic = Some(traffic);
        self
    }

    /// The same console, answering `request.show` from `log`.
    pub fn with_request_log(mut self, log: RequestLog) -> Self {
        self.request_log = Some(log);
        self
    }

    /// The same console, reporting that this process listens where `listening` says.
    pub fn with_listening(mut self, listening: Listening) -> Self {
        self.listening = Some(listening);
        self
    }

    /// Where this process listens, when it serves.
    pub fn listening(&self) -> Option<&Listening> {
        self.listening.as_ref()
    }

    /// The traffic log, when a gateway runs in this process.
    pub fn traffic(&self) -> Option<&TrafficLog> {
        self.traffic.as_ref()
    }

    /// The request log, when one was given.
    pub fn request_log(&self) -> Option<&RequestLog> {
        self.request_log.as_ref()
    }

    /// Starts a console write transaction.
    pub(crate) async fn begin(&self) -> Result<Write, sqlx::Error> {
        self.store.write().await
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
