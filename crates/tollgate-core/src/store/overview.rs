//! `overview.show`: what an API seller checks every morning, summed by SQLite over a window
//! of days: recurring revenue per plan, credits moved per day, recent top-ups and what was
//! paid for them, tenants at risk, and 402s per code per day. Every list is bounded.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::dialects;
use crate::store::plans::BillingPeriod;
use crate::store::subscriptions::SubscriptionStatus;
use crate::store::{Connection, on};

/// Days shown unless asked otherwise.
pub(crate) const DEFAULT_DAYS: i64 = 30;
/// The longest window: a quarter.
pub(crate) const MAX_DAYS: i64 = 90;
/// Top-ups listed (the totals count them all).
pub(crate) const TOPUPS_LISTED: i64 = 50;
/// Tenants at risk listed, the most urgent first.
pub(crate) const AT_RISK_LISTED: i64 = 100;
/// A period ending within this many days is worth a reminder.
pub(crate) const ENDING_SOON_DAYS: i64 = 7;
/// 402s within the last day that make a tenant worth a look: a customer refused this often
/// is trying to use what they cannot pay for.
pub const MANY_402S: i64 = 10;
/// Rows of 402 counts (days × codes; there are a few 402 codes).
pub(crate) const DENIAL_ROWS: i64 = 2000;

/// `overview.show`: the money view.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct OverviewShow {
    /// Days to cover, today included (1-90, default 30), in UTC days.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 90)]
    pub days: Option<i64>,
}

/// The money view over a window of days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Overview {
    /// The window's first instant (00:00 UTC of its first day).
    pub since: DateTime<Utc>,
    pub days: i64,
    /// Plans with subscribers, and every plan not archived.
    pub plans: Vec<PlanRevenue>,
    /// Monthly recurring revenue of active subscriptions, per currency.
    pub mrr: Vec<MoneyTotal>,
    /// Credits moved per UTC day of the window that had any movement, oldest first.
    pub credits: Vec<CreditDay>,
    /// Top-ups in the window, newest first (at most 50).
    pub topups: Vec<TopUpRecord>,
    /// Every top-up in the window.
    pub topup_count: i64,
    pub topup_credits: i64,
    /// What was paid for them, per currency (top-ups recorded without a payment are not in it).
    pub topup_paid: Vec<MoneyTotal>,
    /// Tenants worth a look now, the most urgent first (at most 100).
    pub at_risk: Vec<AtRisk>,
    /// The credits at or below which a balance counts as low (the setting).
    pub low_balance_threshold: i64,
    /// 402 answers per UTC day and code, oldest first.
    pub denials_402: Vec<DenialDay>,
}

/// One plan's subscribers and what they bring in each month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct PlanRevenue {
    pub slug: String,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    pub billing_period: BillingPeriod,
    pub archived: bool,
    pub active: i64,
    pub trialing: i64,
    pub past_due: i64,
    /// Active subscriptions × the price normalised to a month (a year is 1/12, a week
    /// 52/12, a day 365/12), in minor units, rounded half up.
    #[sqlx(default)]
    pub mrr_minor: i64,
}

/// An amount of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MoneyTotal {
    pub currency: String,
    pub minor: i64,
}

/// Credits moved on one UTC day, by why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct CreditDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Plan credits granted at the start of periods.
    pub granted: i64,
    pub topped_up: i64,
    /// Charged for served requests (positive).
    pub consumed: i64,
    /// Requests those charges cover.
    pub requests: i64,
    pub refunded: i64,
    /// Operator corrections, signed.
    pub adjusted: i64,
    /// Credits that lapsed (positive).
    pub expired: i64,
}

/// One top-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct TopUpRecord {
    pub at: DateTime<Utc>,
    pub tenant: String,
    pub credits: i64,
    pub paid_minor: Option<i64>,
    pub paid_currency: Option<String>,
    pub note: Option<String>,
    pub actor: String,
}

/// Why a tenant is at risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Marked past due, or its period ended without a renewal.
    PastDue,
    /// At or below the low-balance threshold.
    LowBalance,
    /// Many 402s within the last day.
    #[serde(rename = "many_402s")]
    Many402s,
    /// Its period (or trial) ends within a week.
    PeriodEndingSoon,
}

