//! `tollgate serve`: owns the data directory and runs the admin API and the gateway until
//! SIGINT/SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;

use anyhow::Result;
use clap::Args;

use crate::admin_tls::{AdminTlsMode, AdminTlsOptions};
use crate::cluster::ClusterOptions;
use crate::dashboard_url;
use crate::data_dir::DataDir;
use crate::demo::DemoError;
use crate::node::{ListenerOverrides, Node, NodeOptions};
use crate::out::line;

/// Where the server listens: `tollgate serve` and the desktop app take the same flags.
#[derive(Debug, Clone, Default, Args)]
pub struct ListenArgs {
    /// Admin API and dashboard address (default: the `admin_listen` setting, 127.0.0.1:8401). Port 0 picks a free port.
    #[arg(long, env = "TOLLGATE_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Gateway address (default: the `gateway_listen` setting, 127.0.0.1:8402). Port 0 picks a free port.
    #[arg(long, env = "TOLLGATE_GATEWAY_LISTEN")]
    pub gateway_listen: Option<SocketAddr>,
    /// Also serve Prometheus metrics at /metrics on this address, without a token (default:
    /// the `metrics_listen` setting; unset, /metrics is only on the admin API, with its token).
    #[arg(long, env = "TOLLGATE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

/// Options of `tollgate serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Seed a fresh data directory with demo plans, tenants, keys and routes, start a demo
    /// upstream on loopback, and send a gentle mix of traffic.
    #[arg(long)]
    pub demo: bool,
    /// The built dashboard to serve (default: the `ui/dist` of this source tree, or
    /// `share/tollgate/ui` beside the installed binary).
    #[arg(long, env = "TOLLGATE_UI_DIR")]
    pub ui_dir: Option<std::path::PathBuf>,
    /// Milliseconds a client may take to send a request's headers, and to start the next
    /// request on a kept-alive connection, on both listeners (default 10000).
    #[arg(long, env = "TOLLGATE_HEADER_READ_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: Option<u64>,
    /// Gateway connections served at once; more wait in the listen backlog (default: from
    /// the open-file limit, 298 under 1024).
    #[arg(long, env = "TOLLGATE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Requests the request log keeps, 128 bytes each, for `tollgate request show`
    /// (default 1000000: at most 128 MB in `requests.log` in the data directory).
    #[arg(long, env = "TOLLGATE_REQUEST_LOG_ENTRIES", value_parser = clap::value_parser!(u64).range(1..))]
    pub request_log_entries: Option<u64>,
    /// Threads serving the gateway, each with its own runtime and listening socket
    /// (default: one per CPU the process may use).
    #[arg(long, env = "TOLLGATE_GATEWAY_THREADS", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub gateway_threads: Option<u64>,
    /// The gateway's certificate chain (PEM); with --tls-key the gateway serves HTTPS,
    /// HTTP/2 and HTTP/1.1 by ALPN (default: the `gateway_tls_cert` setting). Reloaded when
    /// the file changes, or on SIGHUP.
    #[arg(long, env = "TOLLGATE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM; default: the `gateway_tls_key` setting).
    #[arg(long, env = "TOLLGATE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// TLS on the admin API: `auto` serves it beyond loopback (with --admin-tls-cert, or a
    /// self-signed certificate made in the data directory, whose fingerprint is printed),
    /// `self-signed` also on loopback, `off` never (refused beyond loopback).
    #[arg(long, env = "TOLLGATE_ADMIN_TLS", value_enum, default_value_t)]
    pub admin_tls: AdminTlsMode,
    /// The admin API's certificate chain (PEM), for consoles on other machines.
    #[arg(long, env = "TOLLGATE_ADMIN_TLS_CERT", requires = "admin_tls_key")]
    pub admin_tls_cert: Option<std::path::PathBuf>,
    /// The admin API certificate's private key (PEM).
    #[arg(long, env = "TOLLGATE_ADMIN_TLS_KEY", requires = "admin_tls_cert")]
    pub admin_tls_key: Option<std::path::PathBuf>,
    /// A PostgreSQL database (`postgres://user@host/db`, or `…?host=/socket/dir`) that
    /// several nodes share, instead of the data directory's SQLite file: credits are
    /// spent from leases, console changes reach every node.
    #[arg(long, env = "TOLLGATE_DATABASE", value_parser = postgres_url)]
    pub database: Option<String>,
    /// This node's name among the nodes sharing --database (default: host name and
    /// gateway port).
    #[arg(long, env = "TOLLGATE_NODE", requires = "database")]
    pub node: Option<String>,
    /// Credits a node leases at a time (near a balance's end, less).
    #[arg(long, env = "TOLLGATE_LEASE_BLOCK", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=1_000_000_000))]
    pub lease_block: i64,
    /// Seconds a lease lasts: a node cut off from the database serves this long at most.
    #[arg(long, env = "TOLLGATE_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease_seconds: u64,
}

