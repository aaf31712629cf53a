//! `explain`: what the gateway answers a tenant right now, route by route, and what fixes
//! it. The answers come from [`Live::answers`], i.e. the gateway's own policy function
//! on the gateway's own state, so they cannot disagree with what a caller then gets.
//!
//! The plan's rate limit is reported apart from the answers (`rate`): it is transient, and
//! a tenant that is refused for payment must read as refused for payment even while its
//! retries also run into the limit.

mod words;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::console::command::{Command, Ctx};
use crate::domain::policy::Outcome;
use crate::live::{Live, RateNow};
use crate::{Console, ConsoleError, store::tenants};

/// `explain`: why a tenant's calls are served or refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct Explain {
    /// The tenant's slug.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// Only this route: its path prefix, or a path it matches (e.g. `/v1/search/x`).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 512, pattern = r#"^/[!"$->@-~]*$"#)]
    pub route: Option<String>,
}

/// What fixes a refusal: the console action to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fix {
    /// `credits.topup`.
    TopUp,
    /// `subscription.renew`.
    Renew,
    /// `subscription.change-plan`.
    ChangePlan,
    /// `tenant.resume` (also lifts a block).
    Resume,
    /// `key.issue` (none works, or none has the route's scope).
    IssueKey,
    /// `route.create`: nothing is routed.
    CreateRoute,
}

/// The gateway's answer on one route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RouteExplained {
    /// The route's path prefix.
    pub route: String,
    /// The method of the representative call (the route's first, or `GET`).
    pub method: String,
    /// The status a call gets: 200 when it goes upstream (the upstream may answer otherwise).
    pub status: u16,
    /// The denial code, when refused.
    pub code: Option<String>,
    /// The answer in words, e.g. "every call gets 402 SUBSCRIPTION_PAST_DUE: …".
    pub answer: String,
    /// What fixes it, when refused.
    pub fix: Option<Fix>,
    /// The fix in words, e.g. "top up at least 5 credits".
    pub fix_hint: Option<String>,
    /// The tenant's key the answer is for (the one that gets furthest); none when it has none.
    pub key_prefix: Option<String>,
}

/// A tenant as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    pub tenant: String,
    /// `serving` (every route), `refused` (every route), `partly_refused` or `no_routes`.
    pub verdict: String,
    /// The verdict in words, for a badge: e.g. "every call gets 402 SUBSCRIPTION_PAST_DUE".
    pub summary: String,
    /// Credits that may still be spent, as the gateway holds them.
    pub balance: i64,
    /// Whether the next call would run into the plan's rate limit (transient; not in the answers).
    pub over_rate: bool,
    /// The rate state in words: "no rate limit", "within the rate limit" or "over …".
    pub rate: String,
    /// The instant the answers hold for.
    pub at: DateTime<Utc>,
    /// One answer per route, most specific prefix first.
    pub routes: Vec<RouteExplained>,
}

impl Command for Explain {
    const NAME: &'static str = "explain";
    const SUMMARY: &'static str =
        "Say what the gateway answers a tenant right now on each route, and what fixes a refusal";
    type Output = Explanation;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Explanation, ConsoleError> {
        let tenant = {
            let mut conn = console.store().reader().await?;
            tenants::by_slug(&mut conn, &self.tenant).await?
        };
        // Without a gateway in this process (the CLI on a stopped server), the state one
        // would start from.
        let live = match console.live() {
            Some(live) => live.clone(),
            None => Arc::new(Live::load(console.store()).await?),
        };
        let now = ctx.now;
        let state = live.tenant(tenant.id).ok_or_else(|| ConsoleError::not_found("tenant", &self.tenant))?;
        let answers = live.answers(tenant.id, now).ok_or_else(|| ConsoleError::not_found("tenant", &self.tenant))?;
        let mut routes = answers.routes;
        if let Some(wanted) = &self.route {
            let chosen = routes
                .iter()
                .position(|a| &a.route.path_prefix == wanted)
                .or_else(|| routes.iter().position(|a| crate::domain::path::under_prefix(wanted, &a.route.path_prefix)))
                .ok_or_else(|| ConsoleError::invalid("route", format!("no route matches {wanted}")))?;
            routes = vec![routes.swap_remove(chosen)];
        }
        let explained: Vec<RouteExplained> = routes
            .iter()
            .map(|a| {
                let (fix, fix_hint) = words::fix(&a.outcome).unzip();
                RouteExplained {
                    route: a.route.path_prefix.clone(),
                    method: a.route.methods.first().cloned().unwrap_or_else(|| "GET".into()),
                    status: match &a.outcome {
                        Outcome::Allow { .. } => 200,
                        Outcome::Deny(d) => d.code.status(),
                    },
                    code: match &a.outcome {
                        Outcome::Allow { .. } => None,
                        Outcome::Deny(d) => Some(d.code.as_str().to_string()),
                    },
                    answer: words::answer(
                        &a.outcome,
                        a.key_prefix.is_some(),
                        a.route.metering != crate::domain::metering::Metering::Fixed,
                        now,
                    ),
                    fix,
                    fix_hint,
                    key_prefix: a.key_prefix.as_deref().map(str::to_string),
                }
            })
            .collect();
        let (verdict, summary) = words::verdict(&explained);
        let (over_rate, rate) = match answers.rate {
            RateNow::Unlimited => (false, "no rate limit".to_string()),
            RateNow::Within => (false, "within the rate limit".to_string()),
            RateNow::Over { retry_after_ns } => (
                true,
                format!(
                    "over the rate limit now: calls get 429 RATE_LIMITED for about {} s more",
                    u64::try_from(retry_after_ns).unwrap_or(0).div_ceil(1_000_000_000).max(1)
                ),
            ),
        };
        Ok(Explanation {
            tenant: tenant.slug,
            verdict: verdict.into(),
            summary,
            balance: state.balance,
            over_rate,
            rate,
            at: now,
            routes: explained,
        })
    }
}
