//! Runs a console command: through the running server's admin API when one owns the data
//! directory (so it sees the change at once), else directly on the database.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use tollgate_core::console::command::dispatch_json;
use tollgate_core::store::request_log::RequestLog;
use tollgate_core::{Console, ConsoleError, Ctx, ErrorBody};

use crate::admin_client::{AdminClient, ClientError};
use crate::data_dir::{DataDir, Endpoint, OwnerLock};

/// A failed command, with the same `{code, message}` whichever way it ran.
#[derive(Debug)]
pub struct Failure(pub ErrorBody);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.0.message, self.0.code)
    }
}

impl std::error::Error for Failure {}

/// Who the CLI acts as in the audit log: `cli:` and the OS user.
fn actor() -> String {
    crate::os_user::actor("cli")
}

/// Where a command will run.
enum Route {
    Local(OwnerLock),
    Server(Endpoint),
}

/// Takes the data directory for a local run, or finds the server that owns it. Another
/// CLI command may hold the lock for a moment (it publishes no endpoint): wait for it.
async fn route(dir: &DataDir) -> Result<Route> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(lock) = dir.try_lock()? {
            return Ok(Route::Local(lock));
        }
        if let Some(endpoint) = dir.read_endpoint() {
            return Ok(Route::Server(endpoint));
        }
        if Instant::now() >= deadline {
            bail!(
                "another process has held {} for 10 s without serving it; is a tollgate serve still starting?",
                dir.path().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Runs `name` with `input` and returns its JSON output.
pub async fn execute(dir: &DataDir, name: &str, input: serde_json::Value) -> Result<serde_json::Value> {
    match route(dir).await? {
        Route::Local(lock) => {
            let mut console = Console::open(&dir.database()).await?;
            if let Ok(Some(log)) = RequestLog::reader(&dir.request_log()) {
                console = console.with_request_log(log);
            }
            let result = dispatch_json(&console, &Ctx::now(actor()), name, input).await;
            console.store().close().await;
            drop(lock);
            result.map_err(|e| {
                if let ConsoleError::Store(source) = &e {
                    eprintln!("storage error: {source}");
                }
                Failure(e.body()).into()
            })
        }
        Route::Server(endpoint) => through_server(dir, &endpoint, name, input).await,
    }
}

async fn through_server(
    dir: &DataDir,
    endpoint: &Endpoint,
    name: &str,
    input: serde_json::Value,
) -> Result<serde_json::Value> {
    let token = dir.token()?;
    let client = AdminClient::new(&endpoint.admin_url, &token, endpoint.admin_fingerprint.as_deref(), actor())
        .map_err(anyhow::Error::msg)?;
    match client.call(name, &input).await {
        Ok(value) => Ok(value),
        Err(ClientError::Refused(body)) => Err(Failure(body).into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot reach the running tollgate serve")),
    }
}
