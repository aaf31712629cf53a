//! Routes: which paths the gateway forwards where, what a call costs, and what it requires.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::domain::cidr::{Cidr, IpRules};
use crate::domain::metering::{self, Metering, OnCancel};
use crate::domain::validate;
use crate::store::{Connection, on};

/// Methods a route may name; an empty list means all of them.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A route as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Route {
    pub id: i64,
    /// Requests whose path starts with this (the longest match wins), e.g. `/v1/search`.
    pub path_prefix: String,
    /// Methods this route answers; empty means every method.
    #[sqlx(json)]
    pub methods: Vec<String>,
    /// Where matching requests go, e.g. `http://127.0.0.1:9000` or `https://api.example.com`.
    pub upstream_url: String,
    /// For an `https://` upstream signed by a private CA: that CA's certificates (PEM),
    /// trusted for this route instead of the system's store.
    pub upstream_ca: Option<String>,
    /// Credits charged per successful call.
    pub cost: i64,
    /// The plan feature a tenant needs (402 `FEATURE_NOT_IN_PLAN` otherwise).
    pub required_feature: Option<String>,
    /// The key scope a caller needs (403 `SCOPE_NOT_GRANTED` otherwise).
    pub required_scope: Option<String>,
    /// Client addresses (CIDR blocks) this route answers; empty: every address not denied.
    #[sqlx(json)]
    #[schema(value_type = Vec<String>)]
    pub ip_allow: Vec<Cidr>,
    /// Client addresses (CIDR blocks) refused with 403 `IP_NOT_ALLOWED`; wins over `ip_allow`.
    #[sqlx(json)]
    #[schema(value_type = Vec<String>)]
    pub ip_deny: Vec<Cidr>,
    /// How a call is charged: `fixed` (`cost`), or what the upstream reports (`header`,
    /// `usage`), reserved up to `max_cost` before forwarding.
    pub metering: Metering,
    /// A metered route's ceiling: the most one call is held and charged.
    pub max_cost: Option<i64>,
    /// The answer header carrying a `header`-metered call's charge (whole credits); the
    /// client never sees it.
    pub charge_header: Option<String>,
    /// What a metered call whose answer broke off is charged.
    pub on_cancel: OnCancel,
    /// A call without a key that pays for itself (x402, a Payment credential) is served and
    /// charged to this tenant (by id); none: a call without a key gets 401.
    pub pay_per_call_tenant_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `route.create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct RouteCreate {
    /// Path prefix starting with `/`.
    #[cfg_attr(feature = "cli", arg(long = "path"))]
    #[schema(max_length = 512, pattern = r#"^/[!"$->@-~]*$"#)]
    pub path_prefix: String,
    /// Methods, comma-separated; none means all.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ','))]
    #[serde(default)]
    pub methods: Vec<String>,
    /// Upstream base URL, `http://` or `https://` (verified against the system's trust
    /// store, or `upstream_ca`).
    #[cfg_attr(feature = "cli", arg(long = "upstream"))]
    #[schema(pattern = r"^https?://[^\s/?#:][^\s]*$")]
    pub upstream_url: String,
    /// The private CA an `https://` upstream's certificate chains to, as PEM (the CLI takes
    /// a file: `--upstream-ca ca.pem`).
    #[cfg_attr(feature = "cli", arg(long = "upstream-ca", value_name = "PEM_FILE", value_parser = pem_file))]
    #[schema(max_length = 65536)]
    pub upstream_ca: Option<String>,
    /// Credits per call (default 1).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub cost: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long = "feature"))]
    #[schema(pattern = r"^[a-z0-9_.:-]{1,64}$")]
    pub required_feature: Option<String>,
    #[cfg_attr(feature = "cli", arg(long = "scope"))]
    #[schema(pattern = r"^[a-z0-9_.:-]{1,64}$")]
    pub required_scope: Option<String>,
    /// Client addresses allowed, CIDR blocks or addresses, comma-separated (at most 256);
    /// none: every address not denied.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "CIDRS"))]
    #[serde(default)]
    #[schema(max_items = 256)]
    pub ip_allow: Vec<String>,
    /// Client addresses refused (403 `IP_NOT_ALLOWED`), CIDR blocks or addresses; wins over
    /// `ip_allow`.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "CIDRS"))]
    #[serde(default)]
    #[schema(max_items = 256)]
    pub ip_deny: Vec<String>,
    /// How a call is charged (default `fixed`: `cost`).
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub metering: Option<Metering>,
    /// The most one call on a metered route is held and charged (required when metered).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 1e15)]
    pub max_cost: Option<i64>,
    /// The answer header with a `header`-metered call's charge (default `Tollgate-Charge`).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")]
    pub charge_header: Option<String>,
    /// What a metered call whose answer broke off is charged (default `nothing`).
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub on_cancel: Option<OnCancel>,
    /// A tenant's slug: calls without a key that pay for themselves (x402) are served and
    /// charged to it. Needs machine payments configured.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub pay_per_call: Option<String>,
}