/// A node's name unless told: the host's, and its data directory's (one node each), which
/// stay the same across restarts.
fn default_node_name(dir: &DataDir) -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let host = if host.is_empty() { "localhost".to_string() } else { host };
    let dir = dir.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{host}/{dir}")
}

/// `--database` takes PostgreSQL only: SQLite is the data directory's own file.
fn postgres_url(s: &str) -> Result<String, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_string())
    } else {
        Err(format!("'{s}' is not a postgres:// URL (SQLite needs no flag: it is the data directory's file)"))
    }
}

/// Runs the admin API and the gateway until a shutdown signal, then writes every
/// pending charge before exiting.
pub async fn run(dir: DataDir, args: ServeArgs) -> Result<()> {
    let limits = ListenerOverrides {
        header_read_timeout: args.header_read_timeout_ms.map(std::time::Duration::from_millis),
        max_connections: args.max_connections.and_then(|n| usize::try_from(n).ok()),
    };
    let options = NodeOptions {
        admin_listen: args.listen.admin_listen,
        gateway_listen: args.listen.gateway_listen,
        metrics_listen: args.listen.metrics_listen,
        ui_dir: args.ui_dir,
        limits,
        request_log_entries: args.request_log_entries,
        gateway_threads: args.gateway_threads.and_then(|n| usize::try_from(n).ok()),
        tls: args.tls_cert.zip(args.tls_key),
        admin_tls: AdminTlsOptions { mode: args.admin_tls, files: args.admin_tls_cert.zip(args.admin_tls_key) },
        cluster: args.database.map(|url| ClusterOptions {
            url,
            node: args.node.unwrap_or_else(|| default_node_name(&dir)),
            block: args.lease_block,
            ttl: std::time::Duration::from_secs(args.lease_seconds),
        }),
    };
    let shared = options.cluster.as_ref().map(|c| {
        format!(
            "Database: {} shared with other nodes, as node {} (leases of {} credits for {} s)",
            tollgate_core::store::redact(&c.url),
            c.node,
            c.block,
            c.ttl.as_secs()
        )
    });
    let node = Node::start(dir, options).await?;
    let loaded = node.loaded();
    if !args.demo {
        line(&format!("Loaded {} keys and {} tenants in {} ms", loaded.keys, loaded.tenants, loaded.ms));
    }
    let (admin_url, gateway_url) = (node.admin_url(), node.gateway_url());
    line(&format!("Tollgate admin API listening on {admin_url}"));
    if let Some(fingerprint) = node.admin_fingerprint() {
        line(&format!("Admin API certificate SHA-256 fingerprint: {fingerprint}"));
        line("  (a console connecting from another machine must see this same fingerprint)");
    }
    line(&format!("Tollgate gateway listening on {gateway_url}"));
    if node.metrics_url() == format!("{admin_url}/metrics") {
        line(&format!("Prometheus metrics: {} (with the admin token)", node.metrics_url()));
    } else {
        line(&format!(
            "Prometheus metrics: {} (no token: bind it where only your scraper can reach)",
            node.metrics_url()
        ));
    }
    let path = node.dir().path();
    line(&format!("Data directory: {} (admin token in {})", path.display(), path.join("admin-token").display()));
    if let Some(shared) = shared {
        line(&shared);
    }
    line(&format!("OpenAPI document: {admin_url}/api/openapi.json"));
    match node.dashboard().root() {
        // The token opens the admin API: only a person at a terminal sees it, never a log.
        Some(_) if std::io::stdout().is_terminal() => {
            line(&format!("Open the dashboard: {}", dashboard_url::with_token(admin_url, node.token())))
        }
        Some(_) => line(&dashboard_url::hint(node.dir())),
        None => line("The dashboard is not built (run `make ui`); the admin API works without it"),
    }
    if args.demo {
        let launched = node.demo().launch(node.console()).await;
        let (report, keys, upstream) = match launched {
            Ok(launched) => launched,
            Err(e) => {
                // The listeners already run: stop them the clean way before saying why.
                node.stop().await?;
                return Err(match e {
                    DemoError::NotEmpty => anyhow::anyhow!(
                        "--demo seeds a fresh data directory, and this one already has tenants or plans; pass --data-dir with an empty directory"
                    ),
                    DemoError::GatewayHttps => {
                        anyhow::anyhow!("--demo sends plain HTTP traffic: run it without --tls-cert")
                    }
                    DemoError::Failed(e) => e,
                });
            }
        };
        // Counted after seeding: before it, the demo's console was empty.
        line(&format!("Loaded {} keys and {} tenants (seeded by --demo)", report.keys, report.tenants));
        line(&format!(
            "Demo: seeded plans starter and pro, tenants {}, upstream {upstream}",
            keys.0.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
        ));
        line(&format!("Demo: try  curl -H 'Authorization: Bearer {}' {gateway_url}/v1/search", keys.0[0].1));
    }
    shutdown_signal().await;
    node.stop().await?;
    line("Tollgate stopped cleanly");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = interrupt => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutting down");
}
