//! `denial.list`, `denial.counts`, `usage.list`, `traffic.status`: stored traffic, and what
//! the traffic and request logs kept and dropped.

use crate::console::command::{Command, Ctx};
use crate::domain::list::List;
use crate::store::audit::page_limit;
use crate::store::traffic::{
    self, Denial, DenialCounts, DenialList, DenialMinute, TrafficLog, TrafficStatus, TrafficStatusShow, UsageList,
    UsageMinute, minute_start,
};
use crate::{Console, ConsoleError};

impl Command for DenialList {
    const NAME: &'static str = "denial.list";
    const SUMMARY: &'static str =
        "List stored gateway denials (the first few of each kind per minute), newest first; denial.counts has them all";
    type Output = List<Denial>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<Denial>, ConsoleError> {
        let limit = page_limit(self.limit)?;
        let mut conn = console.store().reader().await?;
        Ok(List(
            traffic::denials(&mut conn, self.tenant.as_deref(), self.code.as_deref(), self.before_id, limit).await?,
        ))
    }
}

impl Command for DenialCounts {
    const NAME: &'static str = "denial.counts";
    const SUMMARY: &'static str = "List denials counted per minute, tenant, route, status and code, newest first";
    type Output = List<DenialMinute>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<DenialMinute>, ConsoleError> {
        let limit = page_limit(self.limit)?;
        let since = self.since.map(|s| minute_start(s.timestamp().div_euclid(60)));
        let mut conn = console.store().reader().await?;
        Ok(List(traffic::denial_counts(&mut conn, self.tenant.as_deref(), self.code.as_deref(), since, limit).await?))
    }
}

impl Command for UsageList {
    const NAME: &'static str = "usage.list";
    const SUMMARY: &'static str = "List served traffic per minute, tenant and route";
    type Output = List<UsageMinute>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<UsageMinute>, ConsoleError> {
        let limit = page_limit(self.limit)?;
        let mut conn = console.store().reader().await?;
        Ok(List(traffic::usage(&mut conn, self.tenant.as_deref(), self.since, limit).await?))
    }
}

impl Command for TrafficStatusShow {
    const NAME: &'static str = "traffic.status";
    const SUMMARY: &'static str = "Show what the traffic and request logs kept and dropped since the server started";
    type Output = TrafficStatus;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<TrafficStatus, ConsoleError> {
        let requests = console.request_log().map(|log| log.stats()).unwrap_or_default();
        Ok(TrafficStatus {
            running: console.traffic().is_some(),
            traffic: console.traffic().map(TrafficLog::stats).unwrap_or_default(),
            request_log_capacity: requests.capacity,
            request_log_written: requests.written,
            request_log_dropped: requests.dropped,
        })
    }
}
