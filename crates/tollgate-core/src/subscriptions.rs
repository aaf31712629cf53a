//! Subscriptions: which plan a tenant is on, and whether its current period is paid.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;
use utoipa::ToSchema;

use crate::audit::{self, Change};
use crate::command::{Command, Ctx};
use crate::ledger::{self, EntryKind, Posting};
use crate::live::Live;
use crate::plans::{self, Plan};
use crate::store::Write;
use crate::tenants::{self, Tenant};
use crate::{Console, ConsoleError, validate};

/// Where a subscription stands in the billing cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// A free trial; it ends at `period_end` with no grace.
    Trialing,
    /// Paid for the current period.
    Active,
    /// A payment failed; traffic passes until `grace_until`.
    PastDue,
    /// Ended by the customer or the operator.
    Canceled,
    /// Ran out without renewal.
    Expired,
}

/// A tenant's subscription as stored, with its plan's slug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Subscription {
    pub id: i64,
    pub tenant_id: i64,
    pub plan_id: i64,
    /// The plan's slug.
    pub plan: String,
    pub status: SubscriptionStatus,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Until when a `past_due` subscription keeps working.
    pub grace_until: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Puts a new tenant on `plan` from `ctx.now` and grants the first period's credits.
pub(crate) async fn start(
    conn: &mut Write,
    ctx: &Ctx,
    tenant: &Tenant,
    plan: &Plan,
    trial_days: Option<i64>,
) -> Result<(), ConsoleError> {
    let (status, end) = match trial_days {
        Some(days) => (SubscriptionStatus::Trialing, ctx.now + TimeDelta::days(days)),
        None => (SubscriptionStatus::Active, plan.billing_period.end_of(ctx.now)),
    };
    sqlx::query(
        "INSERT INTO subscriptions (tenant_id, plan_id, status, period_start, period_end, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(tenant.id)
    .bind(plan.id)
    .bind(status)
    .bind(ctx.now)
    .bind(end)
    .bind(ctx.now)
    .execute(&mut **conn)
    .await?;
    // A new tenant is not in the gateway's memory yet: it arrives there with its balance
    // when this write commits, so there is no in-memory balance to move.
    grant(conn, None, ctx, tenant.id, plan, ctx.now).await
}

/// Grants a plan's credits for the period starting at `start`; at most once per period.
async fn grant(
    conn: &mut Write,
    live: Option<&Arc<Live>>,
    ctx: &Ctx,
    tenant_id: i64,
    plan: &Plan,
    start: DateTime<Utc>,
) -> Result<(), ConsoleError> {
    if plan.credits_per_period == 0 {
        return Ok(());
    }
    // Unique per tenant: a period starts after the previous one did (at its end, or later),
    // and periods last at least a day, so whole seconds tell them apart.
    let key = format!("grant:{}", start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let reason = format!("plan {} credits for the period from {}", plan.slug, start.format("%Y-%m-%d"));
    let posting = Posting {
        tenant_id,
        kind: EntryKind::Grant,
        amount: plan.credits_per_period,
        reason: Some(&reason),
        request_id: None,
        idempotency_key: Some(&key),
        paid: None,
    };
    ledger::post(conn, live, &ctx.actor, ctx.now, posting).await?;
    Ok(())
}

/// The subscription of tenant `tenant_id`.
pub(crate) async fn of(conn: &mut SqliteConnection, tenant_id: i64) -> Result<Subscription, ConsoleError> {
    sqlx::query_as::<_, Subscription>(
        "SELECT s.*, p.slug AS plan FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.tenant_id = ?",
    )
    .bind(tenant_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ConsoleError::not_found("subscription of tenant", tenant_id))
}

/// Runs one subscription change with its audit entry in a transaction.
async fn change<F>(
    console: &Console,
    ctx: &Ctx,
    action: &str,
    tenant: &str,
    reason: Option<&str>,
    apply: F,
) -> Result<Subscription, ConsoleError>
where
    F: AsyncFnOnce(&mut Write, &Tenant, &Subscription) -> Result<(), ConsoleError>,
{
    let reason = validate::note("reason", reason)?;
    let mut tx = console.begin().await?;
    let tenant = tenants::by_slug(&mut tx, tenant).await?;
    let before = of(&mut tx, tenant.id).await?;
    apply(&mut tx, &tenant, &before).await?;
    let after = of(&mut tx, tenant.id).await?;
    if after == before {
        // Nothing changed (a renewal that is not due yet): nothing to record.
        return Ok(after);
    }
    let change = Change::updated(action, tenants::target(&tenant.slug), &before, &after).because(reason.as_deref());
    audit::commit(console, tx, ctx, change).await?;
    Ok(after)
}

/// `subscription.change-plan`: features and limits change at once; the period and the
/// balance stay as they are (the new plan's credits come with the next renewal).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct ChangePlan {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// The new plan.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub plan: String,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub reason: Option<String>,
}

impl Command for ChangePlan {
    const NAME: &'static str = "subscription.change-plan";
    const SUMMARY: &'static str = "Move a tenant to another plan, effective at once";
    type Output = Subscription;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Subscription, ConsoleError> {
        let now = ctx.now;
        change(console, ctx, Self::NAME, &self.tenant, self.reason.as_deref(), async |conn, _, sub| {
            let plan = plans::selectable(conn, &self.plan).await?;
            if plan.id == sub.plan_id {
                return Err(ConsoleError::Conflict {
                    code: "SAME_PLAN",
                    message: format!("tenant '{}' is already on plan '{}'", self.tenant, plan.slug),
                });
            }
            sqlx::query("UPDATE subscriptions SET plan_id = ?, updated_at = ? WHERE id = ?")
                .bind(plan.id)
                .bind(now)
                .bind(sub.id)
                .execute(&mut **conn)
                .await?;
            Ok(())
        })
        .await
    }
}

/// `subscription.set-status`: record what the payment provider says (e.g. a failed payment
/// makes it `past_due`, which starts the plan's grace period now).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub status: SubscriptionStatus,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub reason: Option<String>,
}

