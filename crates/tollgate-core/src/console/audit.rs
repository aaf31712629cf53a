//! `audit.list`: the console actions, latest first, narrowed by tenant, actor, command or time.

use crate::console::command::{Command, Ctx};
use crate::domain::list::List;
use crate::domain::validate;
use crate::store::audit::{self, AuditEntry, AuditFilter, AuditList, filter_text, page_limit};
use crate::{Console, ConsoleError};

impl Command for AuditList {
    const NAME: &'static str = "audit.list";
    const SUMMARY: &'static str = "List console actions, latest first, by tenant, actor, command or time";
    type Output = List<AuditEntry>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<AuditEntry>, ConsoleError> {
        let limit = page_limit(self.limit)?;
        let tenant = self.tenant.as_deref().map(|t| validate::slug("tenant", t.trim())).transpose()?;
        let actor = filter_text("actor", self.actor.as_deref())?;
        let action = filter_text("action", self.action.as_deref())?;
        let filter = AuditFilter {
            target: self.target.as_deref(),
            tenant: tenant.as_deref(),
            actor: actor.as_deref(),
            action: action.as_deref(),
            since: self.since,
            before_id: self.before_id,
        };
        let mut conn = console.store().reader().await?;
        Ok(List(audit::list(&mut conn, filter, limit).await?))
    }
}
