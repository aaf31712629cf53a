//! The gateway: for each request, find the route, authenticate the key, apply the
//! policy to the live state (reserving the cost), forward to the upstream, and settle
//! (charge when the upstream answers below 500, release otherwise). Every decision is
//! published on the event hub.
//!
//! Before any of that, a request is screened ([`Gateway::answer`]): HTTP/1.1 needs exactly
//! one valid `Host`; the path is normalised (dot segments, encoded dots, repeated slashes)
//! and the normalised path is what is routed and forwarded, or it is refused as
//! ambiguous (see [`tollgate_core::domain::path`]); requests without a usable key are limited per
//! client address ([`keyless`]).

pub mod cert_files;
pub mod cores;
mod forward;
pub mod http1;
pub mod keyless;
pub mod listener;
mod messages;
mod metered;
pub mod metrics;
pub mod outbound;
pub mod payments;
pub mod pinned;
mod problem;
pub mod request_body;
mod request_id;
pub mod tls;
pub mod upstream;
pub mod webhooks;

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::service::service_fn;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tollgate_core::domain::cidr::client_address;
use tollgate_core::domain::gateway_event::method_name;
use tollgate_core::domain::metering::{self, Metering, OnCancel};
use tollgate_core::domain::metrics::RouteSlot;
use tollgate_core::domain::path::normalize;
use tollgate_core::domain::policy::{DenialCode, DenialFacts, Outcome};
use tollgate_core::domain::rate::RateLimit;
use tollgate_core::domain::standing::Standing;
use tollgate_core::domain::usage_scan::UsageScan;
use tollgate_core::live::events::{Event, GatewayEvent, Hub};
use tollgate_core::live::leased::{Leased, Spend};
use tollgate_core::live::settlement::{Debit, Settlement};
use tollgate_core::live::{Admitted, Live, MatchedRoute, Reservation};
use tollgate_core::store::keys::PresentedKey;
use tollgate_core::store::ledger::Committed;
use tollgate_core::store::request_log::{RequestId, RequestLog, RequestRecord, Short};
use tollgate_core::store::settings::{Durability, Settings};
use tollgate_core::store::traffic::TrafficLog;

use crate::forward::{Caller, Inbound, UpstreamBase, client_response, presented_key, upstream_request};
use crate::keyless::KeylessLimiter;
use crate::listener::Limits;
use crate::messages::Reason;
use crate::metered::{Charging, MeteredBody, Pending, Report};
use crate::metrics::GatewayMetrics;
use crate::payments::Payments;
use crate::problem::{AccountHidden, Audience, Problem};
use crate::request_body::RequestBody;
use crate::upstream::{PooledBody, Target, Upstreams};
use crate::webhooks::Webhooks;

/// The response body type: problems are in memory, upstream bodies stream.
pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Everything a request needs; share it as `Arc<Gateway>`.
pub struct Gateway {
    live: Arc<Live>,
    settlement: Settlement,
    hub: Hub,
    traffic: TrafficLog,
    requests: Option<RequestLog>,
    upstreams: Arc<Upstreams>,
    keyless: KeylessLimiter,
    metrics: Arc<GatewayMetrics>,
    webhooks: Option<Arc<dyn Webhooks>>,
    /// On a node sharing its database with others: the leases its credits are spent from.
    leases: Option<Arc<Leased>>,
    /// Taking machine payments (x402, Payment credentials), when the console is at hand.
    payments: Option<Arc<dyn Payments>>,
    /// The client for the x402 facilitator.
    facilitator: Arc<outbound::Outbound>,
    /// Binds Payment challenges when the settings hold no secret (one per process).
    challenge_secret: [u8; 32],
    /// Whether the listener speaks TLS (for the URL of a paid resource).
    tls: std::sync::atomic::AtomicBool,
}

