//! API keys: high-entropy secrets shown once; only their SHA-256 is stored.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::domain::budget::{BudgetPeriod, KeySpend};
use crate::domain::ctx::Ctx;
use crate::error::is_unique_violation;
use crate::store::{Connection, on};
use sqlx::{FromRow, Row};

/// The columns of an [`ApiKey`], for every statement that returns one.
macro_rules! key_columns {
    () => {
        "id, tenant_id, prefix, name, scopes, created_at, expires_at, revoked_at, last_used_at, calls, budget, budget_period, budget_spent, budget_since"
    };
}

/// Every key starts with this, so a leaked key is recognisable in logs and by scanners.
pub const KEY_PREFIX: &str = "tg_live_";
/// Random characters after [`KEY_PREFIX`]: 40 of 62 symbols, about 238 bits.
const SECRET_CHARS: usize = 40;
/// Characters of the key kept visible (the prefix plus 8), enough to tell keys apart.
const VISIBLE_CHARS: usize = KEY_PREFIX.len() + 8;

/// A key as stored and shown: never the secret, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ApiKey {
    pub id: i64,
    pub tenant_id: i64,
    /// The visible start of the key, e.g. `tg_live_AbCd1234`; identifies it in commands.
    pub prefix: String,
    pub name: String,
    /// What the key may do; a route can require one.
    #[sqlx(json)]
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The last request made with this key (whatever the answer), to the second. Written
    /// with the traffic log's counts (every 5 s), so it trails the gateway by up to 5 s.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Requests made with this key (served or refused), written with `last_used_at`.
    pub calls: i64,
    /// Credits the key may spend per `budget_period` (402 `KEY_BUDGET_EXHAUSTED` past it);
    /// none: only the tenant's balance limits it.
    pub budget: Option<i64>,
    pub budget_period: BudgetPeriod,
    /// Credits the key spent in the period starting `budget_since`, as last written (with
    /// `calls`, so up to 5 s behind).
    pub budget_spent: i64,
    pub budget_since: Option<DateTime<Utc>>,
    /// Credits spent in the current period, as the gateway counts them now (`key.list`
    /// fills it in; `budget_spent` when nothing runs).
    #[sqlx(skip)]
    #[serde(default)]
    pub budget_used: i64,
}

impl ApiKey {
    /// What the key spent in the period of `now`, from what was last written.
    #[must_use]
    pub fn stored_spend(&self) -> KeySpend {
        KeySpend { since: self.budget_since.unwrap_or(DateTime::<Utc>::MIN_UTC), spent: self.budget_spent }
    }
}

/// A freshly issued key with its secret, which is never shown again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedKey {
    pub key: ApiKey,
    /// The whole key to hand to the customer. Tollgate keeps only its hash.
    pub secret: String,
}

/// What a request offers as its API key, before it is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedKey<'a> {
    /// No key at all: 401 `MISSING_API_KEY`.
    Absent,
    /// Something in a key's place that cannot be a key (bytes outside visible ASCII,
    /// several candidates): 401 `INVALID_API_KEY`, like a key that matches nothing.
    Malformed,
    /// A key to look up.
    Key(&'a str),
}

/// The SHA-256 that identifies a key presented to the gateway.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// [`digest`] in hex, as stored.
pub fn hash_secret(secret: &str) -> String {
    digest(secret).iter().map(|b| format!("{b:02x}")).collect()
}

fn new_secret() -> String {
    let random: String = rand::rng().sample_iter(&Alphanumeric).take(SECRET_CHARS).map(char::from).collect();
    format!("{KEY_PREFIX}{random}")
}

/// `key.issue`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct KeyIssue {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    /// A label for the operator, e.g. "production" (default "default").
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    /// Scopes, comma-separated on the command line.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ','))]
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When the key stops working (RFC 3339, e.g. 2027-01-31T00:00:00Z).
    #[cfg_attr(feature = "cli", arg(long))]
    pub expires_at: Option<DateTime<Utc>>,
    /// Credits the key may spend per period (none: only the tenant's balance limits it).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub budget: Option<i64>,
    /// The budget's period, a UTC day or month (default month).
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub budget_period: Option<BudgetPeriod>,
}

/// `key.budget`: sets or removes a key's spend cap.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct KeyBudgetSet {
    /// The key's visible prefix (or the whole key).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1)]
    pub key: String,
    /// Credits the key may spend per period; absent removes the cap.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub budget: Option<i64>,
    /// A UTC day or month (default: the key's current period, or month).
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub period: Option<BudgetPeriod>,
}

/// Gives key `id` the budget `budget` per `period`.
pub(crate) async fn set_budget(
    conn: &mut Connection,
    id: i64,
    budget: Option<i64>,
    period: BudgetPeriod,
) -> sqlx::Result<ApiKey> {
    on!(conn, |c| sqlx::query_as::<_, ApiKey>(concat!(
        "UPDATE api_keys SET budget = $1, budget_period = $2 WHERE id = $3 RETURNING ",
        key_columns!()
    ))
    .bind(budget)
    .bind(period)
    .bind(id)
    .fetch_one(c)
    .await)
}

