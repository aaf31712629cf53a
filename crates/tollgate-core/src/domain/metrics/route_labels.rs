//! Stable slot numbers for route labels, so a request reaches its route's counters by
//! index (resolved when the routes load, never per request).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Distinct route labels kept apart; the routes past them (over the life of the process,
/// deleted ones included) share [`OTHER_ROUTES`], so a scrape stays bounded.
pub const MAX_ROUTE_LABELS: usize = 1024;

/// A route's place among the counters; [`UNMATCHED`] by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RouteSlot(u16);

/// Requests no route matched (404, and those refused before routing: bad `Host` or path).
pub const UNMATCHED: RouteSlot = RouteSlot(0);
/// Routes beyond [`MAX_ROUTE_LABELS`].
pub const OTHER_ROUTES: RouteSlot = RouteSlot(1);

const FIXED: [&str; 2] = ["(none)", "(other)"];

impl RouteSlot {
    /// Its index in an array of [`MAX_ROUTE_LABELS`] slots.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Route prefixes by slot; a prefix keeps its slot for the life of the process (its
/// counters must not restart when the route table changes).
#[derive(Debug, Default)]
pub struct RouteLabels {
    held: Mutex<Held>,
}

#[derive(Debug, Default)]
struct Held {
    labels: Vec<Arc<str>>,
    slots: HashMap<Arc<str>, RouteSlot>,
}

impl RouteLabels {
    /// The slot of the route whose prefix is `prefix`, given one if it is new.
    pub fn slot(&self, prefix: &str) -> RouteSlot {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.labels.is_empty() {
            held.labels.extend(FIXED.iter().map(|l| Arc::from(*l)));
        }
        if let Some(slot) = held.slots.get(prefix) {
            return *slot;
        }
        if held.labels.len() >= MAX_ROUTE_LABELS {
            return OTHER_ROUTES;
        }
        let slot = RouteSlot(u16::try_from(held.labels.len()).expect("fewer than 65536 labels"));
        let label: Arc<str> = prefix.into();
        held.labels.push(label.clone());
        held.slots.insert(label, slot);
        slot
    }

    /// The label of every slot so far, by index (the fixed ones first).
    pub fn labels(&self) -> Vec<Arc<str>> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.labels.is_empty() { FIXED.iter().map(|l| Arc::from(*l)).collect() } else { held.labels.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_keeps_its_slot_and_the_table_stays_bounded() {
        let labels = RouteLabels::default();
        let v1 = labels.slot("/v1");
        assert_eq!(labels.slot("/v2").index(), v1.index() + 1, "a new prefix takes the next slot");
        assert_eq!(labels.slot("/v1"), v1, "a prefix seen before keeps its slot");
        assert_eq!(&*labels.labels()[v1.index()], "/v1");
        assert_eq!(&*labels.labels()[UNMATCHED.index()], "(none)");
        for i in 0..MAX_ROUTE_LABELS {
            labels.slot(&format!("/r{i}"));
        }
        assert_eq!(labels.slot("/one-too-many"), OTHER_ROUTES, "past the cap, routes share one slot");
        assert_eq!(labels.labels().len(), MAX_ROUTE_LABELS, "never more labels than slots");
    }
}
