//! Settlement: served usage on its way to the ledger, so the gateway never waits on the
//! database to decide. It orchestrates only; the ledger writes ([`ledger::charge_usage`]).
//!
//! `batched` charges are added to per-tenant sums in memory (no message, no allocation per
//! request) and a writer task writes them every `usage_flush_ms`: per tenant, its usage
//! entry, carrying the calls it covers. The tenants are written a shard at a time, the
//! shards in turn spread over the interval ([`Rotation`]), so each tenant is still written
//! once per interval but no write holds the (possibly only) CPU for all tenants at once. A
//! crash loses at most the sums not yet written (one interval), in the tenant's favour.
//! `strict` callers hand over their [`Reservation`] and wait: the writer commits concurrent
//! strict charges together (durable on power loss), spends the reservations when it has,
//! and lets them go when it cannot, so a caller that goes away meanwhile changes nothing.
//!
//! Neither mode adds a row per request, nor one per tenant per write: each tenant's usage
//! goes into its open usage entry, updated in place while it is the tenant's newest entry
//! and younger than five `usage_flush_ms` intervals (one entry per tenant per 10 s by
//! default), else into a new one. A strict caller gets the entry's id, which the gateway
//! puts in the request's record in the request log ([`crate::store::request_log`]): that
//! record is the per-request detail ("was request X charged, to whom, how much"), the
//! ledger entry the money. The record is written (not fsynced) after the commit, so a power
//! loss can lose a strict request's detail but never its charge: that is in the fsynced
//! entry, counted in its `requests`.
//!
//! When storage fails, strict charges fail at once ([`SettleError`]), and batched sums stay
//! in memory (bounded by the number of tenants) and are written as soon as storage is
//! back. Nothing is ever dropped: a stop that cannot write everything returns what it
//! could not write.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::domain::metrics::{Histogram, HistogramSnapshot};
use crate::live::{Live, Reservation};
use crate::store::ledger::{self, Usage, UsageError};
use crate::store::{Durability, Store};

/// A served request's charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debit<'a> {
    pub tenant_id: i64,
    /// Credits charged (positive; 0 charges nothing). May be less than the request's
    /// reservation: the rest goes back.
    pub amount: i64,
    /// Named when a strict charge is refused (see `verify`); usage is summed per tenant,
    /// and the request log keeps the per-request detail.
    pub request_id: &'a str,
    pub at: DateTime<Utc>,
}

/// Why a strict charge was not committed; nothing was charged and its reservation went
/// back (or, when the ledger refused it, stays spent in memory, the cautious side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    /// The database refuses writes (disk full, I/O error).
    #[error("storage is failing: {0}")]
    StorageUnavailable(String),
    /// The ledger refused the debit (it would take the stored balance below zero).
    #[error("the ledger refused the debit")]
    Refused,
    /// The writer has stopped (the server is shutting down).
    #[error("the settlement writer has stopped")]
    Stopped,
}

/// Charges a stop could not write: what the operator must re-apply by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unwritten {
    pub tenant_id: i64,
    /// Credits served but not in the ledger.
    pub amount: i64,
    pub requests: i64,
}

/// A stop that could not write every pending charge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} charges ({} credits) could not be written to the ledger: {}", self.requests(), self.credits(), self.describe())]
pub struct StopError {
    pub unwritten: Vec<Unwritten>,
}

impl StopError {
    fn requests(&self) -> i64 {
        self.unwritten.iter().map(|u| u.requests).sum()
    }

    fn credits(&self) -> i64 {
        self.unwritten.iter().map(|u| u.amount).sum()
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .unwritten
            .iter()
            .map(|u| format!("tenant id {} owes {} credits for {} requests", u.tenant_id, u.amount, u.requests))
            .collect();
        parts.join("; ")
    }
}

/// One tenant's batched usage not yet written.
#[derive(Debug, Clone, Copy)]
struct Sum {
    credits: i64,
    requests: i64,
    /// When the latest of them was served.
    at: DateTime<Utc>,
}

impl Sum {
    fn add(&mut self, other: Sum) {
        self.credits += other.credits;
        self.requests += other.requests;
        self.at = self.at.max(other.at);
    }
}

type Sums = HashMap<i64, Sum>;

fn merge(into: &mut Sums, from: impl IntoIterator<Item = (i64, Sum)>) {
    for (tenant_id, sum) in from {
        match into.entry(tenant_id) {
            std::collections::hash_map::Entry::Occupied(mut held) => held.get_mut().add(sum),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(sum);
            }
        }
    }
}

