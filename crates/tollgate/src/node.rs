//! A running Tollgate: the data directory owned, the gateway and the admin API listening,
//! charges flowing to the database. `tollgate serve` and the desktop app each run one, so
//! both take the same lock, publish the same endpoint for the CLI, and stop the same way.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use tollgate_core::Console;
use tollgate_core::live::events::Hub;
use tollgate_core::live::settlement::{self, Settlement};
use tollgate_core::live::{Live, reconcile};
use tollgate_core::store::Store;
use tollgate_core::store::request_log::{self, RequestLog};
use tollgate_core::store::settings::{Listening, Settings};
use tollgate_core::store::traffic::TrafficLog;
use tollgate_gateway::Gateway;
use tollgate_gateway::cert_files::CertFiles;
use tollgate_gateway::listener::{self, Limits};

pub use tollgate_gateway::listener::raise_open_file_limit;

use crate::admin::{self, AdminState, Dashboard};
use crate::cluster::ClusterNode;
use crate::data_dir::{DataDir, Endpoint, OwnerLock};
use crate::demo::DemoLauncher;
use crate::metrics::NodeMetrics;

/// Where to listen and what to serve; `None` means the stored setting.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// The admin API's address; port 0 picks a free port (tests, a second instance).
    pub admin_listen: Option<SocketAddr>,
    /// The gateway's address; port 0 picks a free port.
    pub gateway_listen: Option<SocketAddr>,
    /// An address serving `/metrics` without a token; `None` means the `metrics_listen`
    /// setting (empty: metrics only on the admin listener, behind its token).
    pub metrics_listen: Option<SocketAddr>,
    /// The built dashboard for the admin listener (`tollgate serve` only; the desktop
    /// window carries its own copy).
    pub ui_dir: Option<PathBuf>,
    /// Overrides of both listeners' limits (tests, hostile networks); `None` keeps
    /// [`Limits::gateway`] and [`Limits::admin`].
    pub limits: ListenerOverrides,
    /// Requests the request log keeps (default [`request_log::DEFAULT_ENTRIES`]).
    pub request_log_entries: Option<u64>,
    /// Threads serving the gateway (default: one per CPU, `cores.rs`).
    pub gateway_threads: Option<usize>,
    /// The gateway's certificate chain and key files, for HTTPS (default: the
    /// `gateway_tls_cert` and `gateway_tls_key` settings; plain HTTP when unset).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The admin API's TLS: needed beyond loopback, where consoles on other machines
    /// manage this server (`admin_tls.rs`).
    pub admin_tls: crate::admin_tls::AdminTlsOptions,
    /// A PostgreSQL database shared with other nodes, instead of the data directory's
    /// SQLite file (`cluster.rs`).
    pub cluster: Option<crate::cluster::ClusterOptions>,
}

/// Changes to the listeners' default [`Limits`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ListenerOverrides {
    /// The header-read (and keep-alive idle) timeout of both listeners.
    pub header_read_timeout: Option<Duration>,
    /// The gateway's connection cap.
    pub max_connections: Option<usize>,
}

impl ListenerOverrides {
    fn apply(self, mut limits: Limits) -> Limits {
        if let Some(t) = self.header_read_timeout {
            limits.header_read_timeout = t;
        }
        limits
    }
}

/// How much state the gateway loaded at start and how long it took (start-up figures).
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    /// API keys in memory.
    pub keys: usize,
    /// Tenants in memory.
    pub tenants: usize,
    /// Milliseconds the load took.
    pub ms: u128,
}

/// The running parts; [`Node::stop`] ends them in the order that loses no charge.
pub struct Node {
    dir: DataDir,
    lock: OwnerLock,
    store: Store,
    console: Console,
    live: Arc<Live>,
    token: String,
    loaded: Loaded,
    admin_url: String,
    admin_fingerprint: Option<String>,
    gateway_url: String,
    metrics_url: String,
    dashboard: Dashboard,
    demo: DemoLauncher,
    stop: tokio::sync::watch::Sender<bool>,
    admin_state: AdminState,
    gateway_task: JoinHandle<()>,
    admin_task: JoinHandle<()>,
    metrics_task: Option<JoinHandle<()>>,
    settlement: Settlement,
    writer: JoinHandle<()>,
    traffic: TrafficLog,
    traffic_writer: JoinHandle<()>,
    request_log: RequestLog,
    request_log_writer: JoinHandle<()>,
    storage_watch: JoinHandle<()>,
    webhooks: JoinHandle<()>,
    reconcile_every: tokio::sync::watch::Sender<Duration>,
    reconciler: JoinHandle<()>,
    /// Leases, change feed and heartbeats, on a shared PostgreSQL.
    cluster: Option<ClusterNode>,
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

/// Tells viewers (dashboard, desktop, tray) whenever storage begins or stops failing; the
/// store itself logs each change.
async fn announce_storage(store: Store, hub: Hub) {
    let mut changes = store.health().subscribe();
    while changes.changed().await.is_ok() {
        let status = changes.borrow_and_update().clone();
        hub.publish(tollgate_core::live::events::Event::Storage(status));
    }
}

async fn until_stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The stored certificate and key, when both are set.
fn stored_tls(settings: &Settings) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (&settings.gateway_tls_cert, &settings.gateway_tls_key);
    (!cert.is_empty() && !key.is_empty()).then(|| (cert.into(), key.into()))
}

