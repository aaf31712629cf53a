//! `explain`'s answers in words: a refusal's reason from its facts, and the fix.

use super::{Fix, RouteExplained};
use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::policy::{Denial, DenialCode as D, Outcome};

/// "served: …" or "every call gets 402 CODE: reason"; `metered`: the route charges what
/// the upstream reports, at most the cost.
pub(super) fn answer(outcome: &Outcome, has_key: bool, metered: bool, now: DateTime<Utc>) -> String {
    match outcome {
        Outcome::Allow { cost } if metered => {
            format!(
                "served: each call goes upstream and is charged what the upstream reports, at most {}",
                credits(*cost)
            )
        }
        Outcome::Allow { cost: 0 } => "served: calls go upstream and cost nothing".into(),
        Outcome::Allow { cost } => format!("served: each call goes upstream and costs {}", credits(*cost)),
        Outcome::Deny(denial) => {
            let code = denial.code;
            format!("every call gets {} {}: {}", code.status(), code.as_str(), reason(denial, has_key, now))
        }
    }
}

fn reason(denial: &Denial, has_key: bool, now: DateTime<Utc>) -> String {
    let f = &denial.facts;
    let at = |t: Option<DateTime<Utc>>| t.map_or_else(|| "at some point".to_string(), |t| relative(t, now));
    match denial.code {
        D::MissingApiKey | D::InvalidApiKey if !has_key => "the tenant has no API key".into(),
        D::MissingApiKey | D::InvalidApiKey => "the tenant's keys are not usable".into(),
        D::ApiKeyRevoked => "every key of the tenant is revoked".into(),
        D::ApiKeyExpired => format!("the tenant's keys expired (the last {})", at(f.expires_at)),
        D::TenantBlocked => "the tenant is blocked".into(),
        D::IpNotAllowed => "the client's address is refused by the tenant's or the route's IP rules".into(),
        D::ScopeNotGranted => {
            format!("no key of the tenant has the scope \"{}\"", f.required_scope.as_deref().unwrap_or("?"))
        }
        D::AccountSuspendedNonpayment => "the tenant is suspended for nonpayment".into(),
        D::SubscriptionCanceled => "the subscription is canceled".into(),
        D::SubscriptionExpired => format!("the subscription or trial ended {}", at(f.period_end)),
        D::SubscriptionPastDue => {
            let grace = match (f.period_end, f.grace_until) {
                (Some(end), Some(until)) if (until - end).num_seconds() % 86_400 == 0 && until > end => {
                    format!("the {}-day grace is over", (until - end).num_days())
                }
                (_, until) => format!("the grace ended {}", at(until)),
            };
            match f.period_end.filter(|end| *end <= now) {
                Some(end) => format!("the period ended {} and {grace}", relative(end, now)),
                // Marked past due before its period ended: only the grace counts.
                None => format!("the subscription is past due and {grace}"),
            }
        }
        D::FeatureNotInPlan => format!(
            "plan {} lacks the feature \"{}\"",
            f.plan.as_deref().unwrap_or("?"),
            f.required_feature.as_deref().unwrap_or("?")
        ),
        D::RateLimited => "over the plan's rate limit".into(),
        D::QuotaExhausted => format!(
            "the period's quota is used up ({} of {} calls)",
            f.used.unwrap_or_default(),
            f.quota.unwrap_or_default()
        ),
        D::KeyBudgetExhausted => match &f.budget {
            Some(b) => format!("the key has spent {} of its budget of {}", credits(b.budget_used), credits(b.budget)),
            None => "the key's budget for the period is spent".into(),
        },
        D::InsufficientCredits => format!(
            "the balance of {} is below the call's cost of {}",
            credits(f.balance.unwrap_or_default()),
            credits(f.cost.unwrap_or_default())
        ),
    }
}

