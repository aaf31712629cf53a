//! `request.show`: what happened to one request, by the id in its answer.

use chrono::DateTime;

use crate::console::command::{Command, Ctx};
use crate::store::request_log::{Lookup, RequestId};
use crate::store::request_show::{RequestShow, RequestShown, meaning};
use crate::store::{routes, tenants, traffic};
use crate::{Console, ConsoleError};

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
        let mut conn = console.store().reader().await?;
        let tenant = match record.tenant_id {
            Some(id) => tenants::slug_of(&mut conn, id).await?,
            None => None,
        };
        let route = match record.route_id {
            Some(id) => routes::prefix_of(&mut conn, id).await?,
            None => None,
        };
        let code = Some(record.code.as_str().to_string()).filter(|c| !c.is_empty());
        let denial = match &code {
            Some(_) => traffic::denial_of(&mut conn, &id.to_string()).await?,
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
