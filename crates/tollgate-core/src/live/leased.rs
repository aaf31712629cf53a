//! A node's credits in hand when several nodes share one PostgreSQL: per tenant, the
//! lease it holds ([`crate::store::ledger::leases`]), spent in memory; a new one taken when
//! it runs out or comes near its expiry; its usage recorded in groups. A node cut off from
//! the database serves only from a lease that has not expired, then refuses: it can never
//! spend credits it does not hold.
//!
//! Every database round trip runs on the runtime that created the node's leases (its
//! "home"), as a task of its own: the gateway's threads each run their own runtime, and a
//! database connection opened on one of them would die with it; and a caller that stops
//! waiting (a client that hung up) cannot leave memory behind what was committed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use crate::store::ledger::leases::{Ask, Cluster, Lease, LeaseUsage, RecordError};

/// How a node leases.
#[derive(Debug, Clone)]
pub struct LeaseTerms {
    /// This node's name, in each lease and each usage entry.
    pub node: String,
    /// Nodes that may want a tenant's credits, for the share granted near a balance's end.
    pub nodes: i64,
    /// Credits asked for at a time.
    pub block: i64,
    /// How long a lease lasts.
    pub ttl: TimeDelta,
    /// A lease is not spent from this close to its expiry, so its usage is recorded before
    /// the sweeper may close it.
    pub margin: TimeDelta,
}

/// The answer to one spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// Paid from lease `lease` (to give back with [`Leased::unspend`] if the call fails).
    Spent { lease: i64 },
    /// The tenant's balance is spent (402).
    Empty,
    /// No lease in hand and the database cannot grant one (503).
    Unavailable,
}

#[derive(Debug, Default)]
struct Held {
    lease: Option<Lease>,
    /// Credits of the lease not spent yet.
    left: i64,
    /// Spent and not recorded yet.
    credits: i64,
    requests: i64,
    /// A refill is on its way (see [`Inner::wants_refill`]).
    refilling: bool,
}

impl Held {
    fn usage(&self) -> Option<LeaseUsage> {
        let lease = self.lease.as_ref()?;
        (self.credits > 0).then_some(LeaseUsage { lease_id: lease.id, credits: self.credits, requests: self.requests })
    }
}

/// The leases one node holds; cheap to clone.
#[derive(Debug, Clone)]
pub struct Leased {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cluster: Cluster,
    terms: LeaseTerms,
    held: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<Held>>>>,
    /// Nodes alive, as the heartbeats tell (starts at the terms' count).
    nodes: AtomicI64,
    home: tokio::runtime::Handle,
    /// Leases the database closed while this node held usage of theirs it never recorded
    /// (swept after it expired): that usage is forgiven, so none of it is refunded either.
    forgiven: Mutex<std::collections::HashSet<i64>>,
}

impl Leased {
    /// Leases for a node; must be called on the runtime its database work will run on.
    pub fn new(cluster: Cluster, terms: LeaseTerms) -> Self {
        let nodes = AtomicI64::new(terms.nodes.max(1));
        let home = tokio::runtime::Handle::current();
        let forgiven = Mutex::default();
        Self { inner: Arc::new(Inner { cluster, terms, held: Mutex::default(), nodes, home, forgiven }) }
    }

