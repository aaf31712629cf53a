//! Webhooks out: the operator registers endpoints (URL, event types) and Tollgate tells them
//! when a balance runs low or out, denials spike, credits are topped up, keys are issued,
//! revoked or rotated, and subscriptions lapse, end or renew.
//!
//! An outbox: each event is first written as one delivery per subscribed endpoint
//! ([`enqueue`]), then a worker sends what is due ([`due`]) and records each attempt
//! ([`record`]), retrying with backoff for a bounded time. Payloads are signed as the
//! Standard Webhooks specification says (`signature.rs`). Nothing here sends: the worker
//! is an edge (`tollgate`'s `webhook_sender.rs`), and the gateway never waits on it.

mod events;
mod signature;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::store::audit::AuditEntry;
use crate::store::{Connection, on};
use crate::{ConsoleError, domain::validate};

pub use events::{EVENT_TYPES, GATEWAY_TYPES, of_change};
pub use signature::{new_secret, sign};

/// A registered endpoint (its secret is shown once, when created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct WebhookEndpoint {
    pub id: i64,
    pub url: String,
    /// The event types it receives.
    #[sqlx(json)]
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// `webhook.create`'s answer: the endpoint and its signing secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: give it to the receiver's Standard Webhooks library.
    pub secret: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; "resend" tries again.
    Failed,
}

