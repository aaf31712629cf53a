//! Metered routes at the gateway: the call reserved its ceiling before it was forwarded;
//! its answer streams to the client untouched while [`MeteredBody`] reads what the upstream
//! reports (a charge header, or token usage in the body), and when the body ends the call
//! is charged that, at most the reservation, and the rest goes back. A body that breaks off
//! (the client left, the upstream failed mid-stream) is charged by the route's
//! [`OnCancel`] rule.
//!
//! The request's event and record are reported when the charge is known, not when the
//! headers leave.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hyper::body::{Frame, SizeHint};
use tokio::task::JoinHandle;
use tollgate_core::domain::gateway_event::GatewayEvent;
use tollgate_core::domain::metering::{Metering, OnCancel, TokenUsage, charge, price_of};
use tollgate_core::domain::usage_scan::UsageScan;
use tollgate_core::live::Reservation;
use tollgate_core::live::settlement::{Debit, SettleError};
use tollgate_core::store::request_log::RequestId;

use crate::upstream::PooledBody;
use crate::{Gateway, Ids, LeaseSpent};

/// What a metered call still owes once its answer's head has arrived.
pub(crate) struct Pending {
    /// The answer's status.
    pub status: u16,
    pub reservation: Reservation,
    /// On a node sharing its database: the reservation as spent from the node's lease.
    pub leased: Option<LeaseSpent>,
    pub strict: bool,
    pub tenant_id: i64,
    pub at: DateTime<Utc>,
    pub metering: Metering,
    pub on_cancel: OnCancel,
    /// A `header` route's charge, read from the answer's head.
    pub header_charge: Option<i64>,
    /// A `usage` route's reading of the body.
    pub scan: Option<UsageScan>,
    /// The model the request asked for (priced before the answer's own).
    pub model: Option<String>,
}

/// A metered call whose answer is streaming to the client.
pub(crate) struct Charging {
    pub gateway: Arc<Gateway>,
    pub pending: Pending,
    /// The request's report, published once the charge is known.
    pub report: Report,
}

/// A request's event and record, reported when its charge is known.
pub(crate) struct Report {
    pub event: GatewayEvent,
    pub id: RequestId,
    pub ids: Ids,
    pub durable: bool,
    pub started: Instant,
}

impl Report {
    fn publish(mut self, gateway: &Gateway) {
        self.event.latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        gateway.report(self.event, self.id, self.ids, self.durable);
    }
}

/// The answer's body, charging the call when it ends.
pub(crate) struct MeteredBody {
    inner: PooledBody,
    charging: Option<Charging>,
    /// A `strict` charge being committed: the body ends once it is.
    committing: Option<JoinHandle<Result<(), SettleError>>>,
    /// The body's last frame, held until its strict charge is committed.
    held: Option<Frame<Bytes>>,
}

impl MeteredBody {
    pub(crate) fn new(inner: PooledBody, charging: Charging) -> Self {
        Self { inner, charging: Some(charging), committing: None, held: None }
    }
}

impl Charging {
    /// What the upstream has reported, priced, when it has reported anything.
    fn reported(&self, usage: Option<TokenUsage>, answer_model: Option<&str>) -> Option<i64> {
        match self.pending.metering {
            Metering::Fixed => Some(self.pending.reservation.cost()),
            Metering::Header => self.pending.header_charge,
            Metering::Usage => {
                let usage = usage?;
                let settings = self.gateway.live.settings();
                let price = [self.pending.model.as_deref(), answer_model]
                    .into_iter()
                    .flatten()
                    .find_map(|m| price_of(&settings.model_prices, m));
                match price {
                    Some(price) => Some(charge(usage, price, settings.price_markup_percent)),
                    None => {
                        tracing::warn!(
                            request_id = self.report.event.request_id,
                            model = ?answer_model,
                            "usage reported for a model without a price; not charged"
                        );
                        None
                    }
                }
            }
        }
    }

    /// The body ended whole: charges what was reported. In `strict`, returns the commit to
    /// wait for before the body may end.
    fn settle(mut self) -> Option<JoinHandle<Result<(), SettleError>>> {
        let (usage, model) = match self.pending.scan.take() {
            Some(scan) => scan.finish(),
            None => (None, None),
        };
        let reported = self.reported(usage, model.as_deref());
        let served = (200..300).contains(&self.pending.status);
        let charge = match reported {
            Some(charge) => charge,
            // A usage route's client decides whether usage is reported (a stream without
            // `include_usage`): a success that reports none is charged its reservation.
            None if served && self.pending.metering == Metering::Usage => {
                tracing::info!(
                    request_id = self.report.event.request_id,
                    "a usage-metered answer reported no usage; charged its reservation"
                );
                self.pending.reservation.cost()
            }
            None => 0,
        };
        self.charge(charge, true)
    }