/// A route's checked fields, shared by create and update.
pub(crate) struct Shape {
    pub(crate) path_prefix: String,
    pub(crate) methods: Vec<String>,
    pub(crate) upstream_url: String,
    pub(crate) upstream_ca: Option<String>,
    pub(crate) cost: i64,
    pub(crate) required_feature: Option<String>,
    pub(crate) required_scope: Option<String>,
    pub(crate) ip_allow: Vec<Cidr>,
    pub(crate) ip_deny: Vec<Cidr>,
    pub(crate) metering: Metering,
    pub(crate) max_cost: Option<i64>,
    pub(crate) charge_header: Option<String>,
    pub(crate) on_cancel: OnCancel,
    pub(crate) pay_per_call_tenant_id: Option<i64>,
}

/// The header a `header`-metered route reads when it names none.
pub const DEFAULT_CHARGE_HEADER: &str = "tollgate-charge";

/// A route's metering fields, checked together: a metered route needs a ceiling, a header
/// route a valid header name (stored lower-case); a fixed route keeps neither.
pub(crate) fn metered(
    metering: Metering,
    max_cost: Option<i64>,
    charge_header: Option<&str>,
) -> Result<(Option<i64>, Option<String>), ConsoleError> {
    if metering == Metering::Fixed {
        return Ok((None, None));
    }
    let ceiling = match max_cost {
        None => {
            return Err(ConsoleError::invalid(
                "max_cost",
                "a metered route needs max_cost, the most one call may be charged",
            ));
        }
        Some(n) if !(1..=metering::MAX_RESERVATION).contains(&n) => {
            return Err(ConsoleError::invalid("max_cost", format!("must be 1–{}, got {n}", metering::MAX_RESERVATION)));
        }
        Some(n) => n,
    };
    let header = match (metering, charge_header.map(str::trim).filter(|h| !h.is_empty())) {
        (Metering::Header, None) => Some(DEFAULT_CHARGE_HEADER.to_string()),
        (Metering::Header, Some(h)) => match http_token(h) {
            true => Some(h.to_ascii_lowercase()),
            false => return Err(ConsoleError::invalid("charge_header", format!("'{h}' is not a header name"))),
        },
        _ => None,
    };
    Ok((Some(ceiling), header))
}

/// RFC 9110 §5.6.2: a header name is a token of at most 64 characters here.
fn http_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An upstream the gateway can reach: `http://` or `https://`, host and optional port and
/// base path; user info is refused (credentials in a URL end up in logs and the audit).
pub(crate) fn upstream_url(s: &str) -> Result<String, ConsoleError> {
    let url = validate::http_url("upstream_url", s)?;
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(ConsoleError::invalid("upstream_url", "must not carry a user or password (user@host)"));
    }
    Ok(url)
}

/// A private CA, only for an `https://` upstream (an `http://` one would silently ignore it).
pub(crate) fn upstream_ca(url: &str, ca: Option<&str>) -> Result<Option<String>, ConsoleError> {
    match ca.map(str::trim) {
        None | Some("") => Ok(None),
        Some(_) if !url.starts_with("https://") => {
            Err(ConsoleError::invalid("upstream_ca", "is only for an https:// upstream_url"))
        }
        Some(pem) => crate::domain::pem::ca_bundle("upstream_ca", pem).map(Some),
    }
}

/// The CLI's `--upstream-ca FILE`: the file's text goes in the command.
#[cfg(feature = "cli")]
fn pem_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