/// The batched sums the gateway adds to, split by tenant id so concurrent requests of
/// different tenants rarely meet on a lock.
#[derive(Debug)]
struct Shards([Mutex<Shard>; SHARDS]);

const SHARDS: usize = 16;

/// Consecutive tenant ids that share a shard. A shard is written on its own, so it holds
/// runs of neighbours: its write touches a few adjacent pages of `tenants`, `subscriptions`
/// and the ledger's tenant index, not a row on nearly every page (as `id % 16` would, making
/// sixteen writes put sixteen times the pages into the WAL of one write of every tenant).
const TENANTS_PER_RUN: i64 = 64;

/// The shard a tenant's sums are kept in.
fn shard_of(tenant_id: i64) -> usize {
    tenant_id.div_euclid(TENANTS_PER_RUN).rem_euclid(SHARDS as i64) as usize
}

#[derive(Debug, Default)]
struct Shard {
    /// Set by a stop once it took the last sums: later charges are counted lost.
    closed: bool,
    sums: Sums,
}

impl Shards {
    fn lock(&self, tenant_id: i64) -> MutexGuard<'_, Shard> {
        let shard = &self.0[shard_of(tenant_id)];
        shard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a charge; false once closed.
    fn add(&self, tenant_id: i64, sum: Sum) -> bool {
        let mut shard = self.lock(tenant_id);
        if shard.closed {
            return false;
        }
        shard.sums.entry(tenant_id).and_modify(|s| s.add(sum)).or_insert(sum);
        true
    }

    /// Moves every sum into `into`; with `close`, no charge is taken after this.
    fn take(&self, into: &mut Sums, close: bool) {
        for index in 0..SHARDS {
            self.take_shard(index, into, close);
        }
    }

    /// Moves the sums of shard `index` into `into`.
    fn take_shard(&self, index: usize, into: &mut Sums, close: bool) {
        let mut shard = self.0[index].lock().unwrap_or_else(|p| p.into_inner());
        shard.closed |= close;
        merge(into, shard.sums.drain());
    }
}

/// When each shard's sums are due: shard `k` of a round at `start + every × (k + 1) / SHARDS`,
/// so a round of one interval writes every shard once, a sixteenth of the tenants at a
/// time. The interval is read at each step, so a changed setting applies at once.
#[derive(Debug, Clone, Copy)]
struct Rotation {
    start: tokio::time::Instant,
    /// The next shard of this round.
    next: usize,
}

impl Rotation {
    fn new(start: tokio::time::Instant) -> Self {
        Self { start, next: 0 }
    }

    /// When the next shard is due.
    fn next_due(&self, every: Duration) -> tokio::time::Instant {
        self.start + every * (self.next as u32 + 1) / SHARDS as u32
    }

    /// The shards due at `now` (none, one, or several when the writer was held up), and
    /// moves past them. A round that fell a whole interval behind (storage failing, a
    /// stalled writer) starts again from `now` rather than catching up in a burst.
    fn due(&mut self, now: tokio::time::Instant, every: Duration) -> std::ops::Range<usize> {
        let first = self.next;
        while self.next < SHARDS && now >= self.next_due(every) {
            self.next += 1;
        }
        let due = first..self.next;
        if self.next == SHARDS {
            self.start += every;
            self.next = 0;
            if now >= self.start + every {
                self.start = now;
            }
        }
        due
    }
}

struct StrictCharge {
    tenant_id: i64,
    amount: i64,
    request_id: String,
    at: DateTime<Utc>,
    /// Taken by the writer when it writes the charge.
    reservation: Option<Reservation>,
    /// The ledger entry that holds the charge, once committed.
    done: oneshot::Sender<Result<i64, SettleError>>,
}

enum Message {
    Strict(StrictCharge),
    Flush(oneshot::Sender<Result<(), SettleError>>),
    Stop(oneshot::Sender<Result<(), StopError>>),
}

/// Hands charges to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Settlement {
    tx: mpsc::Sender<Message>,
    sums: Arc<Shards>,
    store: Store,
    /// Batched charges handed over after the writer stopped (a bug if ever non-zero).
    lost: Arc<AtomicU64>,
    commits: Arc<Commits>,
}

/// How long the writer's commits took, batched and strict apart (for `/metrics`).
#[derive(Debug, Default)]
struct Commits {
    batched: Histogram,
    strict: Histogram,
}

/// Strict charges and commands waiting for the writer. Strict callers wait for their
/// answer, so at most one message per request in flight is queued; past this bound they
/// wait to be queued too.
const QUEUE: usize = 8192;