/// The action that lifts a refusal, and what to do in words.
pub(super) fn fix(outcome: &Outcome) -> Option<(Fix, String)> {
    let Outcome::Deny(denial) = outcome else { return None };
    let f = &denial.facts;
    Some(match denial.code {
        D::MissingApiKey | D::InvalidApiKey | D::ApiKeyRevoked | D::ApiKeyExpired => {
            (Fix::IssueKey, "issue the tenant a key".into())
        }
        D::ScopeNotGranted => {
            (Fix::IssueKey, format!("issue a key with the scope \"{}\"", f.required_scope.as_deref().unwrap_or("?")))
        }
        D::TenantBlocked => (Fix::Resume, "resume the tenant (lifts the block)".into()),
        // Explain judges no address; the gateway's answer names what to change.
        D::IpNotAllowed => return None,
        D::AccountSuspendedNonpayment => (Fix::Resume, "resume the tenant once it has paid".into()),
        D::SubscriptionCanceled | D::SubscriptionExpired | D::SubscriptionPastDue => {
            (Fix::Renew, "renew the subscription once it is paid".into())
        }
        D::FeatureNotInPlan => (
            Fix::ChangePlan,
            format!("change to a plan with the feature \"{}\"", f.required_feature.as_deref().unwrap_or("?")),
        ),
        D::QuotaExhausted => (Fix::ChangePlan, "change to a plan with a larger quota, or renew".into()),
        D::RateLimited => (Fix::ChangePlan, "change to a plan with a higher rate limit".into()),
        // One key's cap, not the tenant's: the key's budget is raised on the key.
        D::KeyBudgetExhausted => return None,
        D::InsufficientCredits => {
            let short = f.cost.unwrap_or_default() - f.balance.unwrap_or_default();
            (Fix::TopUp, format!("top up at least {}", credits(short.max(1))))
        }
    })
}

/// The tenant's verdict over all its routes, and the same in words for a badge.
pub(super) fn verdict(routes: &[RouteExplained]) -> (&'static str, String) {
    let refused: Vec<&RouteExplained> = routes.iter().filter(|r| r.code.is_some()).collect();
    let label = |r: &RouteExplained| format!("{} {}", r.status, r.code.as_deref().unwrap_or(""));
    if routes.is_empty() {
        return ("no_routes", "no routes: every call gets 404 ROUTE_NOT_FOUND".into());
    }
    if refused.is_empty() {
        return ("serving", "served on every route".into());
    }
    let mut codes: Vec<String> = refused.iter().map(|r| label(r)).collect();
    codes.dedup();
    if refused.len() == routes.len() {
        let summary = match codes.as_slice() {
            [one] => format!("every call gets {one}"),
            _ => format!("every call is refused ({})", codes.join(", ")),
        };
        return ("refused", summary);
    }
    ("partly_refused", format!("refused on {} of {} routes ({})", refused.len(), routes.len(), codes.join(", ")))
}

fn credits(n: i64) -> String {
    if n == 1 { "1 credit".into() } else { format!("{n} credits") }
}

/// "9 days ago", "in 3 hours", "just now".
fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = now - t;
    let (past, d) = if d >= TimeDelta::zero() { (true, d) } else { (false, -d) };
    // Rounded, as people count: a period that ended 9 days and 23 hours ago ended 10 days ago.
    let (n, unit) = if d.num_days() >= 1 {
        ((d + TimeDelta::hours(12)).num_days(), "day")
    } else if d.num_hours() >= 1 {
        ((d + TimeDelta::minutes(30)).num_hours(), "hour")
    } else if d.num_minutes() >= 1 {
        (d.num_minutes(), "minute")
    } else {
        return "just now".into();
    };
    let s = if n == 1 { "" } else { "s" };
    if past { format!("{n} {unit}{s} ago") } else { format!("in {n} {unit}{s}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_as_people_say_them() {
        let now = Utc::now();
        assert_eq!(relative(now - TimeDelta::days(9), now), "9 days ago", "whole days");
        assert_eq!(relative(now - TimeDelta::days(10) + TimeDelta::seconds(1), now), "10 days ago", "rounded");
        assert_eq!(relative(now - TimeDelta::hours(1), now), "1 hour ago", "singular");
        assert_eq!(relative(now + TimeDelta::minutes(5), now), "in 5 minutes", "the future");
        assert_eq!(relative(now, now), "just now", "now");
    }
}
