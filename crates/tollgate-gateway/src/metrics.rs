//! The gateway's counters for `/metrics`: requests per route, status and code, their
//! latency, and the credits charged per route.
//!
//! Recording is on the hot path (tens of thousands of requests a second per core), so it
//! is a few relaxed atomic adds: the route's counters are found by the slot the live
//! state resolved with the route ([`RouteSlot`]), the code by a short scan of a static
//! table; nothing is locked, allocated or formatted per request (each route's counters are
//! allocated once per thread, by its first request there). Each gateway thread counts in
//! its own set ([`PerThread`]: no counter's cache line moves between CPUs per request);
//! a scrape sums them. Label text is made only at scrape time.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tollgate_core::domain::metrics::{Exposition, Histogram, HistogramSnapshot, Kind, MAX_ROUTE_LABELS, RouteSlot};
use tollgate_core::domain::per_thread::PerThread;

/// Every code the gateway answers with, and its status (one status per code). The
/// policy's codes come first, in [`tollgate_core::domain::policy::DenialCode::ALL`] order; a test keeps the table whole.
const CODES: [(&str, u16); 28] = [
    ("MISSING_API_KEY", 401),
    ("INVALID_API_KEY", 401),
    ("API_KEY_REVOKED", 401),
    ("API_KEY_EXPIRED", 401),
    ("TENANT_BLOCKED", 403),
    ("IP_NOT_ALLOWED", 403),
    ("SCOPE_NOT_GRANTED", 403),
    ("ACCOUNT_SUSPENDED_NONPAYMENT", 402),
    ("SUBSCRIPTION_CANCELED", 402),
    ("SUBSCRIPTION_EXPIRED", 402),
    ("SUBSCRIPTION_PAST_DUE", 402),
    ("FEATURE_NOT_IN_PLAN", 402),
    ("RATE_LIMITED", 429),
    ("QUOTA_EXHAUSTED", 402),
    ("KEY_BUDGET_EXHAUSTED", 402),
    ("INSUFFICIENT_CREDITS", 402),
    ("ROUTE_NOT_FOUND", 404),
    ("UPSTREAM_UNAVAILABLE", 502),
    ("UPSTREAM_TIMEOUT", 504),
    ("STORAGE_UNAVAILABLE", 503),
    ("INVALID_HOST", 400),
    ("INVALID_PATH", 400),
    ("BAD_REQUEST_BODY", 400),
    ("MODEL_NOT_PRICED", 400),
    ("PAYMENT_FAILED", 402),
    ("PAYMENT_REQUIRED", 402),
    ("CLIENT_CLOSED_REQUEST", 499),
    // Never expected (the table test lists every code): counted rather than lost.
    ("OTHER", 500),
];

/// Statuses an upstream may answer with (`http` allows 100 to 999).
const STATUSES: usize = 900;

/// One route's counters.
struct RouteCounters {
    /// Answers from the upstream, by status (index = status - 100).
    served: [AtomicU64; STATUSES],
    /// Answers the gateway gave itself, by code (index into [`CODES`]).
    problems: [AtomicU64; CODES.len()],
    served_latency: Histogram,
    problem_latency: Histogram,
    credits: AtomicU64,
}

impl RouteCounters {
    fn new() -> Self {
        Self {
            served: [const { AtomicU64::new(0) }; STATUSES],
            problems: [const { AtomicU64::new(0) }; CODES.len()],
            served_latency: Histogram::new(),
            problem_latency: Histogram::new(),
            credits: AtomicU64::new(0),
        }
    }
}

/// The gateway's counters: per thread, one set per route slot.
pub struct GatewayMetrics {
    threads: PerThread<Box<[OnceLock<Box<RouteCounters>>]>>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self { threads: PerThread::new(|| (0..MAX_ROUTE_LABELS).map(|_| OnceLock::new()).collect()) }
    }
}

impl std::fmt::Debug for GatewayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayMetrics").finish_non_exhaustive()
    }
}

/// The index of `code` in [`CODES`].
fn code_index(code: &str) -> usize {
    CODES.iter().position(|(c, _)| *c == code).unwrap_or(CODES.len() - 1)
}

impl GatewayMetrics {
    fn route(&self, slot: RouteSlot) -> &RouteCounters {
        self.threads.mine()[slot.index()].get_or_init(|| Box::new(RouteCounters::new()))
    }

    /// Counts one answer: from the upstream (`code` none) with its status, or the
    /// gateway's own problem with its code.
    pub(crate) fn answered(&self, slot: RouteSlot, status: u16, code: Option<&str>, latency_us: u64) {
        let route = self.route(slot);
        match code {
            None => {
                let at = usize::from(status).clamp(100, 100 + STATUSES - 1) - 100;
                route.served[at].fetch_add(1, Ordering::Relaxed);
                route.served_latency.observe_us(latency_us);
            }
            Some(code) => {
                route.problems[code_index(code)].fetch_add(1, Ordering::Relaxed);
                route.problem_latency.observe_us(latency_us);
            }
        }
    }

    /// Counts credits charged for a request on the route in `slot`.
    pub(crate) fn charged(&self, slot: RouteSlot, credits: i64) {
        self.route(slot).credits.fetch_add(u64::try_from(credits).unwrap_or(0), Ordering::Relaxed);
    }

