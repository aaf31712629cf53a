//! `tollgate serve`: owns the data directory and runs the admin API until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::net::TcpListener;
use tollgate_core::Console;
use tollgate_core::settings;

use crate::admin::{self, AdminState};
use crate::data_dir::{DataDir, Endpoint, OwnerLock};

/// Options of `tollgate serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Admin API address (default: the `admin_listen` setting, 127.0.0.1:8401). Port 0 picks a free port.
    #[arg(long, env = "TOLLGATE_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
}

/// Waits up to two seconds for the lock: a CLI command may hold it for a moment.
async fn take_lock(dir: &DataDir) -> Result<OwnerLock> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(lock) = dir.try_lock()? {
            return Ok(lock);
        }
        if Instant::now() >= deadline {
            let who = dir
                .read_endpoint()
                .map(|e| format!(" (pid {}, admin API at {})", e.pid, e.admin_url))
                .unwrap_or_default();
            bail!(
                "another tollgate process owns the data directory {}{who}; stop it first or use another --data-dir",
                dir.path().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the server until a shutdown signal.
pub async fn run(dir: DataDir, args: ServeArgs) -> Result<()> {
    let lock = take_lock(&dir).await?;
    let console = Console::open(&dir.database()).await?;
    let token = dir.token()?;
    let settings = {
        let mut conn = console.store().read().acquire().await?;
        settings::load(&mut conn).await?
    };
    let addr = match args.admin_listen {
        Some(a) => a,
        None => settings
            .admin_listen
            .parse()
            .with_context(|| format!("admin_listen setting '{}' is not an address", settings.admin_listen))?,
    };
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the admin API listens beyond loopback; anyone who can reach it still needs the token");
    }
    let listener =
        TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} for the admin API"))?;
    let local = listener.local_addr()?;
    let admin_url = format!("http://{local}");
    dir.write_endpoint(&Endpoint { admin_url: admin_url.clone(), pid: std::process::id() })?;
    if settings.billing_link_template.contains("example.com") {
        tracing::warn!(
            "the billing link template is still the example; set it with `tollgate settings set --billing-link-template`"
        );
    }
    println!("Tollgate admin API listening on {admin_url}");
    println!("Data directory: {} (admin token in {})", dir.path().display(), dir.path().join("admin-token").display());
    println!("OpenAPI document: {admin_url}/api/openapi.json");

    let app = admin::router(AdminState::new(console.clone(), &token, local));
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
    dir.remove_endpoint();
    console.store().close().await;
    drop(lock);
    served.context("the admin API stopped with an error")?;
    println!("Tollgate stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = interrupt => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutting down");
}