impl Gateway {
    /// A gateway deciding from `live`, charging through `settlement`, reporting each
    /// decision to `hub` (live viewers) and `traffic` (the stored log).
    pub fn new(live: Arc<Live>, settlement: Settlement, hub: Hub, traffic: TrafficLog) -> Self {
        let keyless = KeylessLimiter::new(keyless::DEFAULT_LIMIT);
        let metrics = Arc::new(GatewayMetrics::default());
        let upstreams = Upstreams::new(256);
        Self {
            live,
            settlement,
            hub,
            traffic,
            requests: None,
            upstreams,
            keyless,
            metrics,
            webhooks: None,
            leases: None,
            payments: None,
            facilitator: Arc::new(outbound::Outbound::new()),
            challenge_secret: rand::random(),
            tls: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The same gateway, taking x402 payments and Payment credentials through `payments`
    /// (when the settings configure x402).
    #[must_use]
    pub fn with_payments(mut self, payments: Arc<dyn Payments>) -> Self {
        self.payments = Some(payments);
        self
    }

    /// The secret Payment challenges are bound with.
    fn challenge_secret<'a>(&'a self, settings: &'a Settings) -> &'a [u8] {
        if settings.payment_challenge_secret.is_empty() {
            &self.challenge_secret
        } else {
            settings.payment_challenge_secret.as_bytes()
        }
    }

    /// Takes the payment `headers` carry for the key `presented`, if any (and x402 is on):
    /// `None` when there is none to take (or the key would be refused anyway).
    async fn take_payment(
        &self,
        headers: &http::HeaderMap,
        presented: tollgate_core::store::keys::PresentedKey<'_>,
        client: IpAddr,
        settings: &Settings,
        now: chrono::DateTime<Utc>,
    ) -> Option<(Result<payments::Paid, payments::Failure>, Admitted)> {
        // Header lookups first: a request without a payment pays nothing for this.
        self.payments.as_ref()?;
        let presented_payment = payments::presented(headers, self.challenge_secret(settings), now)?;
        let (hooks, terms) = (self.payments.clone()?, settings.x402_terms()?);
        let standing = self.live.standing(presented, client, &settings.billing_link_template, now).ok()?;
        let who = Admitted {
            tenant_id: standing.tenant_id,
            tenant: standing.tenant.clone(),
            plan: standing.plan.clone(),
            key_prefix: standing.key.prefix.clone(),
            own_billing_link: Some(standing.billing_link.clone()),
            balance: standing.balance.unwrap_or(0),
            rate: None,
        };
        let taken =
            self.take(hooks, terms, &settings.x402_facilitator_url, &standing.tenant, presented_payment, 1).await;
        Some((taken, who))
    }

    /// Takes a payment in a task of its own: a client that leaves while its payment is
    /// settled must not stop it between the settlement and the credit.
    async fn take(
        &self,
        hooks: Arc<dyn Payments>,
        terms: tollgate_core::domain::x402::X402Terms,
        facilitator: &str,
        tenant: &str,
        presented: payments::Presented,
        short: i64,
    ) -> Result<payments::Paid, payments::Failure> {
        let (client, facilitator, tenant) = (self.facilitator.clone(), facilitator.to_string(), tenant.to_string());
        let task = tokio::spawn(async move {
            payments::take(&*hooks, &client, &terms, &facilitator, &tenant, presented, short).await
        });
        task.await.unwrap_or_else(|_| Err(payments::Failure::stopped()))
    }

    /// A call without a key on a route that tenant `tenant_id` pays for per call: its
    /// payment for the route's ceiling is taken (crediting that tenant), or it is told how to
    /// pay. `Off` when machine payments are not configured (the call then gets 401).
    async fn pay_per_call(
        &self,
        headers: &http::HeaderMap,
        route: &tollgate_core::store::routes::Route,
        tenant_id: i64,
        client: IpAddr,
        settings: &Settings,
        now: chrono::DateTime<Utc>,
    ) -> PerCall {
        let (Some(hooks), Some(terms)) = (self.payments.clone(), settings.x402_terms()) else { return PerCall::Off };
        // An account that could not serve the call anyway takes no payment for it.
        let Some(tenant) = self.live.tenant(tenant_id).filter(|t| t.standing == Standing::Active) else {
            return PerCall::Off;
        };
        // Every try costs the facilitator a call: tries are limited like calls without a key.
        if let Some(limited) = self.over_keyless_limit(client) {
            return PerCall::Refused {
                reason: Reason::KeylessRateLimited,
                facts: limited,
                problem_type: None,
                error: None,
            };
        }
        // A call the account would refuse anyway (a lapsed plan, a feature, its quota, an
        // address rule) takes no payment: it is answered as any call without a key.
        if let Some(code) = self.live.paid_refusal(tenant_id, route, route.ceiling(), client, now) {
            tracing::debug!(tenant = %tenant.slug, code = code.as_str(), "a pay-per-call account refuses the call; no payment asked");
            return PerCall::Off;
        }
        let ceiling = route.ceiling();
        let Some(presented) = payments::presented(headers, self.challenge_secret(settings), now) else {
            let facts = DenialFacts { cost: Some(ceiling), ..DenialFacts::default() };
            return PerCall::Refused { reason: Reason::PayPerCall, facts, problem_type: None, error: None };
        };
        let taken = self.take(hooks, terms, &settings.x402_facilitator_url, &tenant.slug, presented, ceiling).await;
        match taken {
            Ok(paid) => PerCall::Paid(paid.header()),
            Err(failure) => PerCall::Refused {
                reason: Reason::PaymentFailed,
                facts: DenialFacts { payment_error: Some(Box::new(failure.reason.clone())), ..DenialFacts::default() },
                problem_type: failure.problem_type,
                error: Some(failure.reason),
            },
        }
    }

    /// The same gateway, spending credits from `leases` (a node that shares its database
    /// with others): each paid request is spent from the node's lease before it is
    /// forwarded, given back if the upstream fails, and recorded by the lease's writer
    /// (before the answer, in `strict`).
    #[must_use]
    pub fn with_leases(mut self, leases: Arc<Leased>) -> Self {
        self.live.lease_credits();
        self.leases = Some(leases);
        self
    }

    /// The same gateway, taking payment-provider webhooks at [`webhooks::STRIPE_PATH`].
    #[must_use]
    pub fn with_webhooks(mut self, webhooks: Arc<dyn Webhooks>) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// The gateway's counters (requests, latency, credits per route), for `/metrics`.
    pub fn metrics(&self) -> Arc<GatewayMetrics> {
        self.metrics.clone()
    }

    /// The same gateway with another limit on requests without a usable key, per client
    /// address (default [`keyless::DEFAULT_LIMIT`]: 50/s, bursts of 100).
    #[must_use]
    pub fn with_keyless_limit(mut self, limit: RateLimit) -> Self {
        self.keyless = KeylessLimiter::new(limit);
        self
    }

    /// The same gateway, keeping a record of every request in `log` (see `request.show`).
    #[must_use]
    pub fn with_request_log(mut self, log: RequestLog) -> Self {
        self.requests = Some(log);
        self
    }

    /// Reports a finished request: its record to the request log, its counts (and maybe
    /// a sample) to the traffic log, and the event to the hub when someone watches.
    /// A `durable` record is written before the answer leaves (it then survives a crash
    /// of the process, as the strict charge does).
    fn report(&self, event: GatewayEvent, id: RequestId, at: Ids, durable: bool) {
        // Counted first, right after its latency was measured: `traffic.history` takes a
        // decision as recorded before its cut-off when `at` plus the latency is before it.
        self.traffic.record(&event);
        self.metrics.answered(at.slot, event.status, event.code.as_deref(), event.latency_us);
        // A strict charge committed by its own task: that task writes the record once the
        // charge is in (or none, when nothing was charged), whether or not the client waited.
        let log = self.requests.as_ref().filter(|_| !at.settling);
        if let Some(log) = log {
            let record = RequestRecord {
                id,
                at_ms: event.at.timestamp_millis(),
                tenant_id: at.tenant_id,
                route_id: at.route_id,
                key_prefix: Short::new(event.key_prefix.as_deref().unwrap_or("")),
                code: Short::new(event.code.as_deref().unwrap_or("")),
                method: Short::new(&event.method),
                status: event.status,
                cost: event.cost,
                latency_us: u32::try_from(event.latency_us).unwrap_or(u32::MAX),
                committed: at.committed,
            };
            // Only a charge needs its record to survive a crash: a strict 402 flood must not
            // cost a write per refusal.
            if durable && event.cost > 0 { log.record_now(record) } else { log.record(record) }
        }
        if self.hub.is_watched() {
            self.hub.publish(Event::Gateway(event));
        }
    }

    /// Screens a request, then [`handle`](Self::handle)s it: refuses a missing, repeated
    /// or invalid `Host` (RFC 9112 §3.2) and an ambiguous path with 400, puts the
    /// normalised path in the request so it is what is routed and forwarded, and answers
    /// 429 to an address past its limit of requests without a usable key.
    async fn answer(
        self: Arc<Self>,
        mut request: Request<RequestBody>,
        peer: IpAddr,
        client_ip: &str,
    ) -> Response<Body> {
        if let Some(hooks) = self.webhooks.as_deref().filter(|_| webhooks::is_webhook(&request)) {
            return webhooks::take(hooks, request).await;
        }
        let refused = match screen_host(&request) {
            Err(reason) => Some((reason, DenialFacts::default())),
            Ok(()) => match normalize(request.uri().path()) {
                Err(e) => Some((Reason::InvalidPath(e), DenialFacts::default())),
                Ok(path) => {
                    if let std::borrow::Cow::Owned(path) = path {
                        match with_path(request.uri(), &path) {
                            Some(uri) => *request.uri_mut() = uri,
                            None => {
                                return self.refuse(
                                    &request,
                                    Reason::InvalidPath(tollgate_core::domain::path::PathError::BadEscape),
                                    DenialFacts::default(),
                                );
                            }
                        }
                    }
                    None
                }
            },
        };
        match refused {
            Some((reason, facts)) => self.refuse(&request, reason, facts),
            None => self.handle(request, peer, client_ip).await,
        }
    }

    /// Counts a request the gateway would answer 401 `MISSING_API_KEY`/`INVALID_API_KEY`
    /// or 404 against the `client` address's keyless budget (behind trusted proxies, the
    /// address they forwarded for); the facts of a 429 when over it. Asked only once
    /// routing and admission found no usable key, so paying requests never pay for it.
    fn over_keyless_limit(&self, client: IpAddr) -> Option<DenialFacts> {
        let now_ns = Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        let seconds = self.keyless.check(client, now_ns).err()?;
        Some(DenialFacts { retry_after: Some(seconds), ..DenialFacts::default() })
    }

    /// The policy of the keyless limit, as a `RateLimit-Policy` header value.
    fn keyless_policy(&self) -> HeaderValue {
        let RateLimit { per_second, burst } = self.keyless.limit();
        HeaderValue::from_str(&format!("\"keyless\";q={per_second};w=1;burst={burst}")).expect("ascii")
    }

    /// Answers a request refused before routing, and reports it like any other decision.
    fn refuse(&self, request: &Request<RequestBody>, reason: Reason, facts: DenialFacts) -> Response<Body> {
        let id = request_id::next();
        let request_id = id.text();
        let path: Arc<str> = request.uri().path().into();
        let facts_raw = facts_raw(&facts);
        let facts_json = facts_raw.as_deref().map_or("{}", RawValue::get);
        let settings = self.live.settings();
        let problem = Problem {
            reason,
            facts,
            facts_json,
            request_id: &request_id,
            instance: &path,
            who: None,
            settings: &settings,
            type_uri: None,
        };
        let mut response = problem.response(Audience::of(request.headers()));
        let headers = response.headers_mut();
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            headers.insert(names::X_REQUEST_ID, id);
        }
        if reason == Reason::KeylessRateLimited {
            headers.insert(names::RATELIMIT_POLICY, self.keyless_policy());
        }
        let event = GatewayEvent {
            at: Utc::now(),
            request_id: request_id.to_string(),
            tenant: None,
            key_prefix: None,
            route: None,
            method: method_name(request.method().as_str()),
            path,
            status: response.status().as_u16(),
            code: Some(Cow::Borrowed(reason.code())),
            cost: 0,
            balance: None,
            latency_us: 0,
            facts: facts_raw,
            node: None,
        };
        self.report(event, id, Ids::default(), false);
        response
    }

    async fn handle(self: Arc<Self>, request: Request<RequestBody>, peer: IpAddr, client_ip: &str) -> Response<Body> {
        let now = Utc::now();
        let id = request_id::next();
        let request_id = id.text();
        let audience = Audience::of(request.headers());
        let path: Arc<str> = request.uri().path().into();
        // Published however the request ends: answered, abandoned by its client, or
        // panicked (see `Finish`).
        let mut finish = Finish {
            gateway: &self,
            started: Instant::now(),
            id,
            ids: Ids::default(),
            durable: false,
            event: Some(GatewayEvent {
                at: now,
                request_id: request_id.to_string(),
                tenant: None,
                key_prefix: None,
                route: None,
                method: method_name(request.method().as_str()),
                path: path.clone(),
                status: 0,
                code: None,
                cost: 0,
                balance: None,
                latency_us: 0,
                facts: None,
                node: None,
            }),
        };
        let event = finish.event.as_mut().expect("present until published");
        let settings = self.live.settings();
        finish.durable = settings.durability == Durability::Strict;
        // Who the client is: the peer, or behind trusted proxies what they say it is.
        let forwarded_for = request.headers().get_all(&names::X_FORWARDED_FOR);
        let client = client_address(peer, &settings.trusted_proxies, forwarded_for.iter().map(forwarded_value));
        // What a payment would be for, when x402 is on: kept as shared parts (no copy), made
        // a URL only when a 402 carries payment challenges.
        let resource_url = (!settings.x402_network.is_empty())
            .then(|| PaidResource { uri: request.uri().clone(), host: request.headers().get(header::HOST).cloned() });
        // The settlement header of a payment this request brought.
        let mut paid: Option<(http::HeaderName, HeaderValue)> = None;
        let problem_typed = |reason, facts: DenialFacts, who: Option<&Admitted>, event: &mut GatewayEvent, type_uri| {
            let short = (reason == Reason::Denied(DenialCode::InsufficientCredits))
                .then(|| facts.cost.unwrap_or(0) - facts.balance.unwrap_or(0).max(0));
            let facts_raw = facts_raw(&facts);
            let facts_json = facts_raw.as_deref().map_or("{}", RawValue::get);
            let p = Problem {
                reason,
                facts,
                facts_json,
                request_id: &request_id,
                instance: &path,
                who,
                settings: &settings,
                type_uri,
            };
            event.code = Some(Cow::Borrowed(reason.code()));
            let mut response = p.response(audience);
            event.facts = facts_raw;
            if let Some(short) = short.filter(|_| who.is_some()) {
                self.add_challenges(&mut response, &settings, resource_url.as_ref(), short, None, false, now);
            }
            response
        };
        let problem = |reason, facts: DenialFacts, who: Option<&Admitted>, event: &mut GatewayEvent| {
            problem_typed(reason, facts, who, event, None)
        };
        let keyless =
            |event: &mut GatewayEvent, otherwise: Reason, facts: DenialFacts| match self.over_keyless_limit(client) {
                Some(limited) => {
                    let mut response = problem(Reason::KeylessRateLimited, limited, None, event);
                    response.headers_mut().insert(names::RATELIMIT_POLICY, self.keyless_policy());
                    response
                }
                None => problem(otherwise, facts, None, event),
            };
        let route = if &*path == STANDING_PATH { None } else { Some(self.live.matched_route(&event.method, &path)) };
        let mut response = match route {
            // The key's own standing (see `tollgate_core::live::standing`).
            None => {
                let presented = presented_key(request.headers());
                match self.live.standing(presented, client, &settings.billing_link_template, now) {
                    Ok(standing) => {
                        event.tenant = Some(standing.tenant.clone());
                        event.key_prefix = Some(standing.key.prefix.clone());
                        standing_response(&standing)
                    }
                    Err(denial) if matches!(denial.code, DenialCode::MissingApiKey | DenialCode::InvalidApiKey) => {
                        keyless(event, Reason::Denied(denial.code), denial.facts)
                    }
                    Err(denial) => problem(Reason::Denied(denial.code), denial.facts, None, event),
                }
            }
            Some(None) => keyless(event, Reason::RouteNotFound, DenialFacts::default()),
            Some(Some(MatchedRoute { route, slot, prefix })) => {
                event.route = Some(prefix);
                finish.ids.route_id = Some(route.id);
                finish.ids.slot = slot;
                let (parts, body) = request.into_parts();
                let presented = presented_key(&parts.headers);
                // A call without a key on a pay-per-call route: it pays for itself or is told how.
                let mut paid_as = None;
                if let (Some(tenant_id), PresentedKey::Absent) = (route.pay_per_call_tenant_id, presented) {
                    match self.pay_per_call(&parts.headers, &route, tenant_id, client, &settings, now).await {
                        PerCall::Off => {}
                        PerCall::Paid(header) => {
                            paid = Some(header);
                            paid_as = Some(tenant_id);
                        }
                        PerCall::Refused { reason, facts, problem_type, error } => {
                            let mut response = if reason == Reason::PayPerCall {
                                keyless(event, reason, facts)
                            } else if reason == Reason::KeylessRateLimited {
                                let mut limited = problem(reason, facts, None, event);
                                limited.headers_mut().insert(names::RATELIMIT_POLICY, self.keyless_policy());
                                limited
                            } else {
                                problem_typed(reason, facts, None, event, problem_type)
                            };
                            let ceiling = route.ceiling();
                            self.add_challenges(
                                &mut response,
                                &settings,
                                resource_url.as_ref(),
                                ceiling,
                                error.as_deref(),
                                true,
                                now,
                            );
                            finish_headers(&mut response, &request_id, None, None);
                            event.status = response.status().as_u16();
                            finish.publish();
                            return response;
                        }
                    }
                }
                if let Some((taken, who)) = self.take_payment(&parts.headers, presented, client, &settings, now).await {
                    finish.ids.tenant_id = Some(who.tenant_id);
                    event.tenant = Some(who.tenant.clone());
                    event.key_prefix = Some(who.key_prefix.clone());
                    match taken {
                        Ok(done) => paid = Some(done.header()),
                        Err(failure) => {
                            let facts = DenialFacts {
                                payment_error: Some(Box::new(failure.reason.clone())),
                                balance: Some(who.balance),
                                ..DenialFacts::default()
                            };
                            let mut response =
                                problem_typed(Reason::PaymentFailed, facts, Some(&who), event, failure.problem_type);
                            self.add_challenges(
                                &mut response,
                                &settings,
                                resource_url.as_ref(),
                                1,
                                Some(&failure.reason),
                                false,
                                now,
                            );
                            finish_headers(&mut response, &request_id, Some(who.balance), None);
                            event.status = response.status().as_u16();
                            finish.publish();
                            return response;
                        }
                    }
                }
                let priced = match self.price(&route, presented, body, &settings).await {
                    Ok(priced) => priced,
                    Err(reason) => {
                        let mut response = problem(reason, DenialFacts::default(), None, event);
                        finish_headers(&mut response, &request_id, None, None);
                        event.status = response.status().as_u16();
                        finish.publish();
                        return response;
                    }
                };
                let admission = match paid_as {
                    Some(tenant_id) => self.live.admit_paid(tenant_id, &route, priced.cost, client, now),
                    None => self.live.admit_at_cost(presented, &route, priced.cost, client, now),
                };
                let request = Request::from_parts(parts, priced.body);
                if let Some(who) = &admission.who {
                    finish.ids.tenant_id = Some(who.tenant_id);
                    event.tenant = Some(who.tenant.clone());
                    event.key_prefix = Some(who.key_prefix.clone());
                    // With leases, no node knows the balance without asking the database; a
                    // call that paid for itself is not told the account's.
                    event.balance = (self.leases.is_none() && paid_as.is_none()).then_some(who.balance);
                }
                match (admission.outcome, admission.who, admission.reservation) {
                    (Outcome::Allow { .. }, Some(who), Some(reservation)) if priced.unpriced.is_some() => {
                        event.balance = Some(reservation.release()).filter(|_| self.leases.is_none());
                        let facts = DenialFacts { model: priced.unpriced.map(Box::new), ..DenialFacts::default() };
                        problem(Reason::ModelNotPriced, facts, Some(&who), event)
                    }
                    (Outcome::Allow { .. }, Some(who), Some(reservation)) => {
                        let upstream = Upstream {
                            url: &route.upstream_url,
                            ca: route.upstream_ca.as_deref(),
                            request_id: &request_id,
                            client_ip,
                            id,
                            started: finish.started,
                            at: now,
                            method: Short::new(&event.method),
                        };
                        let meter = (route.metering != Metering::Fixed).then(|| Meter {
                            metering: route.metering,
                            on_cancel: route.on_cancel,
                            charge_header: route.charge_header.as_deref(),
                            model: priced.model,
                        });
                        let cost = reservation.cost();
                        let proxied =
                            self.proxy(request, upstream, &who, reservation, meter, &settings, &mut finish.ids);
                        match proxied.await {
                            Ok(Served::Answered(response, committed)) => {
                                event.cost = cost;
                                finish.ids.committed = committed;
                                response
                            }
                            Ok(Served::Metering(metering)) => {
                                let (response, pending) = *metering;
                                // Reported once the body has ended and the charge is known.
                                event.status = response.status().as_u16();
                                let event = finish.event.take().expect("present until published");
                                let balance = event.balance;
                                let report = Report {
                                    event,
                                    id,
                                    ids: finish.ids,
                                    durable: finish.durable,
                                    started: finish.started,
                                };
                                let charging = Charging { gateway: self.clone(), pending, report };
                                let mut response =
                                    forward::client_response_with(response, |body| MeteredBody::new(body, charging));
                                finish_headers(&mut response, &request_id, balance, paid);
                                return response;
                            }
                            Err(Refunded { balance, failure, facts }) => {
                                let who = Some(&who).filter(|_| paid_as.is_none());
                                event.balance = balance.filter(|_| who.is_some());
                                let facts = if who.is_some() { facts } else { DenialFacts::default() };
                                match failure {
                                    Ok(upstream_5xx) => client_response(upstream_5xx),
                                    Err(reason) => problem(reason, facts, who, event),
                                }
                            }
                        }
                    }
                    (Outcome::Deny(denial), None, _)
                        if matches!(denial.code, DenialCode::MissingApiKey | DenialCode::InvalidApiKey) =>
                    {
                        keyless(event, Reason::Denied(denial.code), denial.facts)
                    }
                    // A call that paid for itself learns nothing of the account it is charged to.
                    (Outcome::Deny(denial), who, _) => {
                        let who = who.as_ref().filter(|_| paid_as.is_none());
                        let facts = if paid_as.is_some() { DenialFacts::default() } else { denial.facts };
                        problem(Reason::Denied(denial.code), facts, who, event)
                    }
                    (Outcome::Allow { .. }, ..) => unreachable!("an allowed request has a tenant and a reservation"),
                }
            }
        };
        finish_headers(&mut response, &request_id, event.balance, paid);
        event.status = response.status().as_u16();
        finish.publish();
        response
    }

    /// Adds the payment challenges of a 402 that `short` more credits would fix, when x402
    /// is on and the request's URL is known.
    #[allow(clippy::too_many_arguments)]
    fn add_challenges(
        &self,
        response: &mut Response<Body>,
        settings: &Settings,
        resource_url: Option<&PaidResource>,
        short: i64,
        error: Option<&str>,
        exact: bool,
        now: chrono::DateTime<Utc>,
    ) {
        let (Some(terms), Some(paid)) = (settings.x402_terms(), resource_url) else { return };
        let resource = tollgate_core::domain::x402::Resource {
            url: paid.url(self.tls.load(std::sync::atomic::Ordering::Relaxed)),
            description: Some("Credits for this API".into()),
            mime_type: None,
        };
        let secret = self.challenge_secret(settings);
        for (name, value) in payments::challenges(&terms, secret, resource, short.max(1), error, exact, now) {
            response.headers_mut().append(name, value);
        }
    }

    /// What `request` reserves on `route`: its fixed cost; a metered route's ceiling; or, on
    /// a route priced by token usage, what the body's model and `max_tokens` can cost at
    /// most (within the ceiling), for which the body of a request with a stored key is read
    /// ahead (at most [`PRICED_BODY_LIMIT`], within the upstream timeout). A body that
    /// breaks while read is the client's fault (400).
    async fn price(
        &self,
        route: &tollgate_core::store::routes::Route,
        presented: tollgate_core::store::keys::PresentedKey<'_>,
        body: RequestBody,
        settings: &Settings,
    ) -> Result<Priced, Reason> {
        let ceiling = route.max_cost.unwrap_or(route.cost);
        let cost = match route.metering {
            Metering::Fixed => Some(route.cost),
            Metering::Header => Some(ceiling),
            Metering::Usage if !self.live.knows(presented) => Some(ceiling),
            Metering::Usage => None,
        };
        if let Some(cost) = cost {
            return Ok(Priced { cost, body: Inbound::from(body), model: None, unpriced: None });
        }
        let timeout = Duration::from_millis(u64::try_from(settings.upstream_timeout_ms).unwrap_or(30_000));
        let read = tokio::time::timeout(timeout, Inbound::read_ahead(body, PRICED_BODY_LIMIT)).await;
        let body = match read {
            Ok(Ok(body)) => body,
            Ok(Err(_)) | Err(_) => return Err(Reason::BadRequestBody),
        };
        let asked = body.whole().map(metering::requested).unwrap_or_default();
        let Some(model) = asked.model else { return Ok(Priced { cost: ceiling, body, model: None, unpriced: None }) };
        let Some(price) = metering::price_of(&settings.model_prices, &model) else {
            return Ok(Priced { cost: 0, body, model: None, unpriced: Some(model) });
        };
        // Only a plain request's size is known from its body: several choices, no limit on
        // the answer, or images, files and earlier responses (not counted in its bytes)
        // reserve the ceiling.
        let cost = match (asked.max_tokens.filter(|_| asked.plain), body.whole()) {
            (Some(max_tokens), Some(whole)) if max_tokens > 0 => {
                metering::reservation(price, settings.price_markup_percent, max_tokens, whole.len()).min(ceiling)
            }
            _ => ceiling,
        };
        Ok(Priced { cost, body, model: Some(model), unpriced: None })
    }

    /// Forwards an allowed request and settles its reservation: charged when the upstream
    /// answers below 500, given back otherwise. In `strict` mode the answer leaves only
    /// once its charge is committed (with the ledger entry holding it, for the request's
    /// record); when that cannot be (storage failing), the request is refused with 503
    /// and nothing is charged.
    #[allow(clippy::too_many_arguments)]
    async fn proxy(
        &self,
        request: Request<Inbound>,
        upstream: Upstream<'_>,
        who: &Admitted,
        reservation: Reservation,
        meter: Option<Meter<'_>>,
        settings: &Settings,
        ids: &mut Ids,
    ) -> Result<Served, Refunded> {
        let now = upstream.at;
        let strict = settings.durability == Durability::Strict;
        if strict && self.settlement.storage_failing() {
            // On a cluster node, memory holds no balance worth telling.
            let balance = Some(reservation.release()).filter(|_| self.leases.is_none());
            return Err(Refunded::storage_unavailable(balance));
        }
        // On a node sharing its database, the credits come from its lease.
        let leased = match (&self.leases, reservation.cost()) {
            (Some(leases), cost) if cost > 0 => match leases.spend(who.tenant_id, cost, now).await {
                Spend::Spent { lease } => Some(LeaseSpent {
                    leases: leases.clone(),
                    tenant_id: who.tenant_id,
                    lease,
                    cost,
                    request_id: upstream.request_id.to_string(),
                    settled: false,
                }),
                Spend::Empty => {
                    reservation.release();
                    let facts = DenialFacts {
                        balance: Some(0),
                        cost: Some(cost),
                        plan: Some(who.plan.clone()),
                        ..DenialFacts::default()
                    };
                    let failure = Err(Reason::Denied(DenialCode::InsufficientCredits));
                    return Err(Refunded { balance: Some(0), failure, facts });
                }
                Spend::Unavailable => {
                    reservation.release();
                    return Err(Refunded::storage_unavailable(None));
                }
            },
            _ => None,
        };
        let caller = Caller {
            request_id: upstream.request_id,
            tenant: &who.tenant,
            plan: &who.plan,
            client_ip: upstream.client_ip,
        };
        let base = UpstreamBase::parse(upstream.url)
            .ok_or_else(|| format!("the route's upstream URL {:?} is not http(s)://host[:port][/path]", upstream.url));
        let answer = match base {
            Ok(base) => {
                let (parts, body) = request.into_parts();
                // Usage is read from the answer's bytes: they must come uncompressed.
                let identity = meter.as_ref().is_some_and(|m| m.metering == Metering::Usage);
                let (outgoing, body_read) = upstream_request(base, &parts, body, &caller, identity);
                let timeout = Duration::from_millis(u64::try_from(settings.upstream_timeout_ms).unwrap_or(30_000));
                let tls = base.tls.then(|| self.upstreams.trust(upstream.ca));
                let target = Target { authority: base.authority, tls };
                match tokio::time::timeout(timeout, self.upstreams.send(target, outgoing)).await {
                    Err(_) => Err(Reason::UpstreamTimeout),
                    // The client's body broke, not the upstream: the client's fault (400).
                    Ok(Err(_)) if body_read.failed() => Err(Reason::BadRequestBody),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, request_id = upstream.request_id, "upstream unreachable");
                        Err(Reason::UpstreamUnavailable)
                    }
                    Ok(Ok(response)) => Ok(response),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the upstream request");
                Err(Reason::UpstreamUnavailable)
            }
        };
        let response = match answer {
            Ok(response) if response.status().as_u16() < 500 => response,
            failure => {
                // A lease's credits go back as `leased`, unsettled, drops.
                let balance = Some(reservation.release()).filter(|_| leased.is_none());
                return Err(Refunded { balance, failure, facts: DenialFacts::default() });
            }
        };
        // A metered call is charged what the answer reports, once its body has ended.
        if let Some(meter) = meter {
            let (mut parts, body) = response.into_parts();
            let header_charge = meter.charge_header.and_then(|name| {
                let charge = parts.headers.get(name).and_then(|v| metering::header_charge(v.as_bytes()));
                parts.headers.remove(name);
                charge
            });
            let scan = (meter.metering == Metering::Usage).then(|| {
                UsageScan::new(parts.headers.get(header::CONTENT_TYPE).map_or(&b""[..], HeaderValue::as_bytes))
            });
            let pending = Pending {
                status: parts.status.as_u16(),
                reservation,
                leased,
                strict,
                tenant_id: who.tenant_id,
                at: now,
                metering: meter.metering,
                on_cancel: meter.on_cancel,
                header_charge,
                scan,
                model: meter.model,
            };
            return Ok(Served::Metering(Box::new((Response::from_parts(parts, body), pending))));
        }
        let charge = reservation.cost();
        if charge == 0 {
            reservation.spend();
            return Ok(Served::Answered(client_response(response), None));
        }
        if let Some(mut spent) = leased {
            reservation.spend();
            // Charged from here on, even if the client leaves: the lease records its usage in
            // a task of its own (see `Leased`).
            spent.settled = true;
            if strict && spent.leases.flush_tenant(who.tenant_id, now).await.is_err() {
                tracing::error!(
                    request_id = upstream.request_id,
                    "strict charge not recorded on the lease; answering 503"
                );
                spent.settled = false; // given back as it drops
                return Err(Refunded::storage_unavailable(None));
            }
            self.metrics.charged(ids.slot, charge);
            return Ok(Served::Answered(client_response(response), None));
        }
        if !strict {
            let amount = reservation.hand_over_part(charge);
            self.settlement.record(Debit {
                tenant_id: who.tenant_id,
                amount,
                request_id: upstream.request_id,
                at: now,
            });
            self.metrics.charged(ids.slot, amount);
            return Ok(Served::Answered(client_response(response), None));
        }
        // Committed in a task of its own, which writes the request's record once the charge
        // is in: a client that leaves meanwhile (this future dropped) is still charged, and
        // its record still says so, with the entry that holds the charge.
        let settling = {
            let settlement = self.settlement.clone();
            let (request_id, tenant_id) = (upstream.request_id.to_string(), who.tenant_id);
            let log = self.requests.clone().map(|log| {
                let record = RequestRecord {
                    id: upstream.id,
                    at_ms: now.timestamp_millis(),
                    tenant_id: Some(who.tenant_id),
                    route_id: ids.route_id,
                    key_prefix: Short::new(&who.key_prefix),
                    code: Short::new(""),
                    method: upstream.method,
                    status: response.status().as_u16(),
                    cost: charge,
                    latency_us: 0,
                    committed: None,
                };
                (log, record)
            });
            let started = upstream.started;
            let (metrics, slot) = (self.metrics.clone(), ids.slot);
            tokio::spawn(async move {
                let debit = Debit { tenant_id, amount: charge, request_id: &request_id, at: now };
                let committed = settlement.record_durably(debit, reservation).await;
                if committed.is_ok() {
                    metrics.charged(slot, charge);
                }
                if let (Ok(held), Some((log, record))) = (&committed, log) {
                    let latency_us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
                    log.record_now(RequestRecord { committed: *held, latency_us, ..record });
                }
                committed
            })
        };
        ids.settling = true;
        let committed = settling.await.unwrap_or(Err(tollgate_core::live::settlement::SettleError::Stopped));
        // Committed: the task has written the record (one write per request, not a second
        // one from the report). Not committed: the report writes the refusal's.
        ids.settling = committed.is_ok();
        match committed {
            Ok(held) => Ok(Served::Answered(client_response(response), held)),
            Err(e) => {
                tracing::error!(error = %e, request_id = upstream.request_id, "strict charge not committed; answering 503");
                let balance = self.live.tenant(who.tenant_id).map(|t| t.balance);
                Err(Refunded::storage_unavailable(balance))
            }
        }
    }
}

