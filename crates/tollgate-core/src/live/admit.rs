//! Admission: the policy applied to the live state, and the reservation that goes with
//! an allowed request, under the tenant's lock so concurrent requests cannot overspend.

use std::borrow::Cow;
use std::net::IpAddr;

use std::sync::Arc;

use super::{Cell, Live, LiveKey, SpendCap, TenantState, lock};
use crate::domain::budget::{KeyBudget, KeySpend};
use chrono::{DateTime, Utc};

use crate::domain::cidr::IpRules;
use crate::domain::policy::{Account, DenialCode, IpFacts, KeyFacts, KeyState, Outcome, Request, RouteFacts, decide};
use crate::domain::rate::RateLimit;
use crate::store::keys::{PresentedKey, digest};
use crate::store::plans::Plan;
use crate::store::routes::Route;

/// Who a request came from, once its key is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub tenant_id: i64,
    /// Tenant slug (shared with the live state: admitting a request copies no names).
    pub tenant: Arc<str>,
    /// Plan slug.
    pub plan: String,
    pub key_prefix: Arc<str>,
    /// The tenant's own billing link, when it has one (see [`Admitted::billing_link`]).
    pub own_billing_link: Option<String>,
    /// Credits that may still be spent, after this request's reservation.
    pub balance: i64,
    /// The plan's sustained requests per second and burst, when it has a rate limit.
    pub rate: Option<(i64, i64)>,
}

impl Admitted {
    /// Where this tenant pays: its own link, or `template` with `{tenant}` filled in.
    /// Computed only when an answer needs it (a 402), not on every request.
    pub fn billing_link(&self, template: &str) -> String {
        self.own_billing_link.clone().unwrap_or_else(|| template.replace("{tenant}", &self.tenant))
    }
}

/// The answer for one request.
#[derive(Debug)]
pub struct Admission {
    /// Allow (credits are now reserved) or the denial to answer with.
    pub outcome: Outcome,
    /// The caller, when the key belongs to a tenant.
    pub who: Option<Admitted>,
    /// The allowed request's credits, set aside until it is charged or abandoned.
    pub reservation: Option<Reservation>,
}

impl Live {
    /// Decides one request from `client` (the address the gateway resolved) at `now` and,
    /// when it is allowed, reserves its cost. The caller hands back a [`Reservation`] that
    /// the caller spends or lets go.
    pub fn admit(
        &self,
        presented_key: PresentedKey<'_>,
        route: &Route,
        client: IpAddr,
        now: DateTime<Utc>,
    ) -> Admission {
        self.admit_at_cost(presented_key, route, route.cost, client, now)
    }

    /// [`admit`](Self::admit) reserving `cost` instead of the route's fixed cost: a
    /// metered route's ceiling for this request.
    pub fn admit_at_cost(
        &self,
        presented_key: PresentedKey<'_>,
        route: &Route,
        cost: i64,
        client: IpAddr,
        now: DateTime<Utc>,
    ) -> Admission {
        let (key, key_state) = self.presented(presented_key);
        self.admit_key(key, key_state, route, cost, client, now)
    }

    /// The stored key `presented_key` names, if any, and what the policy learns of it.
    pub(super) fn presented(&self, presented_key: PresentedKey<'_>) -> (Option<Arc<LiveKey>>, KeyState) {
        let key = match presented_key {
            PresentedKey::Key(k) => self.key(&digest(k)),
            PresentedKey::Absent | PresentedKey::Malformed => None,
        };
        let key_state = match (presented_key, &key) {
            (PresentedKey::Absent, _) => KeyState::Missing,
            (PresentedKey::Malformed | PresentedKey::Key(_), None) => KeyState::Unknown,
            (_, Some(k)) => KeyState::Known(key_facts(k)),
        };
        (key, key_state)
    }

