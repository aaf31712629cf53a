//! Tollgate's core: the domain (plans, tenants, subscriptions, keys, routes), the credit
//! ledger, the console commands, and the gateway's policy as a pure function.
//!
//! It knows nothing of HTTP frameworks or Tauri: adapters call [`console::command::visit_all`] or
//! [`console::command::dispatch_json`] and map [`ConsoleError`] to their own transport.

pub mod console;
pub mod domain;
pub mod error;
pub mod live;
pub mod store;

pub use console::Console;
pub use console::command::{Command, CommandVisitor, Ctx};
pub use error::{ConsoleError, ErrorBody};
