//! Plans: what a tenant pays, the credits it gets each period, its features and its rate.

use chrono::{DateTime, Months, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::domain::validate;
use crate::error::is_unique_violation;
use crate::store::{Connection, on};

/// How long one billing period lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum BillingPeriod {
    Day,
    Week,
    Month,
    Year,
}

impl BillingPeriod {
    /// The end of a period that starts at `start` (calendar months and years, clamped to
    /// the month's last day, so a period from 31 January ends on 28 or 29 February).
    pub fn end_of(self, start: DateTime<Utc>) -> DateTime<Utc> {
        let end = match self {
            Self::Day => start.checked_add_signed(TimeDelta::days(1)),
            Self::Week => start.checked_add_signed(TimeDelta::weeks(1)),
            Self::Month => start.checked_add_months(Months::new(1)),
            Self::Year => start.checked_add_months(Months::new(12)),
        };
        end.unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// A plan as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Plan {
    pub id: i64,
    /// Stable identifier used everywhere else, e.g. `pro`.
    pub slug: String,
    /// Shown to people, e.g. `Pro`.
    pub name: String,
    /// Price per period in minor units of `currency` (cents for USD).
    pub price_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    pub billing_period: BillingPeriod,
    /// Credits granted through the ledger at each renewal.
    pub credits_per_period: i64,
    /// Entitlements a route can require.
    #[sqlx(json)]
    pub features: Vec<String>,
    /// Sustained requests per second; absent means unlimited.
    pub rate_per_second: Option<i64>,
    /// Requests allowed in a burst above the sustained rate.
    pub burst: i64,
    /// Requests allowed per period regardless of credits; absent means no quota.
    pub period_quota: Option<i64>,
    /// Days a `past_due` subscription keeps working after its period ends.
    pub grace_days: i64,
    /// Archived plans keep their tenants but take no new ones.
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Tenants on it whose subscription is trialing, active or past due; counted by
    /// `plan.list` only (absent elsewhere).
    #[sqlx(default)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribers: Option<i64>,
}

/// `plan.create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct PlanCreate {
    /// Display name, e.g. "Pro".
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub name: String,
    /// Identifier; derived from the name when absent.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub slug: Option<String>,
    /// Price per period in minor units (default 0).
    #[cfg_attr(feature = "cli", arg(long = "price"))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub price_minor: Option<i64>,
    /// ISO 4217 currency (default USD).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[A-Za-z]{3}$")]
    pub currency: Option<String>,
    /// Billing period (default month).
    #[cfg_attr(feature = "cli", arg(long = "period", value_enum))]
    pub billing_period: Option<BillingPeriod>,
    /// Credits granted each period (default 0).
    #[cfg_attr(feature = "cli", arg(long = "credits"))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub credits_per_period: Option<i64>,
    /// Entitlements, comma-separated on the command line.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ','))]
    #[serde(default)]
    pub features: Vec<String>,
    /// Sustained requests per second (unlimited when absent).
    #[cfg_attr(feature = "cli", arg(long = "rate"))]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub rate_per_second: Option<i64>,
    /// Burst size (defaults to the rate).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub burst: Option<i64>,
    /// Requests allowed per period (no quota when absent).
    #[cfg_attr(feature = "cli", arg(long = "quota"))]
    #[schema(minimum = 1, maximum = 1e15)]
    pub period_quota: Option<i64>,
    /// Grace days after a failed payment (default 0).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 365)]
    pub grace_days: Option<i64>,
}

/// Checked plan limits shared by create and update.
pub(crate) struct Limits {
    pub(crate) rate: Option<i64>,
    pub(crate) burst: i64,
    pub(crate) quota: Option<i64>,
}