    /// Admits a call without a key that paid for itself (a pay-per-call route), as tenant
    /// `tenant_id`, the account its operator named: as if it came with a key of that tenant
    /// holding the route's scope, shown as `x402` in events.
    pub fn admit_paid(
        &self,
        tenant_id: i64,
        route: &Route,
        cost: i64,
        client: IpAddr,
        now: DateTime<Utc>,
    ) -> Admission {
        let key = Arc::new(paid_key(tenant_id, route));
        let state = KeyState::Known(key_facts(&key));
        self.admit_key(Some(key), state, route, cost, client, now)
    }

    /// Why a call on `route` paid for itself as tenant `tenant_id` would still be refused,
    /// checked before its payment is taken (read only; the rate limiter's bucket taken as
    /// fresh, the balance as what the payment will bring): `None` when it would be served.
    pub fn paid_refusal(
        &self,
        tenant_id: i64,
        route: &Route,
        cost: i64,
        client: IpAddr,
        now: DateTime<Utc>,
    ) -> Option<DenialCode> {
        let Some(cell) = self.cell(tenant_id) else { return Some(DenialCode::InvalidApiKey) };
        let t = lock(&cell);
        let Some(plan) = self.plan(t.plan_id) else { return Some(DenialCode::InvalidApiKey) };
        let mut account = account(&t, &plan);
        (account.rate_tat, account.balance) = (None, i64::MAX);
        let key = KeyState::Known(key_facts(&paid_key(tenant_id, route)));
        let facts = RouteFacts { cost, ..route_facts(route) };
        let ip = IpFacts {
            client: Some(client),
            tenant: IpRules { allow: &t.ip_allow, deny: &t.ip_deny },
            route: route.ip_rules(),
        };
        match decide(&Request { key: &key, route: &facts, account: Some(&account), ip }, now).outcome {
            Outcome::Allow { .. } => None,
            Outcome::Deny(denial) => Some(denial.code),
        }
    }

    fn admit_key(
        &self,
        key: Option<Arc<LiveKey>>,
        mut key_state: KeyState,
        route: &Route,
        cost: i64,
        client: IpAddr,
        now: DateTime<Utc>,
    ) -> Admission {
        let route_facts = RouteFacts { cost, ..route_facts(route) };
        let cell = key.as_ref().and_then(|k| self.cell(k.tenant_id));
        let Some((key, cell)) = key.zip(cell) else {
            let request = Request { key: &key_state, route: &route_facts, account: None, ip: IpFacts::default() };
            return Admission { outcome: decide(&request, now).outcome, who: None, reservation: None };
        };
        let mut t = lock(&cell);
        let Some(plan) = self.plan(t.plan_id) else {
            let request = Request { key: &key_state, route: &route_facts, account: None, ip: IpFacts::default() };
            return Admission { outcome: decide(&request, now).outcome, who: None, reservation: None };
        };
        let leased = self.credits_leased();
        let mut account = account(&t, &plan);
        if leased {
            account.balance = i64::MAX; // the lease checks and spends the credits
        }
        let budget = key.cap.as_deref().map(|cap| {
            let (b, spend) = (cap.budget, spend_now(&mut t, key.id, cap, now));
            (spend.since, KeyBudget { limit: b.limit, spent: spend.spent, resets_at: b.period.end(now) })
        });
        if let (KeyState::Known(facts), Some((_, b))) = (&mut key_state, budget) {
            facts.budget = Some(b);
        }
        let ip = IpFacts {
            client: Some(client),
            tenant: IpRules { allow: &t.ip_allow, deny: &t.ip_deny },
            route: route.ip_rules(),
        };
        let decision = decide(&Request { key: &key_state, route: &route_facts, account: Some(&account), ip }, now);
        if let Some(tat) = decision.next_tat {
            t.rate_tat = Some(tat);
        }
        let reservation = match decision.outcome {
            Outcome::Allow { cost } => {
                if !leased {
                    t.balance -= cost;
                    t.reserved += cost;
                }
                t.period_used += 1;
                let budget = budget.map(|(since, _)| {
                    if let Some(spend) = t.key_spend.get_mut(&key.id) {
                        spend.spent += cost;
                    }
                    (key.id, since)
                });
                Some(Reservation { cell: Some(cell.clone()), cost, leased, budget })
            }
            Outcome::Deny(_) => None,
        };
        let who = Admitted {
            tenant_id: t.id,
            tenant: t.slug.clone(),
            plan: plan.slug.clone(),
            key_prefix: key.prefix.clone(),
            own_billing_link: t.billing_link.clone(),
            balance: t.balance,
            rate: plan.rate_per_second.map(|r| (r, plan.burst)),
        };
        drop(t);
        Admission { outcome: decision.outcome, who: Some(who), reservation }
    }
}