/// The request's always-run last phase (as pingora's `logging`): its record reaches the
/// request log, its event the traffic log and the hub, however the request ends. Dropped
/// before [`publish`] (the client went away, the handler panicked), it reports status 499,
/// nginx's "client closed request"; the request's reservation has then already gone back
/// by itself.
///
/// [`publish`]: Finish::publish
struct Finish<'a> {
    gateway: &'a Gateway,
    started: Instant,
    id: RequestId,
    ids: Ids,
    /// `strict`: the request's record is written before its answer leaves.
    durable: bool,
    event: Option<GatewayEvent>,
}

/// The tenant and route a request reached, by id, and where its strict charge was
/// committed, for the request log.
#[derive(Debug, Clone, Copy, Default)]
struct Ids {
    tenant_id: Option<i64>,
    route_id: Option<i64>,
    committed: Option<Committed>,
    /// A strict charge is (being) committed by its own task, which writes the record.
    settling: bool,
    /// The route's metrics slot ([`tollgate_core::domain::metrics::UNMATCHED`] without a route).
    slot: RouteSlot,
}

/// The status reported for a request whose client left before the answer.
pub(crate) const CLIENT_CLOSED_REQUEST: u16 = 499;
/// Its code.
pub(crate) const CLIENT_CLOSED_CODE: &str = "CLIENT_CLOSED_REQUEST";

