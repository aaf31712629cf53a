//! `tollgate events tail`: the running server's live event stream, one line per event.

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

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
    let mut query: Vec<(&str, String)> = Vec::new();
    for (name, value) in [("status", &args.status), ("code", &args.code), ("tenant", &args.tenant)] {
        if let Some(v) = value {
            query.push((name, v.clone()));
        }
    }
    if !args.console {
        query.push(("kind", "gateway".into()));
    }
    let url = reqwest::Url::parse_with_params(&format!("{}/api/events", endpoint.admin_url), &query)?;
    let mut response = reqwest::Client::new()
        .get(url)
        .bearer_auth(dir.token()?)
        .send()
        .await
        .with_context(|| format!("cannot reach the running tollgate serve at {}", endpoint.admin_url))?;
    if !response.status().is_success() {
        let body: Value = response.json().await.unwrap_or_default();
        bail!("{}", body["message"].as_str().unwrap_or("the server refused the event stream"));
    }
    // Subscribed: every decision from now on is printed (scripts may wait for this line).
    eprintln!("Following {} (Ctrl-C to stop)", endpoint.admin_url);
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            show(&block, json)?;
        }
    }
    eprintln!("the server closed the event stream");
    Ok(())
}

/// Prints one SSE block (`event:` and `data:` lines).
fn show(block: &str, json: bool) -> Result<()> {
    let mut kind = "message";
    let mut data = String::new();
    for line in block.lines() {
        if let Some(k) = line.strip_prefix("event:") {
            kind = k.trim();
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push_str(d.trim_start());
        }
    }
    if data.is_empty() {
        return Ok(());
    }
    if kind == "dropped" {
        eprintln!("warning: this terminal fell behind and was dropped after missing events: {data}");
        return Ok(());
    }
    if json {
        return crate::out::print(&format!("{data}\n"));
    }
    let Ok(event) = serde_json::from_str::<Value>(&data) else { return Ok(()) };
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