impl Live {
    /// Whether `presented_key` is a stored key (revoked, expired or not): worth reading a
    /// request's body for, before admission, on a route that prices it.
    pub fn knows(&self, presented_key: PresentedKey<'_>) -> bool {
        matches!(presented_key, PresentedKey::Key(k) if self.key(&digest(k)).is_some())
    }
}

/// The key a call that paid for itself on `route` is admitted with: one of tenant
/// `tenant_id` holding the route's scope, shown as `x402` in events.
fn paid_key(tenant_id: i64, route: &Route) -> LiveKey {
    LiveKey {
        id: 0,
        tenant_id,
        prefix: "x402".into(),
        revoked: false,
        expires_at: None,
        scopes: route.required_scope.iter().cloned().collect(),
        cap: None,
    }
}

/// What the policy needs of a route (a metered route's cost is its ceiling: what a call
/// that says nothing of its size reserves).
pub(super) fn route_facts(route: &Route) -> RouteFacts {
    RouteFacts {
        cost: route.ceiling(),
        required_feature: route.required_feature.clone(),
        required_scope: route.required_scope.clone(),
    }
}

/// What the policy needs of a stored key.
pub(super) fn key_facts(key: &LiveKey) -> KeyFacts {
    KeyFacts { revoked: key.revoked, expires_at: key.expires_at, scopes: key.scopes.clone(), budget: None }
}

/// What the policy needs of a tenant on `plan`: admission and `explain` build it here
/// alike, so both decide from the same facts.
pub(super) fn account<'a>(t: &TenantState, plan: &'a Plan) -> Account<'a> {
    Account {
        standing: t.standing,
        status: t.status,
        period_end: t.period_end,
        grace_until: t.grace_until,
        plan: Cow::Borrowed(&plan.slug),
        features: Cow::Borrowed(&plan.features),
        grace_days: plan.grace_days,
        rate: plan_rate(plan),
        period_quota: plan.period_quota,
        period_used: t.period_used,
        balance: t.balance,
        rate_tat: t.rate_tat,
    }
}

/// The plan's rate limit for the policy; `None` is unlimited.
fn plan_rate(plan: &Plan) -> Option<RateLimit> {
    plan.rate_per_second.map(|r| RateLimit {
        per_second: u32::try_from(r).unwrap_or(u32::MAX),
        burst: u32::try_from(plan.burst).unwrap_or(u32::MAX),
    })
}

impl Live {
    /// Sets `cost` credits of a tenant aside without the policy, for work already decided
    /// (a charge whose amount is known only later, tests). Fails when fewer are available.
    pub fn reserve(&self, tenant_id: i64, cost: i64) -> Result<Reservation, crate::ConsoleError> {
        let cell = self.cell(tenant_id).ok_or_else(|| crate::ConsoleError::not_found("tenant", tenant_id))?;
        let mut t = lock(&cell);
        if t.balance < cost {
            return Err(crate::ConsoleError::InsufficientCredits { balance: t.balance, needed: cost });
        }
        t.balance -= cost;
        t.reserved += cost;
        t.period_used += 1;
        drop(t);
        Ok(Reservation { cell: Some(cell), cost, leased: false, budget: None })
    }
}