pub(crate) fn check_limits(rate: Option<i64>, burst: Option<i64>, quota: Option<i64>) -> Result<Limits, ConsoleError> {
    let rate = match rate {
        Some(r) if !(1..=1_000_000).contains(&r) => {
            return Err(ConsoleError::invalid("rate_per_second", format!("must be 1-1000000, got {r}")));
        }
        r => r,
    };
    let burst = match burst {
        Some(b) if !(0..=1_000_000).contains(&b) => {
            return Err(ConsoleError::invalid("burst", format!("must be 0-1000000, got {b}")));
        }
        Some(b) => b,
        None => rate.unwrap_or(0),
    };
    let quota = match quota {
        Some(q) if q <= 0 => return Err(ConsoleError::invalid("period_quota", format!("must be positive, got {q}"))),
        q => q.map(|q| validate::bounded("period_quota", q)).transpose()?,
    };
    Ok(Limits { rate, burst, quota })
}

pub(crate) fn check_grace(days: i64) -> Result<i64, ConsoleError> {
    if (0..=365).contains(&days) {
        Ok(days)
    } else {
        Err(ConsoleError::invalid("grace_days", format!("must be 0-365, got {days}")))
    }
}

/// `plan.update`: changes only the fields given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct PlanUpdate {
    /// The plan to change.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub plan: String,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    #[cfg_attr(feature = "cli", arg(long = "price"))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub price_minor: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[A-Za-z]{3}$")]
    pub currency: Option<String>,
    #[cfg_attr(feature = "cli", arg(long = "period", value_enum))]
    pub billing_period: Option<BillingPeriod>,
    #[cfg_attr(feature = "cli", arg(long = "credits"))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub credits_per_period: Option<i64>,
    /// Replaces the entitlements (comma-separated; an empty value clears them).
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ','))]
    pub features: Option<Vec<String>>,
    /// New sustained rate; 0 makes the plan unlimited.
    #[cfg_attr(feature = "cli", arg(long = "rate"))]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub rate_per_second: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub burst: Option<i64>,
    /// New quota per period; 0 removes the quota.
    #[cfg_attr(feature = "cli", arg(long = "quota"))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub period_quota: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 365)]
    pub grace_days: Option<i64>,
}

/// `plan.archive`: the plan keeps its tenants but can no longer be chosen.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct PlanArchive {
    /// The plan to archive.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub plan: String,
}

/// `plan.list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct PlanList {
    /// Include archived plans.
    #[cfg_attr(feature = "cli", arg(long))]
    #[serde(default)]
    pub include_archived: bool,
}

/// The plan called `slug`, or a not-found error naming it.
pub(crate) async fn by_slug(conn: &mut Connection, slug: &str) -> Result<Plan, ConsoleError> {
    on!(conn, |c| sqlx::query_as::<_, Plan>("SELECT * FROM plans WHERE slug = $1").bind(slug).fetch_optional(c).await)?
        .ok_or_else(|| ConsoleError::not_found("plan", slug))
}

/// Like [`by_slug`], but refuses an archived plan (for putting a tenant on it).
pub(crate) async fn selectable(conn: &mut Connection, slug: &str) -> Result<Plan, ConsoleError> {
    let plan = by_slug(conn, slug).await?;
    if plan.archived {
        return Err(ConsoleError::Conflict {
            code: "PLAN_ARCHIVED",
            message: format!("plan '{slug}' is archived and takes no new subscriptions"),
        });
    }
    Ok(plan)
}

pub(crate) fn target(slug: &str) -> String {
    format!("plan:{slug}")
}

pub(crate) fn slug_conflict(e: sqlx::Error, slug: &str) -> ConsoleError {
    if is_unique_violation(&e) {
        ConsoleError::Conflict { code: "SLUG_TAKEN", message: format!("a plan with slug '{slug}' already exists") }
    } else {
        e.into()
    }
}

/// Plan `id` (a subscription's, so it exists).
pub(crate) async fn by_id(conn: &mut Connection, id: i64) -> sqlx::Result<Plan> {
    on!(conn, |c| sqlx::query_as("SELECT * FROM plans WHERE id = $1").bind(id).fetch_one(c).await)
}

