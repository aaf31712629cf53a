//! The domain: types and rules with no I/O: addresses, paths, money limits, rate limits,
//! the gateway's policy as a pure function, input validation.

pub mod budget;
pub mod cidr;
pub mod ctx;
pub mod gateway_event;
pub mod list;
pub mod metering;
pub mod metrics;
pub mod path;
pub mod payment_auth;
pub mod payment_terms;
pub mod pem;
pub mod per_thread;
pub mod policy;
pub mod rate;
pub mod standing;
pub mod usage_scan;
pub mod validate;
pub mod x402;
