//! `request.show`: what became of one request, found by the id its client got
//! (`x-request-id`, or `request_id` in a refusal's body), from the request log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::command::{Command, Ctx};
use crate::request_log::{Lookup, RequestId};
use crate::traffic::Denial;
use crate::{Console, ConsoleError};

/// One request as the log kept it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestShown {
    pub request_id: String,
    /// `served` (the upstream answered below 500), `refused` (Tollgate answered with a
    /// code) or `failed` (the upstream answered 500 or more).
    pub outcome: String,
    pub at: DateTime<Utc>,
    pub method: String,
    /// The status the client got.
    pub status: u16,
    /// The denial or failure code, for a refusal.
    pub code: Option<String>,
    /// What the code means.
    pub meaning: Option<String>,
    /// Tenant slug, once the key was known.
    pub tenant: Option<String>,
    pub key_prefix: Option<String>,
    /// The matched route's path prefix.
    pub route: Option<String>,
    /// Credits charged.
    pub cost: i64,
    pub latency_us: u32,
    /// The stored sample of this refusal (with its facts), when it was among the first of
    /// its kind in its minute.
    pub denial: Option<Denial>,
}

/// `request.show`: was a request served, to whom, for how much and when; or why it was
/// refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct RequestShow {
    /// The request id, e.g. req_5f3a9c1e_000000000017.
    pub request_id: String,
}

impl Command for RequestShow {
    const NAME: &'static str = "request.show";
    const SUMMARY: &'static str = "Show whether a request was served or refused, to whom, for how much and when";
    type Output = RequestShown;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<RequestShown, ConsoleError> {
        let id = RequestId::parse(&self.request_id)
            .ok_or_else(|| ConsoleError::invalid("request_id", "expected an id such as req_5f3a9c1e_000000000017"))?;
        let log = console.request_log().ok_or_else(|| ConsoleError::NotFound {
            what: "request (no request log here yet)",
            id: self.request_id.clone(),
        })?;
        let gone = || ConsoleError::NotFound {
            what: "request (the request log keeps the most recent ones; an older one is no longer in it)",
            id: self.request_id.clone(),
        };
        let record = match log.find(id) {
            Ok(Lookup::Found(record)) => record,
            Ok(Lookup::Gone) => return Err(gone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone()),
            Err(e) => {
                return Err(ConsoleError::Conflict {
                    code: "REQUEST_LOG_UNREADABLE",
                    message: format!("cannot read the request log: {e}"),
                });
            }
        };
        let read = console.store().read();
        let tenant: Option<String> = match record.tenant_id {
            Some(id) => {
                sqlx::query_scalar("SELECT slug FROM tenants WHERE id = ?").bind(id).fetch_optional(read).await?
            }
            None => None,
        };
        let route: Option<String> = match record.route_id {
            Some(id) => {
                sqlx::query_scalar("SELECT path_prefix FROM routes WHERE id = ?").bind(id).fetch_optional(read).await?
            }
            None => None,
        };
        let code = Some(record.code.as_str().to_string()).filter(|c| !c.is_empty());
        let denial = match &code {
            Some(_) => {
                sqlx::query_as::<_, Denial>(
                    "SELECT id, at, request_id, tenant, key_prefix, route, method, path, path_truncated, status, code, facts
                     FROM denials WHERE request_id = ?",
                )
                .bind(id.to_string())
                .fetch_optional(read)
                .await?
            }
            None => None,
        };
        let outcome = match (&code, record.status) {
            (Some(_), _) => "refused",
            (None, status) if status >= 500 => "failed",
            (None, _) => "served",
        };
        Ok(RequestShown {
            request_id: id.to_string(),
            outcome: outcome.into(),
            at: DateTime::from_timestamp_millis(record.at_ms).unwrap_or_default(),
            method: record.method.as_str().to_string(),
            status: record.status,
            meaning: code.as_deref().map(meaning).map(str::to_string),
            code,
            tenant: tenant.or_else(|| record.tenant_id.map(|id| format!("#{id} (deleted)"))),
            key_prefix: Some(record.key_prefix.as_str().to_string()).filter(|k| !k.is_empty()),
            route: route.or_else(|| record.route_id.map(|id| format!("#{id} (deleted)"))),
            cost: record.cost,
            latency_us: record.latency_us,
            denial,
        })
    }
}

/// What a code the gateway answers with means, for the operator.
pub fn meaning(code: &str) -> &'static str {
    match code {
        "MISSING_API_KEY" => "no API key was sent",
        "INVALID_API_KEY" => "the API key is not one Tollgate knows",
        "API_KEY_REVOKED" => "the API key was revoked",
        "API_KEY_EXPIRED" => "the API key is past its expiry",
        "TENANT_BLOCKED" => "the tenant is blocked",
        "IP_NOT_ALLOWED" => "the client's address is refused by the tenant's or the route's IP rules",
        "SCOPE_NOT_GRANTED" => "the key lacks the scope the route requires",
        "ACCOUNT_SUSPENDED_NONPAYMENT" => "the tenant is suspended for nonpayment",
        "SUBSCRIPTION_CANCELED" => "the tenant's subscription is canceled",
        "SUBSCRIPTION_EXPIRED" => "the tenant's subscription or trial expired",
        "SUBSCRIPTION_PAST_DUE" => "the tenant's payment is overdue beyond the grace period",
        "FEATURE_NOT_IN_PLAN" => "the route needs a feature the tenant's plan lacks",
        "RATE_LIMITED" => "too many requests: the plan's rate limit, or the limit on requests without a usable key",
        "QUOTA_EXHAUSTED" => "the plan's quota for the period is used up",
        "INSUFFICIENT_CREDITS" => "the balance was below the route's cost",
        "ROUTE_NOT_FOUND" => "no route matches the method and path",
        "UPSTREAM_UNAVAILABLE" => "the upstream could not be reached (nothing was charged)",
        "UPSTREAM_TIMEOUT" => "the upstream did not answer in time (nothing was charged)",
        "STORAGE_UNAVAILABLE" => "the charge could not be committed (strict durability; nothing was charged)",
        "INVALID_HOST" => "the Host header was missing, repeated or invalid",
        "INVALID_PATH" => "the path was ambiguous or malformed",
        "BAD_REQUEST_BODY" => "the client's request body broke off or was malformed",
        "CLIENT_CLOSED_REQUEST" => "the client went away before the answer (nothing was charged)",
        _ => "a code this version does not describe",
    }
}
