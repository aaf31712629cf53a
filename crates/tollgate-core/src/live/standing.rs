//! What a key may read about itself (the gateway's reserved `GET /_tollgate/key`, modelled
//! on OpenRouter's `GET /api/v1/key`): its tenant, plan, balance, period, rate limit, quota
//! and its own budget. A key the gateway would refuse as such (missing, unknown, revoked,
//! expired), a blocked tenant or a refused address learns nothing: it gets the same 401 or
//! 403 a call would. A tenant that owes a payment does see its standing: that is how it
//! learns why it is refused. Reading it reserves, counts and rate-limits nothing.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::admit::account;
use super::{Live, lock};
use crate::domain::budget::BudgetPeriod;
use crate::domain::cidr::IpRules;
use crate::domain::policy::{Denial, IpFacts, Outcome, Request, RouteFacts, decide};
use crate::domain::standing::{Standing, SubscriptionStatus};
use crate::store::keys::PresentedKey;

/// A key's own standing, as its caller reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStanding {
    /// The tenant's id, for the gateway (not shown).
    #[serde(skip)]
    pub tenant_id: i64,
    pub key: KeyFacts,
    /// The tenant's slug.
    pub tenant: Arc<str>,
    /// `active`, or `suspended` (for nonpayment: every call gets 402).
    pub standing: Standing,
    pub plan: String,
    pub subscription: SubscriptionFacts,
    /// Credits the tenant may still spend; absent on a node sharing its database with
    /// others (each node holds only its own lease).
    pub balance: Option<i64>,
    /// The plan's rate limit; absent: unlimited.
    pub rate_limit: Option<RateFacts>,
    /// The plan's calls per period; absent: unlimited.
    pub quota: Option<QuotaFacts>,
    /// Where the tenant pays.
    pub billing_link: String,
}

/// The key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyFacts {
    /// The visible start of the key.
    pub prefix: Arc<str>,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's own spend cap; absent: only the tenant's balance limits it.
    pub budget: Option<BudgetStanding>,
}

/// A key's budget and what is left of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetStanding {
    pub limit: i64,
    pub period: BudgetPeriod,
    pub used: i64,
    pub remaining: i64,
    pub resets_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionFacts {
    pub status: SubscriptionStatus,
    pub period_end: DateTime<Utc>,
    pub grace_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateFacts {
    pub per_second: i64,
    pub burst: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaFacts {
    pub limit: i64,
    pub used: i64,
}

impl Live {
    /// The standing of `presented_key` at `now` from `client`, or the 401/403 a call with it
    /// would get (a 402 is not a refusal here: the standing says why). `billing_template`
    /// fills in a tenant without a link of its own.
    pub fn standing(
        &self,
        presented_key: PresentedKey<'_>,
        client: IpAddr,
        billing_template: &str,
        now: DateTime<Utc>,
    ) -> Result<KeyStanding, Box<Denial>> {
        let (key, key_state) = self.presented(presented_key);
        let free = RouteFacts { cost: 0, required_feature: None, required_scope: None };
        let refused = |account| {
            let request = Request { key: &key_state, route: &free, account, ip: IpFacts::default() };
            match decide(&request, now).outcome {
                Outcome::Deny(denial) => denial,
                Outcome::Allow { .. } => unreachable!("a request without an account is refused"),
            }
        };
        let Some((key, cell)) = key.as_ref().and_then(|k| Some((k, self.cell(k.tenant_id)?))) else {
            return Err(refused(None));
        };
        let t = lock(&cell).clone();
        let Some(plan) = self.plan(t.plan_id) else { return Err(refused(None)) };
        let mut account = account(&t, &plan);
        // Only who is asking is judged here, not what they may afford.
        (account.rate, account.period_quota) = (None, None);
        let ip = IpFacts {
            client: Some(client),
            tenant: IpRules { allow: &t.ip_allow, deny: &t.ip_deny },
            ..IpFacts::default()
        };
        let request = Request { key: &key_state, route: &free, account: Some(&account), ip };
        if let Outcome::Deny(denial) = decide(&request, now).outcome
            && matches!(denial.code.status(), 401 | 403)
        {
            return Err(denial);
        }
        let budget = key.cap.as_deref().map(|cap| {
            let b = cap.budget;
            let stored = t.key_spend.get(&key.id).copied().unwrap_or(cap.stored);
            let used = stored.at(b.period, now).spent;
            BudgetStanding {
                limit: b.limit,
                period: b.period,
                used,
                remaining: (b.limit - used).max(0),
                resets_at: b.period.end(now),
            }
        });
        let billing_link = t.billing_link.clone().unwrap_or_else(|| billing_template.replace("{tenant}", &t.slug));
        Ok(KeyStanding {
            tenant_id: t.id,
            key: KeyFacts {
                prefix: key.prefix.clone(),
                scopes: key.scopes.clone(),
                expires_at: key.expires_at,
                budget,
            },
            tenant: t.slug,
            standing: t.standing,
            plan: plan.slug.clone(),
            subscription: SubscriptionFacts { status: t.status, period_end: t.period_end, grace_until: t.grace_until },
            balance: (!self.credits_leased()).then_some(t.balance),
            rate_limit: plan.rate_per_second.map(|per_second| RateFacts { per_second, burst: plan.burst }),
            quota: plan.period_quota.map(|limit| QuotaFacts { limit, used: t.period_used }),
            billing_link,
        })
    }
}
