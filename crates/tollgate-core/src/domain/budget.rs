//! Spend caps per key: a key may spend at most `limit` credits per calendar period (a UTC
//! day or month), whatever its tenant holds; past it the key is refused with 402
//! `KEY_BUDGET_EXHAUSTED` while the tenant's other keys keep working.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The calendar period a key's budget covers, in UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    Day,
    #[default]
    Month,
}

impl BudgetPeriod {
    /// When the period holding `at` began.
    #[must_use]
    pub fn start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let first = match self {
            BudgetPeriod::Day => day,
            BudgetPeriod::Month => day.with_day(1).unwrap_or(day),
        };
        Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0).unwrap_or_default())
    }

    /// When the period holding `at` ends (the next one begins).
    #[must_use]
    pub fn end(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.start(at);
        match self {
            BudgetPeriod::Day => start + chrono::TimeDelta::days(1),
            BudgetPeriod::Month => start.checked_add_months(chrono::Months::new(1)).unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

/// A key's budget as the policy checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyBudget {
    /// Credits the key may spend per period.
    pub limit: i64,
    /// Credits spent (or held for calls in flight) this period.
    pub spent: i64,
    /// When the period ends and the budget is whole again.
    pub resets_at: DateTime<Utc>,
}

/// What a key has spent in one period, as memory keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpend {
    /// The start of the period `spent` belongs to.
    pub since: DateTime<Utc>,
    pub spent: i64,
}

impl KeySpend {
    /// The spend in the period of `now`: this one's, or nothing in a later period.
    #[must_use]
    pub fn at(self, period: BudgetPeriod, now: DateTime<Utc>) -> KeySpend {
        let since = period.start(now);
        if self.since == since { self } else { KeySpend { since, spent: 0 } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_utc_days_and_months() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        assert_eq!(BudgetPeriod::Day.start(at), Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap());
        assert_eq!(BudgetPeriod::Day.end(at), Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(BudgetPeriod::Month.start(at), Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(BudgetPeriod::Month.end(at), Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        let feb = Utc.with_ymd_and_hms(2028, 2, 29, 12, 0, 0).unwrap();
        assert_eq!(BudgetPeriod::Month.end(feb), Utc.with_ymd_and_hms(2028, 3, 1, 0, 0, 0).unwrap());
    }

    #[test]
    fn a_new_period_starts_from_nothing() {
        let at = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        let spend = KeySpend { since: BudgetPeriod::Day.start(at), spent: 40 };
        assert_eq!(spend.at(BudgetPeriod::Day, at).spent, 40, "same day");
        let tomorrow = at + chrono::TimeDelta::days(1);
        assert_eq!(spend.at(BudgetPeriod::Day, tomorrow).spent, 0, "a new day");
        assert_eq!(spend.at(BudgetPeriod::Day, tomorrow).since, BudgetPeriod::Day.start(tomorrow));
    }
}
