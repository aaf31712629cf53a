//! `GET /metrics`: everything a Prometheus scrape reads from a running node, in the text
//! exposition format. Served on the admin listener behind its token, and, when the
//! operator gives `--metrics-listen`, on that address without one (they bind it where
//! they choose).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tollgate_core::domain::metrics::{CONTENT_TYPE, Exposition, Kind};
use tollgate_core::live::Live;
use tollgate_core::live::relay::RelayCounts;
use tollgate_core::live::settlement::Settlement;
use tollgate_core::store::Store;
use tollgate_core::store::request_log::RequestLog;
use tollgate_core::store::settings::Durability;
use tollgate_core::store::traffic::TrafficLog;
use tollgate_gateway::metrics::GatewayMetrics;

/// The parts of a node a scrape reads; every read is of counters already kept.
pub struct NodeMetrics {
    pub live: Arc<Live>,
    pub gateway: Arc<GatewayMetrics>,
    pub settlement: Settlement,
    pub traffic: TrafficLog,
    pub request_log: RequestLog,
    pub store: Store,
    /// On a node sharing PostgreSQL: the events relayed to and from the other nodes.
    pub relay: Option<Arc<RelayCounts>>,
}

impl NodeMetrics {
    /// One scrape's text.
    pub fn render(&self) -> String {
        let mut out = Exposition::new();
        out.family("tollgate_build_info", Kind::Gauge, "The running build; always 1.");
        out.sample("tollgate_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1);
        let labels = self.live.route_labels();
        self.gateway.render(&labels, &mut out);
        out.family(
            "tollgate_settlement_commit_duration_seconds",
            Kind::Histogram,
            "Time the ledger writer's successful commits took: batched flushes and strict group commits.",
        );
        for (name, durability) in [("batched", Durability::Batched), ("strict", Durability::Strict)] {
            let h = self.settlement.commit_latency(durability);
            out.histogram("tollgate_settlement_commit_duration_seconds", &[("durability", name)], &h);
        }
        let traffic = self.traffic.stats();
        let requests = self.request_log.stats();
        out.family(
            "tollgate_denial_samples_dropped_total",
            Kind::Counter,
            "Whole denials (samples) not stored because their buffer was full (storage slow or failing); counts are never dropped.",
        );
        out.sample("tollgate_denial_samples_dropped_total", &[], traffic.samples_dropped);
        out.family(
            "tollgate_request_records_dropped_total",
            Kind::Counter,
            "Request log records not written because the log's buffer was full.",
        );
        out.sample("tollgate_request_records_dropped_total", &[], requests.dropped);
        if let Some(relay) = &self.relay {
            out.family(
                "tollgate_relayed_events_total",
                Kind::Counter,
                "Gateway events relayed between nodes for their viewers: sent to the others, dropped (beyond what a tick sends), received from them.",
            );
            for (outcome, count) in [("sent", &relay.sent), ("dropped", &relay.dropped), ("received", &relay.received)]
            {
                out.sample("tollgate_relayed_events_total", &[("outcome", outcome)], count.load(Ordering::Relaxed));
            }
        }
        out.family(
            "tollgate_denials_unattributed_total",
            Kind::Counter,
            "Denials counted without tenant and route (too many distinct kinds in a minute).",
        );
        out.sample("tollgate_denials_unattributed_total", &[], traffic.denials_unattributed);
        let (strict, strict_limit) = self.settlement.queue();
        let queues = [
            ("settlement", strict as u64, strict_limit as u64),
            ("denial_samples", traffic.samples_pending, traffic.sample_limit),
            ("request_log", requests.pending, requests.pending_limit),
        ];
        out.family(
            "tollgate_queue_depth",
            Kind::Gauge,
            "Items waiting in a bounded queue between the gateway and storage.",
        );
        for (queue, depth, _) in queues {
            out.sample("tollgate_queue_depth", &[("queue", queue)], depth);
        }
        out.family(
            "tollgate_queue_capacity",
            Kind::Gauge,
            "The most items a queue holds; past it they are dropped (or, for settlement, wait).",
        );
        for (queue, _, capacity) in queues {
            out.sample("tollgate_queue_capacity", &[("queue", queue)], capacity);
        }
        let (keys, tenants) = self.live.counts();
        out.family("tollgate_tenants", Kind::Gauge, "Tenants in the gateway's memory.");
        out.sample("tollgate_tenants", &[], tenants);
        out.family(
            "tollgate_api_keys",
            Kind::Gauge,
            "API keys in the gateway's memory (revoked and expired ones included).",
        );
        out.sample("tollgate_api_keys", &[], keys);
        out.family("tollgate_storage_failing", Kind::Gauge, "1 while the database refuses writes, else 0.");
        out.sample("tollgate_storage_failing", &[], u8::from(self.store.health().is_failing()));
        out.family(
            "tollgate_drift_total",
            Kind::Counter,
            "Differences between memory and the database the reconciler found and repaired (anything but 0 is a defect).",
        );
        out.sample("tollgate_drift_total", &[], self.live.drift());
        out.finish()
    }
}

/// The answer to `GET /metrics`.
pub async fn scrape(State(metrics): State<Arc<NodeMetrics>>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response()
}

/// The router of the separate metrics address: `/metrics` and nothing else, no token.
pub fn router(metrics: Arc<NodeMetrics>) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(metrics)
}