impl Finish<'_> {
    fn publish(&mut self) {
        let Some(mut event) = self.event.take() else { return };
        event.latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.gateway.report(event, self.id, self.ids, self.durable);
    }
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        if let Some(event) = &mut self.event {
            event.status = CLIENT_CLOSED_REQUEST;
            event.cost = 0;
            event.code.get_or_insert(Cow::Borrowed(CLIENT_CLOSED_CODE));
            self.publish();
        }
    }
}

/// Where an allowed request goes, and what to tell the upstream about it.
struct Upstream<'a> {
    url: &'a str,
    /// The route's private CA (PEM), for an `https://` upstream.
    ca: Option<&'a str>,
    request_id: &'a str,
    client_ip: &'a str,
    /// What the request's record needs when a settling task writes it.
    id: RequestId,
    started: Instant,
    /// When the request arrived.
    at: chrono::DateTime<Utc>,
    method: Short<8>,
}

/// An allowed request the upstream did not serve: its cost went back to the tenant.
/// Credits spent from a lease for a call in flight: given back when it drops unsettled (the
/// upstream failed, the client hung up while the upstream worked, a strict charge went
/// unrecorded), as a dropped reservation's are on a single node.
pub(crate) struct LeaseSpent {
    leases: Arc<Leased>,
    tenant_id: i64,
    lease: i64,
    cost: i64,
    request_id: String,
    settled: bool,
}

