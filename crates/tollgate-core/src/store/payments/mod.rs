//! Payment-provider events: a customer who pays through the link in their 402 is let in
//! again without the operator typing anything. Stripe's webhook events are verified
//! (`signature.rs`), applied through the console's own commands (`stripe.rs`), and each is
//! recorded with what it did, so the operator sees every event and a redelivered one
//! changes nothing.
//!
//! Nothing here knows HTTP: the gateway's listener hands over the `Stripe-Signature`
//! header and the body, and turns [`Receipt`] or [`ReceiveError`] into an answer.

mod signature;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::store::dialects;
use crate::store::{Connection, on};

pub use signature::{SignatureError, TOLERANCE_S, sign, verify};

/// What an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum PaymentOutcome {
    /// It changed the tenant: credits topped up, a subscription renewed, past due or canceled.
    Applied,
    /// A type Tollgate does not act on, or one that carries nothing to do (unpaid checkout).
    Ignored,
    /// No tenant has its customer id (or its slug in the metadata); a redelivery after the
    /// operator links the customer applies it.
    Unmatched,
    /// The command it maps to refused (e.g. no subscription); a redelivery tries again.
    Failed,
}

impl PaymentOutcome {
    /// Applied and ignored events are done: a redelivery only replays what was recorded.
    pub(crate) fn is_final(self) -> bool {
        matches!(self, Self::Applied | Self::Ignored)
    }
}

/// One received event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct PaymentEvent {
    /// The provider's event id, e.g. `evt_1Q…`: the idempotency key.
    pub event_id: String,
    pub provider: String,
    /// e.g. `checkout.session.completed`.
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub received_at: DateTime<Utc>,
    /// The tenant it concerned, when one was found.
    pub tenant: Option<String>,
    pub outcome: PaymentOutcome,
    /// What was done, in words: "topped up 500 credits", or why nothing was.
    pub detail: String,
    /// Deliveries of this event received (Stripe retries until it gets a 2xx).
    pub deliveries: i64,
}

/// The answer to one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub event: PaymentEvent,
    /// True when the event was done already: nothing changed this time.
    pub replayed: bool,
}

/// Why a delivery was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// No signing secret is set: the endpoint is off.
    #[error("the Stripe endpoint is off: set stripe_webhook_secret (Settings) to the endpoint's signing secret")]
    Off,
    #[error("bad signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("the payload is not a Stripe event: {0}")]
    Payload(String),
    /// Storage failed: the provider should deliver again later.
    #[error(transparent)]
    Console(#[from] ConsoleError),
}

/// `payment.events`: the payment-provider events received, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct PaymentEventList {
    /// Only events about this tenant (its slug).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The newest `limit` events (about `tenant`).
pub(crate) async fn events(conn: &mut Connection, tenant: Option<&str>, limit: i64) -> sqlx::Result<Vec<PaymentEvent>> {
    // SQLite's times are to the second: its row order breaks ties in arrival order.
    let sql = dialects!(conn.engine(),
        "SELECT * FROM payment_events WHERE ($1 IS NULL OR tenant = $2)
         ORDER BY received_at DESC, " {"rowid", "event_id"} " DESC LIMIT $3"
    );
    on!(conn, |c| sqlx::query_as(sql).bind(tenant).bind(tenant).bind(limit).fetch_all(c).await)
}

/// Event `event_id` as recorded, if it was.
pub(crate) async fn event(conn: &mut Connection, event_id: &str) -> sqlx::Result<Option<PaymentEvent>> {
    on!(conn, |c| sqlx::query_as("SELECT * FROM payment_events WHERE event_id = $1")
        .bind(event_id)
        .fetch_optional(c)
        .await)
}

/// Counts one more delivery of event `event_id`.
pub(crate) async fn count_delivery(conn: &mut Connection, event_id: &str) -> sqlx::Result<()> {
    on!(conn, |c| sqlx::query("UPDATE payment_events SET deliveries = deliveries + 1 WHERE event_id = $1")
        .bind(event_id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Records what a delivery of `provider`'s event `event_id` (of type `kind`) did; a
/// redelivery updates the record and counts itself.
pub(crate) async fn record(
    conn: &mut Connection,
    provider: &str,
    event_id: &str,
    kind: &str,
    at: DateTime<Utc>,
    done: &Done,
) -> sqlx::Result<()> {
    on!(conn, |c| sqlx::query(
        "INSERT INTO payment_events (event_id, provider, type, received_at, tenant, outcome, detail, deliveries)
         VALUES ($1, $7, $2, $3, $4, $5, $6, 1)
         ON CONFLICT (event_id) DO UPDATE SET tenant = excluded.tenant, outcome = excluded.outcome,
            detail = excluded.detail, deliveries = payment_events.deliveries + 1",
    )
    .bind(event_id)
    .bind(kind)
    .bind(at)
    .bind(&done.tenant)
    .bind(done.outcome)
    .bind(&done.detail)
    .bind(provider)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// What applying an event did.
pub struct Done {
    pub tenant: Option<String>,
    pub outcome: PaymentOutcome,
    pub detail: String,
}

impl Done {
    pub(crate) fn new(tenant: Option<&str>, outcome: PaymentOutcome, detail: impl Into<String>) -> Self {
        Self { tenant: tenant.map(str::to_string), outcome, detail: detail.into() }
    }
}
