//! What each Stripe event does, through the console's own commands (so every change is in
//! the ledger and the audit log, by the actor `stripe`):
//!
//! - `checkout.session.completed`, paid: tops up `metadata.credits` credits (idempotency
//!   key `stripe:<event id>`, the amount paid recorded with the entry);
//! - `invoice.paid`: a past-due subscription whose period still runs is active again;
//!   otherwise the subscription is renewed (once per period);
//! - `invoice.payment_failed`: the subscription is past due (its grace period starts);
//! - `customer.subscription.deleted`: the subscription is canceled;
//! - anything else: acknowledged and ignored.
//!
//! The tenant is the one whose `stripe_customer` is the object's `customer`, else the slug
//! in `metadata.tenant`, else `client_reference_id` (what a Payment Link's
//! `?client_reference_id=` carries: put the tenant's slug there in the billing link).

use serde::Deserialize;
use serde_json::Value;

use crate::command::{Command, Ctx};
use crate::credits::TopUp;
use crate::subscriptions::{Renew, SetStatus, SubscriptionStatus};
use crate::{Console, ConsoleError};

use super::PaymentOutcome;

/// The parts of a Stripe event read here.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Data,
}

#[derive(Debug, Deserialize)]
pub struct Data {
    pub object: Value,
}

/// What applying an event did.
pub struct Done {
    pub tenant: Option<String>,
    pub outcome: PaymentOutcome,
    pub detail: String,
}

impl Done {
    fn new(tenant: Option<&str>, outcome: PaymentOutcome, detail: impl Into<String>) -> Self {
        Self { tenant: tenant.map(str::to_string), outcome, detail: detail.into() }
    }
}

fn text<'a>(object: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(object, |v, key| v.get(key))?.as_str().filter(|s| !s.is_empty())
}

/// The tenant's slug: by customer id, then `metadata.tenant`, then `client_reference_id`.
async fn tenant_of(console: &Console, object: &Value) -> Result<Option<String>, ConsoleError> {
    if let Some(customer) = text(object, &["customer"]) {
        let slug: Option<String> = sqlx::query_scalar("SELECT slug FROM tenants WHERE stripe_customer = ?")
            .bind(customer)
            .fetch_optional(console.store().read())
            .await?;
        if slug.is_some() {
            return Ok(slug);
        }
    }
    for path in [&["metadata", "tenant"][..], &["client_reference_id"][..]] {
        if let Some(slug) = text(object, path) {
            let found: Option<String> = sqlx::query_scalar("SELECT slug FROM tenants WHERE slug = ?")
                .bind(slug)
                .fetch_optional(console.store().read())
                .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    Ok(None)
}

/// `metadata.credits` as a positive whole number (Stripe metadata values are strings).
fn credits(object: &Value) -> Option<i64> {
    let value = object.get("metadata")?.get("credits")?;
    value.as_i64().or_else(|| value.as_str()?.trim().parse().ok()).filter(|n| *n > 0)
}

/// Applies `event`; a refused command is a `Failed` outcome, a storage failure an error
/// (the provider delivers again later).
pub async fn apply(console: &Console, ctx: &Ctx, event: &Event) -> Result<Done, ConsoleError> {
    let handled =
        ["checkout.session.completed", "invoice.paid", "invoice.payment_failed", "customer.subscription.deleted"];
    if !handled.contains(&event.kind.as_str()) {
        return Ok(Done::new(
            None,
            PaymentOutcome::Ignored,
            format!("{} is not an event Tollgate acts on", event.kind),
        ));
    }
    let object = &event.data.object;
    let Some(tenant) = tenant_of(console, object).await? else {
        let customer = text(object, &["customer"]).unwrap_or("none");
        return Ok(Done::new(
            None,
            PaymentOutcome::Unmatched,
            format!(
                "no tenant has Stripe customer {customer}, and no tenant slug is in metadata.tenant or client_reference_id"
            ),
        ));
    };
    let id = text(object, &["id"]).unwrap_or("?");
    let result = match event.kind.as_str() {
        "checkout.session.completed" => {
            let paid = matches!(text(object, &["payment_status"]), Some("paid" | "no_payment_required"));
            let Some(amount) = credits(object).filter(|_| paid) else {
                let why = if paid { "it carries no metadata.credits" } else { "it is not paid yet" };
                return Ok(Done::new(Some(&tenant), PaymentOutcome::Ignored, format!("checkout {id}: {why}")));
            };
            let top_up = TopUp {
                tenant: tenant.clone(),
                amount,
                idempotency_key: format!("stripe:{}", event.id),
                note: Some(format!("Stripe checkout {id}")),
                paid_minor: object.get("amount_total").and_then(Value::as_i64),
            };
            top_up.run(console, ctx).await.map(|_| format!("topped up {amount} credits (checkout {id})"))
        }
        "invoice.paid" => {
            // A failed payment retried within the period pays that period: active again. Any
            // other paid invoice opens the next period (once: renew does nothing early).
            let (status, period_end): (SubscriptionStatus, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
                "SELECT s.status, s.period_end FROM subscriptions s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = ?",
            )
            .bind(&tenant)
            .fetch_one(console.store().read())
            .await?;
            let reason = Some(format!("Stripe invoice {id} paid"));
            if status == SubscriptionStatus::PastDue && period_end > ctx.now {
                let set = SetStatus { tenant: tenant.clone(), status: SubscriptionStatus::Active, reason };
                set.run(console, ctx)
                    .await
                    .map(|_| "past due payment made: the subscription is active again".to_string())
            } else {
                let renew = Renew { tenant: tenant.clone(), reason };
                renew
                    .run(console, ctx)
                    .await
                    .map(|s| format!("subscription renewed until {}", s.period_end.format("%Y-%m-%d")))
            }
        }
        kind => {
            let (status, words) = if kind == "invoice.payment_failed" {
                (SubscriptionStatus::PastDue, format!("Stripe invoice {id}: payment failed"))
            } else {
                (SubscriptionStatus::Canceled, format!("Stripe subscription {id} deleted"))
            };
            let set = SetStatus { tenant: tenant.clone(), status, reason: Some(words.clone()) };
            let now = if status == SubscriptionStatus::PastDue { "past due" } else { "canceled" };
            set.run(console, ctx).await.map(|_| format!("{words}: the subscription is {now}"))
        }
    };
    match result {
        Ok(detail) => Ok(Done::new(Some(&tenant), PaymentOutcome::Applied, detail)),
        Err(e @ (ConsoleError::StorageUnavailable(_) | ConsoleError::Store(_))) => Err(e),
        Err(e) => Ok(Done::new(Some(&tenant), PaymentOutcome::Failed, e.to_string())),
    }
}