impl LeaseSpent {
    /// The call was charged `amount`, at most what was spent: the rest goes back.
    fn settle(&mut self, amount: i64) {
        self.settled = true;
        let rest = self.cost - amount.clamp(0, self.cost);
        if rest > 0 {
            self.leases.unspend_later(self.tenant_id, self.lease, rest, self.request_id.clone());
        }
    }
}

impl Drop for LeaseSpent {
    fn drop(&mut self) {
        if !self.settled {
            self.leases.unspend_later(self.tenant_id, self.lease, self.cost, std::mem::take(&mut self.request_id));
        }
    }
}

/// How a metered route charges, for [`Gateway::proxy`].
struct Meter<'a> {
    metering: Metering,
    on_cancel: OnCancel,
    /// A `header` route's header, lower-case.
    charge_header: Option<&'a str>,
    /// The model the request asked for, priced.
    model: Option<String>,
}

/// What a request asks for, as a payment for it names it.
struct PaidResource {
    uri: Uri,
    host: Option<HeaderValue>,
}

impl PaidResource {
    /// `http(s)://host/path?query`.
    fn url(&self, tls: bool) -> String {
        let host = self.host.as_ref().and_then(|h| h.to_str().ok());
        let host = host.or(self.uri.authority().map(http::uri::Authority::as_str)).unwrap_or("localhost");
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{host}{}", self.uri.path_and_query().map_or("/", |p| p.as_str()))
    }
}

