//! The headless Tollgate: the admin HTTP API, `serve`, and the generated command line.
//! `main.rs` only parses arguments and calls into here, so tests drive the same code.

pub mod admin;
pub mod admin_client;
pub mod admin_tls;
pub mod cli;
pub mod cluster;
pub mod dashboard_url;
pub mod data_dir;
pub mod demo;
pub mod echo;
pub mod echo_completions;
pub mod huge_pages;
pub mod metrics;
pub mod node;
pub mod os_user;
pub mod out;
pub mod payment_hooks;
pub mod remote;
pub mod render;
pub mod serve;
pub mod tail;
pub mod webhook_sender;
