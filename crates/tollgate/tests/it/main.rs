//! The admin API through its router, and the real `tollgate` binary as a process.

mod admin_api;
mod cli;
mod private_data;
mod process;
mod server;