    /// The body broke off: charges by the route's rule, never waiting.
    fn cancel(mut self) {
        let (usage, model) = self.pending.scan.as_ref().map_or((None, None), UsageScan::so_far);
        let model = model.map(str::to_owned);
        let reported = match self.pending.on_cancel {
            // Usage already streamed means the answer was all there: charged whatever the rule.
            OnCancel::Nothing if usage.is_none() => None,
            OnCancel::Nothing | OnCancel::Reported => self.reported(usage, model.as_deref()),
        };
        self.report.event.status = crate::CLIENT_CLOSED_REQUEST;
        self.report.event.code = Some(crate::CLIENT_CLOSED_CODE.into());
        if let Some(commit) = self.charge(reported.unwrap_or(0), false) {
            drop(commit); // runs to its end by itself
        }
    }

    /// Charges `reported` (capped at the reservation; an overrun is noted on the event),
    /// gives the rest back and reports the request. `wait`: a strict charge's commit is
    /// returned for the body to wait on.
    fn charge(self, reported: i64, wait: bool) -> Option<JoinHandle<Result<(), SettleError>>> {
        let Self { gateway, pending, mut report } = self;
        let Pending { reservation, leased, strict, tenant_id, at, .. } = pending;
        let reserved = reservation.cost();
        let amount = reported.clamp(0, reserved);
        if reported > reserved {
            tracing::warn!(
                request_id = report.event.request_id,
                reported,
                reserved,
                "the upstream reported more than was reserved; charged the reservation"
            );
            report.event.facts = serde_json::value::to_raw_value(&serde_json::json!({
                "reported": reported,
                "reserved": reserved,
            }))
            .ok();
        }
        report.event.cost = amount;
        gateway.metrics.charged(report.ids.slot, amount);
        if let Some(mut spent) = leased {
            reservation.spend_part(amount);
            spent.settle(amount);
            let (leases, request_id) = (spent.leases.clone(), report.event.request_id.clone());
            report.publish(&gateway);
            if !(strict && amount > 0) {
                return None;
            }
            let commit = tokio::spawn(async move {
                leases.flush_tenant(tenant_id, at).await.map_err(|e| {
                    tracing::error!(error = %e, request_id, "strict metered charge not recorded yet; the lease keeps it");
                    SettleError::Stopped
                })
            });
            return wait.then_some(commit);
        }
        if !strict || amount == 0 {
            let amount = reservation.hand_over_part(amount);
            if amount > 0 {
                gateway.settlement.record(Debit { tenant_id, amount, request_id: &report.event.request_id, at });
            }
            report.publish(&gateway);
            return None;
        }
        let commit = tokio::spawn(async move {
            let debit = Debit { tenant_id, amount, request_id: &report.event.request_id, at };
            let committed = gateway.settlement.record_durably(debit, reservation).await;
            match &committed {
                Ok(held) => report.ids.committed = *held,
                Err(e) => {
                    tracing::error!(error = %e, request_id = report.event.request_id, "strict metered charge not committed");
                    report.event.cost = 0;
                }
            }
            report.publish(&gateway);
            committed.map(|_| ())
        });
        wait.then_some(commit)
    }
}

impl hyper::body::Body for MeteredBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(commit) = &mut this.committing {
                let committed = ready!(Pin::new(commit).poll(cx));
                this.committing = None;
                return match committed {
                    Ok(Ok(())) => Poll::Ready(this.held.take().map(Ok)),
                    // Not charged after all: the answer is cut short, so the client can tell.
                    _ => Poll::Ready(Some(Err("the call's charge could not be recorded".into()))),
                };
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let (Some(data), Some(Charging { pending: Pending { scan: Some(scan), .. }, .. })) =
                        (frame.data_ref(), &mut this.charging)
                    {
                        scan.feed(data);
                    }
                    // The last frame of a body of known length: the server may not ask again.
                    if this.inner.is_end_stream()
                        && let Some(commit) = this.charging.take().and_then(Charging::settle)
                    {
                        this.committing = Some(commit);
                        this.held = Some(frame);
                        continue;
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(e)) => {
                    if let Some(charging) = this.charging.take() {
                        charging.cancel();
                    }
                    return Poll::Ready(Some(Err(e.into())));
                }
                None => {
                    if let Some(commit) = this.charging.take().and_then(Charging::settle) {
                        this.committing = Some(commit);
                        continue;
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.charging.is_none() && self.committing.is_none() && self.held.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        if let Some(charging) = self.charging.take() {
            // An empty body (204, 304, HEAD, `Content-Length: 0`) is never polled: it ended.
            if hyper::body::Body::is_end_stream(&self.inner) {
                drop(charging.settle()); // a strict commit runs on by itself
            } else {
                charging.cancel();
            }
        }
    }
}