/// Most strict charges, or tenants' sums, written in one transaction.
const MAX_BATCH: usize = 4096;

/// Flush intervals a usage entry stays open for (10 s by default): each new entry costs
/// the database a row and its index entries (about 5 bytes per request at one entry per
/// tenant per 2 s flush, measured with 1,000 tenants), while adding to an open one changes
/// a row in place. Strict commits come many times a second, batched flushes every interval.
const ENTRY_INTERVALS: u32 = 5;

/// How often batched usage is written when no live state gives the setting.
const DEFAULT_FLUSH: Duration = Duration::from_millis(1000);

/// First wait before writing again after a storage failure; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// How long a stop keeps trying to write what is pending before it reports it unwritten.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

impl Settlement {
    /// Starts the writer task on the current runtime; batched usage is written every
    /// second.
    pub fn spawn(store: Store) -> (Self, JoinHandle<()>) {
        Self::spawn_with(store, None)
    }

    /// Starts the writer task for the gateway deciding from `live`: batched charges
    /// handed over ([`Reservation::hand_over_part`]) leave its unwritten count as they are
    /// committed, so reconciliation can check every balance against the database, and
    /// its settings give the flush interval (`usage_flush_ms`).
    pub fn spawn_with(store: Store, live: Option<Arc<Live>>) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let sums = Arc::new(Shards(std::array::from_fn(|_| Mutex::default())));
        let commits = Arc::new(Commits::default());
        let settlement =
            Self { tx, sums: sums.clone(), store: store.clone(), lost: Arc::default(), commits: commits.clone() };
        (settlement, tokio::spawn(run(Writer { store, live, sums, open: Mutex::default(), commits }, rx)))
    }

    /// True while the database refuses writes: strict requests are then refused before
    /// they are forwarded.
    pub fn storage_failing(&self) -> bool {
        self.store.health().is_failing()
    }

    /// Adds a charge whose reservation the caller already handed over (`batched`
    /// durability) to its tenant's sum; the writer writes it with the next flush.
    pub fn record(&self, debit: Debit<'_>) {
        if debit.amount <= 0 {
            return;
        }
        let sum = Sum { credits: debit.amount, requests: 1, at: debit.at };
        if !self.sums.add(debit.tenant_id, sum) {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(?debit, "a charge arrived after the settlement writer stopped and is NOT in the ledger");
        }
    }

    /// Charges `debit` and waits until it is committed durably (`strict`). The writer
    /// spends `debit.amount` of `reservation` on commit (the rest goes back) and lets it
    /// all go otherwise, even if this future is dropped meanwhile. Answers the id of the
    /// ledger entry that holds the charge (`None` when there was nothing to charge), for
    /// the request's record.
    pub async fn record_durably(&self, debit: Debit<'_>, reservation: Reservation) -> Result<Option<i64>, SettleError> {
        if debit.amount <= 0 {
            reservation.spend_part(0);
            return Ok(None);
        }
        let (done, committed) = oneshot::channel();
        let charge = StrictCharge {
            tenant_id: debit.tenant_id,
            amount: debit.amount.min(reservation.cost()),
            request_id: debit.request_id.to_owned(),
            at: debit.at,
            reservation: Some(reservation),
            done,
        };
        if self.tx.send(Message::Strict(charge)).await.is_err() {
            return Err(SettleError::Stopped); // the message, reservation included, was dropped: released
        }
        committed.await.unwrap_or(Err(SettleError::Stopped)).map(Some)
    }

    /// Writes the batched usage summed so far now, and waits until it is (or fails).
    pub async fn flush(&self) -> Result<(), SettleError> {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_err() {
            return Err(SettleError::Stopped);
        }
        flushed.await.unwrap_or(Err(SettleError::Stopped))
    }

    /// Batched charges that arrived after the writer stopped.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// How long the writer's successful commits took, from `BEGIN` to `COMMIT` returning:
    /// `batched` flushes (one per shard of tenants) and `strict` group commits.
    pub fn commit_latency(&self, durability: crate::store::settings::Durability) -> HistogramSnapshot {
        match durability {
            crate::store::settings::Durability::Batched => self.commits.batched.snapshot(),
            crate::store::settings::Durability::Strict => self.commits.strict.snapshot(),
        }
    }

    /// Strict charges and commands waiting for the writer, and how many may wait.
    pub fn queue(&self) -> (usize, usize) {
        (self.tx.max_capacity() - self.tx.capacity(), self.tx.max_capacity())
    }

    /// Writes everything summed or queued so far and stops the task; for a clean shutdown.
    /// Gives up after a few seconds of storage failures and says what it could not write.
    pub async fn stop(&self) -> Result<(), StopError> {
        let (done, stopped) = oneshot::channel();
        if self.tx.send(Message::Stop(done)).await.is_err() {
            return Ok(()); // already stopped
        }
        stopped.await.unwrap_or(Ok(()))
    }
}

