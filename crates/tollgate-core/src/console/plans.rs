//! `plan.create`, `plan.update`, `plan.archive`, `plan.list`.

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::domain::list::List;
use crate::domain::validate;
use crate::store::audit::Change;
use crate::store::plans::{
    self, BillingPeriod, Plan, PlanArchive, PlanCreate, PlanList, PlanUpdate, by_slug, check_grace, check_limits,
    slug_conflict, target,
};
use crate::{Console, ConsoleError};

impl Command for PlanCreate {
    const NAME: &'static str = "plan.create";
    const SUMMARY: &'static str = "Create a plan";
    type Output = Plan;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Plan, ConsoleError> {
        let name = validate::name("name", &self.name)?;
        let slug = match &self.slug {
            Some(s) => validate::slug("slug", s)?,
            None => validate::slugify("name", &name)?,
        };
        let price = validate::non_negative("price_minor", self.price_minor.unwrap_or(0))?;
        let currency = validate::currency("currency", self.currency.as_deref().unwrap_or("USD"))?;
        let credits = validate::non_negative("credits_per_period", self.credits_per_period.unwrap_or(0))?;
        let features = validate::tokens("features", &self.features)?;
        let limits = check_limits(self.rate_per_second, self.burst, self.period_quota)?;
        let grace = check_grace(self.grace_days.unwrap_or(0))?;

        let mut tx = console.begin().await?;
        let plan = Plan {
            id: 0,
            slug,
            name,
            price_minor: price,
            currency,
            billing_period: self.billing_period.unwrap_or(BillingPeriod::Month),
            credits_per_period: credits,
            features,
            rate_per_second: limits.rate,
            burst: limits.burst,
            period_quota: limits.quota,
            grace_days: grace,
            archived: false,
            created_at: ctx.now,
            updated_at: ctx.now,
            subscribers: None,
        };
        let plan = plans::insert(&mut tx, &plan).await.map_err(|e| slug_conflict(e, &plan.slug))?;
        commit(console, tx, ctx, Change::created(Self::NAME, target(&plan.slug), &plan)).await?;
        Ok(plan)
    }
}

impl Command for PlanUpdate {
    const NAME: &'static str = "plan.update";
    const SUMMARY: &'static str = "Change a plan's name, price, credits, features or limits";
    type Output = Plan;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Plan, ConsoleError> {
        let mut tx = console.begin().await?;
        let before = by_slug(&mut tx, &self.plan).await?;
        let mut p = before.clone();
        if let Some(n) = &self.name {
            p.name = validate::name("name", n)?;
        }
        if let Some(v) = self.price_minor {
            p.price_minor = validate::non_negative("price_minor", v)?;
        }
        if let Some(c) = &self.currency {
            p.currency = validate::currency("currency", c)?;
        }
        if let Some(b) = self.billing_period {
            p.billing_period = b;
        }
        if let Some(c) = self.credits_per_period {
            p.credits_per_period = validate::non_negative("credits_per_period", c)?;
        }
        if let Some(f) = &self.features {
            let f: Vec<String> = f.iter().filter(|s| !s.trim().is_empty()).cloned().collect();
            p.features = validate::tokens("features", &f)?;
        }
        let rate = match self.rate_per_second {
            Some(0) => None,
            Some(r) => Some(r),
            None => p.rate_per_second,
        };
        let quota = match self.period_quota {
            Some(0) => None,
            Some(q) => Some(q),
            None => p.period_quota,
        };
        let burst = self.burst.or(if self.rate_per_second.is_some() { None } else { Some(p.burst) });
        let limits = check_limits(rate, burst, quota)?;
        (p.rate_per_second, p.burst, p.period_quota) = (limits.rate, limits.burst, limits.quota);
        if let Some(g) = self.grace_days {
            p.grace_days = check_grace(g)?;
        }
        p.updated_at = ctx.now;
        let after = plans::update(&mut tx, &p).await?;
        commit(console, tx, ctx, Change::updated(Self::NAME, target(&after.slug), &before, &after)).await?;
        Ok(after)
    }
}

impl Command for PlanArchive {
    const NAME: &'static str = "plan.archive";
    const SUMMARY: &'static str = "Archive a plan so no new tenant can be put on it";
    type Output = Plan;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Plan, ConsoleError> {
        let mut tx = console.begin().await?;
        let before = by_slug(&mut tx, &self.plan).await?;
        if before.archived {
            return Err(ConsoleError::Conflict {
                code: "PLAN_ARCHIVED",
                message: format!("plan '{}' is already archived", before.slug),
            });
        }
        let after = plans::archive(&mut tx, before.id, ctx.now).await?;
        commit(console, tx, ctx, Change::updated(Self::NAME, target(&after.slug), &before, &after)).await?;
        Ok(after)
    }
}

impl Command for PlanList {
    const NAME: &'static str = "plan.list";
    const SUMMARY: &'static str = "List plans";
    type Output = List<Plan>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<Plan>, ConsoleError> {
        let mut conn = console.store().reader().await?;
        Ok(List(plans::list(&mut conn, self.include_archived).await?))
    }
}
