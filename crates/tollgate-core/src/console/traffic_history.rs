//! The `traffic_history` commands: each validates, applies through the store and commits.

use crate::console::command::{Command, Ctx};
use crate::store::traffic_history::{TOP_TENANTS, Tally, TenantDenials, TrafficHistory, TrafficHistoryShow};
use crate::{Console, ConsoleError};
use std::collections::HashMap;

impl Command for TrafficHistoryShow {
    const NAME: &'static str = "traffic.history";
    const SUMMARY: &'static str = "Show served requests and denials per status and code over a window (5m to 30d), in buckets, with the top tenants";
    type Output = TrafficHistory;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<TrafficHistory, ConsoleError> {
        let read = console.store().read();
        if let Some(tenant) = &self.tenant {
            let known: Option<i64> =
                sqlx::query_scalar("SELECT id FROM tenants WHERE slug = ?1").bind(tenant).fetch_optional(read).await?;
            if known.is_none() {
                return Err(ConsoleError::not_found("tenant", tenant));
            }
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

        let denials: Vec<(i64, i64, String, i64)> = sqlx::query_as(
            "SELECT CAST(strftime('%s', minute) AS INTEGER) / ?1 * ?1, status, code, SUM(requests)
             FROM denial_minutes WHERE minute >= ?2 AND (?3 IS NULL OR tenant = ?3)
             GROUP BY 1, status, code",
        )
        .bind(tally.bucket)
        .bind(from)
        .bind(tenant)
        .fetch_all(read)
        .await?;
        for (bucket, status, code, requests) in denials {
            tally.denial(bucket, status, code, requests);
        }
        let usage: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT CAST(strftime('%s', minute) AS INTEGER) / ?1 * ?1, SUM(requests), SUM(credits)
             FROM usage_minutes WHERE minute >= ?2 AND (?3 IS NULL OR tenant = ?3) GROUP BY 1",
        )
        .bind(tally.bucket)
        .bind(from)
        .bind(tenant)
        .fetch_all(read)
        .await?;
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
            let stored: Vec<(String, i64)> = sqlx::query_as(
                "SELECT tenant, SUM(requests) FROM denial_minutes
                 WHERE minute >= ?1 AND tenant IS NOT NULL
                   AND (tenant IN (SELECT value FROM json_each(?2))
                        OR tenant IN (SELECT tenant FROM denial_minutes WHERE minute >= ?1 AND tenant IS NOT NULL
                                      GROUP BY tenant ORDER BY SUM(requests) DESC, tenant LIMIT ?3))
                 GROUP BY tenant",
            )
            .bind(from)
            .bind(serde_json::to_string(&also).expect("strings serialize"))
            .bind(TOP_TENANTS as i64)
            .fetch_all(read)
            .await?;
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
