//! The gateway over real sockets: a real upstream on 127.0.0.1, the real listener, a real
//! SQLite file, console commands changing the live state between requests.

mod billing;
mod budgets;
mod cores;
mod explain;
mod harness;
mod hostile;
mod http1;
mod ip_rules;
mod lifecycle;
mod meaning;
mod metered;
mod pool;
mod problems;
mod proxy;
#[path = "../../../tollgate-core/tests/it/small_disk.rs"]
mod small_disk;
mod standing;
mod streaming;
mod tls_server;
mod tls_upstream;
mod traffic;