/// One event for one endpoint, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct WebhookDelivery {
    pub id: i64,
    pub endpoint_id: i64,
    /// The `webhook-id` header: the same on every attempt, so a receiver can deduplicate.
    pub message_id: String,
    pub event_type: String,
    #[sqlx(json)]
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The endpoint's HTTP status on the last attempt (none: it did not answer).
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    #[sqlx(skip)]
    pub tries: Vec<WebhookAttempt>,
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct WebhookAttempt {
    pub at: DateTime<Utc>,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// How long to wait before each retry; after the last, the delivery has failed.
#[derive(Debug, Clone)]
pub struct Backoff(pub Vec<TimeDelta>);

impl Backoff {
    /// 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h: eight attempts over about 4 hours.
    pub fn standard() -> Self {
        Self([5, 30, 120, 600, 1_800, 3_600, 7_200].into_iter().map(TimeDelta::seconds).collect())
    }
}

/// Writes `data` as an event of `kind` for every endpoint subscribed to it.
pub async fn enqueue(conn: &mut Connection, kind: &str, data: Value, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let payload = sqlx::types::Json(serde_json::json!({ "type": kind, "timestamp": now, "data": data }));
    let endpoints: Vec<WebhookEndpoint> =
        on!(&mut *conn, |c| sqlx::query_as("SELECT * FROM webhook_endpoints").fetch_all(c).await)?;
    let mut written = 0;
    for endpoint in endpoints.iter().filter(|e| e.events.iter().any(|t| t == kind)) {
        let message_id = format!("msg_{}", new_secret().trim_start_matches("whsec_").replace(['+', '/', '='], ""));
        on!(&mut *conn, |c| {
            sqlx::query(
            "INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, payload, created_at, status, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
        )
        .bind(endpoint.id)
        .bind(&message_id)
        .bind(kind)
        .bind(&payload)
        .bind(now)
        .bind(now)
        .execute(c).await.map(|done| done.rows_affected())
        })?;
        written += 1;
    }
    Ok(written)
}

/// The event types some endpoint wants (the worker watches the gateway only when one
/// wants a gateway type).
pub async fn wanted(conn: &mut Connection) -> sqlx::Result<Vec<String>> {
    let endpoints: Vec<WebhookEndpoint> =
        on!(conn, |c| sqlx::query_as("SELECT * FROM webhook_endpoints").fetch_all(c).await)?;
    let mut types: Vec<String> = endpoints.into_iter().flat_map(|e| e.events).collect();
    types.sort();
    types.dedup();
    Ok(types)
}

/// Turns console changes recorded since the last call into events (the cursor is kept in
/// the database, so a restart neither repeats nor skips one). The first call starts from
/// the newest entry.
pub async fn collect_changes(conn: &mut Connection, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let cursor: Option<i64> =
        on!(&mut *conn, |c| sqlx::query_scalar("SELECT audit_id FROM webhook_cursor").fetch_optional(c).await)?;
    let Some(cursor) = cursor else {
        let newest: i64 =
            on!(&mut *conn, |c| sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetch_one(c).await)?;
        on!(&mut *conn, |c| sqlx::query("INSERT INTO webhook_cursor (one, audit_id) VALUES (1, $1)")
            .bind(newest)
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
        return Ok(0);
    };
    let entries: Vec<AuditEntry> =
        on!(&mut *conn, |c| sqlx::query_as("SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT 500")
            .bind(cursor)
            .fetch_all(c)
            .await)?;
    let Some(last) = entries.last().map(|e| e.id) else { return Ok(0) };
    let mut written = 0;
    for (kind, data) in entries.iter().filter_map(of_change) {
        written += enqueue(conn, kind, data, now).await?;
    }
    on!(&mut *conn, |c| sqlx::query("UPDATE webhook_cursor SET audit_id = $1")
        .bind(last)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(written)
}

/// A delivery to send, with where and how.
#[derive(Debug, Clone)]
pub struct Due {
    pub delivery: WebhookDelivery,
    pub url: String,
    pub secret: String,
}

/// Up to `limit` deliveries whose attempt is due at `now`, oldest first.
pub async fn due(conn: &mut Connection, now: DateTime<Utc>, limit: i64) -> sqlx::Result<Vec<Due>> {
    let deliveries: Vec<WebhookDelivery> = on!(&mut *conn, |c| {
        sqlx::query_as(
        "SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(c).await
    })?;
    let mut out = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        let (url, secret): (String, String) =
            on!(&mut *conn, |c| sqlx::query_as("SELECT url, secret FROM webhook_endpoints WHERE id = $1")
                .bind(delivery.endpoint_id)
                .fetch_one(c)
                .await)?;
        out.push(Due { delivery, url, secret });
    }
    Ok(out)
}

/// Records one attempt: delivered on a 2xx; otherwise the next attempt after the backoff,
/// or failed once the backoff is spent.
pub async fn record(
    conn: &mut Connection,
    delivery: &WebhookDelivery,
    at: DateTime<Utc>,
    status: Option<u16>,
    error: Option<&str>,
    duration_ms: i64,
    backoff: &Backoff,
) -> sqlx::Result<DeliveryStatus> {
    on!(&mut *conn, |c| sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, at, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(delivery.id)
    .bind(at)
    .bind(status.map(i64::from))
    .bind(error)
    .bind(duration_ms)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    let attempts = delivery.attempts + 1;
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    // Retries are counted from this delivery's last (re)send: `attempts` since then.
    let retry = usize::try_from(attempts - 1).ok().and_then(|i| backoff.0.get(i).copied());
    let (next_status, next) = match (ok, retry) {
        (true, _) => (DeliveryStatus::Delivered, None),
        (false, Some(wait)) => (DeliveryStatus::Pending, Some(at + wait)),
        (false, None) => (DeliveryStatus::Failed, None),
    };
    on!(&mut *conn, |c| {
        sqlx::query(
        "UPDATE webhook_deliveries SET attempts = $1, status = $2, next_attempt_at = $3, last_status = $4, last_error = $5
         WHERE id = $6",
    )
    .bind(attempts)
    .bind(next_status)
    .bind(next)
    .bind(status.map(i64::from))
    .bind(error)
    .bind(delivery.id)
    .execute(c).await.map(|done| done.rows_affected())
    })?;
    Ok(next_status)
}

pub(crate) fn endpoint_url(url: &str) -> Result<String, ConsoleError> {
    validate::http_url("url", url)
}

pub(crate) fn event_list(items: &[String]) -> Result<Vec<String>, ConsoleError> {
    let mut out: Vec<String> = items.iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
    if out.is_empty() {
        return Err(ConsoleError::invalid("events", format!("name at least one of {}", EVENT_TYPES.join(", "))));
    }
    if let Some(bad) = out.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(ConsoleError::invalid("events", format!("'{bad}' is not one of {}", EVENT_TYPES.join(", "))));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `webhook.create`: an endpoint for some event types; answers its signing secret once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// Where events are POSTed, an http(s) URL.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^https?://[^\s/?#:][^\s]*$")]
    pub url: String,
    /// Event types, comma-separated: balance.low, balance.depleted, denials.spike,
    /// credits.topped_up, key.issued, key.revoked, key.rotated, subscription.past_due,
    /// subscription.canceled, subscription.renewed.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ','))]
    #[schema(min_items = 1)]
    pub events: Vec<String>,
}

/// `webhook.list`: the registered endpoints.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct WebhookList {}

/// `webhook.delete`: removes an endpoint and its deliveries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct WebhookDelete {
    /// The endpoint's id, as `tollgate webhook list` shows it.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1)]
    pub id: i64,
}

/// `webhook.deliveries`: recent deliveries, newest first, each with its attempts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct WebhookDeliveries {
    /// Only this endpoint's.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1)]
    pub endpoint: Option<i64>,
    /// At most this many (default 50, at most 500).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// `webhook.resend`: sends a delivery again now (with a fresh round of retries).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct WebhookResend {
    /// The delivery's id, as `tollgate webhook deliveries` shows it.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1)]
    pub delivery: i64,
}

/// Inserts an endpoint. Changes from here on are its events: the change cursor starts at the
/// newest audit entry now, not when the worker first looks (a top-up in between would be lost).
pub(crate) async fn insert_endpoint(
    conn: &mut Connection,
    url: &str,
    secret: &str,
    events: &[String],
    now: DateTime<Utc>,
) -> sqlx::Result<WebhookEndpoint> {
    let endpoint = on!(&mut *conn, |c| sqlx::query_as(
        "INSERT INTO webhook_endpoints (url, secret, events, created_at) VALUES ($1, $2, $3, $4) RETURNING *",
    )
    .bind(url)
    .bind(secret)
    .bind(sqlx::types::Json(events))
    .bind(now)
    .fetch_one(c)
    .await)?;
    on!(conn, |c| {
        sqlx::query("INSERT INTO webhook_cursor (one, audit_id) SELECT 1, COALESCE(MAX(id), 0) FROM audit_log WHERE TRUE ON CONFLICT DO NOTHING")
        .execute(c).await.map(|done| done.rows_affected())
    })?;
    Ok(endpoint)
}

/// Every endpoint, oldest first.
pub(crate) async fn endpoints(conn: &mut Connection) -> sqlx::Result<Vec<WebhookEndpoint>> {
    on!(conn, |c| sqlx::query_as("SELECT * FROM webhook_endpoints ORDER BY id").fetch_all(c).await)
}

/// Endpoint `id`, or a not-found error naming it.
pub(crate) async fn endpoint(conn: &mut Connection, id: i64) -> Result<WebhookEndpoint, ConsoleError> {
    on!(conn, |c| sqlx::query_as("SELECT * FROM webhook_endpoints WHERE id = $1").bind(id).fetch_optional(c).await)?
        .ok_or_else(|| ConsoleError::not_found("webhook", id))
}

/// Removes endpoint `id` with its deliveries and their attempts.
pub(crate) async fn delete_endpoint(conn: &mut Connection, id: i64) -> sqlx::Result<()> {
    on!(&mut *conn, |c| sqlx::query(
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
    )
    .bind(id)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    on!(&mut *conn, |c| sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    on!(conn, |c| sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}

/// The newest `limit` deliveries (of `endpoint`, or of all), each with its attempts.
pub(crate) async fn deliveries(
    conn: &mut Connection,
    endpoint: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<WebhookDelivery>> {
    let mut deliveries: Vec<WebhookDelivery> = on!(&mut *conn, |c| sqlx::query_as(
        "SELECT * FROM webhook_deliveries WHERE ($1 IS NULL OR endpoint_id = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(endpoint)
    .bind(endpoint)
    .bind(limit)
    .fetch_all(c)
    .await)?;
    for d in &mut deliveries {
        d.tries = on!(&mut *conn, |c| sqlx::query_as(
            "SELECT at, status, error, duration_ms FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(d.id)
        .fetch_all(c)
        .await)?;
    }
    Ok(deliveries)
}

/// Delivery `id`, or a not-found error naming it.
pub(crate) async fn delivery(conn: &mut Connection, id: i64) -> Result<WebhookDelivery, ConsoleError> {
    on!(conn, |c| sqlx::query_as("SELECT * FROM webhook_deliveries WHERE id = $1").bind(id).fetch_optional(c).await)?
        .ok_or_else(|| ConsoleError::not_found("delivery", id))
}

/// Puts delivery `id` back in the queue, due `now`. `attempts` restarts so the backoff does
/// too; the attempts table keeps every one.
pub(crate) async fn resend(conn: &mut Connection, id: i64, now: DateTime<Utc>) -> sqlx::Result<WebhookDelivery> {
    on!(conn, |c| {
        sqlx::query_as(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1 WHERE id = $2 RETURNING *",
    )
    .bind(now)
    .bind(id)
    .fetch_one(c).await
    })
}
