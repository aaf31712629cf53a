//! The `payments` commands: each validates, applies through the store and commits.

use crate::console::command::{Command, Ctx};
use crate::console::stripe;
use crate::domain::list::List;
use crate::store::payments::Receipt;
use crate::store::payments::ReceiveError;
use crate::store::payments::verify;
use crate::store::payments::{PaymentEvent, PaymentEventList};
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

/// Takes one Stripe webhook delivery: checks its signature with the configured secret,
/// applies the event once, records it, and says what it did.
pub async fn receive_stripe(console: &Console, signature: Option<&str>, body: &[u8]) -> Result<Receipt, ReceiveError> {
    // From memory when the gateway runs (a flood of forged deliveries costs no query).
    let secret = match console.live() {
        Some(live) => live.settings().stripe_webhook_secret.clone(),
        None => {
            let mut conn = console.store().read().acquire().await.map_err(ConsoleError::from)?;
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
