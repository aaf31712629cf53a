//! Operator credit movements: top-up, adjustment, refund. Each needs an idempotency key,
//! so a retried or double-clicked request moves credits once.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Change};
use crate::command::{Command, Ctx};
use crate::ledger::{self, EntryKind, LedgerEntry, Paid, Posting};
use crate::request_log::{Lookup, RequestId, RequestLog};
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
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// Credits to add (positive).
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    #[schema(minimum = 1, maximum = 1e15)]
    pub amount: i64,
    /// Unique per top-up; repeating it returns the first result.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[!-~]{1,200}$")]
    pub idempotency_key: String,
    /// Why, for the audit log.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub note: Option<String>,
    /// What the customer paid, in minor units of the tenant's plan currency (4900 = 49.00
    /// USD); kept with the entry for the overview's revenue.
    #[cfg_attr(feature = "cli", arg(long = "paid", value_name = "PAID_MINOR"))]
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1e15)]
    pub paid_minor: Option<i64>,
}

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

/// `credits.adjust`: an operator's correction, up or down (never below zero).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// Signed credits: positive adds, negative removes.
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    #[schema(minimum = -1e15, maximum = 1e15)]
    pub amount: i64,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[!-~]{1,200}$")]
    pub idempotency_key: String,
    /// Required: an adjustment must say why.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
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
        let movement = Movement { kind: EntryKind::Adjustment, amount, request_id: None, paid_minor: None };
        let reason = ("reason", Some(reason.as_str()));
        apply(console, ctx, Self::NAME, &self.tenant, &self.idempotency_key, reason, movement).await
    }
}

/// `credits.refund`: give back credits the gateway charged for one request. The request
/// must be a charge (a `debit` entry) of this tenant, and all refunds against it together
/// cannot exceed what it cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct Refund {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// Credits to give back (positive; at most what is left of the charge).
    #[cfg_attr(feature = "cli", arg(long, allow_negative_numbers = true))]
    #[schema(minimum = 1, maximum = 1e15)]
    pub amount: i64,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[!-~]{1,200}$")]
    pub idempotency_key: String,
    /// The gateway request whose charge is refunded (its `X-Request-Id`, as in the ledger).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub request_id: String,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub reason: Option<String>,
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

struct Movement {
    kind: EntryKind,
    amount: i64,
    /// For a refund: the charged request it gives credits back for.
    request_id: Option<String>,
    /// For a top-up: what the customer paid, in the tenant's plan currency.
    paid_minor: Option<i64>,
}

/// Checks that `request_id` is a charge of `tenant_id` with at least `amount` credits not
/// yet refunded. A request's charge is found as a debit naming it (a database written
/// before usage was summed), or in the request log for a recent request, `strict` or
/// `batched` (its usage is summed per tenant in the ledger, so the log is the only
/// per-request record; see [`crate::charges`]). Refunds are a scan of the tenant's
/// entries: they are rare, and an index on request ids would cost every usage entry the
/// gateway writes.
async fn check_refundable(
    conn: &mut sqlx::SqliteConnection,
    log: Option<&RequestLog>,
    tenant_id: i64,
    request_id: &str,
    amount: i64,
) -> Result<(), ConsoleError> {
    let (charged, refunded): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT -SUM(CASE WHEN kind = 'debit' THEN amount END), SUM(CASE WHEN kind = 'refund' THEN amount END)
         FROM ledger WHERE tenant_id = ?1 AND request_id = ?2",
    )
    .bind(tenant_id)
    .bind(request_id)
    .fetch_one(conn)
    .await?;
    let charged = charged.or_else(|| logged_charge(log?, tenant_id, request_id));
    let Some(charged) = charged else {
        // Not this tenant's charge (another's, a denial, a typo): nothing to give back.
        return Err(ConsoleError::not_found("charge", request_id));
    };
    let left = charged - refunded.unwrap_or(0);
    if amount > left {
        return Err(ConsoleError::invalid(
            "amount",
            format!(
                "request {request_id} was charged {charged} credits and {left} are left to refund; {amount} is too many"
            ),
        ));
    }
    Ok(())
}

/// What the request log says `request_id` charged `tenant_id`, if it was served to them.
fn logged_charge(log: &RequestLog, tenant_id: i64, request_id: &str) -> Option<i64> {
    match log.find(RequestId::parse(request_id)?) {
        Ok(Lookup::Found(r)) if r.tenant_id == Some(tenant_id) && r.code.as_str().is_empty() && r.cost > 0 => {
            Some(r.cost)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the request log to find a charge to refund");
            None
        }
    }
}

/// Posts one operator movement and its audit entry in one transaction. `reason` is the
/// input field holding the why (`note` or `reason`) and its text.
async fn apply(
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
        let repeat: Option<i64> =
            sqlx::query_scalar("SELECT id FROM ledger WHERE tenant_id = ? AND idempotency_key = ?")
                .bind(tenant.id)
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
        if repeat.is_none() {
            check_refundable(&mut tx, console.request_log(), tenant.id, request_id, movement.amount).await?;
        }
    }
    let currency: Option<String> = match movement.paid_minor {
        Some(_) => Some(
            sqlx::query_scalar(
                "SELECT p.currency FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.tenant_id = ?",
            )
            .bind(tenant.id)
            .fetch_one(&mut *tx)
            .await?,
        ),
        None => None,
    };
    let paid = movement.paid_minor.zip(currency.as_deref()).map(|(minor, currency)| Paid { minor, currency });
    let posted = ledger::post(
        &mut tx,
        console.live(),
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
    let balance: i64 =
        sqlx::query_scalar("SELECT balance FROM tenants WHERE id = ?").bind(tenant.id).fetch_one(&mut *tx).await?;
    if !posted.replayed {
        let before = serde_json::json!({ "balance": tenant.balance });
        let mut after =
            serde_json::json!({ "balance": balance, "amount": movement.amount, "entry_id": posted.entry.id });
        if let Some(paid) = paid {
            after["paid"] = serde_json::json!({ "minor": paid.minor, "currency": paid.currency });
        }
        let change = Change::updated(action, tenants::target(&tenant.slug), &before, &after).because(reason.as_deref());
        audit::commit(console, tx, ctx, change).await?;
    }
    // Committed: memory is in step, and counts usage not yet written.
    let balance = tenants::charged_balance(console, tenant.id, balance);
    Ok(CreditMovement { tenant: tenant.slug, entry: posted.entry, balance, replayed: posted.replayed })
}
