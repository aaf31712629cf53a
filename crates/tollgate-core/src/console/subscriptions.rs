//! The `subscriptions` commands: each validates, applies through the store and commits.

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::domain::validate;
use crate::store::Write;
use crate::store::audit::Change;
use crate::store::plans::{self, Plan};
use crate::store::subscriptions::of;
use crate::store::subscriptions::{ChangePlan, Renew, SetStatus, Subscription, SubscriptionStatus, due, grant};
use crate::store::tenants;
use crate::store::tenants::Tenant;
use crate::{Console, ConsoleError};
use chrono::TimeDelta;

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
            grant(conn, console.balances().as_ref(), ctx, tenant.id, &plan, start).await
        })
        .await
    }
}

/// Runs one subscription change with its audit entry in a transaction.
pub(crate) async fn change<F>(
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
    commit(console, tx, ctx, change).await?;
    Ok(after)
}
