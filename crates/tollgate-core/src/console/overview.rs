//! The `overview` commands: each validates, applies through the store and commits.

use crate::console::command::{Command, Ctx};
use crate::store::overview::{
    AT_RISK_LISTED, AtRisk, CreditDay, DEFAULT_DAYS, DENIAL_ROWS, DenialDay, ENDING_SOON_DAYS, MANY_402S, MAX_DAYS,
    MoneyTotal, Overview, OverviewShow, PlanRevenue, Risk, RiskRow, TOPUPS_LISTED, TopUpRecord, minute_text, monthly,
};
use crate::store::subscriptions::SubscriptionStatus;
use crate::{Console, ConsoleError, store::settings};
use chrono::{NaiveTime, TimeDelta};
use std::collections::BTreeMap;

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
        let mut conn = console.store().read().acquire().await?;
        let threshold = settings::load(&mut conn).await?.low_balance_threshold;

        let mut plans = sqlx::query_as::<_, PlanRevenue>(
            "SELECT p.slug, p.name, p.price_minor, p.currency, p.billing_period, p.archived,
                    COALESCE(SUM(s.status = 'active'), 0) AS active,
                    COALESCE(SUM(s.status = 'trialing'), 0) AS trialing,
                    COALESCE(SUM(s.status = 'past_due'), 0) AS past_due
             FROM plans p LEFT JOIN subscriptions s ON s.plan_id = p.id
             GROUP BY p.id HAVING p.archived = 0 OR active + trialing + past_due > 0
             ORDER BY p.price_minor, p.slug",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut mrr: BTreeMap<String, i64> = BTreeMap::new();
        for plan in &mut plans {
            plan.mrr_minor = monthly(plan.price_minor, plan.billing_period, plan.active);
            *mrr.entry(plan.currency.clone()).or_default() += plan.mrr_minor;
        }

        let credits = sqlx::query_as::<_, CreditDay>(
            "SELECT substr(created_at, 1, 10) AS day,
                    COALESCE(SUM(CASE WHEN kind = 'grant' THEN amount END), 0) AS granted,
                    COALESCE(SUM(CASE WHEN kind = 'topup' THEN amount END), 0) AS topped_up,
                    COALESCE(-SUM(CASE WHEN kind = 'debit' THEN amount END), 0) AS consumed,
                    COALESCE(SUM(CASE WHEN kind = 'debit' THEN requests END), 0) AS requests,
                    COALESCE(SUM(CASE WHEN kind = 'refund' THEN amount END), 0) AS refunded,
                    COALESCE(SUM(CASE WHEN kind = 'adjustment' THEN amount END), 0) AS adjusted,
                    COALESCE(-SUM(CASE WHEN kind = 'expiry' THEN amount END), 0) AS expired
             FROM ledger WHERE created_at >= ? GROUP BY 1 ORDER BY 1",
        )
        .bind(since)
        .fetch_all(&mut *conn)
        .await?;

        let topups = sqlx::query_as::<_, TopUpRecord>(
            "SELECT l.created_at AS at, t.slug AS tenant, l.amount AS credits, l.paid_minor, l.paid_currency,
                    l.reason AS note, l.actor
             FROM ledger l JOIN tenants t ON t.id = l.tenant_id
             WHERE l.kind = 'topup' AND l.created_at >= ? ORDER BY l.id DESC LIMIT ?",
        )
        .bind(since)
        .bind(TOPUPS_LISTED)
        .fetch_all(&mut *conn)
        .await?;
        let (topup_count, topup_credits): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ledger WHERE kind = 'topup' AND created_at >= ?",
        )
        .bind(since)
        .fetch_one(&mut *conn)
        .await?;
        let topup_paid = sqlx::query_as::<_, (String, i64)>(
            "SELECT paid_currency, SUM(paid_minor) FROM ledger
             WHERE kind = 'topup' AND created_at >= ? AND paid_minor IS NOT NULL
             GROUP BY paid_currency ORDER BY paid_currency",
        )
        .bind(since)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(currency, minor)| MoneyTotal { currency, minor })
        .collect();

        // Minutes are stored as RFC 3339 text truncated to the minute: compared as text.
        let recent = minute_text(ctx.now - TimeDelta::days(1));
        let soon = ctx.now + TimeDelta::days(ENDING_SOON_DAYS);
        let rows = sqlx::query_as::<_, RiskRow>(
            "SELECT * FROM (
                SELECT t.id, t.slug, t.name, p.slug AS plan, s.status, t.balance, s.period_end,
                       (SELECT COALESCE(SUM(d.requests), 0) FROM denial_minutes d
                        WHERE d.tenant = t.slug AND d.status = 402 AND d.minute >= ?1) AS recent_402s
                FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id JOIN plans p ON p.id = s.plan_id
                WHERE t.standing <> 'blocked' AND s.status IN ('trialing', 'active', 'past_due'))
             WHERE status = 'past_due' OR julianday(period_end) <= julianday(?2) OR balance <= ?3 OR recent_402s >= ?4
             ORDER BY status = 'past_due' OR julianday(period_end) <= julianday(?5) DESC, balance, recent_402s DESC, slug
             LIMIT ?6",
        )
        .bind(&recent)
        .bind(soon)
        .bind(threshold)
        .bind(MANY_402S)
        .bind(ctx.now)
        .bind(AT_RISK_LISTED)
        .fetch_all(&mut *conn)
        .await?;
        let at_risk = rows
            .into_iter()
            .map(|r| {
                let balance = crate::console::tenants::charged_balance(console, r.id, r.balance);
                let mut risks = Vec::new();
                let past_due = r.status == SubscriptionStatus::PastDue || r.period_end <= ctx.now;
                if past_due {
                    risks.push(Risk::PastDue);
                }
                if balance <= threshold {
                    risks.push(Risk::LowBalance);
                }
                if r.recent_402s >= MANY_402S {
                    risks.push(Risk::Many402s);
                }
                // Already past due says more than a period about to end.
                if !past_due && r.period_end <= soon {
                    risks.push(Risk::PeriodEndingSoon);
                }
                AtRisk {
                    tenant: r.slug,
                    name: r.name,
                    plan: r.plan,
                    status: r.status,
                    balance,
                    period_end: r.period_end,
                    recent_402s: r.recent_402s,
                    risks,
                }
            })
            .collect();

        let denials_402 = sqlx::query_as::<_, DenialDay>(
            "SELECT substr(minute, 1, 10) AS day, code, SUM(requests) AS requests FROM denial_minutes
             WHERE status = 402 AND minute >= ? GROUP BY 1, code ORDER BY 1, code LIMIT ?",
        )
        .bind(minute_text(since))
        .bind(DENIAL_ROWS)
        .fetch_all(&mut *conn)
        .await?;

        Ok(Overview {
            since,
            days,
            plans,
            mrr: mrr.into_iter().map(|(currency, minor)| MoneyTotal { currency, minor }).collect(),
            credits,
            topups,
            topup_count,
            topup_credits,
            topup_paid,
            at_risk,
            low_balance_threshold: threshold,
            denials_402,
        })
    }
}
