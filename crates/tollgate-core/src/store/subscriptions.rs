//! Subscriptions: which plan a tenant is on, and whether its current period is paid.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::domain::ctx::Ctx;
pub use crate::domain::standing::SubscriptionStatus;
use crate::store::Write;
use crate::store::ledger::{self, Balances, EntryKind, Posting};
use crate::store::plans::Plan;
use crate::store::tenants::Tenant;
use crate::store::{Connection, on};

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
    on!(&mut **conn, |c| sqlx::query(
        "INSERT INTO subscriptions (tenant_id, plan_id, status, period_start, period_end, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant.id)
    .bind(plan.id)
    .bind(status)
    .bind(ctx.now)
    .bind(end)
    .bind(ctx.now)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    // A new tenant is not in the gateway's memory yet: it arrives there with its balance
    // when this write commits, so there is no in-memory balance to move.
    grant(conn, None, ctx, tenant.id, plan, ctx.now).await
}

/// Grants a plan's credits for the period starting at `start`; at most once per period.
pub(crate) async fn grant(
    conn: &mut Write,
    balances: Option<&Arc<dyn Balances>>,
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
    ledger::post(conn, balances, &ctx.actor, ctx.now, posting).await?;
    Ok(())
}

/// The subscription of tenant `tenant_id`.
pub(crate) async fn of(conn: &mut Connection, tenant_id: i64) -> Result<Subscription, ConsoleError> {
    on!(conn, |c| sqlx::query_as::<_, Subscription>(
        "SELECT s.*, p.slug AS plan FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(c)
    .await)?
    .ok_or_else(|| ConsoleError::not_found("subscription of tenant", tenant_id))
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
pub(crate) fn due(sub: &Subscription, now: DateTime<Utc>) -> bool {
    sub.status != SubscriptionStatus::Active || sub.period_end <= now
}

/// Moves subscription `id` to plan `plan_id`.
pub(crate) async fn set_plan(conn: &mut Connection, id: i64, plan_id: i64, now: DateTime<Utc>) -> sqlx::Result<()> {
    on!(conn, |c| sqlx::query("UPDATE subscriptions SET plan_id = $1, updated_at = $2 WHERE id = $3")
        .bind(plan_id)
        .bind(now)
        .bind(id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Sets subscription `id`'s status, and its grace (for `past_due`; none otherwise).
pub(crate) async fn set_status(
    conn: &mut Connection,
    id: i64,
    status: SubscriptionStatus,
    grace_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    on!(conn, |c| sqlx::query(
        "UPDATE subscriptions SET status = $1, grace_until = $2, updated_at = $3 WHERE id = $4"
    )
    .bind(status)
    .bind(grace_until)
    .bind(now)
    .bind(id)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Starts a paid period `start..end` of subscription `id` (of tenant `tenant_id`). The new
/// period's count starts at zero (kept on the tenant's row, beside the balance the usage
/// writes change too).
pub(crate) async fn renew(
    conn: &mut Connection,
    id: i64,
    tenant_id: i64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    on!(&mut *conn, |c| {
        sqlx::query(
        "UPDATE subscriptions SET status = 'active', period_start = $1, period_end = $2, grace_until = NULL, updated_at = $3
         WHERE id = $4",
    )
    .bind(start)
    .bind(end)
    .bind(now)
    .bind(id)
    .execute(c).await.map(|done| done.rows_affected())
    })?;
    on!(conn, |c| sqlx::query("UPDATE tenants SET period_used = 0 WHERE id = $1")
        .bind(tenant_id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}