impl Command for SetStatus {
    const NAME: &'static str = "subscription.set-status";
    const SUMMARY: &'static str = "Set a subscription's status (past_due starts the grace period)";
    type Output = Subscription;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Subscription, ConsoleError> {
        let now = ctx.now;
        change(console, ctx, Self::NAME, &self.tenant, self.reason.as_deref(), async |conn, _, sub| {
            let grace_until = if self.status == SubscriptionStatus::PastDue {
                let grace_days: i64 = sqlx::query_scalar("SELECT grace_days FROM plans WHERE id = ?")
                    .bind(sub.plan_id)
                    .fetch_one(&mut **conn)
                    .await?;
                Some(now + TimeDelta::days(grace_days))
            } else {
                None
            };
            sqlx::query("UPDATE subscriptions SET status = ?, grace_until = ?, updated_at = ? WHERE id = ?")
                .bind(self.status)
                .bind(grace_until)
                .bind(now)
                .bind(sub.id)
                .execute(&mut **conn)
                .await?;
            Ok(())
        })
        .await
    }
}

/// `subscription.renew`: opens the next period (from the end of the current one, or from
/// now if that has passed), makes the subscription active and grants the plan's credits.
///
/// Once per period: it acts when the subscription is due, that is when its period has
/// ended or it is not active (trialing, past_due, canceled, expired). On an active
/// subscription whose period still runs it changes nothing and answers the subscription as
/// it is, so a retried or double-clicked renewal never opens a second period nor grants
/// the credits twice.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct Renew {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub reason: Option<String>,
}

/// Whether `sub` may be renewed at `now`: its period has ended, or it is not active.
fn due(sub: &Subscription, now: DateTime<Utc>) -> bool {
    sub.status != SubscriptionStatus::Active || sub.period_end <= now
}

impl Command for Renew {
    const NAME: &'static str = "subscription.renew";
    const SUMMARY: &'static str = "Open the next billing period and grant the plan's credits, once per period";
    type Output = Subscription;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Subscription, ConsoleError> {
        change(console, ctx, Self::NAME, &self.tenant, self.reason.as_deref(), async |conn, tenant, sub| {
            if !due(sub, ctx.now) {
                return Ok(());
            }
            let plan: Plan =
                sqlx::query_as("SELECT * FROM plans WHERE id = ?").bind(sub.plan_id).fetch_one(&mut **conn).await?;
            let start = sub.period_end.max(ctx.now);
            let end = plan.billing_period.end_of(start);
            sqlx::query(
                "UPDATE subscriptions SET status = 'active', period_start = ?, period_end = ?, grace_until = NULL,
                    updated_at = ?
                 WHERE id = ?",
            )
            .bind(start)
            .bind(end)
            .bind(ctx.now)
            .bind(sub.id)
            .execute(&mut **conn)
            .await?;
            // The new period's count starts at zero (kept on the tenant's row, beside the
            // balance the usage writes change too).
            sqlx::query("UPDATE tenants SET period_used = 0 WHERE id = ?").bind(tenant.id).execute(&mut **conn).await?;
            grant(conn, console.live(), ctx, tenant.id, &plan, start).await
        })
        .await
    }
}
