//! A node on a PostgreSQL database that other nodes share (`serve --database postgres://…`):
//! it spends credits from leases, records their usage in groups, follows the other nodes'
//! console writes through the change log, relays its gateway decisions to the others'
//! viewers (and theirs to its own), says it is alive, and sweeps expired leases.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollgate_core::live::Live;
use tollgate_core::live::events::Hub;
use tollgate_core::live::leased::{LeaseTerms, Leased};
use tollgate_core::live::relay::{Relay, RelayCounts};
use tollgate_core::store::Store;
use tollgate_core::store::changes::{self, ChangeFeed};
use tollgate_core::store::ledger::leases::Cluster;

/// How a node takes part in a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The shared database, `postgres://…`.
    pub url: String,
    /// This node's name in leases, usage entries and the nodes list.
    pub node: String,
    /// Credits leased at a time.
    pub block: i64,
    /// How long a lease lasts (a node cut off serves from it this long at most).
    pub ttl: Duration,
}

/// How often a node says it is alive, and how often expired leases are swept.
const HEARTBEAT: Duration = Duration::from_secs(1);
const SWEEP: Duration = Duration::from_secs(2);

/// The cluster side of a running node.
pub struct ClusterNode {
    leases: Arc<Leased>,
    relayed: Arc<RelayCounts>,
    tasks: Vec<JoinHandle<()>>,
}

impl ClusterNode {
    /// Starts leasing, following and heartbeating for `live`; stops with `stopped`.
    pub async fn start(
        store: &Store,
        live: Arc<Live>,
        hub: Hub,
        options: ClusterOptions,
        stopped: watch::Receiver<bool>,
    ) -> Result<Self> {
        let pool = store.postgres().context("a cluster node needs PostgreSQL")?.clone();
        let ttl = TimeDelta::from_std(options.ttl).context("lease duration")?;
        let terms = LeaseTerms {
            node: options.node.clone(),
            nodes: 1,
            block: options.block,
            ttl,
            // Not spent from this close to its expiry, so its usage is recorded (see
            // `flush`) before the sweeper may close it.
            margin: ttl / 5,
        };
        let leases = Arc::new(Leased::new(Cluster::new(pool.clone()), terms));
        let feed = ChangeFeed::follow(pool.clone()).await.context("cannot follow the change log")?;
        let newest = changes::newest(&pool).await.context("cannot read the change log")?;
        let applied = Arc::new(std::sync::atomic::AtomicI64::new(newest));
        let relayed = Arc::new(RelayCounts::default());
        let relay = Relay { hub, store: store.clone(), node: options.node.clone(), counts: relayed.clone() };
        let tasks = vec![
            tokio::spawn(relay.clone().send_own(stopped.clone())),
            tokio::spawn(relay.receive_others(stopped.clone())),
            tokio::spawn(flush(leases.clone(), live.clone(), options.ttl / 10, stopped.clone())),
            tokio::spawn(follow(feed, store.clone(), live, applied.clone(), stopped.clone())),
            tokio::spawn(heartbeat(store.clone(), options.node, leases.clone(), applied, stopped.clone())),
            tokio::spawn(sweep(Cluster::new(pool), stopped)),
        ];
        Ok(Self { leases, relayed, tasks })
    }

    /// The leases the gateway spends from.
    pub fn leases(&self) -> Arc<Leased> {
        self.leases.clone()
    }

    /// The events relayed to and from the other nodes, for `/metrics`.
    pub fn relayed(&self) -> Arc<RelayCounts> {
        self.relayed.clone()
    }

    /// Records what was spent and gives every lease back (the tasks end with `stopped`).
    pub async fn stop(self) -> Result<()> {
        for task in self.tasks {
            let _ = task.await;
        }
        self.leases.give_back_all(Utc::now()).await.context("cannot give the leases back")
    }
}

/// Records the leases' usage every flush interval (the `usage_flush_ms` setting), and at
/// least every `most` (half the margin before a lease's expiry), so a lease's last usage is
/// on record before the sweeper may close it.
async fn flush(leases: Arc<Leased>, live: Arc<Live>, most: Duration, mut stopped: watch::Receiver<bool>) {
    loop {
        let setting = Duration::from_millis(u64::try_from(live.settings().usage_flush_ms).unwrap_or(1000));
        let every = setting.min(most);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        if let Err(e) = leases.flush(Utc::now()).await {
            tracing::warn!(error = %e, "cannot record the leases' usage; retrying");
        }
    }
}

/// Applies every console write of the other nodes to memory.
async fn follow(
    mut feed: ChangeFeed,
    store: Store,
    live: Arc<Live>,
    applied: Arc<std::sync::atomic::AtomicI64>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let changes = tokio::select! {
            changes = feed.next() => changes,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let changes = match changes {
            Ok(changes) => changes,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change log; retrying");
                tokio::time::sleep(HEARTBEAT).await;
                continue;
            }
        };
        for change in changes {
            match live.follow(&store, &change.target).await {
                Ok(()) => {
                    applied.fetch_max(change.id, std::sync::atomic::Ordering::Relaxed);
                }
                // The periodic reconciliation repairs what a failed read left behind.
                Err(e) => tracing::warn!(error = %e, target = %change.target, "cannot apply a change"),
            }
        }
    }
}

/// Says this node is alive (and how far it followed the log) every second, and learns how
/// many nodes share the credits.
async fn heartbeat(
    store: Store,
    node: String,
    leases: Arc<Leased>,
    applied: Arc<std::sync::atomic::AtomicI64>,
    mut stopped: watch::Receiver<bool>,
) {
    let Some(pool) = store.postgres() else { return };
    loop {
        let now = Utc::now();
        let seen = applied.load(std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = changes::heartbeat(pool, &node, seen, now).await {
            tracing::warn!(error = %e, "cannot record this node's heartbeat");
        }
        if let Ok(nodes) = changes::nodes(pool, now).await {
            leases.set_nodes(nodes.iter().filter(|n| n.up).count() as i64);
        }
        tokio::select! {
            _ = tokio::time::sleep(HEARTBEAT) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

/// Gives back the unspent part of every expired lease (any node may; it is exact).
async fn sweep(cluster: Cluster, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SWEEP) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        match cluster.sweep(Utc::now()).await {
            Ok(0) => {}
            Ok(credits) => tracing::info!(credits, "expired leases swept: their unspent credits are back"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep expired leases"),
        }
    }
}
