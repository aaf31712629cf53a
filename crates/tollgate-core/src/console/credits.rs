//! `credits.topup`, `credits.adjust`, `credits.refund`: credit movements through the ledger,
//! each with its audit entry, moving the gateway's balance with it.

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::domain::validate;
use crate::store::audit::Change;
use crate::store::credits::{Adjust, CreditMovement, Movement, Refund, TopUp, check_refundable};
use crate::store::ledger::leases;
use crate::store::ledger::{self, EntryKind, Paid, Posting};
use crate::store::{plans, tenants};
use crate::{Console, ConsoleError};

impl Command for TopUp {
    const NAME: &'static str = "credits.topup";
    const SUMMARY: &'static str = "Add credits to a tenant";
    type Output = CreditMovement;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<CreditMovement, ConsoleError> {
        let amount = validate::positive_credits("amount", self.amount)?;
        let paid_minor = self.paid_minor.map(|p| validate::bounded("paid_minor", p)).transpose()?;
        if paid_minor.is_some_and(|p| p < 0) {
            return Err(ConsoleError::invalid("paid_minor", "must be 0 or more (minor units, e.g. 4900 for 49.00)"));
        }
        let movement = Movement { kind: EntryKind::Topup, amount, request_id: None, paid_minor };
        let note = ("note", self.note.as_deref());
        apply(console, ctx, Self::NAME, &self.tenant, &self.idempotency_key, note, movement).await
    }
}

impl Command for Adjust {
    const NAME: &'static str = "credits.adjust";
    const SUMMARY: &'static str = "Correct a tenant's credits up or down, with a reason";
    type Output = CreditMovement;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<CreditMovement, ConsoleError> {
        if self.amount == 0 {
            return Err(ConsoleError::invalid("amount", "must not be zero"));
        }
        let amount = validate::bounded("amount", self.amount)?;
        let reason = validate::note("reason", Some(&self.reason))?
            .ok_or_else(|| ConsoleError::invalid("reason", "an adjustment needs a reason"))?;
        let movement = Movement { kind: EntryKind::Adjustment, amount, request_id: None, paid_minor: None };
        let reason = ("reason", Some(reason.as_str()));
        apply(console, ctx, Self::NAME, &self.tenant, &self.idempotency_key, reason, movement).await
    }
}

impl Command for Refund {
    const NAME: &'static str = "credits.refund";
    const SUMMARY: &'static str = "Give back credits a request was charged, up to its charge";
    type Output = CreditMovement;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<CreditMovement, ConsoleError> {
        let amount = validate::positive_credits("amount", self.amount)?;
        let request_id = self.request_id.trim();
        if request_id.is_empty() {
            return Err(ConsoleError::invalid("request_id", "name the charged request to refund"));
        }
        validate::plain_text("request_id", request_id)?;
        let movement =
            Movement { kind: EntryKind::Refund, amount, request_id: Some(request_id.to_string()), paid_minor: None };
        let reason = ("reason", self.reason.as_deref());
        apply(console, ctx, Self::NAME, &self.tenant, &self.idempotency_key, reason, movement).await
    }
}

/// Posts one operator movement and its audit entry in one transaction. `reason` is the
/// input field holding the why (`note` or `reason`) and its text.
pub(crate) async fn apply(
    console: &Console,
    ctx: &Ctx,
    action: &str,
    tenant: &str,
    idempotency_key: &str,
    (reason_field, reason): (&str, Option<&str>),
    movement: Movement,
) -> Result<CreditMovement, ConsoleError> {
    let key = validate::idempotency_key("idempotency_key", idempotency_key)?;
    let reason = validate::note(reason_field, reason)?;
    let mut tx = console.begin().await?;
    let tenant = tenants::by_slug(&mut tx, tenant).await?;
    if let (EntryKind::Refund, Some(request_id)) = (movement.kind, &movement.request_id) {
        // A repeat of an earlier refund replays it (below) rather than counting against
        // what that refund itself used up.
        let repeat = ledger::by_idempotency_key(&mut tx, tenant.id, &key).await?;
        if repeat.is_none() {
            check_refundable(&mut tx, console.request_log(), tenant.id, request_id, movement.amount).await?;
        }
    }
    let currency: Option<String> = match movement.paid_minor {
        Some(_) => Some(plans::currency_of(&mut tx, tenant.id).await?),
        None => None,
    };
    let paid = movement.paid_minor.zip(currency.as_deref()).map(|(minor, currency)| Paid { minor, currency });
    let posted = ledger::post(
        &mut tx,
        console.balances().as_ref(),
        &ctx.actor,
        ctx.now,
        Posting {
            tenant_id: tenant.id,
            kind: movement.kind,
            amount: movement.amount,
            reason: reason.as_deref(),
            request_id: movement.request_id.as_deref(),
            idempotency_key: Some(&key),
            paid,
        },
    )
    .await?;
    let balance = tenants::balance(&mut tx, tenant.id).await?;
    if !posted.replayed {
        let before = serde_json::json!({ "balance": tenant.balance });
        let mut after =
            serde_json::json!({ "balance": balance, "amount": movement.amount, "entry_id": posted.entry.id });
        if let Some(paid) = paid {
            after["paid"] = serde_json::json!({ "minor": paid.minor, "currency": paid.currency });
        }
        let change = Change::updated(action, tenants::target(&tenant.slug), &before, &after).because(reason.as_deref());
        commit(console, tx, ctx, change).await?;
    }
    // Committed: memory is in step, and counts usage not yet written.
    let leased = leases::held(&mut console.store().reader().await?).await?;
    let balance = crate::console::tenants::charged_balance(console, tenant.id, balance, &leased);
    Ok(CreditMovement { tenant: tenant.slug, entry: posted.entry, balance, replayed: posted.replayed })
}