/// A tenant worth a look, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AtRisk {
    pub tenant: String,
    pub name: String,
    pub plan: String,
    pub status: SubscriptionStatus,
    /// Credits, counting usage the gateway holds in memory not yet written.
    pub balance: i64,
    pub period_end: DateTime<Utc>,
    /// 402 answers within the last 24 hours.
    pub recent_402s: i64,
    pub risks: Vec<Risk>,
}

/// 402 answers of one code on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct DenialDay {
    pub day: String,
    pub code: String,
    pub requests: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct RiskRow {
    pub(crate) id: i64,
    pub(crate) slug: String,
    pub(crate) name: String,
    pub(crate) plan: String,
    pub(crate) status: SubscriptionStatus,
    pub(crate) balance: i64,
    pub(crate) period_end: DateTime<Utc>,
    pub(crate) recent_402s: i64,
}

/// `count` subscriptions at `price` per `period`, as minor units per month, rounded half up.
pub fn monthly(price: i64, period: BillingPeriod, count: i64) -> i64 {
    let (num, den): (i128, i128) = match period {
        BillingPeriod::Day => (365, 12),
        BillingPeriod::Week => (52, 12),
        BillingPeriod::Month => (1, 1),
        BillingPeriod::Year => (1, 12),
    };
    let total = price as i128 * count as i128 * num;
    i64::try_from((total * 2 + den) / (den * 2)).unwrap_or(i64::MAX)
}

/// The start of `at`'s minute, as `denial_minutes` stores its minutes (on SQLite as text,
/// so the two compare as text only when both are whole minutes).
pub(crate) fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    crate::store::traffic::minute_start(at.timestamp().div_euclid(60))
}