    /// Writes the gateway's families; `labels` names each slot (from the live state).
    pub fn render(&self, labels: &[std::sync::Arc<str>], out: &mut Exposition) {
        // Each slot's counters on every thread that has counted for it.
        let routes: Vec<(&str, Vec<&RouteCounters>)> = labels
            .iter()
            .enumerate()
            .map(|(at, label)| (&**label, self.threads.all().filter_map(|t| t.get(at)?.get().map(|c| &**c)).collect()))
            .filter(|(_, counters): &(&str, Vec<_>)| !counters.is_empty())
            .collect();
        let sum = |counters: &[&RouteCounters], count: &dyn Fn(&RouteCounters) -> &AtomicU64| -> u64 {
            counters.iter().map(|c| count(c).load(Ordering::Relaxed)).sum()
        };
        out.family(
            "tollgate_gateway_requests_total",
            Kind::Counter,
            "Requests answered, by route, status and code (the problem's code; empty when the upstream answered).",
        );
        for (route, c) in &routes {
            for at in 0..STATUSES {
                let n = sum(c, &|c| &c.served[at]);
                if n > 0 {
                    let status = (at + 100).to_string();
                    let labels = [("route", *route), ("status", status.as_str()), ("code", "")];
                    out.sample("tollgate_gateway_requests_total", &labels, n);
                }
            }
            for (at, (code, status)) in CODES.iter().enumerate() {
                let n = sum(c, &|c| &c.problems[at]);
                if n > 0 {
                    let status = status.to_string();
                    let labels = [("route", *route), ("status", status.as_str()), ("code", *code)];
                    out.sample("tollgate_gateway_requests_total", &labels, n);
                }
            }
        }
        out.family(
            "tollgate_gateway_request_duration_seconds",
            Kind::Histogram,
            "Time from a request's arrival to its answer's headers, by route and outcome (served by the upstream, or a problem).",
        );
        for (route, c) in &routes {
            let latency = |of: fn(&RouteCounters) -> &Histogram| {
                c.iter().fold(HistogramSnapshot::default(), |mut total, c| {
                    total.add(&of(c).snapshot());
                    total
                })
            };
            for (outcome, h) in
                [("served", latency(|c| &c.served_latency)), ("problem", latency(|c| &c.problem_latency))]
            {
                if h.count() > 0 {
                    out.histogram(
                        "tollgate_gateway_request_duration_seconds",
                        &[("route", route), ("outcome", outcome)],
                        &h,
                    );
                }
            }
        }
        out.family("tollgate_credits_charged_total", Kind::Counter, "Credits charged for served requests, by route.");
        for (route, c) in &routes {
            out.sample("tollgate_credits_charged_total", &[("route", route)], sum(c, &|c| &c.credits));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Reason;
    use tollgate_core::domain::metrics::UNMATCHED;
    use tollgate_core::domain::path::PathError;
    use tollgate_core::domain::policy::DenialCode;

    /// Fails to compile when a reason is added, so the table below gets it too.
    fn every_reason() -> Vec<Reason> {
        let listed = |r: Reason| match r {
            Reason::Denied(_)
            | Reason::RouteNotFound
            | Reason::UpstreamUnavailable
            | Reason::UpstreamTimeout
            | Reason::StorageUnavailable
            | Reason::InvalidHost
            | Reason::InvalidPath(_)
            | Reason::BadRequestBody
            | Reason::ModelNotPriced
            | Reason::PaymentFailed
            | Reason::PayPerCall
            | Reason::KeylessRateLimited => r,
        };
        let mut all: Vec<Reason> = DenialCode::ALL.into_iter().map(Reason::Denied).collect();
        all.extend([
            Reason::RouteNotFound,
            Reason::UpstreamUnavailable,
            Reason::UpstreamTimeout,
            Reason::StorageUnavailable,
            Reason::InvalidHost,
            Reason::InvalidPath(PathError::BadEscape),
            Reason::BadRequestBody,
            Reason::ModelNotPriced,
            Reason::PaymentFailed,
            Reason::PayPerCall,
            Reason::KeylessRateLimited,
        ]);
        all.into_iter().map(listed).collect()
    }

    #[test]
    fn every_code_has_its_own_entry_with_its_status() {
        for reason in every_reason() {
            let (code, status) = CODES[code_index(reason.code())];
            assert_eq!(code, reason.code(), "{reason:?} needs a line in CODES");
            assert_eq!(status, reason.status(), "{reason:?}: one status per code");
        }
        assert_eq!(CODES[code_index("CLIENT_CLOSED_REQUEST")].1, 499, "a client that left is 499");
    }

    #[test]
    fn counts_render_per_route_status_and_code_summed_over_threads() {
        let m = GatewayMetrics::default();
        let v1 = RouteSlot::default();
        m.answered(v1, 200, None, 10);
        m.answered(v1, 402, Some("INSUFFICIENT_CREDITS"), 5);
        m.charged(v1, 4);
        // Another gateway thread counts in its own set; the scrape adds them up.
        std::thread::scope(|s| {
            s.spawn(|| {
                m.answered(v1, 200, None, 20);
                m.charged(v1, 3);
            });
        });
        let mut out = Exposition::new();
        m.render(&["(none)".into()], &mut out);
        let text = out.finish();
        assert!(
            text.contains("tollgate_gateway_requests_total{route=\"(none)\",status=\"200\",code=\"\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "tollgate_gateway_requests_total{route=\"(none)\",status=\"402\",code=\"INSUFFICIENT_CREDITS\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("tollgate_gateway_request_duration_seconds_count{route=\"(none)\",outcome=\"served\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("tollgate_credits_charged_total{route=\"(none)\"} 7\n"), "{text}");
        assert!(
            text.contains(
                "tollgate_gateway_request_duration_seconds_sum{route=\"(none)\",outcome=\"served\"} 0.00003\n"
            ),
            "{text}"
        );
        assert_eq!(v1, UNMATCHED);
    }
}
