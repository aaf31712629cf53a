//! `tollgate serve`: owns the data directory and runs the admin API until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use std::future::IntoFuture;
use std::sync::Arc;
use tokio::net::TcpListener;

use tollgate_core::Console;
use tollgate_core::events::Hub;
use tollgate_core::live::Live;
use tollgate_core::settlement::Settlement;
use tollgate_core::store::Store;
use tollgate_core::traffic::TrafficLog;
use tollgate_gateway::Gateway;

use crate::admin::{self, AdminState, Dashboard};
use crate::data_dir::{DataDir, Endpoint, OwnerLock};
use crate::demo::{DemoError, DemoLauncher};

/// Options of `tollgate serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Admin API address (default: the `admin_listen` setting, 127.0.0.1:8401). Port 0 picks a free port.
    #[arg(long, env = "TOLLGATE_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Gateway address (default: the `gateway_listen` setting, 127.0.0.1:8402). Port 0 picks a free port.
    #[arg(long, env = "TOLLGATE_GATEWAY_LISTEN")]
    pub gateway_listen: Option<SocketAddr>,
    /// Seed a fresh data directory with demo plans, tenants, keys and routes, start a demo
    /// upstream on loopback, and send a gentle mix of traffic.
    #[arg(long)]
    pub demo: bool,
    /// The built dashboard to serve (default: the `ui/dist` of this source tree, or
    /// `share/tollgate/ui` beside the installed binary).
    #[arg(long, env = "TOLLGATE_UI_DIR")]
    pub ui_dir: Option<std::path::PathBuf>,
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

fn listen_addr(flag: Option<SocketAddr>, setting: &str, what: &str) -> Result<SocketAddr> {
    match flag {
        Some(a) => Ok(a),
        None => setting.parse().with_context(|| format!("{what} setting '{setting}' is not an address")),
    }
}

async fn bind(addr: SocketAddr, what: &str) -> Result<(TcpListener, String)> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} for the {what}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    Ok((listener, url))
}

/// Runs the admin API and the gateway until a shutdown signal, then writes every
/// pending charge before exiting.
pub async fn run(dir: DataDir, args: ServeArgs) -> Result<()> {
    let lock = take_lock(&dir).await?;
    let store = Store::open(&dir.database()).await?;
    let token = dir.token()?;
    let loading = std::time::Instant::now();
    let live = Arc::new(Live::load(&store).await.context("cannot load the gateway's state")?);
    let (keys, tenants) = live.counts();
    println!("Loaded {keys} keys and {tenants} tenants in {} ms", loading.elapsed().as_millis());
    let console = Console::new(store.clone(), Hub::default()).with_live(live.clone());
    let settings = live.settings();
    let admin_addr = listen_addr(args.admin_listen, &settings.admin_listen, "admin_listen")?;
    let gateway_addr = listen_addr(args.gateway_listen, &settings.gateway_listen, "gateway_listen")?;
    if !admin_addr.ip().is_loopback() {
        tracing::warn!(%admin_addr, "the admin API listens beyond loopback; anyone who can reach it still needs the token");
    }
    let (admin_listener, admin_url) = bind(admin_addr, "admin API").await?;
    let (gateway_listener, gateway_url) = bind(gateway_addr, "gateway").await?;
    let admin_local = admin_listener.local_addr()?;
    dir.write_endpoint(&Endpoint { admin_url: admin_url.clone(), pid: std::process::id() })?;
    if settings.billing_link_template.contains("example.com") {
        tracing::warn!(
            "the billing link template is still the example; set it with `tollgate settings set --billing-link-template`"
        );
    }
    println!("Tollgate admin API listening on {admin_url}");
    println!("Tollgate gateway listening on {gateway_url}");
    println!("Data directory: {} (admin token in {})", dir.path().display(), dir.path().join("admin-token").display());
    println!("OpenAPI document: {admin_url}/api/openapi.json");
    let dashboard = Dashboard::find(args.ui_dir.clone());
    match dashboard.root() {
        // The token rides in the fragment: browsers send it nowhere and the page moves it
        // into session storage at once.
        Some(_) => println!("Open the dashboard: {admin_url}/#token={token}"),
        None => println!("The dashboard is not built (run `make ui`); the admin API works without it"),
    }

    let (settlement, writer) = Settlement::spawn(store.clone());
    let (traffic, traffic_writer) = TrafficLog::spawn(store.clone());
    let gateway = Arc::new(Gateway::new(live, settlement.clone(), console.hub().clone(), traffic.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let demo = DemoLauncher::new(gateway_url.clone(), stopped.clone());
    if args.demo {
        let (_, keys, upstream) = demo.launch(&console).await.map_err(|e| match e {
            DemoError::NotEmpty => anyhow::anyhow!(
                "--demo seeds a fresh data directory, and this one already has tenants or plans; pass --data-dir with an empty directory"
            ),
            DemoError::Failed(e) => e,
        })?;
        println!(
            "Demo: seeded plans starter and pro, tenants {}, upstream {upstream}",
            keys.0.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
        );
        println!("Demo: try  curl -H 'Authorization: Bearer {}' {gateway_url}/v1/search", keys.0[0].1);
    }
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let gateway_task = tokio::spawn(tollgate_gateway::serve(gateway_listener, gateway, until_stopped(stopped.clone())));
    let admin_state = AdminState::new(console.clone(), &token, admin_local).with_demo(demo).with_dashboard(dashboard);
    let app = admin::router(admin_state.clone());
    let admin_task =
        tokio::spawn(axum::serve(admin_listener, app).with_graceful_shutdown(until_stopped(stopped)).into_future());
    shutdown_signal().await;
    let _ = stop.send(true);
    admin_state.stop_streams();
    let _ = gateway_task.await;
    let served = admin_task.await;
    settlement.stop().await;
    let _ = writer.await;
    traffic.stop();
    let _ = traffic_writer.await;
    dir.remove_endpoint();
    store.close().await;
    drop(lock);
    served.context("the admin API task failed")?.context("the admin API stopped with an error")?;
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
