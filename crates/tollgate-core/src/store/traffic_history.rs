//! `traffic.history`: served requests and denials over a window, in buckets, from the
//! per-minute counts the traffic log stores plus those it holds and has not written yet.
//!
//! The cut-off rule, shared with the live monitor: the answer counts every decision the
//! traffic log recorded before `as_of`. The gateway records a decision as soon as it has
//! measured its latency, so a live event whose `at` plus `latency_us` is at or before
//! `as_of` is already in the answer, and one after it is not.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::dialects;
use crate::store::traffic::Pending;
use crate::store::{Connection, on};

/// Tenants listed in `top_tenants`.
pub(crate) const TOP_TENANTS: usize = 10;

/// How far back `traffic.history` looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum HistoryWindow {
    /// 5 minutes, in 1-minute buckets.
    #[serde(rename = "5m")]
    #[cfg_attr(feature = "cli", value(name = "5m"))]
    FiveMinutes,
    /// 1 hour, in 1-minute buckets.
    #[default]
    #[serde(rename = "1h")]
    #[cfg_attr(feature = "cli", value(name = "1h"))]
    Hour,
    /// 24 hours, in 15-minute buckets.
    #[serde(rename = "24h")]
    #[cfg_attr(feature = "cli", value(name = "24h"))]
    Day,
    /// 7 days, in 1-hour buckets.
    #[serde(rename = "7d")]
    #[cfg_attr(feature = "cli", value(name = "7d"))]
    Week,
    /// 30 days, in 6-hour buckets.
    #[serde(rename = "30d")]
    #[cfg_attr(feature = "cli", value(name = "30d"))]
    Month,
}

impl HistoryWindow {
    /// Seconds per bucket: the stored counts are per minute, so never less than 60.
    pub fn bucket_seconds(self) -> i64 {
        match self {
            Self::FiveMinutes | Self::Hour => 60,
            Self::Day => 15 * 60,
            Self::Week => 3600,
            Self::Month => 6 * 3600,
        }
    }

    /// Buckets in the window (at most 168), the last one holding the cut-off.
    pub fn buckets(self) -> i64 {
        match self {
            Self::FiveMinutes => 5,
            Self::Hour => 60,
            Self::Day => 96,
            Self::Week => 168,
            Self::Month => 120,
        }
    }
}

/// `traffic.history`: what the gateway served and refused over a window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct TrafficHistoryShow {
    /// How far back: 5m, 1h, 24h, 7d or 30d (buckets of 1 min up to 6 h).
    #[cfg_attr(feature = "cli", arg(long, value_enum, default_value = "1h"))]
    #[serde(default)]
    pub window: HistoryWindow,
    /// Only this tenant's traffic.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: Option<String>,
}

/// Requests refused with one status and code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CodeCount {
    pub status: i64,
    pub code: String,
    pub requests: i64,
}

/// One bucket of the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryBucket {
    pub start: DateTime<Utc>,
    /// Requests the upstream answered (upstream failures without a Tollgate code included).
    pub served: i64,
    pub credits: i64,
    /// Refusals per status and code, by status then code; absent when none.
    pub denials: Vec<CodeCount>,
}

/// A tenant's refusals over the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TenantDenials {
    pub tenant: String,
    pub requests: i64,
}

/// Served requests and refusals over a window, in buckets, with their totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrafficHistory {
    pub window: HistoryWindow,
    pub tenant: Option<String>,
    pub bucket_seconds: i64,
    /// The start of the first bucket.
    pub from: DateTime<Utc>,
    /// The cut-off: every decision recorded before it is counted here, none after it.
    /// A live event belongs after it when its `at` plus its latency is later.
    pub as_of: DateTime<Utc>,
    /// Every bucket of the window, oldest first (the last one holds `as_of`).
    pub buckets: Vec<HistoryBucket>,
    pub served: i64,
    pub credits: i64,
    /// Refusals per status and code over the window.
    pub denials: Vec<CodeCount>,
    /// The tenants refused most over the window, most first (at most 10; empty for one tenant).
    pub top_tenants: Vec<TenantDenials>,
}

/// Counts gathered per bucket (Unix seconds of its start).
pub(crate) struct Tally {
    pub(crate) bucket: i64,
    pub(crate) first: i64,
    last: i64,
    served: BTreeMap<i64, (i64, i64)>,
    denials: BTreeMap<i64, BTreeMap<(i64, String), i64>>,
}

impl Tally {
    pub(crate) fn new(window: HistoryWindow, as_of: DateTime<Utc>) -> Self {
        let bucket = window.bucket_seconds();
        let last = as_of.timestamp().div_euclid(bucket) * bucket;
        let first = last - (window.buckets() - 1) * bucket;
        Self { bucket, first, last, served: BTreeMap::new(), denials: BTreeMap::new() }
    }

    fn inside(&self, bucket: i64) -> bool {
        (self.first..=self.last).contains(&bucket)
    }

    pub(crate) fn denial(&mut self, bucket: i64, status: i64, code: String, requests: i64) {
        if self.inside(bucket) {
            *self.denials.entry(bucket).or_default().entry((status, code)).or_default() += requests;
        }
    }

    pub(crate) fn served(&mut self, bucket: i64, requests: i64, credits: i64) {
        if self.inside(bucket) {
            let at = self.served.entry(bucket).or_default();
            at.0 += requests;
            at.1 += credits;
        }
    }

