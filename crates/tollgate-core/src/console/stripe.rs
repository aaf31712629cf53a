//! What each Stripe event does, through the console's own commands (so every change is in
//! the ledger and the audit log, by the actor `stripe`):
//!
//! - `checkout.session.completed` (paid) or `checkout.session.async_payment_succeeded`:
//!   tops up `metadata.credits` credits (idempotency key `stripe:<session id>`, the amount
//!   paid recorded with the entry), and links the session's customer to the tenant;
//! - `invoice.paid` (a subscription invoice, paid more than 0): a past-due subscription
//!   whose period still runs is active again; otherwise it is renewed, once per period (an
//!   early one is not final, so Stripe's redelivery renews once the period ends);
//! - `invoice.payment_failed`: the subscription is past due (its grace period starts),
//!   unless it is already past due or ended;
//! - `customer.subscription.deleted`: the subscription is canceled;
//! - anything else: acknowledged and ignored.
//!
//! The tenant is the one whose `stripe_customer` is the object's `customer`, else the slug
//! in `metadata.tenant`, else `client_reference_id` (what a Payment Link's
//! `?client_reference_id=` carries: put the tenant's slug there in the billing link).

use serde::Deserialize;
use serde_json::Value;

use crate::console::command::{Command, Ctx};
use crate::store::credits::TopUp;
use crate::store::payments::{Done, PaymentOutcome};
use crate::store::subscriptions::{self, Renew, SetStatus, SubscriptionStatus};
use crate::store::tenants::{self, TenantUpdate};
use crate::{Console, ConsoleError};

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

fn text<'a>(object: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(object, |v, key| v.get(key))?.as_str().filter(|s| !s.is_empty())
}