/// What became of a call without a key on a pay-per-call route.
enum PerCall {
    /// Machine payments are off: the call is answered as any call without a key.
    Off,
    /// It paid for itself: the settlement's header for the answer.
    Paid((http::HeaderName, HeaderValue)),
    /// It did not pay (402 `PAYMENT_REQUIRED`), or its payment was refused.
    Refused { reason: Reason, facts: DenialFacts, problem_type: Option<&'static str>, error: Option<String> },
}

/// What [`Gateway::proxy`] got: a whole answer (charged; with where a strict charge was
/// committed), or a metered answer's head whose body is still to be charged.
enum Served {
    Answered(Response<Body>, Option<Committed>),
    /// Boxed: an answer's head and what its charge needs are large, and only metered
    /// routes pay for the allocation.
    Metering(Box<(Response<PooledBody>, Pending)>),
}

/// What a request reserves, and its body as read so far.
struct Priced {
    cost: i64,
    body: Inbound,
    /// The model a usage-priced request asked for, when it has a price.
    model: Option<String>,
    /// The model it asked for when that has none: refused (400 `MODEL_NOT_PRICED`).
    unpriced: Option<String>,
}

/// The most of a request body read ahead to price it (the rest streams, reserving the
/// route's ceiling).
const PRICED_BODY_LIMIT: usize = 1 << 20;

struct Refunded {
    /// The tenant's balance after the refund.
    balance: Option<i64>,
    /// The upstream's 5xx answer, or why there was none.
    failure: Result<Response<PooledBody>, Reason>,
    /// What the client is told of why, for a refusal.
    facts: DenialFacts,
}

impl Refunded {
    fn storage_unavailable(balance: Option<i64>) -> Self {
        Self { balance, failure: Err(Reason::StorageUnavailable), facts: DenialFacts::default() }
    }
}

/// A denial's facts as the JSON object the client gets, serialized once (no second parse)
/// and shared by the body and the event; `None` when there are none.
fn facts_raw(facts: &DenialFacts) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(facts).ok().filter(|raw| raw.get() != "{}")
}

