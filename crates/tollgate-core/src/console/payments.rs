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
    payments::record(&mut tx, &event.id, &event.kind, ctx.now, &done).await.map_err(ConsoleError::from)?;
    tx.commit().await.map_err(ConsoleError::from)?;
    let event = recorded(console, &event.id).await?.expect("just written");
    Ok(Receipt { event, replayed: false })
}

async fn recorded(console: &Console, event_id: &str) -> Result<Option<PaymentEvent>, ConsoleError> {
    let mut conn = console.store().reader().await?;
    Ok(payments::event(&mut conn, event_id).await?)
}