/// The tenant's slug: by customer id, then `metadata.tenant`, then `client_reference_id`.
async fn tenant_of(console: &Console, object: &Value) -> Result<Option<String>, ConsoleError> {
    if let Some(customer) = text(object, &["customer"]) {
        let mut conn = console.store().reader().await?;
        let slug = tenants::of_customer(&mut conn, customer).await?;
        if slug.is_some() {
            return Ok(slug);
        }
    }
    for path in [&["metadata", "tenant"][..], &["client_reference_id"][..]] {
        if let Some(slug) = text(object, path) {
            let mut conn = console.store().reader().await?;
            let found = tenants::find(&mut conn, slug).await?.map(|t| t.slug);
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    Ok(None)
}

/// The tenant's subscription status and period end.
async fn subscription_of(
    console: &Console,
    tenant: &str,
) -> Result<(SubscriptionStatus, chrono::DateTime<chrono::Utc>), ConsoleError> {
    let mut conn = console.store().reader().await?;
    let tenant = tenants::by_slug(&mut conn, tenant).await?;
    let subscription = subscriptions::of(&mut conn, tenant.id).await?;
    Ok((subscription.status, subscription.period_end))
}

/// A checkout matched by slug names the Stripe customer: kept on the tenant (when it has
/// none), so the subscription's invoices find it too.
async fn link_customer(console: &Console, ctx: &Ctx, tenant: &str, object: &Value) -> Result<(), ConsoleError> {
    let Some(customer) = text(object, &["customer"]) else { return Ok(()) };
    let mut conn = console.store().reader().await?;
    let held = tenants::by_slug(&mut conn, tenant).await?.stripe_customer;
    if held.is_some() {
        return Ok(());
    }
    let link = TenantUpdate { tenant: tenant.into(), stripe_customer: Some(customer.into()), ..Default::default() };
    match link.run(console, ctx).await {
        Ok(_) => Ok(()),
        Err(e @ (ConsoleError::StorageUnavailable(_) | ConsoleError::Store(_))) => Err(e),
        Err(e) => {
            tracing::warn!(tenant, customer, error = %e, "cannot link the Stripe customer to the tenant");
            Ok(())
        }
    }
}

/// `metadata.credits` as a positive whole number (Stripe metadata values are strings).
fn credits(object: &Value) -> Option<i64> {
    let value = object.get("metadata")?.get("credits")?;
    value.as_i64().or_else(|| value.as_str()?.trim().parse().ok()).filter(|n| *n > 0)
}

/// Applies `event`; a refused command is a `Failed` outcome, a storage failure an error
/// (the provider delivers again later).
pub async fn apply(console: &Console, ctx: &Ctx, event: &Event) -> Result<Done, ConsoleError> {
    let handled = [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "invoice.paid",
        "invoice.payment_failed",
        "customer.subscription.deleted",
    ];
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
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            // A bank debit completes unpaid and succeeds later (async_payment_succeeded): the
            // unpaid completion waits (not final), and either event credits the session once.
            if text(object, &["payment_status"]) != Some("paid") {
                let why = format!("checkout {id}: not paid yet (a bank debit credits on async_payment_succeeded)");
                return Ok(Done::new(Some(&tenant), PaymentOutcome::Ignored, why));
            }
            let Some(amount) = credits(object) else {
                let why = "it carries no metadata.credits";
                return Ok(Done::new(Some(&tenant), PaymentOutcome::Ignored, format!("checkout {id}: {why}")));
            };
            link_customer(console, ctx, &tenant, object).await?;
            let top_up = TopUp {
                tenant: tenant.clone(),
                amount,
                // Per session: its completion and its async success never both credit.
                idempotency_key: text(object, &["id"])
                    .map_or_else(|| format!("stripe:{}", event.id), |session| format!("stripe:{session}")),
                note: Some(format!("Stripe checkout {id}")),
                paid_minor: object.get("amount_total").and_then(Value::as_i64),
            };
            top_up.run(console, ctx).await.map(|_| format!("topped up {amount} credits (checkout {id})"))
        }
        "invoice.paid" => {
            // Only a paid subscription invoice: a $0 trial invoice or a one-off invoice
            // grants no period.
            let amount = object.get("amount_paid").and_then(Value::as_i64).unwrap_or(0);
            if text(object, &["subscription"]).is_none() || amount <= 0 {
                let why = format!("invoice {id}: not a paid subscription invoice (amount_paid {amount})");
                return Ok(Done::new(Some(&tenant), PaymentOutcome::Ignored, why));
            }
            let (status, period_end) = subscription_of(console, &tenant).await?;
            let reason = Some(format!("Stripe invoice {id} paid"));
            if status == SubscriptionStatus::PastDue && period_end > ctx.now {
                // A failed payment retried within the period pays that period.
                let set = SetStatus { tenant: tenant.clone(), status: SubscriptionStatus::Active, reason };
                set.run(console, ctx)
                    .await
                    .map(|_| "past due payment made: the subscription is active again".to_string())
            } else {
                let renewed = Renew { tenant: tenant.clone(), reason }.run(console, ctx).await?;
                if renewed.period_end == period_end {
                    // Not due yet (Stripe's period ends before Tollgate's): not final, so
                    // Stripe's next delivery renews once the period is over.
                    let why = format!("invoice {id}: the period runs until {period_end}; not renewed yet");
                    return Ok(Done::new(Some(&tenant), PaymentOutcome::Failed, why));
                }
                Ok(format!("subscription renewed until {}", renewed.period_end.format("%Y-%m-%d")))
            }
        }
        kind => {
            let (status, words) = if kind == "invoice.payment_failed" {
                (SubscriptionStatus::PastDue, format!("Stripe invoice {id}: payment failed"))
            } else {
                (SubscriptionStatus::Canceled, format!("Stripe subscription {id} deleted"))
            };
            // Stripe's retries fail again and events arrive out of order: a subscription
            // already past due keeps its grace, and an ended one is not revived.
            let (now, _) = subscription_of(console, &tenant).await?;
            let settled = match status {
                SubscriptionStatus::PastDue => {
                    matches!(
                        now,
                        SubscriptionStatus::PastDue | SubscriptionStatus::Canceled | SubscriptionStatus::Expired
                    )
                }
                _ => now == SubscriptionStatus::Canceled,
            };
            if settled {
                let why = format!("{words}: nothing to change, the subscription is {now:?}").to_lowercase();
                return Ok(Done::new(Some(&tenant), PaymentOutcome::Ignored, why));
            }
            let said = if status == SubscriptionStatus::PastDue { "past due" } else { "canceled" };
            let set = SetStatus { tenant: tenant.clone(), status, reason: Some(words.clone()) };
            set.run(console, ctx).await.map(|_| format!("{words}: the subscription is {said}"))
        }
    };
    match result {
        Ok(detail) => Ok(Done::new(Some(&tenant), PaymentOutcome::Applied, detail)),
        Err(e @ (ConsoleError::StorageUnavailable(_) | ConsoleError::Store(_))) => Err(e),
        Err(e) => Ok(Done::new(Some(&tenant), PaymentOutcome::Failed, e.to_string())),
    }
}