/// The money view from `since` (the first of `days` days) to `now`. `balance_of` gives a
/// tenant's spendable balance from its stored one (the gateway's memory counts usage not
/// yet written).
pub(crate) async fn read(
    conn: &mut Connection,
    days: i64,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    threshold: i64,
    balance_of: impl Fn(i64, i64) -> i64,
) -> sqlx::Result<Overview> {
    let mut plans = on!(&mut *conn, |c| sqlx::query_as::<_, PlanRevenue>(
        "SELECT p.slug, p.name, p.price_minor, p.currency, p.billing_period, p.archived,
                COUNT(*) FILTER (WHERE s.status = 'active') AS active,
                COUNT(*) FILTER (WHERE s.status = 'trialing') AS trialing,
                COUNT(*) FILTER (WHERE s.status = 'past_due') AS past_due
         FROM plans p LEFT JOIN subscriptions s ON s.plan_id = p.id
         GROUP BY p.id
         HAVING NOT p.archived OR COUNT(*) FILTER (WHERE s.status IN ('active', 'trialing', 'past_due')) > 0
         ORDER BY p.price_minor, p.slug",
    )
    .fetch_all(c)
    .await)?;
    let mut mrr: BTreeMap<String, i64> = BTreeMap::new();
    for plan in &mut plans {
        plan.mrr_minor = monthly(plan.price_minor, plan.billing_period, plan.active);
        *mrr.entry(plan.currency.clone()).or_default() += plan.mrr_minor;
    }

    let sql = dialects!(conn.engine(),
        "SELECT " {"substr(created_at, 1, 10)", "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"} " AS day,
                CAST(COALESCE(SUM(CASE WHEN kind = 'grant' THEN amount END), 0) AS BIGINT) AS granted,
                CAST(COALESCE(SUM(CASE WHEN kind = 'topup' THEN amount END), 0) AS BIGINT) AS topped_up,
                CAST(COALESCE(-SUM(CASE WHEN kind = 'debit' THEN amount END), 0) AS BIGINT) AS consumed,
                CAST(COALESCE(SUM(CASE WHEN kind = 'debit' THEN requests END), 0) AS BIGINT) AS requests,
                CAST(COALESCE(SUM(CASE WHEN kind = 'refund' THEN amount END), 0) AS BIGINT) AS refunded,
                CAST(COALESCE(SUM(CASE WHEN kind = 'adjustment' THEN amount END), 0) AS BIGINT) AS adjusted,
                CAST(COALESCE(-SUM(CASE WHEN kind = 'expiry' THEN amount END), 0) AS BIGINT) AS expired
         FROM ledger WHERE created_at >= $1 GROUP BY 1 ORDER BY 1"
    );
    let credits = on!(&mut *conn, |c| sqlx::query_as::<_, CreditDay>(sql).bind(since).fetch_all(c).await)?;

    let topups = on!(&mut *conn, |c| sqlx::query_as::<_, TopUpRecord>(
        "SELECT l.created_at AS at, t.slug AS tenant, l.amount AS credits, l.paid_minor, l.paid_currency,
                l.reason AS note, l.actor
         FROM ledger l JOIN tenants t ON t.id = l.tenant_id
         WHERE l.kind = 'topup' AND l.created_at >= $1 ORDER BY l.id DESC LIMIT $2",
    )
    .bind(since)
    .bind(TOPUPS_LISTED)
    .fetch_all(c)
    .await)?;
    let (topup_count, topup_credits): (i64, i64) = on!(&mut *conn, |c| {
        sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger WHERE kind = 'topup' AND created_at >= $1",
    )
    .bind(since)
    .fetch_one(c).await
    })?;
    let topup_paid = on!(&mut *conn, |c| sqlx::query_as::<_, (String, i64)>(
        "SELECT paid_currency, CAST(SUM(paid_minor) AS BIGINT) FROM ledger
         WHERE kind = 'topup' AND created_at >= $1 AND paid_minor IS NOT NULL
         GROUP BY paid_currency ORDER BY paid_currency",
    )
    .bind(since)
    .fetch_all(c)
    .await)?
    .into_iter()
    .map(|(currency, minor)| MoneyTotal { currency, minor })
    .collect();

    let recent = minute_of(now - TimeDelta::days(1));
    let soon = now + TimeDelta::days(ENDING_SOON_DAYS);
    let sql = dialects!(conn.engine(),
        "SELECT * FROM (
            SELECT t.id, t.slug, t.name, p.slug AS plan, s.status, t.balance, s.period_end,
                   CAST((SELECT COALESCE(SUM(d.requests), 0) FROM denial_minutes d
                    WHERE d.tenant = t.slug AND d.status = 402 AND d.minute >= $1) AS BIGINT) AS recent_402s
            FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id JOIN plans p ON p.id = s.plan_id
            WHERE t.standing <> 'blocked' AND s.status IN ('trialing', 'active', 'past_due')) AS at_risk
         WHERE status = 'past_due' OR " {"julianday(period_end) <= julianday($2)", "period_end <= $2"} "
            OR balance <= $3 OR recent_402s >= $4
         ORDER BY status = 'past_due' OR " {"julianday(period_end) <= julianday($5)", "period_end <= $5"} " DESC,
            balance, recent_402s DESC, slug
         LIMIT $6"
    );
    let rows = on!(&mut *conn, |c| sqlx::query_as::<_, RiskRow>(sql)
        .bind(recent)
        .bind(soon)
        .bind(threshold)
        .bind(MANY_402S)
        .bind(now)
        .bind(AT_RISK_LISTED)
        .fetch_all(c)
        .await)?;
    let at_risk = rows
        .into_iter()
        .map(|r| {
            let balance = balance_of(r.id, r.balance);
            let mut risks = Vec::new();
            let past_due = r.status == SubscriptionStatus::PastDue || r.period_end <= now;
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

    let sql = dialects!(conn.engine(),
        "SELECT " {"substr(minute, 1, 10)", "to_char(minute AT TIME ZONE 'UTC', 'YYYY-MM-DD')"} " AS day, code,
                CAST(SUM(requests) AS BIGINT) AS requests
         FROM denial_minutes WHERE status = 402 AND minute >= $1 GROUP BY 1, code ORDER BY 1, code LIMIT $2"
    );
    let denials_402 = on!(&mut *conn, |c| sqlx::query_as::<_, DenialDay>(sql)
        .bind(minute_of(since))
        .bind(DENIAL_ROWS)
        .fetch_all(c)
        .await)?;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_normalised_to_a_month_and_rounded_half_up() {
        assert_eq!(monthly(4900, BillingPeriod::Month, 3), 14_700);
        assert_eq!(monthly(12_000, BillingPeriod::Year, 2), 2_000);
        assert_eq!(monthly(1000, BillingPeriod::Week, 1), 4_333, "52/12 of 1000 = 4333.3");
        assert_eq!(monthly(100, BillingPeriod::Day, 1), 3_042, "365/12 of 100 = 3041.67");
        assert_eq!(monthly(6, BillingPeriod::Year, 1), 1, "0.5 rounds up");
        assert_eq!(monthly(4900, BillingPeriod::Month, 0), 0);
    }
}
