//! `tollgate events tail`: the running server's live event stream, one line per event.

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;
use tollgate_core::live::event_filter::EventFilter;

use crate::admin_client::{AdminClient, ClientError};
use crate::data_dir::DataDir;

/// Options of `tollgate events tail`.
#[derive(Debug, Clone, Default, Args)]
pub struct TailArgs {
    /// Only these statuses, e.g. 402 or 401,402,403,429.
    #[arg(long)]
    pub status: Option<String>,
    /// Only these codes, e.g. INSUFFICIENT_CREDITS.
    #[arg(long)]
    pub code: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Also show console actions (top-ups, plan changes, …).
    #[arg(long)]
    pub console: bool,
}

/// Follows the stream until the server stops or the user interrupts.
pub async fn run(dir: &DataDir, args: TailArgs, json: bool) -> Result<()> {
    let endpoint = match (dir.try_lock()?, dir.read_endpoint()) {
        (None, Some(endpoint)) => endpoint,
        _ => bail!("events tail follows a running `tollgate serve`, and none owns {}", dir.path().display()),
    };
    let filter = EventFilter {
        status: args.status,
        code: args.code,
        tenant: args.tenant,
        kind: (!args.console).then(|| "gateway".to_string()),
    };
    let actor = crate::os_user::actor("cli");
    let client = AdminClient::new(&endpoint.admin_url, &dir.token()?, endpoint.admin_fingerprint.as_deref(), actor)
        .map_err(anyhow::Error::msg)?;
    let mut events = match client.events(&filter.query_string()).await {
        Ok(events) => events,
        Err(ClientError::Refused(body)) => bail!("{}", body.message),
        Err(e) => return Err(anyhow::Error::new(e).context("cannot reach the running tollgate serve")),
    };
    // Subscribed: every decision from now on is printed (scripts may wait for this line).
    eprintln!("Following {} (Ctrl-C to stop)", endpoint.admin_url);
    while let Some(message) = events.next().await {
        let message = message.map_err(anyhow::Error::msg).context("the event stream broke")?;
        show(&message.event, &message.data, json)?;
    }
    eprintln!("the server closed the event stream");
    Ok(())
}

/// Prints one event.
fn show(kind: &str, data: &str, json: bool) -> Result<()> {
    if kind == "dropped" {
        eprintln!("warning: this terminal fell behind and was dropped after missing events: {data}");
        return Ok(());
    }
    if json {
        return crate::out::print(&format!("{data}\n"));
    }
    let Ok(event) = serde_json::from_str::<Value>(data) else { return Ok(()) };
    crate::out::print(&format!("{}\n", crate::render::printable(&line(&event))))
}

/// `10:15:30  402 INSUFFICIENT_CREDITS  acme  GET /v1/search  cost=5 balance=0`.
pub fn line(e: &Value) -> String {
    let s = |k: &str| e[k].as_str().unwrap_or("-").to_string();
    let at =
        chrono::DateTime::parse_from_rfc3339(&s("at")).map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default();
    if e["type"] == "console" {
        return format!("{at}  console  {}  {}  by {}", s("action"), s("target"), s("actor"));
    }
    let facts = e["facts"].as_object().map(|f| {
        f.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let balance = e["balance"].as_i64().map(|b| format!("balance={b}")).unwrap_or_default();
    format!(
        "{at}  {} {}  {}  {}  {} {}  {}",
        e["status"],
        e["code"].as_str().unwrap_or("OK"),
        s("tenant"),
        s("key_prefix"),
        s("method"),
        s("path"),
        facts.unwrap_or(balance)
    )
    .trim_end()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_reads_as_one_line() {
        let e = serde_json::json!({"type": "gateway", "at": "2026-11-24T10:15:30Z", "status": 402, "code": "INSUFFICIENT_CREDITS",
            "tenant": "acme", "key_prefix": "tg_live_AbCd1234", "method": "GET", "path": "/v1/search", "facts": {"balance": 0, "cost": 5}});
        assert_eq!(
            line(&e),
            "10:15:30  402 INSUFFICIENT_CREDITS  acme  tg_live_AbCd1234  GET /v1/search  balance=0 cost=5",
            "one readable line"
        );
    }
}
