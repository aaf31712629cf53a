//! Operator credit movements: top-up, adjustment, refund. Each needs an idempotency key,
//! so a retried or double-clicked request moves credits once.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Change};
use crate::command::{Command, Ctx};
use crate::ledger::{self, EntryKind, LedgerEntry, Posting};
use crate::{Console, ConsoleError, tenants, validate};

/// What a credit movement did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreditMovement {
    pub tenant: String,
    /// The ledger entry (the original one when this was a replay).
    pub entry: LedgerEntry,
    /// The tenant's balance now.
    pub balance: i64,
    /// True when the idempotency key had been used already and nothing moved this time.
    pub replayed: bool,
}

/// `credits.topup`: add credits the customer paid for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct TopUp {
    #[cfg_attr(feature = "cli", arg(long))]
    pub tenant: String,
    /// Credits to add (positive).
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    pub amount: i64,
    /// Unique per top-up; repeating it returns the first result.
    #[cfg_attr(feature = "cli", arg(long))]
    pub idempotency_key: String,
    /// Why, for the audit log.
    #[cfg_attr(feature = "cli", arg(long))]
    pub note: Option<String>,
}

impl Command for TopUp {
    const NAME: &'static str = "credits.topup";
    const SUMMARY: &'static str = "Add credits to a tenant";
    type Output = CreditMovement;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<CreditMovement, ConsoleError> {
        let amount = validate::positive_credits("amount", self.amount)?;
        let movement = Movement { kind: EntryKind::Topup, amount, request_id: None };
        apply(console, ctx, Self::NAME, &self.tenant, &self.idempotency_key, self.note.as_deref(), movement).await
    }
}

/// `credits.adjust`: an operator's correction, up or down (never below zero).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    #[cfg_attr(feature = "cli", arg(long))]
    pub tenant: String,
    /// Signed credits: positive adds, negative removes.
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    pub amount: i64,
    #[cfg_attr(feature = "cli", arg(long))]
    pub idempotency_key: String,
    /// Required: an adjustment must say why.
    #[cfg_attr(feature = "cli", arg(long))]
    pub reason: String,
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
        let movement = Movement { kind: EntryKind::Adjustment, amount, request_id: None };
        apply(console, ctx, Self::NAME, &self.tenant, &self.idempotency_key, Some(&reason), movement).await
    }
}

/// `credits.refund`: give back credits charged for usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct Refund {
    #[cfg_attr(feature = "cli", arg(long))]
    pub tenant: String,
    /// Credits to give back (positive).
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    pub amount: i64,
    #[cfg_attr(feature = "cli", arg(long))]
    pub idempotency_key: String,
    /// The gateway request being refunded, when known.
    #[cfg_attr(feature = "cli", arg(long))]
    pub request_id: Option<String>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub reason: Option<String>,
}

impl Command for Refund {
    const NAME: &'static str = "credits.refund";
    const SUMMARY: &'static str = "Give back credits charged for usage";
    type Output = CreditMovement;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<CreditMovement, ConsoleError> {
        let amount = validate::positive_credits("amount", self.amount)?;
        let request_id = validate::note("request_id", self.request_id.as_deref())?;
        let movement = Movement { kind: EntryKind::Refund, amount, request_id };
        apply(console, ctx, Self::NAME, &self.tenant, &self.idempotency_key, self.reason.as_deref(), movement).await
    }
}

struct Movement {
    kind: EntryKind,
    amount: i64,
    request_id: Option<String>,
}

/// Posts one operator movement and its audit entry in one transaction.
async fn apply(
    console: &Console,
    ctx: &Ctx,
    action: &str,
    tenant: &str,
    idempotency_key: &str,
    reason: Option<&str>,
    movement: Movement,
) -> Result<CreditMovement, ConsoleError> {
    let key = validate::idempotency_key("idempotency_key", idempotency_key)?;
    let reason = validate::note("reason", reason)?;
    let mut tx = console.begin().await?;
    let tenant = tenants::by_slug(&mut tx, tenant).await?;
    let posted = ledger::post(
        &mut tx,
        &ctx.actor,
        ctx.now,
        Posting {
            tenant_id: tenant.id,
            kind: movement.kind,
            amount: movement.amount,
            reason: reason.as_deref(),
            request_id: movement.request_id.as_deref(),
            idempotency_key: Some(&key),
        },
    )
    .await?;
    let balance: i64 =
        sqlx::query_scalar("SELECT balance FROM tenants WHERE id = ?").bind(tenant.id).fetch_one(&mut *tx).await?;
    if !posted.replayed {
        let before = serde_json::json!({ "balance": tenant.balance });
        let after = serde_json::json!({ "balance": balance, "amount": movement.amount, "entry_id": posted.entry.id });
        let change = Change::updated(action, tenants::target(&tenant.slug), &before, &after).because(reason.as_deref());
        audit::commit(console, tx, ctx, change).await?;
    }
    Ok(CreditMovement { tenant: tenant.slug, entry: posted.entry, balance, replayed: posted.replayed })
}
