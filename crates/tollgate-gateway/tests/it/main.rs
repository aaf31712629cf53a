//! The gateway over real sockets: a real upstream on 127.0.0.1, the real listener, a real
//! SQLite file, console commands changing the live state between requests.

mod billing;
mod harness;
mod problems;
mod proxy;
mod streaming;