    /// Runs `work` on the home runtime, to its end even if this caller stops waiting.
    async fn at_home<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> T {
        match self.inner.home.spawn(work).await {
            Ok(done) => done,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Spends `cost` credits of tenant `tenant_id` at `now`: from the lease in hand, or from a
    /// new one (the old one's usage recorded and its rest given back first).
    pub async fn spend(&self, tenant_id: i64, cost: i64, now: DateTime<Utc>) -> Spend {
        let held = self.inner.held(tenant_id);
        {
            let mut h = held.lock().await;
            if let Some(lease) = self.inner.usable(&h, cost, now) {
                h.spend(cost);
                if self.inner.wants_refill(&h, now) {
                    h.refilling = true;
                    self.refill(held.clone(), tenant_id);
                }
                return Spend::Spent { lease };
            }
        }
        let inner = self.inner.clone();
        self.at_home(async move {
            let mut h = held.lock_owned().await;
            // Another caller may have taken a new lease meanwhile.
            if let Some(lease) = inner.usable(&h, cost, now) {
                h.spend(cost);
                return Spend::Spent { lease };
            }
            inner.renew(&mut h, tenant_id, cost, now).await
        })
        .await
    }

    /// Swaps the tenant's lease for a fresh one in the background, so requests find credits
    /// in hand instead of waiting for a grant.
    fn refill(&self, held: Arc<tokio::sync::Mutex<Held>>, tenant_id: i64) {
        let inner = self.inner.clone();
        self.inner.home.spawn(async move {
            let mut h = held.lock().await;
            h.refilling = false;
            let now = Utc::now();
            if inner.wants_refill(&h, now) {
                inner.renew(&mut h, tenant_id, 0, now).await;
            }
        });
    }

    /// Gives back `cost` credits spent from `lease` for request `request_id` (its upstream
    /// failed): in memory while that usage is not recorded yet, otherwise as a refund entry.
    pub async fn unspend(
        &self,
        tenant_id: i64,
        lease: i64,
        cost: i64,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> sqlx::Result<()> {
        let held = self.inner.held(tenant_id);
        let (inner, request_id) = (self.inner.clone(), request_id.to_string());
        self.at_home(async move {
            {
                let mut h = held.lock().await;
                if h.lease.as_ref().is_some_and(|l| l.id == lease) && h.credits >= cost && h.requests > 0 {
                    h.left += cost;
                    h.credits -= cost;
                    h.requests -= 1;
                    return Ok(());
                }
            }
            if inner.forgiven.lock().unwrap_or_else(|p| p.into_inner()).contains(&lease) {
                return Ok(()); // never recorded, so nothing to give back
            }
            inner.cluster.refund(tenant_id, cost, &request_id, &inner.actor(), now).await
        })
        .await
    }

    /// [`unspend`](Self::unspend) without waiting, from a destructor: for a call that ends
    /// uncharged (its upstream failed, its client hung up, its strict charge went unrecorded).
    pub fn unspend_later(&self, tenant_id: i64, lease: i64, cost: i64, request_id: String) {
        let this = self.clone();
        self.inner.home.spawn(async move {
            if let Err(e) = this.unspend(tenant_id, lease, cost, &request_id, Utc::now()).await {
                tracing::error!(error = %e, request_id, "cannot give back an abandoned call's credits");
            }
        });
    }

    /// Records tenant `tenant_id`'s unrecorded usage now (a `strict` answer waits for it);
    /// requests of the tenant spent meanwhile join the next one.
    pub async fn flush_tenant(&self, tenant_id: i64, now: DateTime<Utc>) -> Result<(), RecordError> {
        let held = self.inner.held(tenant_id);
        let inner = self.inner.clone();
        self.at_home(async move {
            let mut h = held.lock().await;
            let Some(usage) = h.usage() else { return Ok(()) };
            match inner.cluster.record(&[usage], &inner.actor(), now).await {
                Err(RecordError::Refused(id)) => {
                    inner.forgive(&mut h, id);
                    Err(RecordError::Refused(id))
                }
                other => {
                    other?;
                    (h.credits, h.requests) = (0, 0);
                    Ok(())
                }
            }
        })
        .await
    }

    /// Records every lease's unrecorded usage in one transaction (group commit).
    pub async fn flush(&self, now: DateTime<Utc>) -> Result<(), RecordError> {
        let inner = self.inner.clone();
        self.at_home(async move {
            let cells: Vec<_> = inner.cells();
            let mut guards = Vec::with_capacity(cells.len());
            for cell in &cells {
                guards.push(cell.lock().await);
            }
            // A lease the database closed refuses the whole group: its usage is forgiven
            // and the rest recorded without it.
            loop {
                let usage: Vec<LeaseUsage> = guards.iter().filter_map(|h| h.usage()).collect();
                match inner.cluster.record(&usage, &inner.actor(), now).await {
                    Ok(()) => break,
                    Err(RecordError::Refused(id)) => {
                        let Some(h) = guards.iter_mut().find(|h| h.lease.as_ref().is_some_and(|l| l.id == id)) else {
                            return Err(RecordError::Refused(id));
                        };
                        inner.forgive(h, id);
                    }
                    Err(e) => return Err(e),
                }
            }
            for h in &mut guards {
                (h.credits, h.requests) = (0, 0);
            }
            Ok(())
        })
        .await
    }

    /// Records what was used and gives every lease back (a node stopping).
    pub async fn give_back_all(&self, now: DateTime<Utc>) -> Result<(), RecordError> {
        self.flush(now).await?;
        let inner = self.inner.clone();
        self.at_home(async move {
            for cell in inner.cells() {
                let mut h = cell.lock().await;
                if let Some(lease) = h.lease.take() {
                    inner.cluster.give_back(lease.id, now).await?;
                    h.left = 0;
                }
            }
            Ok(())
        })
        .await
    }

    /// Sets how many nodes share the database (for the share granted near a balance's end).
    pub fn set_nodes(&self, nodes: i64) {
        self.inner.nodes.store(nodes.max(1), Ordering::Relaxed);
    }
}

impl Held {
    fn spend(&mut self, cost: i64) {
        self.left -= cost;
        self.credits += cost;
        self.requests += 1;
    }
}

impl Inner {
    fn held(&self, tenant_id: i64) -> Arc<tokio::sync::Mutex<Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).entry(tenant_id).or_default().clone()
    }

    /// Drops lease `id`, which the database closed, with its unrecorded usage (lost to the
    /// operator, in the tenant's favour), and remembers it so none of it is refunded.
    fn forgive(&self, h: &mut Held, id: i64) {
        tracing::error!(lease = id, credits = h.credits, "usage of a lease the database closed: not recorded");
        self.forgiven.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
        (h.lease, h.left, h.credits, h.requests) = (None, 0, 0, 0);
    }

    fn cells(&self) -> Vec<Arc<tokio::sync::Mutex<Held>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Whether the lease in hand should be swapped before it runs out: a quarter of a block
    /// left, or within twice the margin of its expiry. Not near a balance's end (a lease
    /// smaller than a block), where a refill would only hand the last credits back and forth.
    fn wants_refill(&self, h: &Held, now: DateTime<Utc>) -> bool {
        let Some(lease) = h.lease.as_ref() else { return false };
        !h.refilling
            && lease.granted >= self.terms.block
            && (h.left < self.terms.block / 4 || now >= lease.expires_at - self.terms.margin * 2)
    }

    /// The lease in hand, when it covers `cost` and is not too close to its expiry.
    fn usable(&self, h: &Held, cost: i64, now: DateTime<Utc>) -> Option<i64> {
        let lease = h.lease.as_ref()?;
        (now < lease.expires_at - self.terms.margin && h.left >= cost).then_some(lease.id)
    }

    /// Swaps the lease in hand (its usage recorded, its rest given back) for a new one, or
    /// takes a first one, and spends `cost` (0 for a refill) from it.
    async fn renew(&self, h: &mut Held, tenant_id: i64, cost: i64, now: DateTime<Utc>) -> Spend {
        let ask = Ask {
            tenant_id,
            node: &self.terms.node,
            want: self.terms.block,
            least: cost,
            nodes: self.nodes.load(Ordering::Relaxed),
            now,
            ttl: self.terms.ttl,
        };
        // The old lease's usage recorded, its rest given back and a new one taken: one
        // transaction.
        let granted = match h.lease.as_ref().map(|l| l.id) {
            Some(old) => self.cluster.renew(old, h.usage(), &self.actor(), &ask).await,
            None => self.cluster.grant(&ask).await.map_err(RecordError::from),
        };
        let lease = match granted {
            Ok(lease) => {
                (h.lease, h.left, h.credits, h.requests) = (None, 0, 0, 0);
                match lease {
                    Some(lease) => lease,
                    None => return Spend::Empty,
                }
            }
            // Kept as it is, to record later; meanwhile nothing more is spent from it.
            Err(RecordError::Storage(_)) => return Spend::Unavailable,
            Err(RecordError::Refused(id)) => {
                // The database closed it (swept after it expired, this node paused or cut
                // off): what was spent from it cannot be recorded any more, in the tenant's
                // favour. A new lease is asked for.
                self.forgive(h, id);
                match self.cluster.grant(&ask).await {
                    Ok(Some(lease)) => lease,
                    Ok(None) => return Spend::Empty,
                    Err(_) => return Spend::Unavailable,
                }
            }
        };
        if lease.granted < cost {
            // The balance's last credits do not cover this call: they go back.
            let _ = self.cluster.give_back(lease.id, now).await;
            return Spend::Empty;
        }
        h.left = lease.granted - cost;
        (h.credits, h.requests) = (cost, i64::from(cost > 0));
        let id = lease.id;
        h.lease = Some(lease);
        Spend::Spent { lease: id }
    }

    fn actor(&self) -> String {
        format!("gateway:{}", self.terms.node)
    }
}
