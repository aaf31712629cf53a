//! The gateway: for each request, find the route, authenticate the key, apply the
//! policy to the live state (reserving the cost), forward to the upstream, and settle
//! (charge when the upstream answers below 500, release otherwise). Every decision is
//! published on the event hub.

mod forward;
mod messages;
mod problem;
mod request_id;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use http::header::HeaderValue;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tollgate_core::events::{Event, GatewayEvent, Hub};
use tollgate_core::live::{Admitted, Live};
use tollgate_core::policy::{DenialFacts, Outcome};
use tollgate_core::settings::Durability;
use tollgate_core::settlement::{Debit, Settlement};
use tollgate_core::traffic::TrafficLog;

pub use forward::API_KEY_HEADER;
pub use messages::{Lang, Reason};

use crate::forward::{Caller, client_response, presented_key, upstream_request, upstream_url};
use crate::problem::{Audience, Problem};

/// The response body type: problems are in memory, upstream bodies stream.
pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Everything a request needs; share it as `Arc<Gateway>`.
pub struct Gateway {
    live: Arc<Live>,
    settlement: Settlement,
    hub: Hub,
    traffic: TrafficLog,
    client: Client<HttpConnector, Incoming>,
}

impl Gateway {
    /// A gateway deciding from `live`, charging through `settlement`, reporting each
    /// decision to `hub` (live viewers) and `traffic` (the stored log).
    pub fn new(live: Arc<Live>, settlement: Settlement, hub: Hub, traffic: TrafficLog) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build(connector);
        Self { live, settlement, hub, traffic, client }
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let now = Utc::now();
        let request_id = request_id::next();
        let audience = Audience::of(request.headers());
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let mut event = GatewayEvent {
            at: now,
            request_id: request_id.clone(),
            tenant: None,
            key_prefix: None,
            route: None,
            method: method.clone(),
            path: path.clone(),
            status: 0,
            code: None,
            cost: 0,
            balance: None,
            latency_us: 0,
            facts: None,
        };
        let settings = self.live.settings();
        // Seconds to wait, for the 429 headers; 0 when the answer is not a rate limit.
        let retry_after = AtomicU64::new(0);
        let problem = |reason, facts: DenialFacts, who: Option<&Admitted>, event: &mut GatewayEvent| {
            let facts_json = serde_json::to_string(&facts).unwrap_or_else(|_| "{}".into());
            let p = Problem {
                reason,
                facts,
                facts_json: &facts_json,
                request_id: &request_id,
                instance: &path,
                who,
                settings: &settings,
            };
            let response = p.response(audience);
            event.code = Some(reason.code().to_string());
            retry_after.store(p.facts.retry_after.unwrap_or(0), Ordering::Relaxed);
            if facts_json != "{}" {
                event.facts = RawValue::from_string(facts_json).ok();
            }
            response
        };
        let mut rate = None;
        let mut response = match self.live.route(&method, &path) {
            None => problem(Reason::RouteNotFound, DenialFacts::default(), None, &mut event),
            Some(route) => {
                event.route = Some(route.path_prefix.clone());
                let admission = self.live.admit(presented_key(request.headers()), &route, now);
                if let Some(who) = &admission.who {
                    rate = who.rate;
                    event.tenant = Some(who.tenant.clone());
                    event.key_prefix = Some(who.key_prefix.clone());
                    event.balance = Some(who.balance);
                }
                match admission.outcome {
                    Outcome::Deny(denial) => {
                        problem(Reason::Denied(denial.code), denial.facts, admission.who.as_ref(), &mut event)
                    }
                    Outcome::Allow { cost } => {
                        let who = admission.who.expect("an allowed request has a tenant");
                        let url = upstream_url(
                            &route.upstream_url,
                            request.uri().path_and_query().map_or("/", |p| p.as_str()),
                        );
                        match self.forward(request, &url, &who, peer, &request_id).await {
                            Ok(upstream) if upstream.status().as_u16() < 500 => {
                                self.settle(&who, cost, &request_id, now).await;
                                event.cost = cost;
                                client_response(upstream)
                            }
                            outcome => {
                                event.balance = self.live.release(who.tenant_id, cost);
                                match outcome {
                                    Ok(failed) => client_response(failed),
                                    Err(reason) => problem(reason, DenialFacts::default(), Some(&who), &mut event),
                                }
                            }
                        }
                    }
                }
            }
        };
        let headers = response.headers_mut();
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            headers.insert("x-request-id", id);
        }
        if let Some(balance) = event.balance {
            headers.insert("x-credits-remaining", HeaderValue::from(balance));
        }
        if let retry @ 1.. = retry_after.load(Ordering::Relaxed) {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(retry));
            headers.insert("ratelimit", HeaderValue::from_str(&format!("\"plan\";r=0;t={retry}")).expect("ascii"));
            if let Some((rate, burst)) = rate {
                // draft-ietf-httpapi-ratelimit-headers: the quota per one-second window.
                let policy = format!("\"plan\";q={};w=1;burst={burst}", rate);
                headers.insert("ratelimit-policy", HeaderValue::from_str(&policy).expect("ascii"));
            }
        }
        event.status = response.status().as_u16();
        event.latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let event = std::sync::Arc::new(Event::Gateway(event));
        self.traffic.record(event.clone());
        self.hub.publish_shared(event);
        response
    }

    /// Sends the request upstream and waits for its response headers, up to the timeout.
    async fn forward(
        &self,
        request: Request<Incoming>,
        url: &str,
        who: &Admitted,
        peer: SocketAddr,
        request_id: &str,
    ) -> Result<Response<Incoming>, Reason> {
        let caller = Caller { request_id, tenant: &who.tenant, plan: &who.plan, peer };
        let upstream = upstream_request(url, request, &caller).map_err(|e| {
            tracing::warn!(error = %e, "cannot build the upstream request");
            Reason::UpstreamUnavailable
        })?;
        let timeout = Duration::from_millis(u64::try_from(self.live.settings().upstream_timeout_ms).unwrap_or(30_000));
        match tokio::time::timeout(timeout, self.client.request(upstream)).await {
            Err(_) => Err(Reason::UpstreamTimeout),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, request_id, "upstream unreachable");
                Err(Reason::UpstreamUnavailable)
            }
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Charges a served request: spent in memory now, recorded by the settlement writer
    /// (and, in strict mode, committed before the answer leaves).
    async fn settle(&self, who: &Admitted, cost: i64, request_id: &str, now: chrono::DateTime<Utc>) {
        self.live.settle(who.tenant_id, cost);
        if cost == 0 {
            return;
        }
        let debit = Debit { tenant_id: who.tenant_id, amount: cost, request_id: request_id.to_string(), at: now };
        match self.live.settings().durability {
            Durability::Batched => self.settlement.record(debit),
            Durability::Strict => self.settlement.record_durably(debit).await,
        }
    }
}

/// Serves the gateway on `listener` until `shutdown` resolves, then lets requests in
/// flight finish (up to 10 s).
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>, shutdown: impl Future<Output = ()>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let gateway = gateway.clone();
                let service = service_fn(move |request| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.handle(request, peer).await) }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {}
    }
}
