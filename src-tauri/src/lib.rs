//! Tollgate's desktop shell: the dashboard in a window, the gateway and the admin API in
//! the same process, a tray that keeps counting denials while the window is closed, and
//! native notifications when a tenant runs low or denials spike.
//!
//! Everything here is an edge: console commands go to core through one generic IPC
//! command ([`ipc::console`]), the live feed through a `tauri::ipc::Channel`
//! ([`feed`]), and the alert rules are core's ([`tollgate_core::live::alerts`]).

pub mod args;
pub mod connections;
pub mod feed;
pub mod instance;
pub mod ipc;
pub mod shell;
pub mod state;
pub mod tray;
pub mod watch;

pub use shell::{run, with_commands};
pub use state::Desktop;