/// Header names the gateway sets on every answer, validated once rather than per request.
mod names {
    use http::header::HeaderName;

    pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    pub const X_CREDITS_REMAINING: HeaderName = HeaderName::from_static("x-credits-remaining");
    pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
    pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
    pub const X_TOLLGATE_TENANT: HeaderName = HeaderName::from_static("x-tollgate-tenant");
    pub const X_TOLLGATE_PLAN: HeaderName = HeaderName::from_static("x-tollgate-plan");
    pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
}

/// Where a key reads its own standing (tenant, plan, balance, budget …): `GET` with the key
/// as for any call. Routes cannot be made under `/_tollgate/`.
pub const STANDING_PATH: &str = "/_tollgate/key";

/// A key's standing as its JSON answer, never cached.
fn standing_response(standing: &tollgate_core::live::standing::KeyStanding) -> Response<Body> {
    let json = serde_json::to_vec(standing).expect("a standing serializes");
    let mut response =
        Response::new(http_body_util::Full::new(Bytes::from(json)).map_err(|never| match never {}).boxed());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The headers every answer of [`Gateway::handle`] carries: its request id and, when the
/// answer may speak of the account, the balance left.
fn finish_headers(
    response: &mut Response<Body>,
    request_id: &str,
    balance: Option<i64>,
    paid: Option<(http::HeaderName, HeaderValue)>,
) {
    let account_hidden = response.extensions().get::<AccountHidden>().is_some();
    let headers = response.headers_mut();
    if let Some((name, value)) = paid {
        headers.insert(name, value);
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(names::X_REQUEST_ID, id);
    }
    if let Some(balance) = balance.filter(|_| !account_hidden) {
        headers.insert(names::X_CREDITS_REMAINING, HeaderValue::from(balance));
    }
}

/// One `X-Forwarded-For` header's text; one that is not text stops the walk (`?` is no address).
fn forwarded_value(value: &HeaderValue) -> &str {
    value.to_str().unwrap_or("?")
}

/// `uri` with its path replaced by `path` and its query kept.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let mut parts = uri.clone().into_parts();
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// Whether `host` is a name or IPv4 address with at most a numeric port (`api.example.com`,
/// `127.0.0.1:8080`): an authority for certain, known without `Authority::try_from`, which
/// copies the bytes (an allocation on every request). Anything else is parsed.
fn plain_authority(host: &[u8]) -> bool {
    let (name, port) = match host.iter().position(|&b| b == b':') {
        Some(colon) => (&host[..colon], Some(&host[colon + 1..])),
        None => (host, None),
    };
    !name.is_empty()
        && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.iter().all(u8::is_ascii_digit))
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host`, and no request has two;
/// its value is an authority (or empty).
fn screen_host(request: &Request<RequestBody>) -> Result<(), Reason> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Err(Reason::InvalidHost),
        // HTTP/2 carries the authority in `:authority` (RFC 9113 §8.3.1), which is the URI's.
        (None, None) if request.version() == http::Version::HTTP_11 => Err(Reason::InvalidHost),
        (None, None) if request.version() >= http::Version::HTTP_2 && request.uri().authority().is_none() => {
            Err(Reason::InvalidHost)
        }
        (Some(host), None)
            if !host.is_empty()
                && !plain_authority(host.as_bytes())
                && http::uri::Authority::try_from(host.as_bytes()).is_err() =>
        {
            Err(Reason::InvalidHost)
        }
        _ => Ok(()),
    }
}

/// Serves the gateway on `listener` until `shutdown` resolves, then lets requests in
/// flight finish (up to 10 s), with the default [`Limits::gateway`].
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>, shutdown: impl Future<Output = ()>) {
    serve_with(listener, gateway, Limits::gateway(), shutdown).await;
}

/// [`serve`] within `limits` (timeouts, connection cap, shutdown grace).
pub async fn serve_with(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    serve_tls(listener, gateway, limits, None, shutdown).await;
}

/// [`serve_with`], over TLS (HTTP/2 and HTTP/1.1 by ALPN) when `tls` is given.
pub async fn serve_tls(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) {
    gateway.tls.store(tls.is_some(), std::sync::atomic::Ordering::Relaxed);
    let make_service = move |peer: std::net::SocketAddr| {
        let gateway = gateway.clone();
        // Formatted once per connection, not once per request.
        let client_ip: Arc<str> = peer.ip().to_string().into();
        service_fn(move |request| {
            let (gateway, client_ip) = (gateway.clone(), client_ip.clone());
            async move { Ok::<_, Infallible>(gateway.answer(request, peer.ip(), &client_ip).await) }
        })
    };
    listener::serve("gateway", listener, limits, tls, make_service, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::plain_authority;

    #[test]
    fn a_plain_host_is_one_http_parses_as_an_authority() {
        let plain = ["a", "api.example.com", "127.0.0.1:8080", "localhost:1", "x-y.z:99999", "a..b", "-:0"];
        for host in plain {
            assert!(plain_authority(host.as_bytes()), "{host}");
            assert!(http::uri::Authority::try_from(host.as_bytes()).is_ok(), "{host}");
        }
        // Not plain: left to the parser, which takes some and refuses others.
        let other = ["", ":80", "a:", "a:123456", "a:8x", "[::1]:80", "user@host", "a b", "a/b", "%41", "a:1:2", "é"];
        for host in other {
            assert!(!plain_authority(host.as_bytes()), "{host}");
        }
    }
}
