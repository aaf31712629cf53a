//! `key.issue`, `key.revoke`, `key.rotate`, `key.budget`, `key.list`: a tenant's API keys.

use chrono::TimeDelta;

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::domain::list::List;
use crate::domain::validate;
use crate::store::audit::Change;
use crate::store::keys::{
    self, ApiKey, IssuedKey, KeyBudgetSet, KeyIssue, KeyList, KeyRevoke, KeyRotate, RotatedKey, find, insert,
    of_tenant, set_budget, set_revoked,
};
use crate::store::tenants;
use crate::{Console, ConsoleError};

impl Command for KeyIssue {
    const NAME: &'static str = "key.issue";
    const SUMMARY: &'static str = "Issue an API key for a tenant (the secret is shown once)";
    type Output = IssuedKey;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<IssuedKey, ConsoleError> {
        let name = validate::name("name", self.name.as_deref().unwrap_or("default"))?;
        let scopes = validate::tokens("scopes", &self.scopes)?;
        if let Some(at) = self.expires_at
            && at <= ctx.now
        {
            return Err(ConsoleError::invalid("expires_at", format!("{} is not in the future", at.to_rfc3339())));
        }
        let budget = self.budget.map(|b| validate::non_negative("budget", b)).transpose()?;
        let mut tx = console.begin().await?;
        let tenant = tenants::by_slug(&mut tx, &self.tenant).await?;
        let mut issued = insert(&mut tx, ctx, tenant.id, &name, &scopes, self.expires_at).await?;
        if budget.is_some() || self.budget_period.is_some() {
            let period = self.budget_period.unwrap_or_default();
            issued.key = set_budget(&mut tx, issued.key.id, budget, period).await?;
        }
        let change = Change::created(Self::NAME, tenants::target(&tenant.slug), &issued.key);
        commit(console, tx, ctx, change).await?;
        Ok(issued)
    }
}

impl Command for KeyRevoke {
    const NAME: &'static str = "key.revoke";
    const SUMMARY: &'static str = "Revoke an API key at once";
    type Output = ApiKey;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<ApiKey, ConsoleError> {
        let reason = validate::note("reason", self.reason.as_deref())?;
        let mut tx = console.begin().await?;
        let (before, tenant) = find(&mut tx, &self.key).await?;
        if before.revoked_at.is_some() {
            return Err(ConsoleError::Conflict {
                code: "KEY_REVOKED",
                message: format!("key {} is already revoked", before.prefix),
            });
        }
        let after = set_revoked(&mut tx, before.id, ctx.now).await?;
        let change = Change::updated(Self::NAME, tenants::target(&tenant), &before, &after).because(reason.as_deref());
        commit(console, tx, ctx, change).await?;
        Ok(after)
    }
}

impl Command for KeyRotate {
    const NAME: &'static str = "key.rotate";
    const SUMMARY: &'static str = "Replace a key; the old one expires after an overlap";
    type Output = RotatedKey;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<RotatedKey, ConsoleError> {
        let overlap = self.overlap_minutes.unwrap_or(60);
        if !(0..=43_200).contains(&overlap) {
            return Err(ConsoleError::invalid("overlap_minutes", format!("must be 0-43200 (30 days), got {overlap}")));
        }
        let mut tx = console.begin().await?;
        let (before, tenant) = find(&mut tx, &self.key).await?;
        if before.revoked_at.is_some() || before.expires_at.is_some_and(|at| at <= ctx.now) {
            return Err(ConsoleError::Conflict {
                code: "KEY_INACTIVE",
                message: format!("key {} is revoked or expired; issue a new one instead", before.prefix),
            });
        }
        let mut issued =
            insert(&mut tx, ctx, before.tenant_id, &before.name, &before.scopes, before.expires_at).await?;
        if before.budget.is_some() {
            // The cap goes with the key's job; the new key's spend starts afresh.
            issued.key = set_budget(&mut tx, issued.key.id, before.budget, before.budget_period).await?;
        }
        let replaced = if overlap == 0 {
            set_revoked(&mut tx, before.id, ctx.now).await?
        } else {
            let until = ctx.now + TimeDelta::minutes(overlap);
            let until = before.expires_at.map_or(until, |at| at.min(until));
            keys::expire_at(&mut tx, before.id, until).await?
        };
        let after = serde_json::json!({ "replaced": replaced, "issued": issued.key });
        let change = Change::updated(Self::NAME, tenants::target(&tenant), &before, &after);
        commit(console, tx, ctx, change).await?;
        Ok(RotatedKey { issued, replaced })
    }
}

impl Command for KeyBudgetSet {
    const NAME: &'static str = "key.budget";
    const SUMMARY: &'static str = "Set a key's spend cap per UTC day or month (without --budget: remove it)";
    type Output = ApiKey;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<ApiKey, ConsoleError> {
        let budget = self.budget.map(|b| validate::non_negative("budget", b)).transpose()?;
        let mut tx = console.begin().await?;
        let (before, tenant) = find(&mut tx, &self.key).await?;
        let period = self.period.unwrap_or(before.budget_period);
        let after = set_budget(&mut tx, before.id, budget, period).await?;
        let change = Change::updated(Self::NAME, tenants::target(&tenant), &before, &after);
        commit(console, tx, ctx, change).await?;
        Ok(with_use(console, after, ctx.now))
    }
}

/// `key` with what it spent this period: as the gateway counts it now, or as last written.
fn with_use(console: &Console, mut key: ApiKey, now: chrono::DateTime<chrono::Utc>) -> ApiKey {
    let stored = key.stored_spend().at(key.budget_period, now).spent;
    key.budget_used = console.live().and_then(|live| live.key_spent(&key, now)).unwrap_or(stored);
    key
}

impl Command for KeyList {
    const NAME: &'static str = "key.list";
    const SUMMARY: &'static str = "List a tenant's keys (never their secrets)";
    type Output = List<ApiKey>;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<List<ApiKey>, ConsoleError> {
        let mut conn = console.store().reader().await?;
        let tenant = tenants::by_slug(&mut conn, &self.tenant).await?;
        let keys = of_tenant(&mut conn, tenant.id).await?;
        Ok(List(keys.into_iter().map(|k| with_use(console, k, ctx.now)).collect()))
    }
}