/// How often the certificate files are checked for a change.
const CERT_CHECK: Duration = Duration::from_secs(2);

/// Reloads the gateway's certificate when its files change, and on SIGHUP, until the node
/// stops; a pair that does not load is logged and the one in use keeps serving.
async fn reload_certificates(certs: Arc<CertFiles>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| tracing::warn!("cannot listen for SIGHUP; certificate files are still watched: {e}"))
        .ok();
    let mut tick = tokio::time::interval(CERT_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hung_up = async {
            match &mut hangup {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hung_up = std::future::pending::<Option<()>>();
        let outcome = tokio::select! {
            _ = tick.tick() => certs.reload_if_changed().map(|_| ()),
            Some(()) = hung_up => certs.reload(),
            _ = stopped.wait_for(|s| *s) => return,
        };
        if let Err(e) = outcome {
            tracing::error!("cannot reload the gateway's certificate; the one loaded before still serves: {e}");
        }
    }
}

impl Node {
    /// Takes the data directory, loads the gateway's state and starts listening.
    pub async fn start(dir: DataDir, options: NodeOptions) -> Result<Self> {
        let lock = take_lock(&dir).await?;
        let store = match &options.cluster {
            Some(cluster) => Store::connect(&cluster.url).await?,
            None => Store::open(&dir.database()).await?,
        };
        let token = dir.token()?;
        let loading = Instant::now();
        if options.cluster.is_none() {
            // What the last run's strict commits left in the journal goes into the ledger
            // before balances are loaded from it (the lock says no other gateway runs here).
            let (rows, credits) =
                settlement::fold_journal(&store).await.context("cannot fold the strict journal into the ledger")?;
            if rows > 0 {
                tracing::info!(rows, credits, "folded the strict usage the last run left in its journal");
            }
        }
        let live = Arc::new(Live::load(&store).await.context("cannot load the gateway's state")?);
        let (keys, tenants) = live.counts();
        let loaded = Loaded { keys, tenants, ms: loading.elapsed().as_millis() };
        let console = Console::new(store.clone(), Hub::default()).with_live(live.clone());
        let settings = live.settings();
        let admin_addr = listen_addr(options.admin_listen, &settings.admin_listen, "admin_listen")?;
        let gateway_addr = listen_addr(options.gateway_listen, &settings.gateway_listen, "gateway_listen")?;
        let admin_tls = crate::admin_tls::prepare(&dir, admin_addr, &options.admin_tls)?;
        let metrics_addr = match options.metrics_listen {
            Some(a) => Some(a),
            None if settings.metrics_listen.is_empty() => None,
            None => Some(listen_addr(None, &settings.metrics_listen, "metrics_listen")?),
        };
        let (admin_listener, mut admin_url) = bind(admin_addr, "admin API").await?;
        if admin_tls.is_some() {
            admin_url = admin_url.replacen("http://", "https://", 1);
        }
        let admin_fingerprint = admin_tls.as_ref().map(|t| t.fingerprint.clone());
        let metrics_listener = match metrics_addr {
            Some(addr) => Some(bind(addr, "metrics (--metrics-listen)").await?),
            None => None,
        };
        // Bound so the gateway's other threads can listen on the same port (`cores.rs`).
        let gateway_listener = tollgate_gateway::cores::reusable_listener(gateway_addr)
            .with_context(|| format!("cannot listen on {gateway_addr} for the gateway"))?;
        let certs = match options.tls.clone().or_else(|| stored_tls(&settings)) {
            Some((cert, key)) => Some(CertFiles::open(&cert, &key).context("cannot serve HTTPS on the gateway")?),
            None => None,
        };
        let scheme = if certs.is_some() { "https" } else { "http" };
        let gateway_url = format!("{scheme}://{}", gateway_listener.local_addr()?);
        let admin_local = admin_listener.local_addr()?;
        dir.write_endpoint(&Endpoint {
            admin_url: admin_url.clone(),
            gateway_url: Some(gateway_url.clone()),
            pid: std::process::id(),
            admin_fingerprint: admin_fingerprint.clone(),
        })?;
        if settings.billing_link_template.contains("example.com") {
            tracing::warn!(
                "the billing link template is still the example; set it with `tollgate settings set --billing-link-template`"
            );
        }
        let dashboard = Dashboard::find(options.ui_dir.clone());
        let (settlement, writer) = Settlement::spawn_with(store.clone(), Some(live.clone()));
        let storage_watch = tokio::spawn(announce_storage(store.clone(), console.hub().clone()));
        let (traffic, traffic_writer) = TrafficLog::spawn(store.clone());
        let entries = options.request_log_entries.unwrap_or(request_log::DEFAULT_ENTRIES);
        let (request_log, request_log_writer) = RequestLog::open(&dir.request_log(), entries)
            .with_context(|| format!("cannot open the request log {}", dir.request_log().display()))?;
        let metrics_url = match &metrics_listener {
            Some((_, url)) => format!("{url}/metrics"),
            None => format!("{admin_url}/metrics"),
        };
        let listening = Listening {
            admin_listen: admin_local.to_string(),
            gateway_listen: gateway_listener.local_addr()?.to_string(),
            gateway_tls: certs.is_some(),
            dashboard_url: admin_url.clone(),
            metrics_url: metrics_url.clone(),
            metrics_listen: metrics_listener.as_ref().map(|(l, _)| l.local_addr()).transpose()?.map(|a| a.to_string()),
        };
        let console =
            console.with_traffic(traffic.clone()).with_request_log(request_log.clone()).with_listening(listening);
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let cluster = match &options.cluster {
            Some(cluster) => Some(
                ClusterNode::start(&store, live.clone(), console.hub().clone(), cluster.clone(), stopped.clone())
                    .await?,
            ),
            None => None,
        };
        let mut gateway = Gateway::new(live.clone(), settlement.clone(), console.hub().clone(), traffic.clone())
            .with_request_log(request_log.clone())
            .with_webhooks(Arc::new(crate::payment_hooks::PaymentHooks(console.clone())))
            .with_payments(Arc::new(crate::payment_hooks::PaymentHooks(console.clone())));
        if let Some(cluster) = &cluster {
            gateway = gateway.with_leases(cluster.leases());
        }
        let gateway = Arc::new(gateway);
        let metrics = Arc::new(NodeMetrics {
            live: live.clone(),
            gateway: gateway.metrics(),
            settlement: settlement.clone(),
            traffic: traffic.clone(),
            request_log: request_log.clone(),
            store: store.clone(),
            relay: cluster.as_ref().map(ClusterNode::relayed),
        });
        let demo = DemoLauncher::new(gateway_url.clone(), stopped.clone());
        let mut gateway_limits = options.limits.apply(Limits::gateway());
        if let Some(cap) = options.limits.max_connections {
            gateway_limits.max_connections = cap;
        }
        let gateway_task = tokio::spawn(tollgate_gateway::cores::serve_on_threads(
            gateway_listener,
            options.gateway_threads.unwrap_or_else(tollgate_gateway::cores::default_threads),
            gateway,
            gateway_limits,
            certs.as_ref().map(CertFiles::server_config),
            until_stopped(stopped.clone()),
        ));
        if let Some(certs) = certs {
            tokio::spawn(reload_certificates(certs, stopped.clone()));
        }
        let mut admin_state = AdminState::new(console.clone(), &token, admin_local)
            .with_demo(demo.clone())
            .with_dashboard(dashboard.clone())
            .with_metrics(metrics.clone());
        if let Some(tls) = &admin_tls {
            admin_state = admin_state.with_tls();
            tokio::spawn(reload_certificates(tls.certs.clone(), stopped.clone()));
        }
        let (reconcile_every, every) = tokio::sync::watch::channel(reconcile::EVERY);
        let reconciler = tokio::spawn(reconcile::run(live.clone(), store.clone(), every, stopped.clone()));
        let webhooks =
            crate::webhook_sender::spawn(console.clone(), console.hub().clone(), live.clone(), stopped.clone());
        let metrics_task = metrics_listener.map(|(listener, _)| {
            let app = crate::metrics::router(metrics);
            tokio::spawn(listener::serve::<hyper::body::Incoming, _, _, _, _>(
                "metrics",
                listener,
                options.limits.apply(Limits::admin()),
                None,
                move |_| hyper_util::service::TowerToHyperService::new(app.clone()),
                until_stopped(stopped.clone()),
            ))
        });
        let app = admin::router(admin_state.clone());
        let admin_task = tokio::spawn(listener::serve::<hyper::body::Incoming, _, _, _, _>(
            "admin API",
            admin_listener,
            options.limits.apply(Limits::admin()),
            admin_tls.as_ref().map(|t| t.certs.server_config()),
            move |_| hyper_util::service::TowerToHyperService::new(app.clone()),
            until_stopped(stopped),
        ));
        Ok(Self {
            dir,
            lock,
            store,
            console,
            live,
            token,
            loaded,
            admin_url,
            admin_fingerprint,
            gateway_url,
            metrics_url,
            dashboard,
            demo,
            stop,
            admin_state,
            gateway_task,
            admin_task,
            metrics_task,
            settlement,
            writer,
            traffic,
            traffic_writer,
            request_log,
            request_log_writer,
            storage_watch,
            webhooks,
            reconcile_every,
            reconciler,
            cluster,
        })
    }

    /// The console commands run here, on the same state the gateway decides with.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The settings in force (console changes apply at once).
    pub fn settings(&self) -> Arc<Settings> {
        self.live.settings()
    }

    /// e.g. `http://127.0.0.1:8402`.
    pub fn gateway_url(&self) -> &str {
        &self.gateway_url
    }

    /// e.g. `http://127.0.0.1:8401` (`https://` when it serves TLS).
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The SHA-256 fingerprint of the admin API's certificate, when it serves TLS.
    pub fn admin_fingerprint(&self) -> Option<&str> {
        self.admin_fingerprint.as_deref()
    }

    /// Where Prometheus scrapes: the admin API's `/metrics` (token needed) or, with
    /// `--metrics-listen`, that address's (no token).
    pub fn metrics_url(&self) -> &str {
        &self.metrics_url
    }

    /// What was loaded at start.
    pub fn loaded(&self) -> Loaded {
        self.loaded
    }

    /// The admin API's bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Compares the gateway's memory with the database every `period` from now on
    /// (every minute unless told otherwise).
    pub fn reconcile_every(&self, period: Duration) {
        self.reconcile_every.send_replace(period);
    }

    /// Differences between the gateway's memory and the database found (and repaired)
    /// since start; anything but 0 is a defect.
    pub fn drift(&self) -> u64 {
        self.live.drift()
    }

    /// The data directory this node owns.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// The dashboard served on the admin listener, when one is built.
    pub fn dashboard(&self) -> &Dashboard {
        &self.dashboard
    }

    /// Seeds demo data and starts demo traffic through this node's gateway.
    pub fn demo(&self) -> &DemoLauncher {
        &self.demo
    }

    /// Stops listening, writes every pending charge and traffic record, releases the
    /// data directory. Requests in flight get the gateway's grace period to finish; every
    /// charge settled by then is in the database when this returns `Ok`. When storage
    /// refuses the last charges, the error says which ones (tenant, credits, requests).
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.admin_state.stop_streams();
        let _ = self.gateway_task.await;
        let served = self.admin_task.await;
        if let Some(task) = self.metrics_task {
            let _ = task.await;
        }
        let _ = self.reconciler.await;
        if let Some(cluster) = self.cluster
            && let Err(e) = cluster.stop().await
        {
            // The rest of the stop still runs; unreturned leases come back at their sweep.
            tracing::error!("{e:#}");
        }
        let settled = self.settlement.stop().await;
        let _ = self.writer.await;
        self.traffic.stop();
        let _ = self.traffic_writer.await;
        self.request_log.stop();
        let _ = self.request_log_writer.await;
        self.storage_watch.abort();
        self.webhooks.abort();
        let lost = self.settlement.lost();
        self.dir.remove_endpoint();
        self.store.close().await;
        drop(self.lock);
        if let Err(unwritten) = settled {
            let owed: Vec<String> = unwritten
                .unwritten
                .iter()
                .map(|u| {
                    let tenant = self
                        .live
                        .tenant(u.tenant_id)
                        .map_or_else(|| format!("#{}", u.tenant_id), |t| t.slug.to_string());
                    format!("tenant {tenant} owes {} credits for {} requests", u.amount, u.requests)
                })
                .collect();
            bail!(
                "stopped with charges missing from the ledger (storage refused them): {}; once storage works, \
                 charge them with `tollgate credits adjust --tenant <slug> --amount -<credits> --reason …`",
                owed.join("; ")
            );
        }
        if lost > 0 {
            bail!("{lost} charges arrived after the ledger writer stopped and are not in the ledger");
        }
        served.context("the admin API task failed")?;
        Ok(())
    }
}