/// The writer task's side: where it writes, the sums it takes from, the live state it
/// keeps in step (when a gateway runs), and the tenants' open usage entries.
struct Writer {
    store: Store,
    live: Option<Arc<Live>>,
    sums: Arc<Shards>,
    /// Per tenant, the usage entry writes add to and when it opened; only the
    /// writer task touches it (a lock only so the task is `Send`). Forgotten once older
    /// than five flush intervals, so it holds the tenants of the last 10 s (by default) at most.
    open: Mutex<HashMap<i64, (i64, tokio::time::Instant)>>,
    commits: Arc<Commits>,
}

impl Writer {
    /// The open entries of `tenants` still young enough to add to (forgetting the old).
    fn open_entries(&self, tenants: impl Iterator<Item = i64>) -> HashMap<i64, i64> {
        let every = self.every() * ENTRY_INTERVALS;
        let now = tokio::time::Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, (_, opened)| now.duration_since(*opened) < every);
        tenants.filter_map(|t| open.get(&t).map(|(entry, _)| (t, *entry))).collect()
    }

    /// Remembers the entries a commit wrote to: a new one opens now, a continued one keeps
    /// its time.
    fn opened(&self, entries: &HashMap<i64, i64>) {
        let now = tokio::time::Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for (tenant_id, entry) in entries {
            match open.get(tenant_id) {
                Some((held, _)) if held == entry => {}
                _ => {
                    open.insert(*tenant_id, (*entry, now));
                }
            }
        }
    }

    fn every(&self) -> Duration {
        self.live.as_ref().map_or(DEFAULT_FLUSH, |live| {
            Duration::from_millis(u64::try_from(live.settings().usage_flush_ms).unwrap_or(2000).max(1))
        })
    }

    /// What memory does once `usage` is committed (or refused for good): it leaves the
    /// unwritten count. Run by the write itself, before its connection serves anyone
    /// else, so reconciliation (which reads on that connection) never sees the database
    /// ahead of memory.
    fn written(&self, usage: &[Usage]) -> impl FnOnce() + Send + 'static {
        let live = self.live.clone();
        let amounts: Vec<(i64, i64)> = match live {
            Some(_) => usage.iter().map(|u| (u.tenant_id, u.credits)).collect(),
            None => Vec::new(),
        };
        move || {
            if let Some(live) = live {
                for (tenant_id, amount) in amounts {
                    live.written(tenant_id, amount);
                }
            }
        }
    }
}

/// A strict caller's reservation with the amount to spend of it, shared with the write
/// that may spend it: a write that fails drops its hook and leaves the reservation here
/// for a retry or a release.
type Slot = Arc<Mutex<Option<(Reservation, i64)>>>;

fn spend_on_commit(slots: Vec<Slot>) -> impl FnOnce() + Send + 'static {
    move || {
        for slot in slots {
            settle_slot(&slot, true);
        }
    }
}

/// Spends (or, `false`, releases) what a slot still holds.
fn settle_slot(slot: &Slot, spend: bool) {
    if let Some((r, amount)) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
        if spend {
            r.spend_part(amount);
        } else {
            drop(r);
        }
    }
}

/// While writes fail: when to try again, and what to say about it (once when it begins,
/// then at most every [`REPORT_EVERY`], never once per charge).
struct Outage {
    next_try: tokio::time::Instant,
    retry: Duration,
    last_report: tokio::time::Instant,
    attempts: u64,
}

/// How often a continuing outage is reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(30);

impl Outage {
    fn begin(error: &sqlx::Error, pending: &Sums) -> Self {
        tracing::error!(%error, tenants = pending.len(), requests = requests(pending),
            "cannot write usage to the ledger; charges wait in memory (summed per tenant) and are retried");
        let now = tokio::time::Instant::now();
        Self { next_try: now + FIRST_RETRY, retry: FIRST_RETRY, last_report: now, attempts: 1 }
    }

