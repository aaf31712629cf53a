//! What the gateway would answer a tenant right now, per route, without a request: the
//! same facts admission builds, handed to the same [`decide`], with nothing reserved,
//! counted or stored.

use std::sync::Arc;

use super::admit::{account, key_facts, route_facts};
use super::{Live, LiveKey, MatchedRoute, lock};
use chrono::{DateTime, Utc};

use crate::domain::policy::{DenialCode, IpFacts, KeyState, Outcome, Request, decide};
use crate::domain::rate::{self, RateVerdict};
use crate::store::routes::Route;

/// The gateway's answer to one call of a tenant on one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAnswer {
    pub route: Arc<Route>,
    /// The key the answer is for: the tenant's key that gets furthest (`None`: it has none).
    pub key_prefix: Option<std::sync::Arc<str>>,
    /// The answer with the rate limiter's bucket taken as fresh: what the tenant's
    /// standing earns. The rate limit is transient and is reported apart ([`RateNow`]),
    /// so a burst never hides a payment condition behind a 429.
    pub outcome: Outcome,
}

/// Where the tenant stands against its plan's rate limit at this instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateNow {
    /// The plan has no rate limit.
    Unlimited,
    /// The next call conforms.
    Within,
    /// The next call would get 429 for about this many nanoseconds.
    Over { retry_after_ns: i64 },
}

/// A tenant's answers on every route, with its rate state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantAnswers {
    pub routes: Vec<RouteAnswer>,
    pub rate: RateNow,
}

impl Live {
    /// What the gateway answers tenant `tenant_id` on each route at `now`; `None` when
    /// memory holds no such tenant. Reads only: no credits are reserved, the rate
    /// limiter's bucket and the period's count stay as they are.
    pub fn answers(&self, tenant_id: i64, now: DateTime<Utc>) -> Option<TenantAnswers> {
        let keys = self.keys_of(tenant_id);
        let routes = self.routes.read().expect("routes lock").value.clone();
        let cell = self.cell(tenant_id)?;
        let t = lock(&cell).clone();
        let plan = self.plan(t.plan_id);
        let mut account = plan.as_ref().map(|plan| account(&t, plan));
        let rate = match account.as_ref().and_then(|a| a.rate) {
            None => RateNow::Unlimited,
            Some(limit) => match rate::check(limit, t.rate_tat, now.timestamp_nanos_opt().unwrap_or(i64::MAX)) {
                RateVerdict::Allowed { .. } => RateNow::Within,
                RateVerdict::Limited { retry_after_ns, .. } => RateNow::Over { retry_after_ns },
            },
        };
        if let Some(account) = &mut account {
            account.rate_tat = None;
        }
        let answers = routes
            .iter()
            .map(|MatchedRoute { route, .. }| {
                let facts = route_facts(route);
                // Each key of the tenant, as the gateway would see it sent; the one that gets
                // furthest speaks for the tenant (a revoked spare key must not hide a 402);
                // of equals the oldest, hence `rev` (`max_by_key` keeps the last maximum).
                let decided = keys.iter().rev().map(|key| {
                    let state = KeyState::Known(key_facts(key));
                    let request =
                        Request { key: &state, route: &facts, account: account.as_ref(), ip: IpFacts::default() };
                    (Some(key.prefix.clone()), decide(&request, now).outcome)
                });
                let best = decided.max_by_key(|(_, outcome)| progress(outcome)).unwrap_or_else(|| {
                    let request =
                        Request { key: &KeyState::Unknown, route: &facts, account: None, ip: IpFacts::default() };
                    (None, decide(&request, now).outcome)
                });
                RouteAnswer { route: route.clone(), key_prefix: best.0, outcome: best.1 }
            })
            .collect();
        Some(TenantAnswers { routes: answers, rate })
    }

    /// The tenant's keys, oldest first.
    fn keys_of(&self, tenant_id: i64) -> Vec<Arc<LiveKey>> {
        let map = self.keys.read().expect("keys lock");
        let mut keys: Vec<_> =
            map.values().filter(|k| k.value.tenant_id == tenant_id).map(|k| k.value.clone()).collect();
        keys.sort_by_key(|k| k.id);
        keys
    }
}

/// How far a request got through the policy's checks: an allowed one furthest, a denial
/// by its code's place in the contract order (the checks run in that order).
fn progress(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Allow { .. } => DenialCode::ALL.len(),
        Outcome::Deny(denial) => DenialCode::ALL.iter().position(|c| *c == denial.code).unwrap_or(0),
    }
}