    /// Adds what memory holds for `tenant` (all when none); denials per tenant go to `per_tenant`.
    pub(crate) fn pending(&mut self, pending: &Pending, tenant: Option<&str>, per_tenant: &mut HashMap<String, i64>) {
        for (minute, who, status, code, requests) in &pending.denials {
            if tenant.is_some() && who.as_deref() != tenant {
                continue;
            }
            let bucket = (minute * 60).div_euclid(self.bucket) * self.bucket;
            if !self.inside(bucket) {
                continue;
            }
            self.denial(bucket, i64::from(*status), code.clone(), *requests);
            if let Some(who) = who {
                *per_tenant.entry(who.clone()).or_default() += requests;
            }
        }
        for (minute, who, requests, credits) in &pending.usage {
            if tenant.is_none_or(|t| t == who) {
                self.served((minute * 60).div_euclid(self.bucket) * self.bucket, *requests, *credits);
            }
        }
    }

    pub(crate) fn finish(
        self,
        window: HistoryWindow,
        tenant: Option<String>,
        as_of: DateTime<Utc>,
        top_tenants: Vec<TenantDenials>,
    ) -> TrafficHistory {
        let mut totals: BTreeMap<(i64, String), i64> = BTreeMap::new();
        let (mut served, mut credits) = (0, 0);
        let mut buckets = Vec::new();
        let mut start = self.first;
        while start <= self.last {
            let (requests, spent) = self.served.get(&start).copied().unwrap_or_default();
            served += requests;
            credits += spent;
            let denials = self.denials.get(&start).map_or_else(Vec::new, |d| {
                d.iter()
                    .map(|((status, code), requests)| {
                        *totals.entry((*status, code.clone())).or_default() += requests;
                        CodeCount { status: *status, code: code.clone(), requests: *requests }
                    })
                    .collect()
            });
            buckets.push(HistoryBucket {
                start: DateTime::from_timestamp(start, 0).unwrap_or_default(),
                served: requests,
                credits: spent,
                denials,
            });
            start += self.bucket;
        }
        TrafficHistory {
            window,
            tenant,
            bucket_seconds: self.bucket,
            from: DateTime::from_timestamp(self.first, 0).unwrap_or_default(),
            as_of,
            buckets,
            served,
            credits,
            denials: totals
                .into_iter()
                .map(|((status, code), requests)| CodeCount { status, code, requests })
                .collect(),
            top_tenants,
        }
    }
}

/// Denials from minute `from` (of `tenant`), summed per `bucket` seconds, status and code:
/// `(bucket start, status, code, requests)`.
pub(crate) async fn denials(
    conn: &mut Connection,
    bucket: i64,
    from: DateTime<Utc>,
    tenant: Option<&str>,
) -> sqlx::Result<Vec<(i64, i64, String, i64)>> {
    let sql = dialects!(conn.engine(),
        "SELECT CAST(" {"strftime('%s', minute)", "EXTRACT(EPOCH FROM minute)"} " AS BIGINT) / $1 * $1, status, code,
                CAST(SUM(requests) AS BIGINT)
         FROM denial_minutes WHERE minute >= $2 AND ($3 IS NULL OR tenant = $3)
         GROUP BY 1, status, code"
    );
    on!(conn, |c| sqlx::query_as(sql).bind(bucket).bind(from).bind(tenant).fetch_all(c).await)
}

/// Served traffic from minute `from` (of `tenant`), summed per `bucket` seconds:
/// `(bucket start, requests, credits)`.
pub(crate) async fn served(
    conn: &mut Connection,
    bucket: i64,
    from: DateTime<Utc>,
    tenant: Option<&str>,
) -> sqlx::Result<Vec<(i64, i64, i64)>> {
    let sql = dialects!(conn.engine(),
        "SELECT CAST(" {"strftime('%s', minute)", "EXTRACT(EPOCH FROM minute)"} " AS BIGINT) / $1 * $1,
                CAST(SUM(requests) AS BIGINT), CAST(SUM(credits) AS BIGINT)
         FROM usage_minutes WHERE minute >= $2 AND ($3 IS NULL OR tenant = $3) GROUP BY 1"
    );
    on!(conn, |c| sqlx::query_as(sql).bind(bucket).bind(from).bind(tenant).fetch_all(c).await)
}

/// Stored denials from minute `from` of the `limit` most denied tenants and of the tenants
/// `also` names: `(tenant, requests)`.
pub(crate) async fn most_denied(
    conn: &mut Connection,
    from: DateTime<Utc>,
    also: &[&str],
    limit: i64,
) -> sqlx::Result<Vec<(String, i64)>> {
    let sql = dialects!(conn.engine(),
        "SELECT tenant, CAST(SUM(requests) AS BIGINT) FROM denial_minutes
         WHERE minute >= $1 AND tenant IS NOT NULL
           AND (tenant IN (SELECT " {"value FROM json_each($2)", "jsonb_array_elements_text($2)"} ")
                OR tenant IN (SELECT tenant FROM denial_minutes WHERE minute >= $1 AND tenant IS NOT NULL
                              GROUP BY tenant ORDER BY SUM(requests) DESC, tenant LIMIT $3))
         GROUP BY tenant"
    );
    on!(conn, |c| sqlx::query_as(sql).bind(from).bind(sqlx::types::Json(also)).bind(limit).fetch_all(c).await)
}
