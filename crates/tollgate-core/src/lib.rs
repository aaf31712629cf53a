//! Tollgate's core: the domain (plans, tenants, subscriptions, keys, routes), the credit
//! ledger, the console commands, and the gateway's policy as a pure function.
//!
//! It knows nothing of HTTP frameworks or Tauri: adapters call [`console::command::visit_all`]
//! or [`console::command::dispatch_json`] and map [`ConsoleError`] to their own transport.
//!
//! Four layers, each importing only those below it (`tests/it/layers.rs` fails on an
//! import running back up, on SQL outside the store, and on I/O in the domain):
//!
//! - [`console`]: the commands, declared once; each validates, works through the store,
//!   commits, and brings the gateway's memory in step.
//! - [`live`]: the gateway's memory: admission and reservations, settlement, the event hub.
//! - [`store`]: the database: every SQL statement, the ledger (the only code that moves
//!   credits), migrations. It tells the memory above it what moved through a trait
//!   ([`store::ledger::Balances`]), never by naming it.
//! - [`domain`]: types and rules with no I/O: the policy, rate limits, validation.
//!
//! Below them all, [`error`]: the one error type every layer returns.

pub mod console;
pub mod domain;
pub mod error;
pub mod live;
pub mod store;

pub use console::Console;
pub use console::command::{Command, CommandVisitor, Ctx};
pub use error::{ConsoleError, ErrorBody};
