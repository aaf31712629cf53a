//! `ledger.list`: a tenant's credit movements, newest first.

use crate::console::command::{Command, Ctx};
use crate::domain::list::List;
use crate::store::audit::page_limit;
use crate::store::ledger::{self, LedgerEntry, LedgerList};
use crate::store::tenants;
use crate::{Console, ConsoleError};

impl Command for LedgerList {
    const NAME: &'static str = "ledger.list";
    const SUMMARY: &'static str = "List a tenant's credit movements, newest first";
    type Output = List<LedgerEntry>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<LedgerEntry>, ConsoleError> {
        let limit = page_limit(self.limit)?;
        let mut conn = console.store().reader().await?;
        let tenant = tenants::by_slug(&mut conn, &self.tenant).await?;
        Ok(List(ledger::entries(&mut conn, tenant.id, self.before_id, limit).await?))
    }
}