pub(crate) async fn insert(
    conn: &mut Connection,
    ctx: &Ctx,
    tenant_id: i64,
    name: &str,
    scopes: &[String],
    expires_at: Option<DateTime<Utc>>,
) -> Result<IssuedKey, ConsoleError> {
    let secret = new_secret();
    let key = store(conn, ctx, tenant_id, name, scopes, expires_at, &secret, &secret[..VISIBLE_CHARS]).await?;
    Ok(IssuedKey { key, secret })
}

/// Stores the hash of `secret` (never the secret) under the visible `prefix`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn store(
    conn: &mut Connection,
    ctx: &Ctx,
    tenant_id: i64,
    name: &str,
    scopes: &[String],
    expires_at: Option<DateTime<Utc>>,
    secret: &str,
    prefix: &str,
) -> Result<ApiKey, ConsoleError> {
    on!(conn, |c| sqlx::query_as::<_, ApiKey>(concat!(
        "INSERT INTO api_keys (tenant_id, prefix, secret_hash, name, scopes, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        key_columns!()
    ),)
    .bind(tenant_id)
    .bind(prefix)
    .bind(hash_secret(secret))
    .bind(name)
    .bind(sqlx::types::Json(scopes))
    .bind(ctx.now)
    .bind(expires_at)
    .fetch_one(c)
    .await)
    .map_err(|e| {
        if is_unique_violation(&e) {
            ConsoleError::Conflict {
                code: "KEY_EXISTS",
                message: format!("a key with prefix {prefix} or the same secret exists"),
            }
        } else {
            e.into()
        }
    })
}

/// `key.revoke`: the key stops working at once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct KeyRevoke {
    /// The key's visible prefix (or the whole key).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1)]
    pub key: String,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub reason: Option<String>,
}

pub(crate) async fn set_revoked(conn: &mut Connection, id: i64, now: DateTime<Utc>) -> Result<ApiKey, ConsoleError> {
    Ok(on!(conn, |c| sqlx::query_as::<_, ApiKey>(concat!(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 RETURNING ",
        key_columns!()
    ),)
    .bind(now)
    .bind(id)
    .fetch_one(c)
    .await)?)
}

/// A rotation's result: the new key (with its secret) and the old one with its new expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RotatedKey {
    pub issued: IssuedKey,
    pub replaced: ApiKey,
}

/// `key.rotate`: a new key with the same name and scopes; the old one keeps working for
/// the overlap so the customer can switch without downtime.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct KeyRotate {
    /// The key's visible prefix (or the whole key).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1)]
    pub key: String,
    /// Minutes the old key keeps working (0-43200, default 60; 0 revokes it now).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 43_200)]
    pub overlap_minutes: Option<i64>,
}

/// `key.list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct KeyList {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
}

/// A tenant's keys, newest first.
pub(crate) async fn of_tenant(conn: &mut Connection, tenant_id: i64) -> Result<Vec<ApiKey>, ConsoleError> {
    Ok(on!(conn, |c| sqlx::query_as::<_, ApiKey>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC"
    ),)
    .bind(tenant_id)
    .fetch_all(c)
    .await)?)
}

/// Finds a key by its visible prefix or, when given the whole key, by its hash; returns
/// it with its tenant's slug.
pub(crate) async fn find(conn: &mut Connection, key: &str) -> Result<(ApiKey, String), ConsoleError> {
    let key = key.trim();
    let (column_value, by_hash) =
        if key.len() > VISIBLE_CHARS { (hash_secret(key), true) } else { (key.to_string(), false) };
    let sql = if by_hash {
        "SELECT k.id, k.tenant_id, k.prefix, k.name, k.scopes, k.created_at, k.expires_at, k.revoked_at, k.last_used_at, k.calls, k.budget, k.budget_period, k.budget_spent, k.budget_since, t.slug
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.secret_hash = $1"
    } else {
        "SELECT k.id, k.tenant_id, k.prefix, k.name, k.scopes, k.created_at, k.expires_at, k.revoked_at, k.last_used_at, k.calls, k.budget, k.budget_period, k.budget_spent, k.budget_since, t.slug
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = $1"
    };
    let found = on!(&mut *conn, |c| {
        let row = sqlx::query(sql).bind(&column_value).fetch_optional(c).await?;
        row.map(|row| Ok::<_, sqlx::Error>((ApiKey::from_row(&row)?, row.try_get("slug")?))).transpose()
    })?;
    let Some(found) = found else {
        // Never echo a whole secret back in an error message.
        let shown = if by_hash {
            format!("{}…", key.chars().take(VISIBLE_CHARS).collect::<String>())
        } else {
            key.to_string()
        };
        return Err(ConsoleError::not_found("key", shown));
    };
    Ok(found)
}

/// Makes key `id` expire at `until` (a rotated key's overlap).
pub(crate) async fn expire_at(conn: &mut Connection, id: i64, until: DateTime<Utc>) -> sqlx::Result<ApiKey> {
    on!(conn, |c| sqlx::query_as::<_, ApiKey>(concat!(
        "UPDATE api_keys SET expires_at = $1 WHERE id = $2 RETURNING ",
        key_columns!()
    ),)
    .bind(until)
    .bind(id)
    .fetch_one(c)
    .await)
}
