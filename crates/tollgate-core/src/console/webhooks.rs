//! The `webhooks` commands: each validates, applies through the store and commits.

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::domain::list::List;
use crate::store::audit::Change;
use crate::store::webhooks::{
    CreatedWebhook, WebhookCreate, WebhookDelete, WebhookDeliveries, WebhookDelivery, WebhookEndpoint, WebhookList,
    WebhookResend, endpoint_url, event_list, new_secret,
};
use crate::{Console, ConsoleError};

impl Command for WebhookCreate {
    const NAME: &'static str = "webhook.create";
    const SUMMARY: &'static str = "Register a webhook endpoint for some event types (its secret is shown once)";
    type Output = CreatedWebhook;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<CreatedWebhook, ConsoleError> {
        let url = endpoint_url(&self.url)?;
        let events = event_list(&self.events)?;
        let secret = new_secret();
        let mut tx = console.begin().await?;
        let endpoint: WebhookEndpoint = sqlx::query_as(
            "INSERT INTO webhook_endpoints (url, secret, events, created_at) VALUES (?, ?, ?, ?) RETURNING *",
        )
        .bind(&url)
        .bind(&secret)
        .bind(serde_json::to_string(&events).expect("strings serialize"))
        .bind(ctx.now)
        .fetch_one(&mut *tx)
        .await?;
        // Changes from here on are events: the cursor starts at the newest audit entry now,
        // not when the worker first looks (a top-up in between would be lost).
        sqlx::query(
            "INSERT OR IGNORE INTO webhook_cursor (one, audit_id) SELECT 1, COALESCE(MAX(id), 0) FROM audit_log",
        )
        .execute(&mut *tx)
        .await?;
        let change = Change::created(Self::NAME, format!("webhook:{}", endpoint.id), &endpoint);
        commit(console, tx, ctx, change).await?;
        Ok(CreatedWebhook { endpoint, secret })
    }
}

impl Command for WebhookList {
    const NAME: &'static str = "webhook.list";
    const SUMMARY: &'static str = "List webhook endpoints";
    type Output = List<WebhookEndpoint>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<WebhookEndpoint>, ConsoleError> {
        Ok(List(sqlx::query_as("SELECT * FROM webhook_endpoints ORDER BY id").fetch_all(console.store().read()).await?))
    }
}

impl Command for WebhookDelete {
    const NAME: &'static str = "webhook.delete";
    const SUMMARY: &'static str = "Remove a webhook endpoint (its pending deliveries are dropped)";
    type Output = WebhookEndpoint;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<WebhookEndpoint, ConsoleError> {
        let mut tx = console.begin().await?;
        let before: WebhookEndpoint = sqlx::query_as("SELECT * FROM webhook_endpoints WHERE id = ?")
            .bind(self.id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| ConsoleError::not_found("webhook", self.id))?;
        sqlx::query("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = ?)")
            .bind(self.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = ?").bind(self.id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM webhook_endpoints WHERE id = ?").bind(self.id).execute(&mut *tx).await?;
        let change = Change::removed(Self::NAME, format!("webhook:{}", before.id), &before);
        commit(console, tx, ctx, change).await?;
        Ok(before)
    }
}

impl Command for WebhookDeliveries {
    const NAME: &'static str = "webhook.deliveries";
    const SUMMARY: &'static str = "List webhook deliveries and their attempts";
    type Output = List<WebhookDelivery>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<WebhookDelivery>, ConsoleError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ConsoleError::invalid("limit", format!("must be 1 to 500, got {limit}")));
        }
        let read = console.store().read();
        let mut deliveries: Vec<WebhookDelivery> = sqlx::query_as(
            "SELECT * FROM webhook_deliveries WHERE (? IS NULL OR endpoint_id = ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(self.endpoint)
        .bind(self.endpoint)
        .bind(limit)
        .fetch_all(read)
        .await?;
        for d in &mut deliveries {
            d.tries = sqlx::query_as(
                "SELECT at, status, error, duration_ms FROM webhook_attempts WHERE delivery_id = ? ORDER BY id",
            )
            .bind(d.id)
            .fetch_all(read)
            .await?;
        }
        Ok(List(deliveries))
    }
}

impl Command for WebhookResend {
    const NAME: &'static str = "webhook.resend";
    const SUMMARY: &'static str = "Send a webhook delivery again now";
    type Output = WebhookDelivery;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<WebhookDelivery, ConsoleError> {
        let mut tx = console.begin().await?;
        let before: WebhookDelivery = sqlx::query_as("SELECT * FROM webhook_deliveries WHERE id = ?")
            .bind(self.delivery)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| ConsoleError::not_found("delivery", self.delivery))?;
        // `attempts` restarts so the backoff does too; the attempts table keeps every one.
        let after: WebhookDelivery = sqlx::query_as(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ? RETURNING *",
        )
        .bind(ctx.now)
        .bind(before.id)
        .fetch_one(&mut *tx)
        .await?;
        let change = Change::updated(Self::NAME, format!("webhook:{}", before.endpoint_id), &before, &after);
        commit(console, tx, ctx, change).await?;
        Ok(after)
    }
}
