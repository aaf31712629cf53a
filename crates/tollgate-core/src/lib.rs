//! Tollgate's core: the domain (plans, tenants, subscriptions, keys, routes), the credit
//! ledger, the console commands, and the gateway's policy as a pure function.
//!
//! It knows nothing of HTTP frameworks or Tauri: adapters call [`command::visit_all`] or
//! [`command::dispatch_json`] and map [`ConsoleError`] to their own transport.

pub mod alerts;
pub mod audit;
pub mod charges;
pub mod cidr;
pub mod command;
pub mod console;
pub mod credits;
pub mod error;
pub mod event_filter;
pub mod events;
pub mod explain;
pub mod health;
pub mod import;
pub mod keys;
pub mod ledger;
pub mod list;
pub mod live;
pub mod metrics;
pub mod overview;
pub mod path;
pub mod payments;
pub mod pem;
pub mod plans;
pub mod policy;
pub mod rate;
pub mod request_log;
pub mod request_show;
pub mod routes;
pub mod settings;
pub mod settlement;
pub mod store;
pub mod subscriptions;
pub mod tenants;
pub mod traffic;
pub mod traffic_history;
pub mod validate;
pub mod verify;
pub mod webhooks;

pub use command::{Command, CommandVisitor, Ctx};
pub use console::Console;
pub use error::{ConsoleError, ErrorBody};
