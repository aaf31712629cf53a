//! `tenant.create`, `tenant.update`, `tenant.list`, `tenant.show`, and the standing
//! commands (`tenant.suspend`, `tenant.resume`, `tenant.block`).

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::domain::list::List;
use crate::domain::{cidr, validate};
use crate::store::audit::Change;
use crate::store::ledger::leases;
use crate::store::tenants::{
    self, Listed, Standing, Tenant, TenantBlock, TenantCreate, TenantDetail, TenantList, TenantResume, TenantRow,
    TenantShow, TenantSuspend, TenantUpdate, by_slug, create, detail, stripe_customer, target,
};
use crate::{Console, ConsoleError};
use std::collections::HashMap;

impl Command for TenantCreate {
    const NAME: &'static str = "tenant.create";
    const SUMMARY: &'static str = "Create a tenant on a plan";
    type Output = TenantDetail;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<TenantDetail, ConsoleError> {
        let mut tx = console.begin().await?;
        let tenant = create(&mut tx, ctx, &self).await?;
        let detail = detail(&mut tx, &tenant.slug).await?;
        let change = Change::created(Self::NAME, target(&tenant.slug), &detail.tenant);
        commit(console, tx, ctx, change).await?;
        Ok(detail)
    }
}

impl Command for TenantUpdate {
    const NAME: &'static str = "tenant.update";
    const SUMMARY: &'static str = "Change a tenant's name, contact e-mail, billing link or address rules";
    type Output = Tenant;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Tenant, ConsoleError> {
        let mut tx = console.begin().await?;
        let before = by_slug(&mut tx, &self.tenant).await?;
        let name = match &self.name {
            Some(n) => validate::name("name", n)?,
            None => before.name.clone(),
        };
        let email = match self.contact_email.as_deref().map(str::trim) {
            None => before.contact_email.clone(),
            Some("") => None,
            Some(e) => Some(validate::email("contact_email", e)?),
        };
        let link = match self.billing_link.as_deref().map(str::trim) {
            None => before.billing_link.clone(),
            Some("") => None,
            Some(l) => Some(validate::http_url("billing_link", l)?),
        };
        let ip_allow = match &self.ip_allow {
            None => before.ip_allow.clone(),
            Some(items) => cidr::list("ip_allow", items)?,
        };
        let ip_deny = match &self.ip_deny {
            None => before.ip_deny.clone(),
            Some(items) => cidr::list("ip_deny", items)?,
        };
        let stripe_customer = match self.stripe_customer.as_deref().map(str::trim) {
            None => before.stripe_customer.clone(),
            Some("") => None,
            Some(c) => Some(stripe_customer(c)?),
        };
        if let Some(customer) = &stripe_customer {
            let holder = tenants::holder_of_customer(&mut tx, customer, before.id).await?;
            if let Some(holder) = holder {
                return Err(ConsoleError::Conflict {
                    code: "STRIPE_CUSTOMER_TAKEN",
                    message: format!("Stripe customer {customer} is already tenant {holder}'s"),
                });
            }
        }
        let mut after = before.clone();
        (after.name, after.contact_email, after.billing_link) = (name, email, link);
        (after.ip_allow, after.ip_deny, after.stripe_customer) = (ip_allow, ip_deny, stripe_customer);
        after.updated_at = ctx.now;
        let after = tenants::update(&mut tx, &after).await?;
        let change = Change::updated(Self::NAME, target(&after.slug), &before, &after);
        commit(console, tx, ctx, change).await?;
        Ok(after)
    }
}

impl Command for TenantList {
    const NAME: &'static str = "tenant.list";
    const SUMMARY: &'static str = "List tenants with their plan, status and balance";
    type Output = List<TenantRow>;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<List<TenantRow>, ConsoleError> {
        let mut conn = console.store().reader().await?;
        let listed = tenants::list(&mut conn, self.search.as_deref(), ctx.now).await?;
        let leased = leases::held(&mut conn).await?;
        // The same balance as tenant.show: memory's, with usage not yet written.
        Ok(List(
            listed
                .into_iter()
                .map(|Listed { id, mut row }| {
                    row.balance = charged_balance(console, id, row.balance, &leased);
                    row
                })
                .collect(),
        ))
    }
}

impl Command for TenantShow {
    const NAME: &'static str = "tenant.show";
    const SUMMARY: &'static str = "Show a tenant with its subscription, plan and keys";
    type Output = TenantDetail;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<TenantDetail, ConsoleError> {
        let mut conn = console.store().reader().await?;
        let mut detail = detail(&mut conn, &self.tenant).await?;
        let leased = leases::held(&mut conn).await?;
        detail.tenant.balance = charged_balance(console, detail.tenant.id, detail.tenant.balance, &leased);
        Ok(detail)
    }
}

/// Sets a tenant's standing; setting the standing it already has changes nothing and is not an error.
async fn set_standing(
    console: &Console,
    ctx: &Ctx,
    action: &str,
    slug: &str,
    standing: Standing,
    reason: Option<&str>,
) -> Result<Tenant, ConsoleError> {
    let reason = validate::note("reason", reason)?;
    let mut tx = console.begin().await?;
    let before = by_slug(&mut tx, slug).await?;
    if before.standing == standing {
        return Ok(before);
    }
    let after = tenants::set_standing(&mut tx, before.id, standing, ctx.now).await?;
    let change = Change::updated(action, target(slug), &before, &after).because(reason.as_deref());
    commit(console, tx, ctx, change).await?;
    Ok(after)
}

/// The balance to show for a tenant whose stored balance is `stored`: with a gateway
/// running, what memory holds (spendable plus reserved), which already counts the
/// `batched` usage not yet written to the ledger (it is written every `usage_flush_ms`), so
/// the operator sees the customer's last request at once.
///
/// Where nodes share the database, what the tenant holds is its stored balance and what
/// the nodes' open leases still hold (`leased`): no node's memory knows the others'.
pub(crate) fn charged_balance(console: &Console, tenant_id: i64, stored: i64, leased: &HashMap<i64, i64>) -> i64 {
    match console.live() {
        Some(live) if live.credits_leased() => stored + leased.get(&tenant_id).copied().unwrap_or(0),
        Some(live) => live.tenant(tenant_id).map_or(stored, |t| t.balance + t.reserved),
        None => stored + leased.get(&tenant_id).copied().unwrap_or(0),
    }
}

macro_rules! standing_command {
    ($($ty:ty),*) => {$(
        impl Command for $ty {
            const NAME: &'static str = <$ty>::ACTION;
            const SUMMARY: &'static str = <$ty>::ABOUT;
            type Output = Tenant;

            async fn run(self, console: &Console, ctx: &Ctx) -> Result<Tenant, ConsoleError> {
                set_standing(console, ctx, Self::NAME, &self.tenant, <$ty>::STANDING, self.reason.as_deref()).await
            }
        }
    )*};
}

standing_command!(TenantSuspend, TenantResume, TenantBlock);
