//! Payment-provider events: a customer who pays through the link in their 402 is let in
//! again without the operator typing anything. Stripe's webhook events are verified
//! (`signature.rs`), applied through the console's own commands (`stripe.rs`), and each is
//! recorded with what it did, so the operator sees every event and a redelivered one
//! changes nothing.
//!
//! Nothing here knows HTTP: the gateway's listener hands over the `Stripe-Signature`
//! header and the body, and turns [`Receipt`] or [`ReceiveError`] into an answer.

mod signature;
mod stripe;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::command::{Command, Ctx};
use crate::list::List;
use crate::{Console, ConsoleError};

pub use signature::{SignatureError, TOLERANCE_S, sign, verify};

/// What an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "snake_case")]
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
    fn is_final(self) -> bool {
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

/// Takes one Stripe webhook delivery: checks its signature with the configured secret,
/// applies the event once, records it, and says what it did.
pub async fn receive_stripe(console: &Console, signature: Option<&str>, body: &[u8]) -> Result<Receipt, ReceiveError> {
    // From memory when the gateway runs (a flood of forged deliveries costs no query).
    let secret = match console.live() {
        Some(live) => live.settings().stripe_webhook_secret.clone(),
        None => {
            let mut conn = console.store().read().acquire().await.map_err(ConsoleError::from)?;
            crate::settings::load(&mut conn).await?.stripe_webhook_secret
        }
    };
    if secret.is_empty() {
        return Err(ReceiveError::Off);
    }
    let ctx = Ctx::now("stripe");
    verify(signature, body, &secret, ctx.now.timestamp())?;
    let event: stripe::Event = serde_json::from_slice(body).map_err(|e| ReceiveError::Payload(e.to_string()))?;
    if let Some(done) = recorded(console, &event.id).await?.filter(|e| e.outcome.is_final()) {
        let mut tx = console.store().write().await.map_err(ConsoleError::from)?;
        sqlx::query("UPDATE payment_events SET deliveries = deliveries + 1 WHERE event_id = ?")
            .bind(&event.id)
            .execute(&mut *tx)
            .await
            .map_err(ConsoleError::from)?;
        tx.commit().await.map_err(ConsoleError::from)?;
        return Ok(Receipt { event: PaymentEvent { deliveries: done.deliveries + 1, ..done }, replayed: true });
    }
    let done = stripe::apply(console, &ctx, &event).await?;
    let mut tx = console.store().write().await.map_err(ConsoleError::from)?;
    sqlx::query(
        "INSERT INTO payment_events (event_id, provider, type, received_at, tenant, outcome, detail, deliveries)
         VALUES (?, 'stripe', ?, ?, ?, ?, ?, 1)
         ON CONFLICT (event_id) DO UPDATE SET tenant = excluded.tenant, outcome = excluded.outcome,
            detail = excluded.detail, deliveries = deliveries + 1",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(ctx.now)
    .bind(&done.tenant)
    .bind(done.outcome)
    .bind(&done.detail)
    .execute(&mut *tx)
    .await
    .map_err(ConsoleError::from)?;
    tx.commit().await.map_err(ConsoleError::from)?;
    let event = recorded(console, &event.id).await?.expect("just written");
    Ok(Receipt { event, replayed: false })
}

async fn recorded(console: &Console, event_id: &str) -> Result<Option<PaymentEvent>, ConsoleError> {
    Ok(sqlx::query_as("SELECT * FROM payment_events WHERE event_id = ?")
        .bind(event_id)
        .fetch_optional(console.store().read())
        .await?)
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

impl Command for PaymentEventList {
    const NAME: &'static str = "payment.events";
    const SUMMARY: &'static str = "List payment-provider events received and what each did";
    type Output = List<PaymentEvent>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<PaymentEvent>, ConsoleError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ConsoleError::invalid("limit", format!("must be 1 to 1000, got {limit}")));
        }
        Ok(List(
            sqlx::query_as(
                "SELECT * FROM payment_events WHERE (? IS NULL OR tenant = ?)
                 ORDER BY received_at DESC, rowid DESC LIMIT ?",
            )
            .bind(&self.tenant)
            .bind(&self.tenant)
            .bind(limit)
            .fetch_all(console.store().read())
            .await?,
        ))
    }
}
