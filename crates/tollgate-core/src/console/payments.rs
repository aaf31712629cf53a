//! `payment.events` and the Stripe webhook: a delivery is checked, applied once through
//! the console's commands, and recorded.

use crate::console::command::{Command, Ctx};
use crate::console::stripe;
use crate::domain::list::List;
use crate::store::payments::{self, PaymentEvent, PaymentEventList, Receipt, ReceiveError, verify};
use crate::{Console, ConsoleError};

impl Command for PaymentEventList {
    const NAME: &'static str = "payment.events";
    const SUMMARY: &'static str = "List payment-provider events received and what each did";
    type Output = List<PaymentEvent>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<PaymentEvent>, ConsoleError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ConsoleError::invalid("limit", format!("must be 1 to 1000, got {limit}")));
        }
        let mut conn = console.store().reader().await?;
        Ok(List(payments::events(&mut conn, self.tenant.as_deref(), limit).await?))
    }
}

/// Takes one Stripe webhook delivery: checks its signature with the configured secret,
/// applies the event once, records it, and says what it did.
pub async fn receive_stripe(console: &Console, signature: Option<&str>, body: &[u8]) -> Result<Receipt, ReceiveError> {
    // From memory when the gateway runs (a flood of forged deliveries costs no query).
    let secret = match console.live() {
        Some(live) => live.settings().stripe_webhook_secret.clone(),
        None => {
            let mut conn = console.store().reader().await.map_err(ConsoleError::from)?;
            crate::store::settings::load(&mut conn).await?.stripe_webhook_secret
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
        payments::count_delivery(&mut tx, &event.id).await.map_err(ConsoleError::from)?;
        tx.commit().await.map_err(ConsoleError::from)?;
        return Ok(Receipt { event: PaymentEvent { deliveries: done.deliveries + 1, ..done }, replayed: true });
    }
    let done = stripe::apply(console, &ctx, &event).await?;
    let mut tx = console.store().write().await.map_err(ConsoleError::from)?;
    payments::record(&mut tx, "stripe", &event.id, &event.kind, ctx.now, &done).await.map_err(ConsoleError::from)?;
    tx.commit().await.map_err(ConsoleError::from)?;
    let event = recorded(console, &event.id).await?.expect("just written");
    Ok(Receipt { event, replayed: false })
}

async fn recorded(console: &Console, event_id: &str) -> Result<Option<PaymentEvent>, ConsoleError> {
    let mut conn = console.store().reader().await?;
    Ok(payments::event(&mut conn, event_id).await?)
}

/// Whether machine payment `payment_id` (x402 or a Payment credential) was taken already.
pub async fn taken(console: &Console, payment_id: &str) -> Result<bool, ConsoleError> {
    Ok(recorded(console, payment_id).await?.is_some())
}

/// A settled machine payment to credit.
pub struct Settled<'a> {
    pub tenant: &'a str,
    /// The payment's id (network, payer and nonce): credited once, whatever happens.
    pub payment_id: &'a str,
    pub credits: i64,
    /// The settlement's transaction on its network.
    pub transaction: &'a str,
    pub payer: Option<&'a str>,
    /// `x402` or `payment` (the header it came in), recorded as the event's type.
    pub via: &'a str,
}

/// Credits a settled machine payment: a top-up through the ledger, idempotent by the
/// payment (a replay credits nothing twice), with the transaction in its note, and a record
/// among the payment events (provider `x402`).
pub async fn credit_settled(console: &Console, payment: Settled<'_>) -> Result<(), ConsoleError> {
    use crate::store::credits::TopUp;
    let ctx = Ctx::now("x402");
    let payer = payment.payer.unwrap_or("an unnamed payer");
    let top_up = TopUp {
        tenant: payment.tenant.to_string(),
        amount: payment.credits,
        idempotency_key: payment.payment_id.to_string(),
        note: Some(format!("x402 payment {} from {payer}", payment.transaction)),
        paid_minor: None,
    };
    top_up.run(console, &ctx).await?;
    let detail = format!("topped up {} credits (transaction {}, from {payer})", payment.credits, payment.transaction);
    let done = payments::Done::new(Some(payment.tenant), payments::PaymentOutcome::Applied, detail);
    let mut tx = console.store().write().await?;
    payments::record(&mut tx, "x402", payment.payment_id, payment.via, ctx.now, &done).await?;
    tx.commit().await?;
    Ok(())
}
