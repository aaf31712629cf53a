//! `overview.show`: the money view, over a window of days the operator picks.

use chrono::{NaiveTime, TimeDelta};

use crate::console::command::{Command, Ctx};
use crate::store::ledger::leases;
use crate::store::overview::{self, DEFAULT_DAYS, MAX_DAYS, Overview, OverviewShow};
use crate::store::settings;
use crate::{Console, ConsoleError};

impl Command for OverviewShow {
    const NAME: &'static str = "overview.show";
    const SUMMARY: &'static str =
        "Show recurring revenue per plan, credits per day, top-ups, tenants at risk and 402s per code";
    type Output = Overview;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Overview, ConsoleError> {
        let days = self.days.unwrap_or(DEFAULT_DAYS);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(ConsoleError::invalid("days", format!("must be 1-{MAX_DAYS}, got {days}")));
        }
        let since = (ctx.now - TimeDelta::days(days - 1)).date_naive().and_time(NaiveTime::MIN).and_utc();
        let mut conn = console.store().reader().await?;
        let threshold = settings::load(&mut conn).await?.low_balance_threshold;

        let leased = leases::held(&mut conn).await?;
        let balance_of =
            |tenant_id, stored| crate::console::tenants::charged_balance(console, tenant_id, stored, &leased);
        Ok(overview::read(&mut conn, days, since, ctx.now, threshold, balance_of).await?)
    }
}
