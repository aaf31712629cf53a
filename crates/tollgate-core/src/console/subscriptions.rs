//! `subscription.change-plan`, `subscription.set-status`, `subscription.renew`: each one
//! change of a tenant's subscription with its audit entry.

use chrono::TimeDelta;

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::domain::validate;
use crate::store::audit::Change;
use crate::store::subscriptions::{
    self, ChangePlan, Renew, SetStatus, Subscription, SubscriptionStatus, due, grant, of,
};
use crate::store::tenants::{self, Tenant};
use crate::store::{Write, plans};
use crate::{Console, ConsoleError};

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
            Ok(subscriptions::set_plan(conn, sub.id, plan.id, now).await?)
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
                let plan = plans::by_id(conn, sub.plan_id).await?;
                Some(now + TimeDelta::days(plan.grace_days))
            } else {
                None
            };
            Ok(subscriptions::set_status(conn, sub.id, self.status, grace_until, now).await?)
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
            let plan = plans::by_id(conn, sub.plan_id).await?;
            let start = sub.period_end.max(ctx.now);
            let end = plan.billing_period.end_of(start);
            subscriptions::renew(conn, sub.id, tenant.id, start, end, ctx.now).await?;
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
