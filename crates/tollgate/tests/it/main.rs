//! The admin API through its router, and the real `tollgate` binary as a process.

mod admin_api;
mod cli;
mod drift;
mod hang_up;
mod live_node;
mod process;
mod server;
