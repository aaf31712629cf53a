//! `traffic.history`: requests over time, stored and still in memory, each counted once.

use std::collections::HashMap;

use crate::console::command::{Command, Ctx};
use crate::store::tenants;
use crate::store::traffic_history::{self, TOP_TENANTS, Tally, TenantDenials, TrafficHistory, TrafficHistoryShow};
use crate::{Console, ConsoleError};

impl Command for TrafficHistoryShow {
    const NAME: &'static str = "traffic.history";
    const SUMMARY: &'static str = "Show served requests and denials per status and code over a window (5m to 30d), in buckets, with the top tenants";
    type Output = TrafficHistory;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<TrafficHistory, ConsoleError> {
        let mut conn = console.store().reader().await?;
        if let Some(tenant) = &self.tenant {
            tenants::by_slug(&mut conn, tenant).await?;
        }
        // With a gateway in this process its writer waits while this reads, so each count
        // is found once: stored, or still in its memory.
        let held = match console.traffic() {
            Some(log) => Some(log.hold_writes().await),
            None => None,
        };
        let pending = held.as_ref().map(|h| h.pending());
        let as_of = pending.as_ref().map_or(ctx.now, |p| p.as_of);
        let mut tally = Tally::new(self.window, as_of);
        let tenant = self.tenant.as_deref();
        let from = crate::store::traffic::minute_start(tally.first / 60);

        let denials = traffic_history::denials(&mut conn, tally.bucket, from, tenant).await?;
        for (bucket, status, code, requests) in denials {
            tally.denial(bucket, status, code, requests);
        }
        let usage = traffic_history::served(&mut conn, tally.bucket, from, tenant).await?;
        for (bucket, requests, credits) in usage {
            tally.served(bucket, requests, credits);
        }

        // Top tenants: the stored top ten, and the stored totals of those memory adds to,
        // so the ten listed are the true ten (anyone else has at most the tenth's stored count).
        let mut unstored: HashMap<String, i64> = HashMap::new();
        if let Some(p) = &pending {
            tally.pending(p, tenant, &mut unstored);
        }
        let mut top_tenants = Vec::new();
        if tenant.is_none() {
            let also: Vec<&str> = unstored.keys().map(String::as_str).collect();
            let stored = traffic_history::most_denied(&mut conn, from, &also, TOP_TENANTS as i64).await?;
            for (name, requests) in stored {
                *unstored.entry(name).or_default() += requests;
            }
            top_tenants = unstored.into_iter().map(|(tenant, requests)| TenantDenials { tenant, requests }).collect();
            top_tenants.sort_by(|a, b| b.requests.cmp(&a.requests).then_with(|| a.tenant.cmp(&b.tenant)));
            top_tenants.truncate(TOP_TENANTS);
        }
        drop(held);
        Ok(tally.finish(self.window, self.tenant, as_of, top_tenants))
    }
}