/// The currency of tenant `tenant_id`'s plan.
pub(crate) async fn currency_of(conn: &mut Connection, tenant_id: i64) -> sqlx::Result<String> {
    on!(conn, |c| sqlx::query_scalar(
        "SELECT p.currency FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.tenant_id = $1"
    )
    .bind(tenant_id)
    .fetch_one(c)
    .await)
}

/// `sql` with `plan`'s terms bound as `$1`–`$10`: the insert and the update share them
/// (a macro, so each engine's [`on!`] arm builds its own query).
macro_rules! terms {
    ($sql:expr, $plan:expr) => {
        sqlx::query_as::<_, Plan>($sql)
            .bind(&$plan.name)
            .bind($plan.price_minor)
            .bind(&$plan.currency)
            .bind($plan.billing_period)
            .bind($plan.credits_per_period)
            .bind(sqlx::types::Json(&$plan.features))
            .bind($plan.rate_per_second)
            .bind($plan.burst)
            .bind($plan.period_quota)
            .bind($plan.grace_days)
    };
}

/// Inserts `plan` (its id, archived flag and subscriber count are ignored) and returns it
/// as stored.
pub(crate) async fn insert(conn: &mut Connection, plan: &Plan) -> sqlx::Result<Plan> {
    let sql = "INSERT INTO plans (name, price_minor, currency, billing_period, credits_per_period, features,
                        rate_per_second, burst, period_quota, grace_days, slug, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING *";
    on!(conn, |c| terms!(sql, plan).bind(&plan.slug).bind(plan.created_at).bind(plan.updated_at).fetch_one(c).await)
}

/// Writes `plan`'s terms (not its slug, archived flag or creation time) over plan `plan.id`.
pub(crate) async fn update(conn: &mut Connection, plan: &Plan) -> sqlx::Result<Plan> {
    let sql = "UPDATE plans SET name = $1, price_minor = $2, currency = $3, billing_period = $4,
            credits_per_period = $5, features = $6, rate_per_second = $7, burst = $8, period_quota = $9,
            grace_days = $10, updated_at = $11
         WHERE id = $12 RETURNING *";
    on!(conn, |c| terms!(sql, plan).bind(plan.updated_at).bind(plan.id).fetch_one(c).await)
}

/// Archives plan `id`.
pub(crate) async fn archive(conn: &mut Connection, id: i64, now: DateTime<Utc>) -> sqlx::Result<Plan> {
    on!(conn, |c| sqlx::query_as::<_, Plan>(
        "UPDATE plans SET archived = TRUE, updated_at = $1 WHERE id = $2 RETURNING *"
    )
    .bind(now)
    .bind(id)
    .fetch_one(c)
    .await)
}

/// Every plan (archived ones too when asked), cheapest first, with its subscriber count.
pub(crate) async fn list(conn: &mut Connection, include_archived: bool) -> sqlx::Result<Vec<Plan>> {
    on!(conn, |c| sqlx::query_as::<_, Plan>(
        "SELECT p.*, (SELECT COUNT(*) FROM subscriptions s WHERE s.plan_id = p.id
                      AND s.status IN ('trialing', 'active', 'past_due')) AS subscribers
         FROM plans p WHERE ($1 OR NOT p.archived) ORDER BY p.price_minor, p.slug",
    )
    .bind(include_archived)
    .fetch_all(c)
    .await)
}

/// Every plan, archived ones too.
pub(crate) async fn all(conn: &mut Connection) -> sqlx::Result<Vec<Plan>> {
    on!(conn, |c| sqlx::query_as("SELECT * FROM plans").fetch_all(c).await)
}

/// The plan called `slug`, if there is one.
pub(crate) async fn find(conn: &mut Connection, slug: &str) -> sqlx::Result<Option<Plan>> {
    on!(conn, |c| sqlx::query_as("SELECT * FROM plans WHERE slug = $1").bind(slug).fetch_optional(c).await)
}
