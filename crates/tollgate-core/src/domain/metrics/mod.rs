//! Numbers for Prometheus: what a scrape reads, kept so that recording them on the
//! gateway's hot path costs a few relaxed atomic adds (no lock, no allocation, no text).
//!
//! - [`Histogram`]: fixed buckets of atomic counters, for latencies.
//! - [`RouteLabels`]: each route prefix gets a small, stable slot number when the routes
//!   load, so a request finds its route's counters by index; the label text exists only
//!   at scrape time.
//! - [`Exposition`]: writes the text exposition format (version 0.0.4).
//!
//! Nothing here knows HTTP: the node serves the text wherever the operator asked.

mod exposition;
mod histogram;
mod route_labels;

pub use exposition::{CONTENT_TYPE, Exposition, Kind};
pub use histogram::{Histogram, HistogramSnapshot, LATENCY_BOUNDS_US};
pub use route_labels::{MAX_ROUTE_LABELS, OTHER_ROUTES, RouteLabels, RouteSlot, UNMATCHED};
