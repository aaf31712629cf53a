//! `charge.show`: what a `strict` request was charged, found through the request log.

use crate::console::command::{Command, Ctx};
use crate::store::charges::{ChargeShow, ChargedRequest, charged_request};
use crate::{Console, ConsoleError};

impl Command for ChargeShow {
    const NAME: &'static str = "charge.show";
    const SUMMARY: &'static str = "Show what a strict request was charged, to whom and when";
    type Output = ChargedRequest;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<ChargedRequest, ConsoleError> {
        let id = self.request_id.trim();
        if id.is_empty() || id.len() > 200 {
            return Err(ConsoleError::invalid("request_id", "must be 1 to 200 characters"));
        }
        let mut conn = console.store().reader().await?;
        charged_request(&mut conn, console.request_log(), id)
            .await?
            .ok_or_else(|| ConsoleError::not_found("charge of request", id))
    }
}
