//! `webhook.create`, `webhook.list`, `webhook.delete`, `webhook.deliveries`, `webhook.resend`.

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::domain::list::List;
use crate::store::audit::Change;
use crate::store::webhooks::{
    self, CreatedWebhook, WebhookCreate, WebhookDelete, WebhookDeliveries, WebhookDelivery, WebhookEndpoint,
    WebhookList, WebhookResend, endpoint_url, event_list, new_secret,
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
        let endpoint = webhooks::insert_endpoint(&mut tx, &url, &secret, &events, ctx.now).await?;
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
        let mut conn = console.store().reader().await?;
        Ok(List(webhooks::endpoints(&mut conn).await?))
    }
}

impl Command for WebhookDelete {
    const NAME: &'static str = "webhook.delete";
    const SUMMARY: &'static str = "Remove a webhook endpoint (its pending deliveries are dropped)";
    type Output = WebhookEndpoint;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<WebhookEndpoint, ConsoleError> {
        let mut tx = console.begin().await?;
        let before = webhooks::endpoint(&mut tx, self.id).await?;
        webhooks::delete_endpoint(&mut tx, self.id).await?;
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
        let mut conn = console.store().reader().await?;
        Ok(List(webhooks::deliveries(&mut conn, self.endpoint, limit).await?))
    }
}

impl Command for WebhookResend {
    const NAME: &'static str = "webhook.resend";
    const SUMMARY: &'static str = "Send a webhook delivery again now";
    type Output = WebhookDelivery;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<WebhookDelivery, ConsoleError> {
        let mut tx = console.begin().await?;
        let before = webhooks::delivery(&mut tx, self.delivery).await?;
        let after = webhooks::resend(&mut tx, before.id, ctx.now).await?;
        let change = Change::updated(Self::NAME, format!("webhook:{}", before.endpoint_id), &before, &after);
        commit(console, tx, ctx, change).await?;
        Ok(after)
    }
}