pub(crate) fn path_prefix(p: &str) -> Result<String, ConsoleError> {
    if p == "/_tollgate" || p.starts_with("/_tollgate/") {
        let message = format!("'{p}' is under /_tollgate/, which the gateway keeps for its own endpoints");
        return Err(ConsoleError::invalid("path_prefix", message));
    }
    let ok = p.starts_with('/') && p.len() <= 512 && !p.contains(['?', '#']) && p.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(p.to_string())
    } else {
        Err(ConsoleError::invalid("path_prefix", format!("'{p}' must start with '/' and hold no spaces, '?' or '#'")))
    }
}

pub(crate) fn methods(items: &[String]) -> Result<Vec<String>, ConsoleError> {
    let mut out = Vec::new();
    for m in items.iter().map(|m| m.trim().to_ascii_uppercase()).filter(|m| !m.is_empty()) {
        if !METHODS.contains(&m.as_str()) {
            return Err(ConsoleError::invalid("methods", format!("'{m}' is not one of {}", METHODS.join(", "))));
        }
        out.push(m);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

pub(crate) fn optional_token(field: &str, s: Option<&str>) -> Result<Option<String>, ConsoleError> {
    match s.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => validate::token(field, t).map(Some),
    }
}

/// Refuses a second route answering the same prefix for an overlapping set of methods.
pub(crate) async fn check_unique(
    conn: &mut Connection,
    shape: &Shape,
    except: Option<i64>,
) -> Result<(), ConsoleError> {
    let same: Vec<Route> =
        on!(conn, |c| sqlx::query_as("SELECT * FROM routes WHERE path_prefix = $1 AND id IS DISTINCT FROM $2")
            .bind(&shape.path_prefix)
            .bind(except)
            .fetch_all(c)
            .await)?;
    for other in same {
        let overlap = other.methods.is_empty()
            || shape.methods.is_empty()
            || other.methods.iter().any(|m| shape.methods.contains(m));
        if overlap {
            return Err(ConsoleError::Conflict {
                code: "ROUTE_EXISTS",
                message: format!("route {} already answers {} for some of these methods", other.id, other.path_prefix),
            });
        }
    }
    Ok(())
}

impl Route {
    /// What a call reserves when it says nothing of its size: the fixed cost, or a metered
    /// route's ceiling.
    #[must_use]
    pub fn ceiling(&self) -> i64 {
        match self.metering {
            Metering::Fixed => self.cost,
            Metering::Header | Metering::Usage => self.max_cost.unwrap_or(self.cost),
        }
    }

    /// The route's address rules, as the policy checks them.
    #[must_use]
    pub fn ip_rules(&self) -> IpRules<'_> {
        IpRules { allow: &self.ip_allow, deny: &self.ip_deny }
    }
}

/// `route.update`: changes only the fields given; an empty feature or scope clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct RouteUpdate {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1)]
    pub id: i64,
    #[cfg_attr(feature = "cli", arg(long = "path"))]
    #[schema(max_length = 512, pattern = r#"^/[!"$->@-~]*$"#)]
    pub path_prefix: Option<String>,
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ','))]
    pub methods: Option<Vec<String>>,
    #[cfg_attr(feature = "cli", arg(long = "upstream"))]
    #[schema(pattern = r"^https?://[^\s/?#:][^\s]*$")]
    pub upstream_url: Option<String>,
    /// A private CA for an `https://` upstream (PEM; the CLI takes a file); empty clears it.
    #[cfg_attr(feature = "cli", arg(long = "upstream-ca", value_name = "PEM_FILE", value_parser = pem_file))]
    #[schema(max_length = 65536)]
    pub upstream_ca: Option<String>,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub cost: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long = "feature"))]
    pub required_feature: Option<String>,
    #[cfg_attr(feature = "cli", arg(long = "scope"))]
    pub required_scope: Option<String>,
    /// Replaces the allowed client addresses (CIDR blocks or addresses, comma-separated);
    /// empty clears the list.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "CIDRS"))]
    #[schema(max_items = 256)]
    pub ip_allow: Option<Vec<String>>,
    /// Replaces the refused client addresses; empty clears the list.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "CIDRS"))]
    #[schema(max_items = 256)]
    pub ip_deny: Option<Vec<String>>,
    /// How a call is charged: `fixed` (cost), `header` or `usage` (reported by the upstream).
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub metering: Option<Metering>,
    /// The most one call on a metered route is held and charged.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 1e15)]
    pub max_cost: Option<i64>,
    /// The answer header with a `header`-metered call's charge.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")]
    pub charge_header: Option<String>,
    /// What a metered call whose answer broke off is charged.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub on_cancel: Option<OnCancel>,
    /// A tenant's slug for calls without a key that pay for themselves; empty turns it off.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^$|^[a-z0-9][a-z0-9-]*$")]
    pub pay_per_call: Option<String>,
}