/// Credits set aside for one admitted request, owned by whoever handles the request.
/// Dropped without [`spend`](Reservation::spend) (the client went away, the task
/// panicked, the server stopped), the credits go back and the request does not count
/// against the quota: a reservation can never leak.
#[derive(Debug)]
pub struct Reservation {
    cell: Option<Cell>,
    cost: i64,
    /// The credits come from the node's lease, not the tenant's balance here: only the
    /// quota count and the key's budget are held in memory.
    leased: bool,
    /// The key whose budget holds the cost too, and the period it was held in.
    budget: Option<(i64, DateTime<Utc>)>,
}

impl Reservation {
    /// The credits reserved.
    pub fn cost(&self) -> i64 {
        self.cost
    }

    /// The request was charged its whole reservation (the ledger writer records the debit).
    pub fn spend(self) {
        let cost = self.cost;
        self.spend_part(cost);
    }

    /// The request was charged `amount` credits, at most its reservation (a larger amount
    /// is capped at it): those are spent, the rest goes back. Returns what was spent.
    pub fn spend_part(mut self, amount: i64) -> i64 {
        let amount = amount.clamp(0, self.cost);
        if let Some(cell) = self.cell.take() {
            let mut t = lock(&cell);
            self.settle(&mut t, amount);
        }
        amount
    }

    /// The request was served in `batched` mode and charged its whole reservation: see
    /// [`hand_over_part`](Reservation::hand_over_part).
    pub fn hand_over(self) {
        let cost = self.cost;
        self.hand_over_part(cost);
    }

    /// The request was served in `batched` mode and charged `amount` credits, at most its
    /// reservation (a larger amount is capped at it): those are spent and on their way to
    /// the ledger (counted as unwritten until the writer commits them), the rest goes
    /// back. Returns what was charged: the amount to hand the ledger writer.
    pub fn hand_over_part(mut self, amount: i64) -> i64 {
        let amount = amount.clamp(0, self.cost);
        if let Some(cell) = self.cell.take() {
            let mut t = lock(&cell);
            self.settle(&mut t, amount);
            if !self.leased {
                t.unwritten += amount;
            }
        }
        amount
    }

    /// The request was not served: the credits go back. Returns the balance after.
    pub fn release(mut self) -> i64 {
        self.give_back().unwrap_or_default()
    }

    /// Ends the reservation with `amount` of it charged: the rest goes back to the
    /// balance and the key's budget.
    fn settle(&self, t: &mut TenantState, amount: i64) {
        if !self.leased {
            t.reserved -= self.cost;
            t.balance += self.cost - amount;
        }
        self.unhold_budget(t, self.cost - amount);
    }

    fn give_back(&mut self) -> Option<i64> {
        let cell = self.cell.take()?;
        let mut t = lock(&cell);
        self.settle(&mut t, 0);
        t.period_used -= 1;
        Some(t.balance)
    }

    /// Gives `credits` back to the key's budget, unless its period has turned since.
    fn unhold_budget(&self, t: &mut TenantState, credits: i64) {
        if let Some((key_id, since)) = self.budget
            && let Some(spend) = t.key_spend.get_mut(&key_id)
            && spend.since == since
        {
            spend.spent = (spend.spent - credits).max(0);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// What key `key_id` has spent in the period of `now`, counted on from what was stored
/// when it was first used; a new period starts from nothing.
fn spend_now(t: &mut TenantState, key_id: i64, cap: &SpendCap, now: DateTime<Utc>) -> KeySpend {
    let spend = t.key_spend.entry(key_id).or_insert(cap.stored);
    *spend = spend.at(cap.budget.period, now);
    *spend
}

impl Live {
    /// What `key` has spent in its current period as the gateway counts it (`None` when
    /// the gateway has not seen the key used since it started, or the key has no budget:
    /// the stored count is then current).
    pub fn key_spent(&self, key: &crate::store::keys::ApiKey, now: DateTime<Utc>) -> Option<i64> {
        let cell = self.cell(key.tenant_id)?;
        let t = lock(&cell);
        t.key_spend.get(&key.id).map(|spend| spend.at(key.budget_period, now).spent)
    }
}