    fn failed_again(&mut self, error: &sqlx::Error, pending: &Sums) {
        let now = tokio::time::Instant::now();
        self.attempts += 1;
        self.retry = (self.retry * 2).min(MAX_RETRY);
        self.next_try = now + self.retry;
        if now.duration_since(self.last_report) >= REPORT_EVERY {
            self.last_report = now;
            tracing::error!(%error, attempts = self.attempts, tenants = pending.len(), requests = requests(pending),
                "still cannot write usage to the ledger");
        }
    }
}

fn requests(sums: &Sums) -> i64 {
    sums.values().map(|s| s.requests).sum()
}

async fn run(w: Writer, mut rx: mpsc::Receiver<Message>) {
    // Taken from the shards and not yet written (storage failing).
    let mut pending = Sums::new();
    let mut outage: Option<Outage> = None;
    let mut rotation = Rotation::new(tokio::time::Instant::now());
    let mut next_probe = tokio::time::Instant::now();
    let mut probe_retry = FIRST_RETRY;
    let mut health = w.store.health().subscribe();
    loop {
        // Read each time round, so a changed setting applies at once.
        let next_flush = rotation.next_due(w.every());
        let probing = pending.is_empty() && outage.is_none() && w.store.health().is_failing();
        let wake = match &outage {
            Some(o) => o.next_try,
            None if probing => next_flush.min(next_probe),
            None => next_flush,
        };
        let message = tokio::select! {
            m = rx.recv() => m,
            () = tokio::time::sleep_until(wake) => {
                let now = tokio::time::Instant::now();
                let due = match &outage {
                    // Retrying: everything taken so far, and what came since.
                    Some(o) if now >= o.next_try => {
                        w.sums.take(&mut pending, false);
                        true
                    }
                    Some(_) => false,
                    None => take_due(&w, &mut rotation, now, &mut pending),
                };
                if due && !pending.is_empty() {
                    let _ = flush(&w, &mut pending, &mut outage).await; // logged by the outage
                } else if pending.is_empty() && w.store.health().is_failing() && now >= next_probe {
                    // Strict requests are refused while storage fails: find out when it is back.
                    match w.store.probe().await {
                        Ok(()) => probe_retry = FIRST_RETRY,
                        Err(_) => probe_retry = (probe_retry * 2).min(MAX_RETRY),
                    }
                    next_probe = tokio::time::Instant::now() + probe_retry;
                }
                continue;
            }
            // A console write met a failure: start probing (the loop recomputes its wake).
            Ok(()) = health.changed() => continue,
        };
        let Some(first) = message else {
            // Every sender is gone: write what is left, as a stop would.
            w.sums.take(&mut pending, true);
            if let Err(e) = flush_for_stop(&w, &mut pending).await {
                tracing::error!(error = %e, "the settlement writer ended with charges unwritten");
            }
            return;
        };
        // Strict charges queued together are committed together.
        let mut strict = Vec::new();
        let mut commands = Vec::new();
        let mut next = Some(first);
        while let Some(m) = next {
            match m {
                Message::Strict(c) => strict.push(c),
                other => commands.push(other),
            }
            next = if strict.len() < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        settle_strict(&w, &mut strict).await;
        for command in commands {
            match command {
                Message::Strict(_) => unreachable!("gathered above"),
                Message::Flush(done) => {
                    w.sums.take(&mut pending, false);
                    let result = flush(&w, &mut pending, &mut outage).await;
                    let _ = done.send(result.map_err(|e| SettleError::StorageUnavailable(e.to_string())));
                }
                Message::Stop(done) => {
                    // Stopping: strict charges still queued go in too, then every sum.
                    rx.close();
                    let mut strict = Vec::new();
                    while let Ok(m) = rx.try_recv() {
                        match m {
                            Message::Strict(c) => strict.push(c),
                            Message::Flush(d) => drop(d), // answered Stopped
                            Message::Stop(d) => {
                                let _ = d.send(Ok(()));
                            }
                        }
                    }
                    settle_strict(&w, &mut strict).await;
                    w.sums.take(&mut pending, true);
                    let _ = done.send(flush_for_stop(&w, &mut pending).await);
                    return;
                }
            }
        }
    }
}

/// Takes the sums of the shards `rotation` says are due at `now`; false when none is.
fn take_due(w: &Writer, rotation: &mut Rotation, now: tokio::time::Instant, pending: &mut Sums) -> bool {
    let shards = rotation.due(now, w.every());
    for index in shards.clone() {
        w.sums.take_shard(index, pending, false);
    }
    !shards.is_empty()
}

/// Writes `pending`, keeping the outage state; what cannot be written stays pending.
async fn flush(w: &Writer, pending: &mut Sums, outage: &mut Option<Outage>) -> Result<(), sqlx::Error> {
    match write_pending(w, pending).await {
        Ok(()) => {
            if let Some(o) = outage.take() {
                tracing::warn!(attempts = o.attempts, "usage held in memory is written to the ledger again");
            }
            Ok(())
        }
        Err(e) => {
            match outage {
                Some(o) => o.failed_again(&e, pending),
                None => *outage = Some(Outage::begin(&e, pending)),
            }
            Err(e)
        }
    }
}

/// Writes one entry per tenant in `pending`, [`MAX_BATCH`] tenants per transaction; what
/// is written leaves `pending`, the rest stays on a storage failure. A tenant's sum the
/// ledger refuses is recorded for `verify` and not retried.
async fn write_pending(w: &Writer, pending: &mut Sums) -> Result<(), sqlx::Error> {
    let usage: Vec<Usage> = pending
        .iter()
        .map(|(tenant_id, s)| Usage { tenant_id: *tenant_id, credits: s.credits, requests: s.requests, at: s.at })
        .collect();
    for batch in usage.chunks(MAX_BATCH) {
        match write_usage(w, batch, Durability::Crash, w.written(batch)).await {
            Ok(_) => {}
            Err(UsageError::Storage(e)) => return Err(e),
            Err(UsageError::Refused) => {
                // One tenant at a time, so one refused sum does not hold up the others.
                for u in batch {
                    let one = std::slice::from_ref(u);
                    match write_usage(w, one, Durability::Crash, w.written(one)).await {
                        Ok(_) => {}
                        Err(UsageError::Refused) => {
                            record_refused(&w.store, u, None).await;
                            w.written(one)();
                        }
                        Err(UsageError::Storage(e)) => return Err(e),
                    }
                    pending.remove(&u.tenant_id);
                }
            }
        }
        for u in batch {
            pending.remove(&u.tenant_id);
        }
    }
    Ok(())
}

/// One transaction charging `usage`, adding to the tenants' open entries where it can and
/// remembering the entries it wrote to; `on_commit` runs right after it commits. Answers
/// each tenant's entry id.
async fn write_usage(
    w: &Writer,
    usage: &[Usage],
    durability: Durability,
    on_commit: impl FnOnce() + Send + 'static,
) -> Result<HashMap<i64, i64>, UsageError> {
    let started = std::time::Instant::now();
    let open = w.open_entries(usage.iter().map(|u| u.tenant_id));
    let mut write = w.store.begin_with(durability).await.map_err(UsageError::Storage)?;
    write.after_commit(on_commit);
    let entries = ledger::charge_usage(&mut write, usage, &open).await?;
    write.commit().await.map_err(UsageError::Storage)?;
    w.opened(&entries);
    let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    match durability {
        Durability::PowerLoss => w.commits.strict.observe_us(took),
        _ => w.commits.batched.observe_us(took),
    }
    Ok(entries)
}

/// Writes the strict charges (durable on power loss) into one entry per tenant (its open
/// one when it can) and answers each caller with it; on a storage failure every one of
/// them fails at once and its credits go back.
async fn settle_strict(w: &Writer, strict: &mut Vec<StrictCharge>) {
    if strict.is_empty() {
        return;
    }
    let slots: Vec<Slot> =
        strict.iter_mut().map(|c| Arc::new(Mutex::new(c.reservation.take().map(|r| (r, c.amount))))).collect();
    let mut per_tenant: HashMap<i64, Usage> = HashMap::new();
    for c in strict.iter() {
        let u = per_tenant.entry(c.tenant_id).or_insert(Usage {
            tenant_id: c.tenant_id,
            credits: 0,
            requests: 0,
            at: c.at,
        });
        u.credits += c.amount;
        u.requests += 1;
        u.at = u.at.max(c.at);
    }
    let usage: Vec<Usage> = per_tenant.into_values().collect();
    let written = write_usage(w, &usage, Durability::PowerLoss, spend_on_commit(slots.clone())).await;
    match written {
        Ok(entries) => {
            for (c, slot) in strict.drain(..).zip(&slots) {
                settle_slot(slot, true); // already spent by the commit; here for safety
                let _ = c.done.send(Ok(entries[&c.tenant_id]));
            }
        }
        Err(UsageError::Storage(e)) => {
            let message = e.to_string();
            for (c, slot) in strict.drain(..).zip(&slots) {
                settle_slot(slot, false); // released: nothing was charged
                let _ = c.done.send(Err(SettleError::StorageUnavailable(message.clone())));
            }
        }
        Err(UsageError::Refused) => {
            // One by one, so one refused charge does not fail the others.
            for (c, slot) in strict.drain(..).zip(slots) {
                let usage = [Usage { tenant_id: c.tenant_id, credits: c.amount, requests: 1, at: c.at }];
                let once = spend_on_commit(vec![slot.clone()]);
                let result = match write_usage(w, &usage, Durability::PowerLoss, once).await {
                    Ok(entries) => Ok(entries[&c.tenant_id]),
                    Err(UsageError::Storage(e)) => Err(SettleError::StorageUnavailable(e.to_string())),
                    Err(UsageError::Refused) => {
                        record_refused(&w.store, &usage[0], Some(&c.request_id)).await;
                        Err(SettleError::Refused)
                    }
                };
                // A refused charge stays spent in memory (the cautious side; reconciliation
                // then takes the database's figure).
                settle_slot(&slot, matches!(result, Ok(_) | Err(SettleError::Refused)));
                let _ = c.done.send(result);
            }
        }
    }
}

/// A stop's last attempts: retries for a few seconds, then reports what is left.
async fn flush_for_stop(w: &Writer, pending: &mut Sums) -> Result<(), StopError> {
    let deadline = tokio::time::Instant::now() + STOP_PATIENCE;
    let mut retry = FIRST_RETRY;
    while !pending.is_empty() {
        match write_pending(w, pending).await {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() + retry < deadline => {
                tracing::error!(error = %e, "cannot write the last charges; retrying before stopping");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
            }
            Err(e) => {
                let error = StopError { unwritten: unwritten(pending) };
                tracing::error!(error = %e, unwritten = ?error.unwritten, "stopping with charges NOT written to the ledger");
                return Err(error);
            }
        }
    }
    Ok(())
}

fn unwritten(pending: &Sums) -> Vec<Unwritten> {
    let mut list: Vec<Unwritten> = pending
        .iter()
        .map(|(tenant_id, s)| Unwritten { tenant_id: *tenant_id, amount: s.credits, requests: s.requests })
        .collect();
    list.sort_by_key(|u| u.tenant_id);
    list
}

/// Keeps a refused charge where `verify` reports it (best effort: logged either way).
async fn record_refused(store: &Store, usage: &Usage, request_id: Option<&str>) {
    tracing::error!(
        ?usage,
        request_id,
        "the ledger refused a charge: memory and database disagreed; verify will report it"
    );
    let result = async {
        let mut write = store.begin().await?;
        let inserted = ledger::record_refused(&mut write, usage, request_id).await;
        write.check(inserted)?;
        write.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "cannot record the refused charge");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ledger debits per tenant id.
    async fn debits(store: &Store) -> HashMap<i64, i64> {
        crate::on!(&mut store.reader().await.unwrap(), |c| sqlx::query_as::<_, (i64, i64)>(
            "SELECT tenant_id, COUNT(*) FROM ledger WHERE kind = 'debit' GROUP BY 1"
        )
        .fetch_all(c)
        .await)
        .unwrap()
        .into_iter()
        .collect()
    }

    /// A real database with tenants 1 to `count`, 100 credits each (rows only: enough for
    /// the ledger's usage writes); their ids.
    async fn tenants(count: i64) -> (tempfile::TempDir, crate::Console, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let console = crate::Console::open(&dir.path().join("tollgate.db")).await.unwrap();
        let mut write = console.store().begin().await.unwrap();
        let inserted = crate::on!(&mut *write, |c| sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO tenants (id, slug, name, balance, created_at, updated_at)
             SELECT i, 't' || i, 't' || i, 100, ?2, ?2 FROM n",
        )
        .bind(count)
        .bind(Utc::now())
        .execute(c)
        .await
        .map(|done| done.rows_affected()));
        write.check(inserted).unwrap();
        write.commit().await.unwrap();
        (dir, console, (1..=count).collect())
    }

    #[test]
    fn a_rotation_that_fell_behind_takes_what_is_due_once_then_starts_a_round_from_now() {
        let every = Duration::from_millis(1600);
        let start = tokio::time::Instant::now();
        let mut rotation = Rotation::new(start);
        assert_eq!(rotation.due(start + every / 4, every), 0..4, "a quarter in: four shards, in order");
        let late = start + every * 3;
        assert_eq!(rotation.due(late, every), 4..SHARDS, "the rest of the round, once");
        assert_eq!(
            rotation.next_due(every),
            late + every / SHARDS as u32,
            "a new round from now, not a burst of rounds"
        );
        assert_eq!(rotation.due(late, every), 0..0, "nothing twice");
        // A shorter interval applies at once.
        assert_eq!(rotation.due(late + every / 8, every / 2), 0..4);
    }

    #[tokio::test]
    async fn a_round_writes_each_tenant_once_a_shard_at_a_time_and_a_flush_writes_them_all() {
        let (_dir, console, ids) = tenants(1100).await;
        let store = console.store().clone();
        let w = Writer {
            store: store.clone(),
            live: None,
            sums: Arc::new(Shards(std::array::from_fn(|_| Mutex::default()))),
            open: Mutex::default(),
            commits: Arc::default(),
        };
        let now = Utc::now();
        for &id in &ids {
            assert!(w.sums.add(id, Sum { credits: 1, requests: 1, at: now }));
        }
        let every = w.every();
        let start = tokio::time::Instant::now();
        let mut rotation = Rotation::new(start);
        let (mut pending, mut outage) = (Sums::new(), None);
        // Instants computed, not waited for: the rotation is told what time it is.
        let slot = every / SHARDS as u32;
        assert!(!take_due(&w, &mut rotation, start + slot / 2, &mut pending), "nothing due before the first slot");
        for k in 0..SHARDS {
            assert!(take_due(&w, &mut rotation, start + slot * (k as u32 + 1), &mut pending), "shard {k} due");
            flush(&w, &mut pending, &mut outage).await.unwrap();
            let written = debits(&store).await;
            if k == 1 {
                let run = (64..128).all(|id| written.get(&id) == Some(&1)) && !written.contains_key(&128);
                assert!(run, "a shard holds runs of 64 neighbouring tenants (adjacent pages), not every 16th");
            }
            for &id in &ids {
                let shard = shard_of(id);
                let expected = i64::from(shard <= k);
                assert_eq!(
                    written.get(&id).copied().unwrap_or(0),
                    expected,
                    "tenant {id} (shard {shard}) after slot {k}"
                );
            }
        }
        let written = debits(&store).await;
        assert!(ids.iter().all(|id| written.get(id) == Some(&1)), "after one interval every tenant is written once");
        assert_eq!(rotation.next, 0, "the next round begins");

        // flush() writes every tenant at once, wherever its writer's rotation is.
        let (settlement, writer) = Settlement::spawn(store.clone());
        for &id in &ids {
            settlement.record(Debit { tenant_id: id, amount: 2, request_id: "r", at: now });
        }
        settlement.flush().await.unwrap();
        let written = debits(&store).await;
        assert!(ids.iter().all(|id| written.get(id) == Some(&2)), "every tenant written once more: {written:?}");
        let balances: Vec<i64> =
            crate::on!(&mut store.reader().await.unwrap(), |c| sqlx::query_scalar("SELECT balance FROM tenants")
                .fetch_all(c)
                .await)
            .unwrap();
        assert_eq!(balances, vec![97; ids.len()], "100 granted, 1 + 2 charged");
        settlement.stop().await.unwrap();
        writer.await.unwrap();
    }

    fn sum(credits: i64, at: i64) -> Sum {
        Sum { credits, requests: 1, at: DateTime::from_timestamp(at, 0).unwrap() }
    }

    #[test]
    fn charges_sum_per_tenant_and_lose_nothing() {
        let shards = Shards(std::array::from_fn(|_| Mutex::default()));
        for n in 0..10_000 {
            assert!(shards.add(n % 3, sum(2, n)));
        }
        let mut pending = Sums::new();
        shards.take(&mut pending, false);
        assert_eq!(pending.len(), 3, "one sum per tenant, however many requests");
        assert_eq!(requests(&pending), 10_000, "every request counted");
        assert_eq!(pending.values().map(|s| s.credits).sum::<i64>(), 20_000, "every credit kept");
        assert_eq!(pending[&0].at, DateTime::from_timestamp(9999, 0).unwrap(), "the latest time");
        assert!(shards.add(1, sum(5, 1)), "sums gather again after a take");
        shards.take(&mut pending, true);
        assert_eq!(pending[&1].credits, 3333 * 2 + 5, "merged into what was not yet written");
        assert!(!shards.add(1, sum(5, 1)), "refused once closed");
        assert_eq!(unwritten(&pending).iter().map(|u| u.amount).sum::<i64>(), 20_005);
    }
}