/// `route.delete`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct RouteDelete {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1)]
    pub id: i64,
}

/// `route.list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct RouteList {}

pub(crate) async fn by_id(conn: &mut Connection, id: i64) -> Result<Route, ConsoleError> {
    on!(conn, |c| sqlx::query_as::<_, Route>("SELECT * FROM routes WHERE id = $1").bind(id).fetch_optional(c).await)?
        .ok_or_else(|| ConsoleError::not_found("route", id))
}

pub(crate) fn target(id: i64) -> String {
    format!("route:{id}")
}

/// Inserts a route of `shape`.
pub(crate) async fn insert(conn: &mut Connection, shape: &Shape, now: DateTime<Utc>) -> sqlx::Result<Route> {
    let sql =
        "INSERT INTO routes (path_prefix, methods, upstream_url, upstream_ca, cost, required_feature, required_scope,
            ip_allow, ip_deny, created_at, updated_at, metering, max_cost, charge_header, on_cancel,
            pay_per_call_tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15) RETURNING *";
    write(conn, sql, shape, now, None).await
}

/// Gives route `id` the shape `shape`.
pub(crate) async fn update(conn: &mut Connection, id: i64, shape: &Shape, now: DateTime<Utc>) -> sqlx::Result<Route> {
    let sql = "UPDATE routes SET path_prefix = $1, methods = $2, upstream_url = $3, upstream_ca = $4, cost = $5,
            required_feature = $6, required_scope = $7, ip_allow = $8, ip_deny = $9, updated_at = $10,
            metering = $11, max_cost = $12, charge_header = $13, on_cancel = $14,
            pay_per_call_tenant_id = $15
         WHERE id = $16 RETURNING *";
    write(conn, sql, shape, now, Some(id)).await
}

/// Runs `sql` with `shape` as `$1`–`$9` and `$11`–`$15`, `now` as `$10` and `id` as `$16`:
/// the insert and the update share their parameters.
async fn write(
    conn: &mut Connection,
    sql: &'static str,
    shape: &Shape,
    now: DateTime<Utc>,
    id: Option<i64>,
) -> sqlx::Result<Route> {
    on!(conn, |c| {
        let query = sqlx::query_as::<_, Route>(sql)
            .bind(&shape.path_prefix)
            .bind(sqlx::types::Json(&shape.methods))
            .bind(&shape.upstream_url)
            .bind(&shape.upstream_ca)
            .bind(shape.cost)
            .bind(&shape.required_feature)
            .bind(&shape.required_scope)
            .bind(sqlx::types::Json(&shape.ip_allow))
            .bind(sqlx::types::Json(&shape.ip_deny))
            .bind(now)
            .bind(shape.metering)
            .bind(shape.max_cost)
            .bind(&shape.charge_header)
            .bind(shape.on_cancel)
            .bind(shape.pay_per_call_tenant_id);
        match id {
            Some(id) => query.bind(id),
            None => query,
        }
        .fetch_one(c)
        .await
    })
}

/// Removes route `id`.
pub(crate) async fn delete(conn: &mut Connection, id: i64) -> sqlx::Result<()> {
    on!(conn, |c| sqlx::query("DELETE FROM routes WHERE id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Every route, by path prefix.
pub(crate) async fn list(conn: &mut Connection) -> sqlx::Result<Vec<Route>> {
    on!(conn, |c| sqlx::query_as::<_, Route>("SELECT * FROM routes ORDER BY path_prefix, id").fetch_all(c).await)
}

/// The path prefix of route `id`, if it exists.
pub(crate) async fn prefix_of(conn: &mut Connection, id: i64) -> sqlx::Result<Option<String>> {
    on!(conn, |c| sqlx::query_scalar("SELECT path_prefix FROM routes WHERE id = $1").bind(id).fetch_optional(c).await)
}
