//! The `audit` commands: each validates, applies through the store and commits.

use crate::console::command::{Command, Ctx};
use crate::domain::list::List;
use crate::store::audit::{AuditEntry, AuditList, filter_text, page_limit};
use crate::{Console, ConsoleError, domain::validate};

impl Command for AuditList {
    const NAME: &'static str = "audit.list";
    const SUMMARY: &'static str = "List console actions, latest first, by tenant, actor, command or time";
    type Output = List<AuditEntry>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<AuditEntry>, ConsoleError> {
        let limit = page_limit(self.limit)?;
        let tenant = self.tenant.as_deref().map(|t| validate::slug("tenant", t.trim())).transpose()?;
        let actor = filter_text("actor", self.actor.as_deref())?;
        let action = filter_text("action", self.action.as_deref())?;
        // Times are stored in one format (RFC 3339 in UTC), so their text order is time order;
        // `id` breaks ties. A page continues after the entry `before_id` in that order.
        let rows = sqlx::query_as::<_, AuditEntry>(
            "SELECT * FROM audit_log
             WHERE (?1 IS NULL OR target = ?1)
               AND (?2 IS NULL OR target = 'tenant:' || ?2)
               AND (?3 IS NULL OR actor = ?3 OR substr(actor, 1, length(?3) + 1) = ?3 || ':')
               AND (?4 IS NULL OR action = ?4 OR substr(action, 1, length(?4) + 1) = ?4 || '.')
               AND (?5 IS NULL OR julianday(at) >= julianday(?5))
               AND (?6 IS NULL OR (at, id) < (SELECT at, id FROM audit_log WHERE id = ?6))
             ORDER BY at DESC, id DESC LIMIT ?7",
        )
        .bind(self.target)
        .bind(tenant)
        .bind(actor)
        .bind(action)
        .bind(self.since)
        .bind(self.before_id)
        .bind(limit)
        .fetch_all(console.store().read())
        .await?;
        Ok(List(rows))
    }
}
